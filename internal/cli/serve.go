package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/app/riverfx"
	"github.com/hlf/dynamicsportal/app/storefx"
)

// envDatabaseURL names the database of the status store and the scheduler.
const envDatabaseURL = "DATABASE_URL"

// serveOptions are the flags of serve and enqueue.
type serveOptions struct {
	databaseURL  string
	dbInsecure   bool
	schedule     string
	listen       string
	grace        time.Duration
	rescueAfter  time.Duration
	retryBackoff time.Duration
	noMigrate    bool
	pollOnly     bool
	allowStub    bool
	// deletionThreshold and allowDeletions guard the store's sweep.
	deletionThreshold, allowDeletions int
	public                            bool
}

func databaseFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.serve.databaseURL, "database-url", "", "PostgreSQL URL of the status store (env "+envDatabaseURL+"); a secret, never printed")
	fs.BoolVar(&e.serve.dbInsecure, "database-insecure", false, "allow a database host reached over the network without sslmode=verify-full (warns): its password could be phished")
}

func serveFlags(fs *flag.FlagSet, e *env) {
	databaseFlags(fs, e)
	sweepFlags(fs, e)
	passFlags(fs, e)
	fs.StringVar(&e.serve.schedule, "schedule", schedule.DefaultSchedule, `when the leader enqueues the pass: cron syntax with optional CRON_TZ=, or "@every D"; "off" for none`)
	fs.StringVar(&e.serve.listen, "listen", "", "serve /healthz and /metrics (Prometheus format) on this address (e.g. 127.0.0.1:8080); none when empty; loopback only unless --public")
	fs.BoolVar(&e.serve.public, "public", false, "allow a non-loopback --listen address (a probe from outside the host); warns")
	fs.DurationVar(&e.serve.grace, "shutdown-grace", riverfx.DefaultShutdownGrace, "on SIGTERM, how long the running pass may finish its page before it is cancelled")
	fs.DurationVar(&e.serve.rescueAfter, "rescue-after", 0, "how long a job may run before it is taken for dead and run by another replica; longer than the budget plus 45s (default budget + 1m45s)")
	fs.DurationVar(&e.serve.retryBackoff, "retry-backoff", schedule.DefaultRetryBackoff, "wait before a failed job's second attempt, doubled for each further one")
	fs.BoolVar(&e.serve.noMigrate, "no-migrate", false, "do not apply migrations at start; refuse to start when they are missing")
	fs.BoolVar(&e.serve.allowStub, "allow-stub", false, "run the schedule even when the portal flag chooses the stub (development only: every job completes without reading anything)")
	fs.BoolVar(&e.serve.pollOnly, "poll-only", false, "poll for jobs every second instead of listening for them: needed behind a pooler in transaction mode (Supabase's on port 6543, PgBouncer)")
}

// databaseURL returns the flag or the environment's URL, or a usage error.
func (o serveOptions) url(cmd string) (string, error) {
	u := o.databaseURL
	if u == "" {
		u = strings.TrimSpace(os.Getenv(envDatabaseURL))
	}
	if u == "" {
		return "", usageError{cmd + " needs the database: set " + envDatabaseURL + " or --database-url"}
	}
	return u, nil
}

// openStore connects to the status store's database; its errors never
// hold the URL's password.
func (e *env) openStore(ctx context.Context, url string, logger *slog.Logger) (*postgres.Store, error) {
	if e.serve.databaseURL != "" && logger != nil {
		logger.Warn("--database-url shows the database's password in the process list to every user of this machine; prefer the environment variable " + envDatabaseURL)
	}
	if e.serve.deletionThreshold < 0 || e.serve.allowDeletions < 0 {
		return nil, usageError{"--deletion-threshold and --allow-deletions take a count of rows, 0 or more"}
	}
	return postgres.Open(ctx, url, &postgres.Options{Logger: logger, AllowInsecure: e.serve.dbInsecure,
		DeletionThreshold: e.serve.deletionThreshold, AllowDeletions: e.serve.allowDeletions})
}

