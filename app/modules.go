package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/adapters/memory"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/flags"
	"github.com/hlf/dynamicsportal/ports"
)

// Module is what a host backend adds to its fx.New: flags, credentials, the
// portal and the certification sync. It needs a Config and a *slog.Logger
// in the graph (ConfigModule and LoggerModule provide them from the
// environment).
var Module = fx.Module("dynamicsportal",
	CredentialsModule,
	PortalModule,
	CoreModule,
)

// ConfigModule provides Config from the process environment.
var ConfigModule = fx.Module("dynamicsportal.config", fx.Provide(ConfigFromEnv))

// LoggerModule provides a *slog.Logger on stderr from Config, and routes
// fx's own events through it at debug level.
var LoggerModule = fx.Module("dynamicsportal.logger",
	fx.Provide(func(c Config) *slog.Logger { return NewLogger(c, os.Stderr) }),
	WithSlogEvents(),
)

// WithSlogEvents makes fx log its own events through the graph's
// *slog.Logger at debug level, so they stay out of normal output. Its error
// events are at debug too: the same errors come back from fx.New and Start.
func WithSlogEvents() fx.Option {
	return fx.WithLogger(func(l *slog.Logger) fxevent.Logger {
		fl := &fxevent.SlogLogger{Logger: l}
		fl.UseLogLevel(slog.LevelDebug)
		fl.UseErrorLevel(slog.LevelDebug)
		return fl
	})
}

// CredentialsModule provides the credential provider the environment
// configures (NewCredentialProvider): a federated token file, a
// certificate or a client secret, read at each token fetch. A host
// replaces it with fx.Decorate, for example with credentials.FromFiles or
// a managed identity provider of its own.
var CredentialsModule = fx.Module("dynamicsportal.credentials",
	fx.Provide(NewCredentialProvider),
)

// PortalModule provides the ports.DynamicsPortal chosen by the flag. It
// makes the choice when the app is built, even before anything asks for the
// portal, so a bad configuration stops the app at startup.
var PortalModule = fx.Module("dynamicsportal.portal",
	fx.Provide(NewPortal),
	fx.Invoke(func(ports.DynamicsPortal) {}),
)

