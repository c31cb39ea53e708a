package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hlf/dynamicsportal/ports"
)

// Defaults of SyncOptions.
const (
	DefaultExpiringWithin = 30 * 24 * time.Hour
	DefaultBudget         = time.Hour
	// DefaultConcurrency comes from the sync benchmarks (test/bench,
	// 20 ms per write, on 2 cores): against the ideal time (writes ×
	// latency / writers), 8 writers take 1.08, 16 take 1.09 to 1.14 in
	// half the time, 32 take 1.13 to 1.20 and 52 take 1.28 to 1.36, the
	// fixed costs of a pass (page reads, each page's last writes, the
	// work per request) weighing more as the writes get faster. Beyond 16
	// a pass against the real portal gains little: its limits allow about
	// 20 requests per second and 20 minutes of execution per 5 minutes
	// (4 requests always in flight) sustained, so more writers only spend
	// the burst allowance sooner, and the adapter never has more requests
	// in flight than the portal's x-ms-dop-hint anyway.
	DefaultConcurrency = 16
	// DefaultWriteBatch is the number of writes per $batch request. At
	// 20 ms of execution per write, Dataverse's two limits meet at 10
	// writes per request (1200 s / (6000 × 20 ms)): below that the request
	// count binds, above it the execution time, and larger batches only
	// make the pass coarser (each batch holds more execution time, so the
	// pass overshoots and idles longer at each throttle). The sweep in the
	// README's Performance table found 20 the fastest; 20 also leaves room
	// for writes cheaper than 20 ms.
	DefaultWriteBatch = 20
)

// retryAfterFallback is how long a pass waits after a rateLimited answer
// that names no delay, so it does not hammer a portal that is shedding load.
const retryAfterFallback = 5 * time.Second

// ErrStopped marks a pass that RunUntil stopped between two pages because
// its stop channel was closed. The error also carries the code canceled.
var ErrStopped = errors.New("sync pass stopped before its next page")

// ErrBudgetExhausted marks a pass stopped because its time budget ran out.
// When the pass was throttled at the time, the error also wraps the
// portal's rateLimited *ports.PortalError, so ports.CodeOf reports
// rateLimited; otherwise the error carries no portal code.
var ErrBudgetExhausted = errors.New("sync time budget exhausted")

// SyncOptions tune a SyncService. The zero value of each field means its
// default.
type SyncOptions struct {
	// PageSize is the most records per page; 0 leaves it to the portal
	// adapter's default.
	PageSize int
	// ExpiringWithin is the window in which a certificate counts as
	// expiring (default 30 days). Classification works on dates, so it is
	// rounded up to whole days: 36h means 2 days.
	ExpiringWithin time.Duration
	// Budget is the time one Run may take (default 1h). It is checked
	// before each page and before each wait the portal asks for; a page in
	// progress is finished.
	Budget time.Duration
	// Concurrency is the number of sync-metadata write requests in flight
	// within a page (default 16); a batch is one request. The portal
	// adapter may hold them back further.
	Concurrency int
	// WriteBatch is the number of writes sent in one batched request
	// (default DefaultWriteBatch, at most ports.MaxBatchWrites); 1 sends
	// each write as a request of its own.
	WriteBatch int
	// Location gives "today" its date (default UTC).
	Location *time.Location
	// Now is the clock (default time.Now). It is called from several
	// goroutines.
	Now func() time.Time
	// Sleep waits d or until ctx is done, whichever is first, and returns
	// ctx.Err() in the latter case (default a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// TracerProvider makes the spans of each pass and page (see the
	// README's Observability section); nil means none.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the pass's metrics; nil means none.
	MeterProvider metric.MeterProvider
	// Assignments, when set, receives every assignment of the portal, in
	// key order, page by page, during each run of a pass, beside the
	// certification pages (a resumed pass reads them again: they are reads
	// only). Its calls come from their own goroutine, possibly while the
	// record sink stores a page. Without it assignments are not read.
	Assignments ports.AssignmentSink
	// OnPage, if set, receives the pass's totals after each stored page,
	// for progress display. Calls come one at a time, in page order, and
	// all before Run returns, but not all from the goroutine that called
	// Run.
	OnPage func(ports.SyncCounts)
	// Stub says the portal is the no-op stub: a pass then reads and writes
	// nothing real, so it never counts as a real one: its span and metrics
	// say portalsync.portal=stub, and it records no last_completed.
	Stub bool
}

