// Package storefx is the fx module of the status store: it provides the
// *postgres.Store, and the pass store and assignment sink app.Module's
// sync service takes from the graph. It lives apart from package app so
// that a host without the store links neither pgx nor goose.
package storefx

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

// Module provides the status store (*postgres.Store) on the host's own
// *pgxpool.Pool when the graph has one, or else on a pool it opens from
// Settings, and provides it as the ports.PassStore and
// ports.AssignmentSink that app.NewSyncService takes: the pass then keeps
// its records and checkpoint in the store and mirrors the assignments into
// it. A pool the module opened is closed when the app stops; the host's is
// left alone.
var Module = fx.Module("dynamicsportal.store", fx.Provide(fx.Annotate(NewStore, asStore...)))

// Supply puts a store the caller opened into the graph as Module provides
// one.
func Supply(s *postgres.Store) fx.Option { return fx.Supply(fx.Annotate(s, asStore...)) }

// asStore is how the graph gets the store: as the *postgres.Store, the
// ports.PassStore and the ports.AssignmentSink.
var asStore = []fx.Annotation{fx.As(fx.Self()), fx.As(new(ports.PassStore)), fx.As(new(ports.AssignmentSink))}

// Settings configure Module when the host hands in no pool.
type Settings struct {
	// DatabaseURL is the PostgreSQL URL (a secret: never logged). pgx's
	// default_query_exec_mode parameter in it picks the query mode (exec
	// or simple_protocol behind a pooler in transaction mode).
	DatabaseURL string
	// Options tune the store (timeouts, logger).
	Options postgres.Options
}

// Params are the inputs of NewStore.
type Params struct {
	fx.In
	Logger    *slog.Logger
	Lifecycle fx.Lifecycle
	Pool      *pgxpool.Pool `optional:"true"`
	Settings  Settings      `optional:"true"`
	// TracerProvider, when the host supplies one, gets a span for each
	// operation of the store, under the sync page's span.
	TracerProvider trace.TracerProvider `optional:"true"`
}

// NewStore returns the status store on the host's pool, or opens one from
// the settings (failing at once, with a databaseError, when the database
// cannot be reached).
func NewStore(p Params) (*postgres.Store, error) {
	opts := p.Settings.Options
	if opts.Logger == nil {
		opts.Logger = p.Logger
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = p.TracerProvider
	}
	if p.Pool != nil {
		return postgres.New(p.Pool, &opts)
	}
	if p.Settings.DatabaseURL == "" {
		return nil, fmt.Errorf("%w: the status store needs a database: supply a *pgxpool.Pool or storefx.Settings.DatabaseURL", ports.ErrInvalidConfig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgres.DefaultConnectTimeout+postgres.DefaultStatementTimeout)
	defer cancel()
	s, err := postgres.Open(ctx, p.Settings.DatabaseURL, &opts)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(s.Close))
	return s, nil
}
