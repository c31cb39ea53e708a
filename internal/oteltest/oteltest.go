// Package oteltest gives tests OpenTelemetry providers that keep what they
// receive in memory: spans through the SDK's in-memory exporter, metrics
// through a manual reader. Tests read the spans and the metric values back,
// and hand everything exported to the leak scanner as text.
package oteltest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry is a tracer provider and a meter provider that keep everything
// in memory.
type Telemetry struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
	spans          *tracetest.InMemoryExporter
	reader         *sdkmetric.ManualReader
}

// New returns providers that export each span as it ends, and whose
// metrics are read on demand. They shut down when tb ends.
func New(tb testing.TB) *Telemetry {
	t := &Telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	t.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(t.spans))
	t.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(t.reader))
	tb.Cleanup(func() {
		_ = t.TracerProvider.Shutdown(context.Background())
		_ = t.MeterProvider.Shutdown(context.Background())
	})
	return t
}

// Spans returns the spans ended so far, in the order they ended.
func (t *Telemetry) Spans() tracetest.SpanStubs { return t.spans.GetSpans() }

// Named returns the ended spans called name.
func (t *Telemetry) Named(name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range t.Spans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Metrics collects the current metric values.
func (t *Telemetry) Metrics(tb testing.TB) Metrics {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := t.reader.Collect(context.Background(), &rm); err != nil {
		tb.Fatalf("collect metrics: %v", err)
	}
	var m Metrics
	for _, sm := range rm.ScopeMetrics {
		m = append(m, sm.Metrics...)
	}
	return m
}

// Metrics are the metrics of one collection.
type Metrics []metricdata.Metrics

// Find returns the metric called name, if it was recorded.
func (ms Metrics) Find(name string) (metricdata.Metrics, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return metricdata.Metrics{}, false
}

// Value returns the value of the counter or gauge called name at the data
// point whose attributes include attrs, summed over every such data point:
// Value(ms, "x", attribute.String("k", "v")) is the total for k=v. It is 0
// when nothing matches.
func (ms Metrics) Value(name string, attrs ...attribute.KeyValue) float64 {
	m, ok := ms.Find(name)
	if !ok {
		return 0
	}
	var v float64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes, attrs) {
				v += float64(p.Value)
			}
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes, attrs) {
				v += p.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes, attrs) {
				v += float64(p.Value)
			}
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes, attrs) {
				v += p.Value
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes, attrs) {
				v += p.Sum
			}
		}
	}
	return v
}

// Count returns the number of values recorded in the histogram called name
// at the data points whose attributes include attrs.
func (ms Metrics) Count(name string, attrs ...attribute.KeyValue) uint64 {
	m, ok := ms.Find(name)
	if !ok {
		return 0
	}
	var n uint64
	if d, ok := m.Data.(metricdata.Histogram[float64]); ok {
		for _, p := range d.DataPoints {
			if has(p.Attributes, attrs) {
				n += p.Count
			}
		}
	}
	return n
}

// Attributes returns the attribute sets of the data points of the metric
// called name, each as "k=v,k=v" in key order.
func (ms Metrics) Attributes(name string) []string {
	m, ok := ms.Find(name)
	if !ok {
		return nil
	}
	var out []string
	each(m.Data, func(s attribute.Set) { out = append(out, setString(s)) })
	slices.Sort(out)
	return out
}

func has(s attribute.Set, attrs []attribute.KeyValue) bool {
	for _, kv := range attrs {
		v, ok := s.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

func each(data metricdata.Aggregation, f func(attribute.Set)) {
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			f(p.Attributes)
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			f(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			f(p.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			f(p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			f(p.Attributes)
		}
	}
}

func setString(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

// Attr returns the value of attribute key among attrs, and whether it is
// there.
func Attr(attrs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// Children returns the spans among spans whose parent is parent.
func Children(spans tracetest.SpanStubs, parent trace.SpanContext) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.Parent.SpanID() == parent.SpanID() && s.Parent.TraceID() == parent.TraceID() {
			out = append(out, s)
		}
	}
	return out
}

// Dump writes everything exported so far as text, for the leak scanner:
// every span's name, status, attributes and events with their attributes,
// and every metric's name and the attributes of its data points.
func (t *Telemetry) Dump(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	for _, s := range t.Spans() {
		fmt.Fprintf(&b, "span %s status=%s %q\n", s.Name, s.Status.Code, s.Status.Description)
		for _, kv := range s.Attributes {
			fmt.Fprintf(&b, "  %s=%s\n", kv.Key, kv.Value.String())
		}
		for _, ev := range s.Events {
			fmt.Fprintf(&b, "  event %s\n", ev.Name)
			for _, kv := range ev.Attributes {
				fmt.Fprintf(&b, "    %s=%s\n", kv.Key, kv.Value.String())
			}
		}
	}
	for _, m := range t.Metrics(tb) {
		fmt.Fprintf(&b, "metric %s %s\n", m.Name, m.Unit)
		each(m.Data, func(s attribute.Set) { fmt.Fprintf(&b, "  {%s}\n", setString(s)) })
	}
	return b.String()
}