// Report is the outcome of one Run. Its JSON form is the sync command's
// report: the counts of ports.SyncCounts at the top level, then resumed,
// complete, startedAt and duration (a Go duration string rounded to the
// millisecond, such as "1.234s").
//
// After a pass that stopped early, the counts are those of the last fully
// processed page, the same as the checkpoint holds, so the run that resumes
// it carries on from exactly these numbers.
type Report struct {
	ports.SyncCounts
	// Duration is how long this Run took (not counting earlier runs of a
	// resumed pass).
	Duration time.Duration `json:"duration"`
	// Resumed is true when the pass carried on from a checkpoint.
	Resumed bool `json:"resumed"`
	// Complete is true when the pass read the last page and cleared its
	// checkpoint.
	Complete bool `json:"complete"`
	// StartedAt is when the pass began, in UTC to the second; a resumed
	// pass keeps the time of its first run.
	StartedAt time.Time `json:"startedAt"`
	// FailedIDs are the ids of the records whose write failed, in the order
	// read, at most the first MaxFailedIDs; a resumed pass keeps those of
	// its earlier runs.
	FailedIDs []string `json:"failedIds,omitempty"`
	// Assignments is the number of assignments this Run mirrored into
	// SyncOptions.Assignments (absent without one).
	Assignments int `json:"assignments,omitempty"`
}

// MaxFailedIDs is the most failed record ids a Report and a checkpoint keep.
const MaxFailedIDs = 100

// ErrWritesFailed marks a pass that completed while some of its writes
// failed: errors.Is(err, ErrWritesFailed) holds for the *WritesFailedError
// Run returns then.
var ErrWritesFailed = errors.New("writes failed")

// WritesFailedError is returned by Run after a complete pass in which the
// portal refused some writes. The pass read every page and cleared its
// checkpoint; the Report holds the counts and the failed ids, so a job that
// runs passes notices a portal that refuses writes instead of reporting
// success.
type WritesFailedError struct {
	// Failed is the number of writes the portal refused.
	Failed int
	// Writes is the number of writes the pass sent: done, failed, and
	// those that found the record deleted.
	Writes int
}

// Error says how many of the pass's writes failed, e.g. "3 of 120 writes
// failed".
func (e *WritesFailedError) Error() string {
	return fmt.Sprintf("%d of %d writes failed", e.Failed, e.Writes)
}

// Is reports whether target is ErrWritesFailed.
func (e *WritesFailedError) Is(target error) bool { return target == ErrWritesFailed }

// MarshalJSON writes the report with its duration as a string.
func (r Report) MarshalJSON() ([]byte, error) {
	type fields Report // the same fields without this method
	return json.Marshal(struct {
		fields
		Duration string `json:"duration"`
	}{fields(r), r.Duration.Round(time.Millisecond).String()})
}

// SyncService runs certification sync passes. A SyncService may run one pass
// at a time.
type SyncService struct {
	portal     ports.DynamicsPortal
	sink       ports.RecordSink
	store      ports.CheckpointStore
	logger     *slog.Logger
	opts       SyncOptions
	windowDays int
	tel        telemetry
}

