package dynamics

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hlf/dynamicsportal/ports"
)

// ScopeName is the instrumentation scope of the adapter's spans and
// metrics.
const ScopeName = "github.com/hlf/dynamicsportal/adapters/dynamics"

// The names of the adapter's spans and metrics (the README's Observability
// section lists them with their attributes). A logical call's span is
// SpanCallPrefix followed by the operation, such as
// "dynamics_portal.ListCertifications".
const (
	SpanCallPrefix = "dynamics_portal."
	SpanToken      = "dynamics_portal.token"

	MetricCalls          = "dynamics_portal.calls"
	MetricCallDuration   = "dynamics_portal.call.duration"
	MetricAttempts       = "dynamics_portal.attempts"
	MetricRetries        = "dynamics_portal.retries"
	MetricThrottled      = "dynamics_portal.throttled"
	MetricRetryAfterWait = "dynamics_portal.retry_after.wait"
	MetricTokenFetches   = "dynamics_portal.token.fetches"
)

// The attribute keys: OpenTelemetry's semantic conventions for HTTP clients
// where they apply, the adapter's own under dynamics_portal.
const (
	attrMethod        = attribute.Key("http.request.method")
	attrServerAddress = attribute.Key("server.address")
	attrServerPort    = attribute.Key("server.port")
	attrStatusCode    = attribute.Key("http.response.status_code")
	attrErrorType     = attribute.Key("error.type")
	attrOperation     = attribute.Key("dynamics_portal.operation")
	attrCorrelationID = attribute.Key("dynamics_portal.correlation_id")
	attrRequestID     = attribute.Key("dynamics_portal.service_request_id")
	attrServiceCode   = attribute.Key("dynamics_portal.service_code")
	attrAttempts      = attribute.Key("dynamics_portal.attempts")
	attrAttempt       = attribute.Key("dynamics_portal.attempt")
	attrDelay         = attribute.Key("dynamics_portal.delay")
	attrRetryAfter    = attribute.Key("dynamics_portal.retry_after")
)

// telemetry is the adapter's tracer and instruments. A Client without
// providers has none (nil), and its calls skip every step of it.
type telemetry struct {
	tracer         trace.Tracer
	portal, tokens []attribute.KeyValue // server.address and server.port
	calls          metric.Int64Counter
	duration       metric.Float64Histogram
	attempts       metric.Int64Counter
	retries        metric.Int64Counter
	throttled      metric.Int64Counter
	retryAfterWait metric.Float64Counter
	tokenFetches   metric.Int64Counter
}

