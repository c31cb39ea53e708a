package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/ports"
)

// StoreModule provides the status store (*postgres.Store) on the host's own
// *pgxpool.Pool when the graph has one, or else on a pool it opens from
// StoreSettings. With it in the graph, NewSyncService uses the store as the
// pass's record sink, assignment sink and checkpoint store. A pool the
// module opened is closed when the app stops; the host's is left alone.
var StoreModule = fx.Module("dynamicsportal.store", fx.Provide(NewStore))

// StoreSettings configure StoreModule when the host hands in no pool.
type StoreSettings struct {
	// DatabaseURL is the PostgreSQL URL (a secret: never logged). pgx's
	// default_query_exec_mode parameter in it picks the query mode (exec
	// or simple_protocol behind a pooler in transaction mode).
	DatabaseURL string
	// Options tune the store (timeouts, logger).
	Options postgres.Options
}

// StoreParams are the inputs of NewStore.
type StoreParams struct {
	fx.In
	Logger    *slog.Logger
	Lifecycle fx.Lifecycle
	Pool      *pgxpool.Pool `optional:"true"`
	Settings  StoreSettings `optional:"true"`
	// TracerProvider, when the host supplies one, gets a span for each
	// operation of the store, under the sync page's span.
	TracerProvider trace.TracerProvider `optional:"true"`
}

// NewStore returns the status store on the host's pool, or opens one from
// the settings (failing at once, with a databaseError, when the database
// cannot be reached).
func NewStore(p StoreParams) (*postgres.Store, error) {
	opts := p.Settings.Options
	if opts.Logger == nil {
		opts.Logger = p.Logger
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = p.TracerProvider
	}
	if p.Pool != nil {
		return postgres.New(p.Pool, opts), nil
	}
	if p.Settings.DatabaseURL == "" {
		return nil, fmt.Errorf("%w: the status store needs a database: supply a *pgxpool.Pool or StoreSettings.DatabaseURL", ports.ErrInvalidConfig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgres.DefaultConnectTimeout+postgres.DefaultStatementTimeout)
	defer cancel()
	s, err := postgres.Open(ctx, p.Settings.DatabaseURL, opts)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(s.Close))
	return s, nil
}