// NewSyncService returns a sync service over the given ports. A nil logger
// logs nothing. Invalid options (a negative value, a nil port) are refused
// with an error wrapping ports.ErrInvalidConfig.
func NewSyncService(portal ports.DynamicsPortal, sink ports.RecordSink, store ports.CheckpointStore, logger *slog.Logger, opts SyncOptions) (*SyncService, error) {
	invalid := func(msg string) (*SyncService, error) {
		return nil, fmt.Errorf("%w: sync: %s", ports.ErrInvalidConfig, msg)
	}
	switch {
	case portal == nil:
		return invalid("no portal")
	case sink == nil:
		return invalid("no record sink")
	case store == nil:
		return invalid("no checkpoint store")
	case opts.PageSize < 0:
		return invalid("negative page size")
	case opts.ExpiringWithin < 0:
		return invalid("negative expiring-within window")
	case opts.Budget < 0:
		return invalid("negative time budget")
	case opts.Concurrency < 0:
		return invalid("negative concurrency")
	case opts.WriteBatch < 0 || opts.WriteBatch > ports.MaxBatchWrites:
		return invalid(fmt.Sprintf("write batch %d: want 1 to %d", opts.WriteBatch, ports.MaxBatchWrites))
	}
	if opts.ExpiringWithin == 0 {
		opts.ExpiringWithin = DefaultExpiringWithin
	}
	if opts.Budget == 0 {
		opts.Budget = DefaultBudget
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.WriteBatch == 0 {
		opts.WriteBatch = DefaultWriteBatch
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = ports.Sleep
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider)
	if err != nil {
		return nil, err
	}
	const day = 24 * time.Hour
	return &SyncService{
		tel:        tel,
		portal:     portal,
		sink:       sink,
		store:      store,
		logger:     logger,
		opts:       opts,
		windowDays: int((opts.ExpiringWithin + day - 1) / day),
	}, nil
}

// Run runs one sync pass, or resumes the pass its checkpoint store holds.
//
// It reads every certification page by page in key order, classifies each
// against today's date, writes the sync metadata of the records whose status
// changed or that were never synced (concurrently within a page), hands the
// page to the sink, and saves a checkpoint. A fresh pass saves one before
// its first page too (no continuation, only the start time), so a run cut
// off on the first page is resumed like any other. After the last page it
// clears the checkpoint.
//
// The sink and checkpoint of a page commit while the pass reads and writes
// the next page, and the assignments (with SyncOptions.Assignments) are
// mirrored beside the pages, so the time a store takes hides behind the
// portal's. Pages are still stored one at a time and in order; the last
// one, which completes the pass, only once the assignments are mirrored.
//
// A write that fails with notFound (the record was deleted meanwhile) is
// counted as deleted; one that fails with invalidRequest (the portal
// refused this one record, for example a 400 or a 412) is counted as
// failed, and the pass goes on. A pass that completes with failed writes
// returns its report with a *WritesFailedError. A rateLimited answer makes
// the call that got it wait the delay the portal asked for, then the call
// is made again, as long as the budget allows (the portal adapter paces
// the other calls itself). Any other failure, cancellation or
// the end of the budget stops the pass: the page in progress is dropped,
// the checkpoint of the last complete page stays, and the error keeps the
// portal's *ports.PortalError in its chain. A failure lets the writes
// already sent finish before Run returns, so none of them lands after it;
// a cancelled ctx cuts them off, and the portal may still apply those.
//
// The pass is one span, a child of ctx's span, with one child span per page;
// the portal calls, sink and checkpoint work of a page run under the page's
// span.
func (s *SyncService) Run(ctx context.Context) (Report, error) {
	return s.RunUntil(ctx, nil)
}

// RunUntil is Run with a gentler way to stop than cancelling ctx: once stop
// is closed, the pass finishes the page in progress (its writes, the sink,
// the checkpoint) and returns before reading the next one, with an error
// wrapping ErrStopped that carries the code canceled. A nil stop never
// closes. A scheduler uses it to hand a pass over at a page boundary when
// its process shuts down.
func (s *SyncService) RunUntil(ctx context.Context, stop <-chan struct{}) (Report, error) {
	ctx, span := s.tel.tracer.Start(ctx, SpanPass)
	defer span.End()
	start := s.opts.Now()
	p := &pass{SyncService: s, deadline: start.Add(s.opts.Budget), stop: stop}
	var rep Report
	err := p.run(ctx, &rep)
	end := s.opts.Now()
	rep.Duration = end.Sub(start)
	s.tel.passDone(ctx, span, rep, end, err, s.opts.Stub)
	attrs := []slog.Attr{
		slog.Int("read", rep.Read),
		slog.Int("pages", rep.Pages),
		slog.Int("written", rep.Writes.Done),
		slog.Int("unchanged", rep.Writes.Unchanged),
		slog.Int("failed", rep.Writes.Failed),
		slog.Int("deleted", rep.Writes.Deleted),
		slog.Duration("duration", rep.Duration),
	}
	if err == nil && rep.Writes.Failed > 0 {
		// The pass is complete (its metrics say so); the caller still
		// learns that the portal refused writes.
		w := rep.Writes
		err = &WritesFailedError{Failed: w.Failed, Writes: w.Done + w.Failed + w.Deleted}
		s.logger.LogAttrs(ctx, slog.LevelWarn, "sync pass finished with failed writes",
			append(attrs, slog.Any("failed_ids", rep.FailedIDs))...)
		return rep, err
	}
	if err != nil {
		attrs = append(attrs, slog.String("code", ports.CodeOf(err).String()), slog.String("error", err.Error()))
		s.logger.LogAttrs(ctx, slog.LevelWarn, "sync pass stopped", attrs...)
		return rep, err
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "sync pass finished", attrs...)
	return rep, nil
}

// pass is the state of one Run.
type pass struct {
	*SyncService
	deadline time.Time
	stop     <-chan struct{} // closed: stop before the next page

	// done holds the totals of the pages processed so far, and failedIDs
	// their failed ids; the Report gets them as each page is stored.
	done      ports.SyncCounts
	failedIDs []string
	// storing is the page being stored beside the pass (nil: none), and
	// mirror the assignments being mirrored (nil: none).
	storing, mirror *background
}

// background is work that runs beside a pass: storing a page, or mirroring
// the assignments.
type background struct {
	done chan struct{}
	err  error
}

func goBackground(work func() error) *background {
	b := &background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = work()
	}()
	return b
}