// newTelemetry returns the instruments, or nil when neither provider is
// set.
func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, baseURL, tokenURL string) (*telemetry, error) {
	if tp == nil && mp == nil {
		return nil, nil
	}
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(ScopeName)
	t := &telemetry{tracer: tp.Tracer(ScopeName), portal: serverAttrs(baseURL), tokens: serverAttrs(tokenURL)}
	var errs [7]error
	t.calls, errs[0] = m.Int64Counter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Logical portal calls that ended, by operation and error code."))
	t.duration, errs[1] = m.Float64Histogram(MetricCallDuration, metric.WithUnit("s"),
		metric.WithDescription("Time a logical portal call took, every attempt and wait included."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 45))
	t.attempts, errs[2] = m.Int64Counter(MetricAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("HTTP attempts of portal calls, by operation and status code (none when no answer came)."))
	t.retries, errs[3] = m.Int64Counter(MetricRetries, metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts after a call's first, by operation."))
	t.throttled, errs[4] = m.Int64Counter(MetricThrottled, metric.WithUnit("{response}"),
		metric.WithDescription("429 answers of the portal, by operation."))
	t.retryAfterWait, errs[5] = m.Float64Counter(MetricRetryAfterWait, metric.WithUnit("s"),
		metric.WithDescription("Time attempts waited because the portal asked to wait (Retry-After), by operation."))
	t.tokenFetches, errs[6] = m.Int64Counter(MetricTokenFetches, metric.WithUnit("{fetch}"),
		metric.WithDescription("Token requests to Entra ID; failures carry error.type."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, invalid("metrics: %v", err)
	}
	return t, nil
}

// serverAttrs returns server.address and server.port of an https URL
// already checked.
func serverAttrs(raw string) []attribute.KeyValue {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	port := 443
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	return []attribute.KeyValue{attrServerAddress.String(u.Hostname()), attrServerPort.Int(port)}
}

// callSpan is one logical call in progress.
type callSpan struct {
	t         *telemetry
	span      trace.Span
	op        attribute.KeyValue
	start     time.Time
	prevEnd   time.Time // when the last attempt ended
	waitAfter bool      // the last answer asked to wait and the call retries
	attempts  int
	status    int // of the last answer
}

type callSpanKey struct{}

// startCall begins the span of a logical call op under ctx's span. It
// returns ctx unchanged and a nil *callSpan when t is nil.
func (t *telemetry) startCall(ctx context.Context, op string) (context.Context, *callSpan) {
	if t == nil {
		return ctx, nil
	}
	cs := &callSpan{t: t, op: attrOperation.String(op), start: time.Now()}
	cs.prevEnd = cs.start
	ctx, cs.span = t.tracer.Start(ctx, SpanCallPrefix+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(cs.op), trace.WithAttributes(t.portal...))
	return context.WithValue(ctx, callSpanKey{}, cs), cs
}

// callSpanFrom returns the call in progress in ctx, or nil.
func callSpanFrom(ctx context.Context) *callSpan {
	cs, _ := ctx.Value(callSpanKey{}).(*callSpan)
	return cs
}

// request notes what every attempt of the call sends.
func (cs *callSpan) request(k call) {
	if cs == nil || !cs.span.IsRecording() {
		return
	}
	cs.span.SetAttributes(attrMethod.String(k.method), attrCorrelationID.String(k.corr[0]))
}

// attempt notes one attempt: an event on the span (its number, the delay
// before it, the status, the Retry-After asked) and the attempt metrics.
func (cs *callSpan) attempt(ctx context.Context, n int, r reply, err error) {
	if cs == nil {
		return
	}
	end := time.Now()
	var delay time.Duration
	if !r.sent.IsZero() {
		delay = r.sent.Sub(cs.prevEnd)
	}
	waited := r.paused
	if cs.waitAfter {
		waited = max(waited, delay)
	}
	cs.prevEnd, cs.attempts = end, n
	cs.waitAfter = r.retryAfter > 0 && r.verdict.Retry
	if r.status != 0 {
		cs.status = r.status
	}

	if cs.span.IsRecording() {
		attrs := []attribute.KeyValue{attrAttempt.Int(n), attrDelay.Float64(delay.Seconds())}
		if r.status != 0 {
			attrs = append(attrs, attrStatusCode.Int(r.status))
		}
		if r.retryAfter > 0 {
			attrs = append(attrs, attrRetryAfter.Float64(r.retryAfter.Seconds()))
		}
		if err != nil {
			attrs = append(attrs, attrErrorType.String(ports.CodeOf(err).String()))
		}
		cs.span.AddEvent("attempt", trace.WithAttributes(attrs...), trace.WithTimestamp(end))
	}
	op := metric.WithAttributes(cs.op)
	if r.status != 0 {
		cs.t.attempts.Add(ctx, 1, metric.WithAttributes(cs.op, attrStatusCode.Int(r.status)))
	} else {
		cs.t.attempts.Add(ctx, 1, op)
	}
	if n > 1 {
		cs.t.retries.Add(ctx, 1, op)
	}
	if r.status == 429 {
		cs.t.throttled.Add(ctx, 1, op)
	}
	if waited > 0 {
		cs.t.retryAfterWait.Add(ctx, waited.Seconds(), op)
	}
}

// end closes the call with its outcome: the final status and error code on
// the span, and the call metrics. A nil cs does nothing.
func (cs *callSpan) end(ctx context.Context, err error) {
	if cs == nil {
		return
	}
	attrs := []attribute.KeyValue{cs.op}
	if err != nil {
		attrs = append(attrs, attrErrorType.String(ports.CodeOf(err).String()))
	}
	set := metric.WithAttributes(attrs...)
	cs.t.calls.Add(ctx, 1, set)
	cs.t.duration.Record(ctx, time.Since(cs.start).Seconds(), set)
	if !cs.span.IsRecording() {
		cs.span.End()
		return
	}
	cs.span.SetAttributes(attrAttempts.Int(cs.attempts))
	if cs.status != 0 {
		cs.span.SetAttributes(attrStatusCode.Int(cs.status))
	}
	if pe, ok := errors.AsType[*ports.PortalError](err); ok {
		setError(cs.span, pe)
	} else if err != nil {
		cs.span.SetAttributes(attrErrorType.String(ports.CodeUnknown.String()))
		cs.span.SetStatus(codes.Error, ports.CodeUnknown.String())
	}
	cs.span.End()
}

// setError puts a failure on a span: its code as error.type and status,
// and the ids a support ticket needs. Never the message, which may echo
// what was sent.
func setError(span trace.Span, pe *ports.PortalError) {
	span.SetAttributes(attrErrorType.String(pe.Code.String()))
	if pe.ServiceCode != "" {
		span.SetAttributes(attrServiceCode.String(pe.ServiceCode))
	}
	if pe.ServiceRequestID != "" {
		span.SetAttributes(attrRequestID.String(pe.ServiceRequestID))
	}
	span.SetStatus(codes.Error, pe.Code.String())
}

// startToken begins the span of a token fetch under ctx's span.
func (t *telemetry) startToken(ctx context.Context) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(ctx, SpanToken, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrMethod.String("POST")), trace.WithAttributes(t.tokens...))
	return ctx, span
}

// endToken closes a token fetch's span and counts it.
func (t *telemetry) endToken(span trace.Span, tf *tokenFailure) {
	ctx := context.Background()
	if tf == nil {
		t.tokenFetches.Add(ctx, 1)
	} else {
		t.tokenFetches.Add(ctx, 1, metric.WithAttributes(attrErrorType.String(tf.pe.Code.String())))
		if tf.pe.StatusCode != 0 {
			span.SetAttributes(attrStatusCode.Int(tf.pe.StatusCode))
		}
		setError(span, tf.pe)
	}
	span.End()
}
