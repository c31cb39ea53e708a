package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP receiver on loopback that keeps the span and
// metric names it was sent.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	spans    []string
	metrics  []string
	service  []string
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.requests++
		switch r.URL.Path {
		case "/v1/traces":
			var req coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("traces: %v", err)
			}
			for _, rs := range req.ResourceSpans {
				for _, kv := range rs.Resource.Attributes {
					if kv.Key == "service.name" {
						c.service = append(c.service, kv.Value.GetStringValue())
					}
				}
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						c.spans = append(c.spans, s.Name)
					}
				}
			}
		case "/v1/metrics":
			var req colmetricpb.ExportMetricsServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("metrics: %v", err)
			}
			for _, rm := range req.ResourceMetrics {
				for _, sm := range rm.ScopeMetrics {
					for _, m := range sm.Metrics {
						c.metrics = append(c.metrics, m.Name)
					}
				}
			}
		default:
			t.Errorf("OTLP request to %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) names() (requests int, spans, metrics, service []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, slices.Clone(c.spans), slices.Clone(c.metrics), slices.Clone(c.service)
}

func TestOTLPEndpointExportsTracesAndMetrics(t *testing.T) {
	c := newCollector(t)
	t.Setenv(envOTLPEndpoint, c.URL)
	t.Setenv(envSDKDisabled, "")
	t.Setenv("OTEL_SERVICE_NAME", "")
	code, _, stderr := portalsync(t, "demo")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, stderr)
	}
	_, spans, metrics, service := c.names()
	if !slices.Contains(spans, "portalsync.sync.pass") || !slices.Contains(spans, "portalsync.sync.page") {
		t.Errorf("spans exported %q, want the pass and its pages", spans)
	}
	if !slices.Contains(metrics, "portalsync.sync.passes") || !slices.Contains(metrics, "portalsync.sync.last_completed") {
		t.Errorf("metrics exported %q, want portalsync.sync.passes and portalsync.sync.last_completed", metrics)
	}
	if len(service) == 0 || service[0] != "portalsync" {
		t.Errorf("service.name %q, want portalsync", service)
	}
	if strings.Contains(stderr, "telemetry export failed") {
		t.Errorf("stderr: %s", stderr)
	}
}

func TestOTelFlagUsesTheSignalEndpoints(t *testing.T) {
	c := newCollector(t)
	t.Setenv(envOTLPEndpoint, "")
	t.Setenv(envSDKDisabled, "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.URL+"/v1/traces")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", c.URL+"/v1/metrics")
	t.Setenv("OTEL_SERVICE_NAME", "nightly-sync")
	if code, _, stderr := portalsync(t, "demo", "--otel"); code != 0 {
		t.Fatalf("demo --otel: exit %d\n%s", code, stderr)
	}
	_, spans, metrics, service := c.names()
	if len(spans) == 0 || len(metrics) == 0 {
		t.Errorf("with --otel: %d spans and %d metrics exported, want some of each", len(spans), len(metrics))
	}
	if len(service) == 0 || service[0] != "nightly-sync" {
		t.Errorf("service.name %q, want OTEL_SERVICE_NAME's nightly-sync", service)
	}
}

func TestNoExportWithoutTheFlagOrTheEndpoint(t *testing.T) {
	c := newCollector(t)
	t.Setenv(envOTLPEndpoint, "")
	t.Setenv(envSDKDisabled, "")
	// The per-signal endpoints alone do not turn exporting on.
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.URL+"/v1/traces")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", c.URL+"/v1/metrics")
	if code, _, stderr := portalsync(t, "demo"); code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, stderr)
	}
	// OTEL_SDK_DISABLED beats the endpoint.
	t.Setenv(envOTLPEndpoint, c.URL)
	t.Setenv(envSDKDisabled, "true")
	if code, _, stderr := portalsync(t, "demo"); code != 0 {
		t.Fatalf("demo with OTEL_SDK_DISABLED: exit %d\n%s", code, stderr)
	}
	if n, _, _, _ := c.names(); n != 0 {
		t.Errorf("%d OTLP requests, want none", n)
	}
}

func TestUnreachableCollectorDoesNotFailTheCommand(t *testing.T) {
	c := newCollector(t)
	c.Close() // nothing listens there any more
	t.Setenv(envOTLPEndpoint, c.URL)
	t.Setenv(envSDKDisabled, "")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
	code, _, stderr := portalsync(t, "demo")
	if code != 0 {
		t.Fatalf("demo: exit %d, want 0 with the collector gone\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "telemetry export failed") {
		t.Errorf("stderr does not say the export failed:\n%s", stderr)
	}
}