// wait returns the work's error once it has finished; nil for no work.
func (b *background) wait() error {
	if b == nil {
		return nil
	}
	<-b.done
	return b.err
}

// failed returns the work's error if it has finished with one, without
// waiting.
func (b *background) failed() error {
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
		return b.err
	default:
		return nil
	}
}

// run runs the pass. The assignments are mirrored beside the certification
// pages, and each page but the last is stored beside the reading and
// writing of the next one: the sink and the checkpoint of page n commit
// while the pass reads and writes page n+1. Pages are stored one at a time
// and in order, and page n+1 is stored only after page n; the last page is
// stored (and the checkpoint cleared) only once the assignments are
// mirrored. Run returns only after the work beside it has finished.
//
// A run cut off before a page's checkpoint commits resumes from the page
// before: the writes of the pages it reads again are found stamped with a
// time at or after the pass's start, and counted as written, not sent
// again (see processPage).
func (p *pass) run(ctx context.Context, rep *Report) (err error) {
	next, err := p.begin(ctx, rep)
	if err != nil {
		return err
	}
	if p.opts.Assignments != nil {
		mctx, cancel := context.WithCancel(ctx)
		p.mirror = goBackground(func() error { return p.mirrorAssignments(mctx, rep) })
		defer func() {
			cancel()
			if merr := p.mirror.wait(); err == nil {
				err = merr
			}
		}()
	}
	defer func() {
		// The page being stored is older than whatever stopped the pass:
		// its failure comes first.
		if serr := p.storing.wait(); serr != nil {
			err = serr
		}
	}()
	for {
		if err := p.between(ctx); err != nil {
			return err
		}
		more, err := p.page(ctx, next, rep)
		if err != nil || more == "" {
			return err
		}
		next = more
	}
}

// between is checked before each page: the work beside the pass, then
// goOn.
func (p *pass) between(ctx context.Context) error {
	if err := p.storing.failed(); err != nil {
		return err
	}
	if err := p.mirror.failed(); err != nil {
		return err
	}
	return p.goOn(ctx)
}

// goOn is checked before each page of certifications or assignments: the
// budget, the caller's context and the stop channel.
func (p *pass) goOn(ctx context.Context) error {
	if !p.opts.Now().Before(p.deadline) {
		return fmt.Errorf("%w (%s)", ErrBudgetExhausted, p.opts.Budget)
	}
	if err := ctx.Err(); err != nil {
		return canceled(err)
	}
	select {
	case <-p.stop:
		return canceled(ErrStopped)
	default:
	}
	return nil
}

// processed is a page read and processed, waiting to be stored.
type processed struct {
	records   []ports.SyncRecord
	next      string           // the continuation after it; "" after the last page
	this      ports.SyncCounts // its own counts
	counts    ports.SyncCounts // the pass's totals with it
	failedIDs []string         // the pass's failed ids with it
}

