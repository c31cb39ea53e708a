package ports

import "context"

type correlationKey struct{}

// WithCorrelationID returns a context that asks the portal adapter to send id
// as the correlation id of the calls made with it. The adapter accepts only a
// UUID and replaces anything else with a random one, so user identifiers
// never travel in the header.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationIDFrom returns the correlation id set by WithCorrelationID, or "".
func CorrelationIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}
