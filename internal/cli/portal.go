package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/app/storefx"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// stopTimeout bounds the app's shutdown hooks.
const stopTimeout = 10 * time.Second

// stubWarning is what every command run with the stub says on stderr, at
// warn level: a command line that lost its flags file must not pass for one
// that talked to the portal.
const stubWarning = "the portal flag is off: the stub answers; nothing was read or written"

// open builds and starts the module with the environment's settings plus
// extra options, fills targets, records which portal the flag chose in
// e.live (warning when it is the stub), and returns the function that stops
// the module. With --otel or OTEL_EXPORTER_OTLP_ENDPOINT set, or metric
// readers in e.metricReaders, the module reports to OpenTelemetry providers
// that export until the returned function has run.
func (e *env) open(ctx context.Context, cfg app.Config, extra []fx.Option, targets ...any) (func(), error) {
	logger := app.NewLogger(cfg, e.stderr)
	tel, err := newTelemetry(ctx, otelWanted(e.settings.otel), e.metricReaders...)
	if err != nil {
		return nil, err
	}
	var choice app.PortalChoice
	opts := append([]fx.Option{
		fx.Supply(cfg, logger),
		app.WithSlogEvents(),
		app.Module,
		fx.Populate(append(targets, &choice)...),
	}, tel.options()...)
	a := fx.New(append(opts, extra...)...)
	if err := a.Err(); err != nil {
		tel.close(ctx, e)
		return nil, dig.RootCause(err)
	}
	if e.liveOnly && !choice.Live {
		// Refused before anything starts: no River client takes a job.
		tel.close(ctx, e)
		return nil, errStubServe
	}
	if err := a.Start(ctx); err != nil {
		tel.close(ctx, e)
		return nil, dig.RootCause(err)
	}
	e.live = choice.Live
	if !e.live {
		logger.Warn(stubWarning, slog.String("reason", choice.Reason))
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout+e.extraStop)
		defer cancel()
		_ = a.Stop(sctx)
		tel.close(ctx, e)
	}, nil
}

// portal starts the module and returns the portal the flag chose.
func (e *env) portal(ctx context.Context) (ports.DynamicsPortal, func(), error) {
	cfg, err := e.settings.config()
	if err != nil {
		return nil, nil, err
	}
	var p ports.DynamicsPortal
	stop, err := e.open(ctx, cfg, nil, &p)
	return p, stop, err
}

// portalName is the "portal" value of check's output and sync's report.
func portalName(live bool) string {
	if live {
		return "live"
	}
	return "stub"
}

// errStubAnswered ends a check the stub answered: exit status 3, so a
// deployment check tells "flag off" from "portal reachable".
var errStubAnswered = errors.New("the portal flag is off; the stub answered, no portal was called")

// errStubServe is serve's refusal to run the schedule on the stub: it would
// complete every job in microseconds and record passes that read nothing,
// so a stale store would pass for a fresh one. Exit status 3, as check's.
var errStubServe = fmt.Errorf("%w: serve runs the sync schedule with the live portal only (the stub would complete every job and hide a stale store); "+
	"turn the flag on, or pass --allow-stub to run it on the stub for development", errStubAnswered)

func runCheck(ctx context.Context, e *env, _ []string) error {
	p, stop, err := e.portal(ctx)
	if err != nil {
		return err
	}
	defer stop()
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return err
	}
	out := struct {
		Portal string `json:"portal"`
		ports.Identity
	}{portalName(e.live), id}
	if err := json.NewEncoder(e.stdout).Encode(out); err != nil {
		return err
	}
	if !e.live {
		return errStubAnswered
	}
	return nil
}

// listOptions are the flags of the listing commands.
type listOptions struct {
	modifiedSince string
	pageSize      int
}

func listFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.list.modifiedSince, "modified-since", "", "only records modified after this RFC 3339 time")
	fs.IntVar(&e.list.pageSize, "page-size", 0, "records per page, 1 to 5000 (default 5000)")
}