// page reads and processes the page at continuation next, under a span of
// its own, and stores it: the last page at once, any other beside the
// pass (see run). It returns the continuation of the page after it (""
// after the last page).
func (p *pass) page(ctx context.Context, next string, rep *Report) (string, error) {
	ctx, span := p.tel.tracer.Start(ctx, SpanPage, trace.WithAttributes(attrPage.Int(p.done.Pages+1)))
	pg, err := p.read(ctx, next, rep)
	if err == nil {
		err = p.storing.wait() // pages are stored in order
	}
	if err == nil && pg.next == "" {
		err = p.mirror.wait() // a pass completes with its assignments
	}
	if err != nil {
		failed(span, err)
		span.End()
		return "", err
	}
	if pg.next == "" {
		defer span.End()
		return "", p.save(ctx, span, pg, rep)
	}
	p.storing = goBackground(func() error {
		defer span.End()
		return p.save(ctx, span, pg, rep)
	})
	return pg.next, nil
}

// read reads the page at continuation next and processes it.
func (p *pass) read(ctx context.Context, next string, rep *Report) (*processed, error) {
	q := ports.PageQuery{PageSize: p.opts.PageSize, Continuation: next}
	page, err := retry(ctx, ctx, p, func() (ports.Page[ports.Certification], error) {
		return p.portal.ListCertifications(ctx, q)
	})
	if err != nil {
		return nil, fmt.Errorf("read page %d: %w", p.done.Pages+1, err)
	}
	records, err := p.processPage(ctx, page.Items, rep)
	if err != nil {
		return nil, err
	}
	pg := &processed{records: records, next: page.Next}
	tally(&pg.this, records)
	tally(&p.done, records)
	for i := range records {
		if records[i].Action == ports.ActionFailed && len(p.failedIDs) < MaxFailedIDs {
			p.failedIDs = append(p.failedIDs, records[i].ID)
		}
	}
	pg.counts, pg.failedIDs = p.done, slices.Clip(p.failedIDs)
	return pg, nil
}

// save hands a processed page to the sink and commits its checkpoint, or,
// after the last page, clears it; then the Report counts the page.
func (p *pass) save(ctx context.Context, span trace.Span, pg *processed, rep *Report) error {
	position, err := p.sink.WritePage(ctx, pg.records)
	if err != nil {
		err = fmt.Errorf("record sink: %w", err)
	} else if pg.next == "" {
		if err = p.store.Clear(ctx); err != nil && !errors.Is(err, ports.ErrDeletionsHeld) {
			err = fmt.Errorf("clear checkpoint: %w", err)
		}
	} else {
		cp := ports.Checkpoint{Next: pg.next, SinkPosition: position, StartedAt: rep.StartedAt, Counts: pg.counts, FailedIDs: pg.failedIDs}
		if err = p.store.Save(ctx, cp); err != nil {
			err = fmt.Errorf("save checkpoint: %w", err)
		}
	}
	// A held sweep leaves a complete pass: every record is stored, and the
	// rows gone from the portal are kept until an operator confirms.
	if err != nil && !errors.Is(err, ports.ErrDeletionsHeld) {
		failed(span, err)
		return err
	}
	rep.SyncCounts, rep.FailedIDs, rep.Complete = pg.counts, pg.failedIDs, pg.next == ""
	p.tel.pageDone(ctx, span, pg.this)
	p.logger.LogAttrs(ctx, slog.LevelDebug, "sync page done",
		slog.Int("page", pg.counts.Pages), slog.Int("records", len(pg.records)), slog.Int("written", pg.counts.Writes.Done))
	if p.opts.OnPage != nil {
		p.opts.OnPage(pg.counts)
	}
	return err // nil, or the held sweep
}

// mirrorAssignments reads every assignment, page by page in key order, into
// the assignment sink, within the pass's budget and throttling. It counts
// them in rep.Assignments, which nothing else touches while it runs.
func (p *pass) mirrorAssignments(ctx context.Context, rep *Report) error {
	next := ""
	for pages := 1; ; pages++ {
		if err := p.goOn(ctx); err != nil {
			return err
		}
		q := ports.PageQuery{PageSize: p.opts.PageSize, Continuation: next}
		page, err := retry(ctx, ctx, p, func() (ports.Page[ports.Assignment], error) {
			return p.portal.ListAssignments(ctx, q)
		})
		if err != nil {
			return fmt.Errorf("read assignments page %d: %w", pages, err)
		}
		if err := p.opts.Assignments.WriteAssignments(ctx, page.Items, page.Next == ""); err != nil {
			return fmt.Errorf("assignment sink: %w", err)
		}
		rep.Assignments += len(page.Items)
		if page.Next == "" {
			p.logger.LogAttrs(ctx, slog.LevelDebug, "assignments mirrored", slog.Int("assignments", rep.Assignments), slog.Int("pages", pages))
			return nil
		}
		next = page.Next
	}
}