// migrate applies the status store's and River's migrations, or checks
// them with --no-migrate.
func (e *env) migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	if e.serve.noMigrate {
		if err := postgres.CheckMigrated(ctx, pool); err != nil {
			return err
		}
		return schedule.CheckMigrated(ctx, pool)
	}
	return migrateAll(ctx, pool, func(m string) { logger.Info("migration applied", "migration", m) })
}

func runServe(ctx context.Context, e *env, _ []string) error {
	cfg, err := e.settings.config()
	if err != nil {
		return err
	}
	url, err := e.serve.url("serve")
	if err != nil {
		return err
	}
	settings, err := e.sync.settings(cfg.TimeZone, nil)
	if err != nil {
		return err
	}
	if e.serve.grace <= 0 {
		return usageError{fmt.Sprintf("--shutdown-grace %s: want a positive duration", e.serve.grace)}
	}
	scheduling := riverfx.Settings{
		Schedule:      e.serve.schedule,
		RescueAfter:   e.serve.rescueAfter,
		RetryBackoff:  e.serve.retryBackoff,
		ShutdownGrace: e.serve.grace,
		PollOnly:      e.serve.pollOnly,
	}
	if err := scheduling.Check(settings.Options.Budget); err != nil {
		return err
	}
	if e.serve.listen != "" && !isLoopback(e.serve.listen) && !e.serve.public {
		return usageError{fmt.Sprintf("--listen %q is not a loopback address: /healthz and /metrics would be open to the network; add --public to listen there anyway", e.serve.listen)}
	}
	logger := app.NewLogger(cfg, e.stderr)
	store, err := e.openStore(ctx, url, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	pool := store.Pool()
	if err := e.migrate(ctx, pool, logger); err != nil {
		return err
	}
	var metrics http.Handler
	if e.serve.listen != "" {
		// The module's metrics, also exported over OTLP with --otel.
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return fmt.Errorf("prometheus exporter: %w", err)
		}
		e.metricReaders = append(e.metricReaders, exp)
		metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	e.extraStop = e.serve.grace
	e.liveOnly = !e.serve.allowStub
	stop, err := e.open(ctx, cfg, []fx.Option{
		fx.Supply(settings, pool, scheduling),
		// Every run of the pass keeps its records, assignments and
		// checkpoint in the status store, so whichever replica runs the job
		// resumes it.
		storefx.Supply(store),
		riverfx.Module,
	})
	if err != nil {
		return err
	}
	var health *http.Server
	if e.serve.listen != "" {
		if !isLoopback(e.serve.listen) {
			logger.Warn("/healthz and /metrics listen beyond loopback: anyone who reaches the address reads the database's health and the module's metrics",
				slog.String("addr", e.serve.listen))
		}
		if health, err = serveHealth(e.serve.listen, pool, metrics, logger); err != nil {
			stop()
			return err
		}
	}
	logger.Info("serving the sync schedule", "schedule", e.serve.schedule, "pid", os.Getpid())
	<-ctx.Done()
	logger.Info("shutting down: no new sync job; the running pass finishes its page", "grace", e.serve.grace)
	stop()
	if health != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = health.Shutdown(sctx)
	}
	logger.Info("stopped")
	return nil
}

// serveHealth serves /healthz on addr: 200 when the database answers
// within 2 s, 503 otherwise; and /metrics with the metrics handler. It logs
// the address it listens on.
func serveHealth(addr string, pool *pgxpool.Pool, metrics http.Handler, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--listen %s: %v", addr, err)}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("healthz server stopped", "error", err.Error())
		}
	}()
	logger.Info("healthz listening", "addr", ln.Addr().String())
	return srv, nil
}

func runEnqueue(ctx context.Context, e *env, _ []string) error {
	url, err := e.serve.url("enqueue")
	if err != nil {
		return err
	}
	cfg, err := e.settings.config()
	if err != nil {
		return err
	}
	store, err := e.openStore(ctx, url, app.NewLogger(cfg, e.stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	pool := store.Pool()
	if err := schedule.CheckMigrated(ctx, pool); err != nil {
		return err
	}
	res, err := schedule.Enqueue(ctx, pool)
	if err != nil {
		return err
	}
	return json.NewEncoder(e.stdout).Encode(res)
}