func (o listOptions) query() (ports.PageQuery, error) {
	q := ports.PageQuery{PageSize: o.pageSize}
	if o.pageSize < 0 || o.pageSize > 5000 {
		return q, usageError{fmt.Sprintf("--page-size %d: want 1 to 5000", o.pageSize)}
	}
	if o.modifiedSince != "" {
		t, err := time.Parse(time.RFC3339, o.modifiedSince)
		if err != nil {
			return q, usageError{fmt.Sprintf("--modified-since %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", o.modifiedSince)}
		}
		q.ModifiedSince = t
	}
	return q, nil
}

func runCertifications(ctx context.Context, e *env, _ []string) error {
	return list(ctx, e, "certifications", ports.DynamicsPortal.ListCertifications)
}

func runAssignments(ctx context.Context, e *env, _ []string) error {
	return list(ctx, e, "assignments", ports.DynamicsPortal.ListAssignments)
}

// list streams every page of a collection to stdout as JSON lines.
func list[T any](ctx context.Context, e *env, what string, next func(ports.DynamicsPortal, context.Context, ports.PageQuery) (ports.Page[T], error)) error {
	q, err := e.list.query()
	if err != nil {
		return err
	}
	p, stop, err := e.portal(ctx)
	if err != nil {
		return err
	}
	defer stop()
	out := bufio.NewWriter(e.stdout)
	enc := json.NewEncoder(out)
	progress := newProgress(e.stderr)
	defer progress.done()
	records, pages := 0, 0
	for page, err := range core.Pages(ctx, q, func(ctx context.Context, q ports.PageQuery) (ports.Page[T], error) { return next(p, ctx, q) }) {
		if err != nil {
			_ = out.Flush()
			return err
		}
		for i := range page.Items {
			if err := enc.Encode(&page.Items[i]); err != nil {
				return err
			}
		}
		if err := out.Flush(); err != nil {
			return err
		}
		records, pages = records+len(page.Items), pages+1
		progress.show("%s: %d records, %d pages", what, records, pages)
	}
	return nil
}

// syncOptions are the flags of the sync command.
type syncOptions struct {
	pageSize       int
	checkpoint     string
	out            string
	budget         time.Duration
	expiringWithin string
	writeBatch     int
}

func syncFlags(fs *flag.FlagSet, e *env) {
	passFlags(fs, e)
	fs.StringVar(&e.sync.checkpoint, "checkpoint", "", "file that keeps the pass's progress, so an interrupted pass resumes")
	fs.StringVar(&e.sync.out, "out", "", "write the records of each complete pass as JSON lines to this file (FILE.partial holds those of a pass in progress)")
}

// passFlags declares the settings of each pass, shared by sync and serve.
func passFlags(fs *flag.FlagSet, e *env) {
	fs.IntVar(&e.sync.pageSize, "page-size", 0, "records per page, 1 to 5000 (default 5000)")
	fs.DurationVar(&e.sync.budget, "budget", core.DefaultBudget, "time budget of the pass; it stops cleanly when it runs out")
	fs.StringVar(&e.sync.expiringWithin, "expiring-within", "30d", "window in which a certificate counts as expiring: whole days from 1 to 3650 (e.g. 30d, 720h)")
	fs.IntVar(&e.sync.writeBatch, "write-batch", core.DefaultWriteBatch, "sync-metadata writes per $batch request, 1 to 1000 (1: one request per write)")
}

// settings turns the sync flags into the module's sync settings.
// loc gives the pass's "today" its date.
func (o syncOptions) settings(loc *time.Location, onPage func(ports.SyncCounts)) (app.SyncSettings, error) {
	if o.pageSize < 0 || o.pageSize > 5000 {
		return app.SyncSettings{}, usageError{fmt.Sprintf("--page-size %d: want 1 to 5000", o.pageSize)}
	}
	if o.budget <= 0 {
		return app.SyncSettings{}, usageError{fmt.Sprintf("--budget %s: want a positive duration", o.budget)}
	}
	if o.writeBatch < 1 || o.writeBatch > ports.MaxBatchWrites {
		return app.SyncSettings{}, usageError{fmt.Sprintf("--write-batch %d: want 1 to %d", o.writeBatch, ports.MaxBatchWrites)}
	}
	within, err := parseDays(o.expiringWithin)
	if err != nil {
		return app.SyncSettings{}, usageError{fmt.Sprintf("--expiring-within %q: %v", o.expiringWithin, err)}
	}
	return app.SyncSettings{
		Options: core.SyncOptions{
			PageSize:       o.pageSize,
			ExpiringWithin: within,
			Budget:         o.budget,
			WriteBatch:     o.writeBatch,
			Location:       loc,
			OnPage:         onPage,
		},
		CheckpointFile: o.checkpoint,
		OutFile:        o.out,
	}, nil
}