// PortalParams are the inputs of NewPortal.
type PortalParams struct {
	fx.In
	Config      Config
	Credentials ports.CredentialProvider
	Logger      *slog.Logger
	Lifecycle   fx.Lifecycle
	// HTTPClient, when supplied, carries the real adapter's traffic (the
	// adapter still refuses to follow redirects).
	HTTPClient *http.Client `optional:"true"`
	// FlagProvider, when the host supplies one (flagd, a vendor's), is
	// used instead of the module's own file and environment providers. The
	// module evaluates the flag with it once and then shuts it down, so
	// hand in an instance of its own.
	FlagProvider openfeature.FeatureProvider `optional:"true"`
	// TracerProvider and MeterProvider, when the host supplies them, get
	// the real adapter's spans and metrics (see the README's Observability
	// section). The module never uses or installs the global providers.
	TracerProvider trace.TracerProvider `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
}

// PortalResult is the output of NewPortal.
type PortalResult struct {
	fx.Out
	Portal ports.DynamicsPortal
	Choice PortalChoice
}

// flagsTimeout bounds the startup flag evaluation: the wait for the provider
// to become ready, and its shutdown.
const flagsTimeout = 10 * time.Second

// NewPortal evaluates the flag at startup and provides the real adapter or
// the stub (see SelectPortal). The real adapter is closed when the app
// stops.
func NewPortal(p PortalParams) (PortalResult, error) {
	provider := p.FlagProvider
	if provider == nil {
		var err error
		if provider, err = flags.NewProvider(&flags.ProviderOptions{File: p.Config.FlagsFile}); err != nil {
			return PortalResult{}, fmt.Errorf("%w: %w", ports.ErrInvalidConfig, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), flagsTimeout)
	defer cancel()
	portal, choice, err := SelectPortal(ctx, p.Config, provider, p.Credentials, &dynamics.Options{
		HTTPClient: p.HTTPClient, TracerProvider: p.TracerProvider, MeterProvider: p.MeterProvider,
	}, p.Logger)
	if err != nil {
		return PortalResult{}, err
	}
	if c, ok := portal.(io.Closer); ok {
		p.Lifecycle.Append(fx.StopHook(c.Close))
	}
	return PortalResult{Portal: portal, Choice: choice}, nil
}

// CoreModule provides the certification sync service.
var CoreModule = fx.Module("dynamicsportal.core", fx.Provide(NewSyncService))

// SyncSettings configure the sync service in the graph. Supply them with
// fx.Supply; without them the defaults hold and progress is kept in memory.
type SyncSettings struct {
	// Options tune the pass (page size, window, budget, concurrency, clock).
	// Without a Logger of their own, the pass logs to the graph's.
	Options core.SyncOptions
	// CheckpointFile keeps progress across runs; empty keeps it in memory,
	// so an interrupted pass starts over.
	CheckpointFile string
	// OutFile receives the records of each complete pass as JSON lines;
	// empty discards them.
	OutFile string
}

// SyncParams are the inputs of NewSyncService.
type SyncParams struct {
	fx.In
	Portal    ports.DynamicsPortal
	Choice    PortalChoice
	Logger    *slog.Logger
	Lifecycle fx.Lifecycle
	Settings  SyncSettings `optional:"true"`
	// TracerProvider and MeterProvider, when the host supplies them, get
	// the pass's spans and metrics (see the README's Observability
	// section); without them the pass reports nothing. The module never
	// uses or installs the global providers.
	TracerProvider trace.TracerProvider `optional:"true"`
	MeterProvider  metric.MeterProvider `optional:"true"`
	// Store, when the graph has one (storefx.Module provides the status
	// store), keeps the pass's records and checkpoint; CheckpointFile and
	// OutFile must then be empty. Assignments, when the graph has it,
	// receives the assignments each pass mirrors.
	Store       ports.PassStore      `optional:"true"`
	Assignments ports.AssignmentSink `optional:"true"`
}

// NewSyncService builds the sync service with NewSync: with the status
// store when the graph has one, or else with the files the settings name,
// reporting to the graph's tracer and meter providers unless the settings'
// options name their own. The files are closed when the app stops.
func NewSyncService(p SyncParams) (*core.SyncService, error) {
	opts := p.Settings.Options
	if opts.Logger == nil {
		opts.Logger = p.Logger
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = p.TracerProvider
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = p.MeterProvider
	}
	if opts.Assignments == nil {
		opts.Assignments = p.Assignments
	}
	if p.Store != nil {
		if p.Settings.CheckpointFile != "" || p.Settings.OutFile != "" {
			return nil, fmt.Errorf("%w: the status store keeps the records and the checkpoint: no checkpoint or output file with it", ports.ErrInvalidConfig)
		}
		return NewSync(p.Portal, p.Choice, p.Store, &opts)
	}
	files, err := jsonl.Open(p.Settings.OutFile, p.Settings.CheckpointFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ports.ErrInvalidConfig, err)
	}
	p.Lifecycle.Append(fx.StopHook(files.Close))
	return NewSync(p.Portal, p.Choice, files, &opts)
}

// NewSync returns the sync service on portal, whose passes keep their
// records and progress in store and mirror the assignments into
// opts.Assignments when set. The fx module, the command line and a host
// without fx all build the service with it.
//
// The portal choice carries the rule that the stub never touches a store
// or an output: when the stub answers (choice.Live is false), a pass keeps
// its empty pages in a memory store of its own and mirrors nothing, since
// its empty listings would otherwise sweep a store and cut an output file
// to nothing; and it is labelled as the stub's (core.SyncOptions.Stub), so
// it never counts as a real pass.
func NewSync(portal ports.DynamicsPortal, choice PortalChoice, store ports.PassStore, opts *core.SyncOptions) (*core.SyncService, error) {
	var o core.SyncOptions
	if opts != nil {
		o = *opts
	}
	o.Stub = !choice.Live
	if o.Stub {
		if o.Logger != nil && (store != nil || o.Assignments != nil) {
			o.Logger.Info("the portal stub answers: the pass leaves the store and its outputs alone")
		}
		store, o.Assignments = memory.New(), nil
	}
	return core.NewSyncService(portal, store, &o)
}
