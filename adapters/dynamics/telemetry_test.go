package dynamics

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hlf/dynamicsportal/internal/oteltest"
	"github.com/hlf/dynamicsportal/ports"
)

// telemetryClient returns a client over f that reports to tel.
func telemetryClient(t *testing.T, f *fakeNet, tel *oteltest.Telemetry) *Client {
	return newNetClient(t, f, Options{TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})
}

func attr(t *testing.T, s tracetest.SpanStub, key string) attribute.Value {
	t.Helper()
	v, ok := oteltest.Attr(s.Attributes, key)
	if !ok {
		t.Errorf("span %s has no attribute %s", s.Name, key)
	}
	return v
}

func eventAttr(ev sdktrace.Event, key string) (attribute.Value, bool) {
	return oteltest.Attr(ev.Attributes, key)
}

// noLeak fails when anything the providers hold carries a credential,
// a token or a query value.
func noLeak(t *testing.T, tel *oteltest.Telemetry, extra ...string) {
	t.Helper()
	dump := tel.Dump(t)
	for _, needle := range append([]string{secretMarker, tokenMarker, "Bearer", "Authorization", "$select", "$filter", "skiptoken"}, extra...) {
		if strings.Contains(dump, needle) {
			t.Errorf("exported telemetry holds %q:\n%s", needle, dump)
		}
	}
}

func TestTelemetryOfACallRetriedTwiceAfter429s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := oteltest.New(t)
		f := &fakeNet{api: sequence(throttled("2"), throttled("3"), okJSON(fixture(t, "whoami.json")))}
		c := telemetryClient(t, f, tel)

		ctx, caller := tel.TracerProvider.Tracer("host").Start(t.Context(), "host request")
		if _, err := c.WhoAmI(ctx); err != nil {
			t.Fatal(err)
		}
		caller.End()

		calls := tel.Named(SpanCallPrefix + "WhoAmI")
		if len(calls) != 1 {
			t.Fatalf("%d WhoAmI spans, want 1", len(calls))
		}
		call := calls[0]
		if call.Parent.SpanID() != caller.SpanContext().SpanID() {
			t.Errorf("the call's parent is %v, want the caller's span", call.Parent.SpanID())
		}
		if call.SpanKind != trace.SpanKindClient || call.Status.Code == codes.Error {
			t.Errorf("call span kind %v status %v, want client and no error", call.SpanKind, call.Status)
		}
		sent := f.apiSeen()
		if len(sent) != 3 {
			t.Fatalf("%d requests, want 3", len(sent))
		}
		corr := sent[0].header.Get("X-Correlation-Id")
		for key, want := range map[string]string{
			"dynamics_portal.operation":      "WhoAmI",
			"http.request.method":            "GET",
			"server.address":                 "hlf.crm4.dynamics.com",
			"dynamics_portal.correlation_id": corr,
		} {
			if got := attr(t, call, key).AsString(); got != want {
				t.Errorf("call span %s = %q, want %q", key, got, want)
			}
		}
		for key, want := range map[string]int64{"server.port": 443, "http.response.status_code": 200, "dynamics_portal.attempts": 3} {
			if got := attr(t, call, key).AsInt64(); got != want {
				t.Errorf("call span %s = %d, want %d", key, got, want)
			}
		}

		// One event per attempt: its status, the delay before it, the
		// Retry-After it was asked.
		wantEvents := []struct {
			status     int64
			delay      float64
			retryAfter float64
		}{{429, 0, 2}, {429, 2, 3}, {200, 3, 0}}
		if len(call.Events) != len(wantEvents) {
			t.Fatalf("%d events on the call span, want %d", len(call.Events), len(wantEvents))
		}
		for i, w := range wantEvents {
			ev := call.Events[i]
			n, _ := eventAttr(ev, "dynamics_portal.attempt")
			st, _ := eventAttr(ev, "http.response.status_code")
			d, _ := eventAttr(ev, "dynamics_portal.delay")
			ra, hasRA := eventAttr(ev, "dynamics_portal.retry_after")
			if ev.Name != "attempt" || n.AsInt64() != int64(i+1) || st.AsInt64() != w.status || d.AsFloat64() != w.delay ||
				ra.AsFloat64() != w.retryAfter || hasRA != (w.retryAfter > 0) {
				t.Errorf("event %d: %s attempt=%d status=%d delay=%v retry_after=%v (%v), want attempt %d status %d delay %v retry_after %v",
					i, ev.Name, n.AsInt64(), st.AsInt64(), d.AsFloat64(), ra.AsFloat64(), hasRA, i+1, w.status, w.delay, w.retryAfter)
			}
		}

		// The token fetch made for the first attempt is a child of the call.
		tokens := tel.Named(SpanToken)
		if len(tokens) != 1 || tokens[0].Parent.SpanID() != call.SpanContext.SpanID() {
			t.Errorf("token spans %d, want 1 under the call span", len(tokens))
		}

		// Every attempt carries the call's W3C trace context; the
		// correlation id is the same on all of them.
		want := "00-" + call.SpanContext.TraceID().String() + "-" + call.SpanContext.SpanID().String() + "-01"
		for i, s := range sent {
			if got := s.header.Get("Traceparent"); got != want {
				t.Errorf("attempt %d: traceparent %q, want %q", i+1, got, want)
			}
			if s.header.Get("X-Correlation-Id") != corr {
				t.Errorf("attempt %d: correlation id changed", i+1)
			}
		}

		m := tel.Metrics(t)
		op := attribute.String("dynamics_portal.operation", "WhoAmI")
		for _, c := range []struct {
			name  string
			attrs []attribute.KeyValue
			want  float64
		}{
			{MetricCalls, []attribute.KeyValue{op}, 1},
			{MetricAttempts, []attribute.KeyValue{op}, 3},
			{MetricAttempts, []attribute.KeyValue{op, attribute.Int("http.response.status_code", 429)}, 2},
			{MetricRetries, []attribute.KeyValue{op}, 2},
			{MetricThrottled, []attribute.KeyValue{op}, 2},
			{MetricRetryAfterWait, []attribute.KeyValue{op}, 5},
			{MetricTokenFetches, nil, 1},
		} {
			if got := m.Value(c.name, c.attrs...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.attrs, got, c.want)
			}
		}
		if got := m.Attributes(MetricCalls); len(got) != 1 || strings.Contains(got[0], "error.type") {
			t.Errorf("%s data points %q, want one without error.type", MetricCalls, got)
		}
		if got := m.Count(MetricCallDuration, op); got != 1 {
			t.Errorf("%s count %d, want 1", MetricCallDuration, got)
		}
		noLeak(t, tel)
	})
}

