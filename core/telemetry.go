package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hlf/dynamicsportal/ports"
)

// ScopeName is the instrumentation scope of the core's spans and metrics.
const ScopeName = "github.com/hlf/dynamicsportal/core"

// The names of the core's spans and metrics (the README's Observability
// section lists them with their attributes).
const (
	SpanPass = "portalsync.sync.pass"
	SpanPage = "portalsync.sync.page"

	MetricPasses        = "portalsync.sync.passes"
	MetricPassDuration  = "portalsync.sync.duration"
	MetricRecords       = "portalsync.sync.records"
	MetricWrites        = "portalsync.sync.writes"
	MetricLastCompleted = "portalsync.sync.last_completed"
)

// The attribute keys of the core's spans and metrics.
const (
	attrOutcome   = attribute.Key("portalsync.outcome")
	attrStatus    = attribute.Key("portalsync.status")
	attrErrorType = attribute.Key("error.type")
	attrResumed   = attribute.Key("portalsync.resumed")
	attrComplete  = attribute.Key("portalsync.complete")
	attrPage      = attribute.Key("portalsync.page")
	attrPages     = attribute.Key("portalsync.pages")
	attrRecords   = attribute.Key("portalsync.records")
	attrDone      = attribute.Key("portalsync.writes.done")
	attrUnchanged = attribute.Key("portalsync.writes.unchanged")
	attrFailed    = attribute.Key("portalsync.writes.failed")
	attrPortal    = attribute.Key("portalsync.portal")
)

// telemetry holds the tracer and the instruments of a SyncService.
type telemetry struct {
	tracer        trace.Tracer
	passes        metric.Int64Counter
	duration      metric.Float64Histogram
	records       metric.Int64Counter
	writes        metric.Int64Counter
	lastCompleted metric.Float64Gauge
}

// The attribute sets of the counters, made once.
var (
	statusSets = [...]metric.MeasurementOption{
		metric.WithAttributeSet(attribute.NewSet(attrStatus.String(ports.SyncStatusValid.String()))),
		metric.WithAttributeSet(attribute.NewSet(attrStatus.String(ports.SyncStatusExpiring.String()))),
		metric.WithAttributeSet(attribute.NewSet(attrStatus.String(ports.SyncStatusExpired.String()))),
		metric.WithAttributeSet(attribute.NewSet(attrStatus.String(ports.SyncStatusInactive.String()))),
	}
	writeSets = [...]metric.MeasurementOption{
		metric.WithAttributeSet(attribute.NewSet(attrOutcome.String(string(ports.ActionWritten)))),
		metric.WithAttributeSet(attribute.NewSet(attrOutcome.String(string(ports.ActionUnchanged)))),
		metric.WithAttributeSet(attribute.NewSet(attrOutcome.String(string(ports.ActionFailed)))),
		metric.WithAttributeSet(attribute.NewSet(attrOutcome.String(string(ports.ActionDeleted)))),
	}
)

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (telemetry, error) {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(ScopeName)
	t := telemetry{tracer: tp.Tracer(ScopeName)}
	var errs [5]error
	t.passes, errs[0] = m.Int64Counter(MetricPasses, metric.WithUnit("{pass}"),
		metric.WithDescription("Sync passes (runs) that ended, by outcome."))
	t.duration, errs[1] = m.Float64Histogram(MetricPassDuration, metric.WithUnit("s"),
		metric.WithDescription("Time one sync run took, by outcome."),
		metric.WithExplicitBucketBoundaries(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))
	t.records, errs[2] = m.Int64Counter(MetricRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Records of completed pages, by computed status."))
	t.writes, errs[3] = m.Int64Counter(MetricWrites, metric.WithUnit("{record}"),
		metric.WithDescription("Records of completed pages, by what the pass did with their sync metadata."))
	t.lastCompleted, errs[4] = m.Float64Gauge(MetricLastCompleted, metric.WithUnit("s"),
		metric.WithDescription("Unix time at which the last complete sync pass ended."))
	if err := errors.Join(errs[:]...); err != nil {
		return telemetry{}, fmt.Errorf("%w: sync: metrics: %w", ports.ErrInvalidConfig, err)
	}
	return t, nil
}

// pageDone records one completed page: its counts on the page span and in
// the counters.
func (t *telemetry) pageDone(ctx context.Context, span trace.Span, c ports.SyncCounts) {
	span.SetAttributes(attrRecords.Int(c.Read), attrDone.Int(c.Writes.Done),
		attrUnchanged.Int(c.Writes.Unchanged), attrFailed.Int(c.Writes.Failed))
	add := func(ctr metric.Int64Counter, n int, set metric.MeasurementOption) {
		if n > 0 {
			ctr.Add(ctx, int64(n), set)
		}
	}
	add(t.records, c.Status.Valid, statusSets[0])
	add(t.records, c.Status.Expiring, statusSets[1])
	add(t.records, c.Status.Expired, statusSets[2])
	add(t.records, c.Status.Inactive, statusSets[3])
	add(t.writes, c.Writes.Done, writeSets[0])
	add(t.writes, c.Writes.Unchanged, writeSets[1])
	add(t.writes, c.Writes.Failed, writeSets[2])
	add(t.writes, c.Writes.Deleted, writeSets[3])
}

// passDone records the end of a Run on its span and in the metrics.
// A pass over the stub reads and writes nothing real: its span and metrics
// say portalsync.portal=stub, and it never records last_completed, so a
// staleness alert still fires while the store goes stale.
func (t *telemetry) passDone(ctx context.Context, span trace.Span, rep Report, end time.Time, err error, stub bool) {
	portal := attrPortal.String("live")
	if stub {
		portal = attrPortal.String("stub")
	}
	span.SetAttributes(attrResumed.Bool(rep.Resumed), attrComplete.Bool(rep.Complete),
		attrPages.Int(rep.Pages), attrRecords.Int(rep.Read), attrDone.Int(rep.Writes.Done),
		attrUnchanged.Int(rep.Writes.Unchanged), attrFailed.Int(rep.Writes.Failed), portal)
	outcome := []attribute.KeyValue{attrOutcome.String("complete"), portal}
	if err != nil {
		failed(span, err)
		outcome = []attribute.KeyValue{attrOutcome.String("stopped"), attrErrorType.String(ports.ErrorType(err)), portal}
	}
	set := metric.WithAttributes(outcome...)
	t.passes.Add(ctx, 1, set)
	t.duration.Record(ctx, rep.Duration.Seconds(), set)
	if err == nil && !stub {
		t.lastCompleted.Record(ctx, float64(end.UnixNano())/1e9)
	}
}

// failed marks a span as ended by err. The description is the error's
// type only: a portal's message may echo what was sent.
func failed(span trace.Span, err error) {
	et := ports.ErrorType(err)
	span.SetAttributes(attrErrorType.String(et))
	span.SetStatus(codes.Error, et)
}