// The range of --expiring-within, in days.
const (
	minExpiringDays = 1
	maxExpiringDays = 3650
)

// parseDays reads --expiring-within: a whole number of days ("30d"), or a
// Go duration of whole days ("720h"), from 1 to 3650 days. Anything else,
// 0 and values that overflow included, is refused.
func parseDays(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	bad := fmt.Errorf("want whole days from %d to %d, such as 30d or 720h", minExpiringDays, maxExpiringDays)
	var days int64
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || strings.HasPrefix(n, "+") {
			return 0, bad
		}
		days = v
	} else {
		d, err := time.ParseDuration(s)
		if err != nil || d%day != 0 {
			return 0, bad
		}
		days = int64(d / day)
	}
	if days < minExpiringDays || days > maxExpiringDays {
		return 0, bad
	}
	return time.Duration(days) * day, nil
}

// syncStoreFlags are sync's flags: the pass's, and the status store's.
func syncStoreFlags(fs *flag.FlagSet, e *env) {
	syncFlags(fs, e)
	databaseFlags(fs, e)
	sweepFlags(fs, e)
}

// sweepFlags are the settings of the status store's guard against mass
// deletion.
func sweepFlags(fs *flag.FlagSet, e *env) {
	fs.IntVar(&e.serve.deletionThreshold, "deletion-threshold", 0,
		"the most rows a complete pass may remove from the status store's certifications or assignments unconfirmed (default 500, or 10% of the stored rows when more)")
	fs.IntVar(&e.serve.allowDeletions, "allow-deletions", 0,
		"confirm a held sweep: let a complete pass remove up to N rows of each table, whatever the threshold")
}

func runSync(ctx context.Context, e *env, _ []string) error {
	cfg, err := e.settings.config()
	if err != nil {
		return err
	}
	if e.databaseURL() == "" {
		return e.syncPass(ctx, cfg, nil)
	}
	// The status store keeps the records and the checkpoint.
	if e.sync.out != "" || e.sync.checkpoint != "" {
		return usageError{"--out and --checkpoint cannot be used with the status store (" + envDatabaseURL + " or --database-url): it keeps the records and the checkpoint"}
	}
	if _, err := e.sync.settings(cfg.TimeZone, nil); err != nil {
		return err // bad flags are reported before the database is reached
	}
	s, err := e.openStatusStore(ctx, "sync")
	if err != nil {
		return err
	}
	defer s.Close()
	if err := postgres.CheckMigrated(ctx, s.Pool()); err != nil {
		return err
	}
	return e.syncPass(ctx, cfg, []fx.Option{storefx.Supply(s)})
}

// syncPass runs one pass with the sync flags and prints its report.
func (e *env) syncPass(ctx context.Context, cfg app.Config, extra []fx.Option) error {
	progress := newProgress(e.stderr)
	defer progress.done()
	settings, err := e.sync.settings(cfg.TimeZone, func(c ports.SyncCounts) {
		progress.show("sync: %d records, %d pages, %d written, %d unchanged, %d failed",
			c.Read, c.Pages, c.Writes.Done, c.Writes.Unchanged, c.Writes.Failed)
	})
	if err != nil {
		return err
	}
	var svc *core.SyncService
	stop, err := e.open(ctx, cfg, append(extra, fx.Supply(settings)), &svc)
	if err != nil {
		return err
	}
	defer stop()
	report, runErr := svc.Run(ctx)
	progress.done()
	out, err := reportJSON(report, e.live)
	if err != nil {
		return err
	}
	if _, err := e.stdout.Write(out); err != nil {
		return err
	}
	return runErr
}

// reportJSON is the sync report as printed: "portal" first, then the
// core's report, indented, with a final newline.
func reportJSON(r core.Report, live bool) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	joined := append([]byte(`{"portal":"`+portalName(live)+`",`), b[1:]...)
	var out bytes.Buffer
	if err := json.Indent(&out, joined, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