func TestTelemetryOfATokenFailure(t *testing.T) {
	tel := oteltest.New(t)
	f := &fakeNet{token: status(http.StatusUnauthorized, fixture(t, "token-error-invalid-client.json"))}
	c := telemetryClient(t, f, tel)

	_, err := c.WhoAmI(t.Context())
	wantCode(t, err, ports.CodeAuthFailure)

	tokens := tel.Named(SpanToken)
	if len(tokens) != 1 {
		t.Fatalf("%d token spans, want 1", len(tokens))
	}
	tok := tokens[0]
	if tok.Status.Code != codes.Error || tok.Status.Description != "authFailure" {
		t.Errorf("token span status %+v, want Error authFailure", tok.Status)
	}
	if got := attr(t, tok, "error.type").AsString(); got != "authFailure" {
		t.Errorf("token span error.type %q", got)
	}
	if got := attr(t, tok, "dynamics_portal.service_code").AsString(); got != "invalid_client" {
		t.Errorf("token span service code %q, want invalid_client", got)
	}
	if got := attr(t, tok, "http.response.status_code").AsInt64(); got != http.StatusUnauthorized {
		t.Errorf("token span status code %d, want 401", got)
	}
	if got := attr(t, tok, "server.address").AsString(); got != "login.microsoftonline.com" {
		t.Errorf("token span server.address %q", got)
	}
	call := tel.Named(SpanCallPrefix + "WhoAmI")[0]
	if tok.Parent.SpanID() != call.SpanContext.SpanID() {
		t.Error("the token span is not a child of the call span")
	}
	if call.Status.Code != codes.Error || attr(t, call, "error.type").AsString() != "authFailure" {
		t.Errorf("call span status %+v, want Error authFailure", call.Status)
	}
	if f.calls.Load() != 0 {
		t.Errorf("%d Web API requests without a token", f.calls.Load())
	}

	m := tel.Metrics(t)
	failed := attribute.String("error.type", "authFailure")
	if got := m.Value(MetricTokenFetches, failed); got != 1 {
		t.Errorf("%s{authFailure} = %v, want 1", MetricTokenFetches, got)
	}
	if got := m.Value(MetricCalls, attribute.String("dynamics_portal.operation", "WhoAmI"), failed); got != 1 {
		t.Errorf("%s{WhoAmI, authFailure} = %v, want 1", MetricCalls, got)
	}
	// The secret, and the endpoint's own words, stay out.
	noLeak(t, tel, "AADSTS")
}

func TestTelemetryKeepsQueryValuesOut(t *testing.T) {
	tel := oteltest.New(t)
	f := &fakeNet{api: okJSON(fixture(t, "certifications-page1.json"))}
	c := telemetryClient(t, f, tel)
	since := time.Date(2026, 10, 3, 4, 5, 6, 0, time.UTC)
	if _, err := c.ListCertifications(t.Context(), ports.PageQuery{ModifiedSince: since, PageSize: 10}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.apiSeen()[0].rawQuery, "2026-10-03") {
		t.Fatalf("the request's query %q does not hold the date; the test proves nothing", f.apiSeen()[0].rawQuery)
	}
	noLeak(t, tel, "2026-10-03", "modifiedon")
	if n := len(tel.Named(SpanCallPrefix + "ListCertifications")); n != 1 {
		t.Errorf("%d ListCertifications spans, want 1", n)
	}
}

func TestNoTraceparentWithoutATraceContext(t *testing.T) {
	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	c := newNetClient(t, f)
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.apiSeen()[0].header.Get("Traceparent"); got != "" {
		t.Errorf("traceparent %q sent without a trace", got)
	}
	// Without providers the caller's own trace context still goes out.
	tel := oteltest.New(t)
	ctx, span := tel.TracerProvider.Tracer("host").Start(t.Context(), "host request")
	defer span.End()
	if _, err := c.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if got := f.apiSeen()[1].header.Get("Traceparent"); got != want {
		t.Errorf("traceparent %q, want the caller's %q", got, want)
	}
}
