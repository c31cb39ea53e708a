package postgres

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hlf/dynamicsportal/ports"
)

// ScopeName is the instrumentation scope of the store's spans.
const ScopeName = "github.com/hlf/dynamicsportal/adapters/postgres"

// SpanPrefix starts the name of each operation's span, such as
// "portalsync.store.Commit".
const SpanPrefix = "portalsync.store."

var dbSystem = attribute.String("db.system.name", "postgresql")

// startSpan begins the span of the store operation op under ctx's span. It
// holds no statement text, argument or connection setting.
func (s *Store) startSpan(ctx context.Context, op string) (context.Context, trace.Span) {
	return s.opts.TracerProvider.Tracer(ScopeName).Start(ctx, SpanPrefix+op,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(dbSystem))
}

// endSpan ends span with err's error.type (ports.ErrorType: databaseError,
// canceled, deletionsHeld, or _OTHER). No checkpoint to resume is no
// failure.
func endSpan(span trace.Span, err error) {
	if err != nil && !errors.Is(err, ports.ErrNoCheckpoint) && span.IsRecording() {
		et := ports.ErrorType(err)
		span.SetAttributes(attribute.String("error.type", et))
		span.SetStatus(codes.Error, et)
	}
	span.End()
}