// begin loads the checkpoint, rewinds the sink to match it and returns the
// continuation of the first page to read.
func (p *pass) begin(ctx context.Context, rep *Report) (string, error) {
	cp, err := p.store.Load(ctx)
	switch {
	case errors.Is(err, ports.ErrNoCheckpoint):
		if err := p.sink.Rewind(ctx, ""); err != nil {
			return "", fmt.Errorf("record sink: %w", err)
		}
		rep.StartedAt = p.opts.Now().UTC().Truncate(time.Second)
		// Save the start before the first page: a run interrupted on that
		// page then resumes this pass, and the writes it made count as
		// this pass's, instead of a fresh pass finding them unchanged.
		if err := p.store.Save(ctx, ports.Checkpoint{StartedAt: rep.StartedAt}); err != nil {
			return "", fmt.Errorf("save checkpoint: %w", err)
		}
		p.logger.LogAttrs(ctx, slog.LevelInfo, "sync pass started", p.settings()...)
		return "", nil
	case err != nil:
		return "", fmt.Errorf("load checkpoint: %w", err)
	case cp.Next == "" && (cp.StartedAt.IsZero() || cp.Counts != ports.SyncCounts{}):
		// An empty Next is saved only at the start of a pass, before any
		// page: the pass clears the checkpoint after its last page.
		return "", errors.New("load checkpoint: it holds no continuation; remove it to start a fresh pass")
	}
	if err := p.sink.Rewind(ctx, cp.SinkPosition); err != nil {
		return "", fmt.Errorf("record sink: %w", err)
	}
	rep.Resumed, rep.StartedAt, rep.SyncCounts, rep.FailedIDs = true, cp.StartedAt, cp.Counts, cp.FailedIDs
	p.done, p.failedIDs = cp.Counts, slices.Clone(cp.FailedIDs)
	p.logger.LogAttrs(ctx, slog.LevelInfo, "sync pass resumed", append(p.settings(),
		slog.Time("started_at", cp.StartedAt), slog.Int("pages", cp.Counts.Pages), slog.Int("read", cp.Counts.Read))...)
	return cp.Next, nil
}

func (p *pass) settings() []slog.Attr {
	return []slog.Attr{
		slog.Int("page_size", p.opts.PageSize),
		slog.Int("expiring_within_days", p.windowDays),
		slog.Int("concurrency", p.opts.Concurrency),
		slog.Int("write_batch", p.opts.WriteBatch),
		slog.Duration("budget", p.opts.Budget),
	}
}

// processPage classifies the page's records and writes the sync metadata
// of those that need it. It returns the page as the sink gets it.
func (p *pass) processPage(ctx context.Context, items []ports.Certification, rep *Report) ([]ports.SyncRecord, error) {
	today := ports.DateOf(p.opts.Now().In(p.opts.Location))
	windowEnd := today.AddDays(p.windowDays)
	records := make([]ports.SyncRecord, len(items))
	writes := 0
	for i := range items {
		r := &records[i]
		r.Certification = items[i]
		r.Computed = classify(items[i], today, windowEnd)
		switch {
		case needsWrite(&items[i], r.Computed):
			writes++ // Action is set when the write settles.
		case rep.Resumed && !r.LastSyncedOn.Before(rep.StartedAt):
			// The record already carries its status, stamped at or after
			// the start of this pass: this pass wrote it before it was
			// interrupted, on the page that was in flight. Count it as a
			// write done, so that the totals of a resumed pass equal what
			// the pass wrote. (A write by another pass in the same second
			// as this pass's start would be counted too.)
			r.Action = ports.ActionWritten
		default:
			r.Action = ports.ActionUnchanged
		}
	}
	if writes == 0 {
		return records, nil
	}
	return records, p.writeAll(ctx, records, writes)
}

// needsWrite reports whether c's sync metadata must be written: its status
// changed, or it was never synced.
func needsWrite(c *ports.Certification, computed ports.SyncStatus) bool {
	return c.SyncStatus != computed || c.SyncStatus == ports.SyncStatusNone || c.LastSyncedOn.IsZero()
}

// writeAll writes the records without an action, in batches of about
// WriteBatch (of equal size), at most Concurrency requests at a time, and
// returns when every write has settled. The first write that stops the
// pass stops the others from starting, or from waiting out a throttle,
// but lets those already sent finish: a write cut off on the wire may
// still be applied by the portal, unseen, after Run has returned, and a
// pass run again at once would then read the record before the write
// lands and write it a second time.
func (p *pass) writeAll(ctx context.Context, records []ports.SyncRecord, writes int) error {
	stop, halt := context.WithCancel(ctx)
	defer halt()
	batches := (writes + p.opts.WriteBatch - 1) / p.opts.WriteBatch
	units := make([][]*ports.SyncRecord, 0, batches)
	unit := make([]*ports.SyncRecord, 0, (writes+batches-1)/batches)
	for i := range records {
		if records[i].Action != "" {
			continue
		}
		unit = append(unit, &records[i])
		// Batch b of n ends after record ⌈(b+1)·writes/n⌉: equal sizes.
		if len(units) < batches && len(unit) == (len(units)+1)*writes/batches-len(units)*writes/batches {
			units = append(units, unit)
			unit = make([]*ports.SyncRecord, 0, cap(unit))
		}
	}
	var (
		next  atomic.Int64 // index of the next unit to write
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(p.opts.Concurrency, len(units)) {
		wg.Go(func() {
			for stop.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(units) {
					return
				}
				var err error
				if p.opts.WriteBatch == 1 {
					err = p.write(ctx, stop, units[i][0])
				} else {
					err = p.writeBatch(ctx, stop, units[i])
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
						halt()
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return canceled(err) // the caller cancelled: records are left unwritten
	}
	return nil
}

// write writes the sync metadata of one record and sets its action. It
// returns an error only for a failure that stops the pass. Once stop is
// done it sends nothing more; a call already sent ends only with ctx.
func (p *pass) write(ctx, stop context.Context, r *ports.SyncRecord) error {
	var m ports.SyncMetadata
	resp, err := retry(ctx, stop, p, func() (ports.SyncResponse, error) {
		m = p.metadata(r)
		return p.portal.WriteSyncMetadata(ctx, r.ID, m)
	})
	return p.settle(ctx, r, m, resp, err)
}

// metadata is what a write of r sends now.
func (p *pass) metadata(r *ports.SyncRecord) ports.SyncMetadata {
	return ports.SyncMetadata{Status: r.Computed, LastSyncedOn: p.opts.Now().UTC().Truncate(time.Second)}
}

// writeBatch writes the sync metadata of records in batched requests and
// sets their actions. Writes the portal answered with rateLimited make the
// pass wait as it asks, then go again in a smaller batch of their own;
// those that succeeded are never sent again. It returns an error only for
// a failure that stops the pass.
func (p *pass) writeBatch(ctx, stop context.Context, records []*ports.SyncRecord) error {
	writes := make([]ports.SyncWrite, 0, len(records))
	for len(records) > 0 {
		results, err := retry(ctx, stop, p, func() ([]ports.SyncWriteResult, error) {
			writes = writes[:0]
			for _, r := range records {
				writes = append(writes, ports.SyncWrite{ID: r.ID, Metadata: p.metadata(r)})
			}
			return p.portal.WriteSyncMetadataBatch(ctx, writes)
		})
		if err == nil && len(results) != len(writes) {
			err = &ports.PortalError{Code: ports.CodeInvalidResponse, Op: "WriteSyncMetadataBatch",
				Message: fmt.Sprintf("%d results for %d writes", len(results), len(writes))}
		}
		if err != nil {
			return fmt.Errorf("write sync metadata of %d certifications (%s … %s): %w", len(records), records[0].ID, records[len(records)-1].ID, err)
		}
		again := records[:0:0]
		var throttled *ports.PortalError
		for i, res := range results {
			if pe, ok := errors.AsType[*ports.PortalError](res.Err); ok && pe.Code == ports.CodeRateLimited {
				again = append(again, records[i])
				if throttled == nil || pe.RetryAfter > throttled.RetryAfter {
					throttled = pe
				}
				continue
			}
			if err := p.settle(ctx, records[i], writes[i].Metadata, res.Response, res.Err); err != nil {
				return err
			}
		}
		if throttled != nil {
			if err := p.pause(ctx, stop, throttled); err != nil {
				return err
			}
		}
		records = again
	}
	return nil
}

// settle sets r's action from the answer to a write of m. It returns an
// error only for a failure that stops the pass.
func (p *pass) settle(ctx context.Context, r *ports.SyncRecord, m ports.SyncMetadata, resp ports.SyncResponse, err error) error {
	code := ports.CodeOf(err)
	switch {
	case err == nil:
		r.Action = ports.ActionWritten
		r.SyncStatus, r.LastSyncedOn = m.Status, m.LastSyncedOn
		if resp.ETag != "" {
			r.ETag = resp.ETag
		}
		return nil
	case code == ports.CodeNotFound:
		// Deleted since it was read: there is nothing left to write.
		r.Action = ports.ActionDeleted
		p.logger.LogAttrs(ctx, slog.LevelInfo, "sync metadata not written: the record was deleted meanwhile",
			slog.String("id", r.ID))
		return nil
	case code == ports.CodeInvalidRequest:
		r.Action = ports.ActionFailed
		p.logger.LogAttrs(ctx, slog.LevelWarn, "sync metadata write failed; the pass goes on",
			slog.String("id", r.ID), slog.String("code", code.String()), slog.String("error", err.Error()))
		return nil
	default:
		return fmt.Errorf("write sync metadata of certification %s: %w", r.ID, err)
	}
}

// retry makes one portal call, and makes it again after each rateLimited
// answer once the pass has waited as the portal asks. It makes no call,
// and stops waiting, once stop is done.
//
// This is the pass's whole part in a throttled call. The adapter decides
// everything below it: it paces all calls together, waits a pause within
// its own time limits and retries, and answers rateLimited only for a
// pause longer than a call may wait (see package dynamics). The pass
// decides only whether such a pause fits in its budget.
func retry[T any](ctx, stop context.Context, p *pass, call func() (T, error)) (T, error) {
	for {
		var zero T
		if err := stop.Err(); err != nil {
			return zero, canceled(err)
		}
		v, err := call()
		pe, ok := errors.AsType[*ports.PortalError](err)
		if !ok || pe.Code != ports.CodeRateLimited {
			return v, err
		}
		if err := p.pause(ctx, stop, pe); err != nil {
			return zero, err
		}
	}
}

// pause is the pass-level decision about a rateLimited answer: wait the
// delay it asks for (retryAfterFallback when it names none) when that ends
// within the budget, or return at once ErrBudgetExhausted wrapping the
// answer, so the pass stops with its checkpoint. A wait ends early, as
// canceled, when stop is done.
func (p *pass) pause(ctx, stop context.Context, pe *ports.PortalError) error {
	d := pe.RetryAfter
	if d <= 0 {
		d = retryAfterFallback
	}
	if p.opts.Now().Add(d).After(p.deadline) {
		return fmt.Errorf("%w (%s): %w", ErrBudgetExhausted, p.opts.Budget, pe)
	}
	p.logger.LogAttrs(ctx, slog.LevelInfo, "portal throttles the sync; waiting",
		slog.String("op", pe.Op), slog.Duration("retry_after", d))
	if err := p.opts.Sleep(stop, d); err != nil {
		if stop.Err() != nil {
			return canceled(stop.Err())
		}
		return err
	}
	return nil
}

// tally adds one page's records to c.
func tally(c *ports.SyncCounts, records []ports.SyncRecord) {
	c.Pages++
	c.Read += len(records)
	for i := range records {
		switch records[i].Computed {
		case ports.SyncStatusValid:
			c.Status.Valid++
		case ports.SyncStatusExpiring:
			c.Status.Expiring++
		case ports.SyncStatusExpired:
			c.Status.Expired++
		case ports.SyncStatusInactive:
			c.Status.Inactive++
		}
		switch records[i].Action {
		case ports.ActionWritten:
			c.Writes.Done++
		case ports.ActionUnchanged:
			c.Writes.Unchanged++
		case ports.ActionFailed:
			c.Writes.Failed++
		case ports.ActionDeleted:
			c.Writes.Deleted++
		}
	}
}

func canceled(err error) error {
	return &ports.PortalError{Code: ports.CodeCanceled, Op: "sync", Err: err}
}
