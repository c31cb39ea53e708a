package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hlf/dynamicsportal/ports"
)

// ErrStopped marks a pass that RunUntil stopped between two pages because
// its stop channel was closed. Its code is canceled.
var ErrStopped = errors.New("sync pass stopped before its next page")

// Run runs one sync pass, or resumes the pass its store holds.
//
// The pass reads like its data path:
//
//	checkpoint := store.Resume
//	for each page of certifications, from the checkpoint on:
//		classify each record against today's date
//		write back the sync metadata of those whose status changed (or that
//			were never synced), concurrently, singly or in $batch requests
//		store.Commit(page, checkpoint after it)   // store.Finish for the last
//
// A fresh pass commits its start (no records, only the start time) before
// its first page, so a run cut off on that page is resumed like any other.
// Each page but the last is committed while the pass reads and writes the
// next one, and the assignments (with SyncOptions.Assignments) are
// mirrored beside the pages, so the time a store takes hides behind the
// portal's. Pages are still committed one at a time and in order; the last
// one, which finishes the pass, only once the assignments are mirrored.
//
// A write that fails with notFound (the record was deleted meanwhile) is
// counted as deleted; one that fails with invalidRequest (the portal
// refused this one record, for example a 400 or a 412) is counted as
// failed, and the pass goes on. A pass that completes with failed writes
// returns its report with a *WritesFailedError. A rateLimited answer makes
// the call that got it wait the delay the portal asked for, then the call
// is made again, as long as the budget allows (the portal adapter paces
// the other calls itself). Any other failure, cancellation or the end of
// the budget stops the pass: the page in progress is dropped, the
// checkpoint of the last committed page stays, and the error keeps the
// portal's *ports.PortalError in its chain. A failure lets the writes
// already sent finish before Run returns, so none of them lands after it;
// a cancelled ctx cuts them off, and the portal may still apply those.
//
// A pass whose store held its sweep (ports.ErrDeletionsHeld) is complete:
// everything else is stored, and Run returns the report with that error.
//
// The pass is one span, a child of ctx's span, with one child span per page;
// the portal calls and the store's work of a page run under the page's
// span.
func (s *SyncService) Run(ctx context.Context) (Report, error) {
	return s.RunUntil(ctx, nil)
}

// RunUntil is Run with a gentler way to stop than cancelling ctx: once stop
// is closed, the pass finishes the page in progress (its writes, its
// commit) and returns before reading the next one, with an error wrapping
// ErrStopped that carries the code canceled. A nil stop never closes. A
// scheduler uses it to hand a pass over at a page boundary when its
// process shuts down.
func (s *SyncService) RunUntil(ctx context.Context, stop <-chan struct{}) (Report, error) {
	ctx, span := s.tel.tracer.Start(ctx, SpanPass)
	defer span.End()
	start := s.opts.now()
	p := &pass{SyncService: s, deadline: start.Add(s.opts.Budget), stop: stop}
	var rep Report
	err := p.run(ctx, &rep)
	end := s.opts.now()
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
	// their failed ids; the Report gets them as each page is committed.
	done      ports.SyncCounts
	failedIDs []string
	// mirror is the assignments being mirrored beside the pass (nil:
	// none), and held the assignments' sweep the sink held, if any.
	mirror *background
	held   error
	// page is the context and span of the page being read and processed.
	page struct {
		ctx  context.Context
		span trace.Span
	}
}

// run runs the pass: resume, then each page until the last, which
// finishes it. Run returns only after the work beside it has finished.
//
// A run cut off before a page's commit resumes from the page before: the
// writes of the pages it reads again are found stamped with a time at or
// after the pass's start, and counted as written, not sent again (see
// processPage).
func (p *pass) run(ctx context.Context, rep *Report) (err error) {
	cp, err := p.resume(ctx, rep)
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
	store := &committer{store: p.store}
	defer func() {
		// The page being committed is older than whatever stopped the
		// pass: its failure comes first.
		if serr := store.wait(); serr != nil {
			err = serr
		}
	}()
	q := ports.PageQuery{PageSize: p.opts.PageSize, Continuation: cp.Next}
	for page, err := range Pages(ctx, q, p.readPage(store)) {
		if err != nil {
			return err
		}
		ctx, span := p.page.ctx, p.page.span
		records, err := p.processPage(ctx, page.Items, rep)
		if err != nil {
			failed(span, err)
			span.End()
			return err
		}
		pg := p.count(records)
		if pg.last = page.Next == ""; pg.last {
			return p.finish(ctx, span, store, pg, rep)
		}
		next := ports.Checkpoint{Next: page.Next, StartedAt: rep.StartedAt, Counts: pg.counts, FailedIDs: pg.failedIDs}
		if err := store.Commit(ctx, records, next, func(err error) error {
			if err != nil {
				err = fmt.Errorf("store page %d: %w", pg.counts.Pages, err)
			}
			return p.committed(ctx, span, pg, rep, err)
		}); err != nil {
			failed(span, err)
			span.End()
			return err
		}
	}
	return nil
}

// resume asks the store for the pass to resume, or commits the start of a
// new one, and returns the checkpoint to go on from.
func (p *pass) resume(ctx context.Context, rep *Report) (ports.Checkpoint, error) {
	cp, err := p.store.Resume(ctx)
	switch {
	case errors.Is(err, ports.ErrNoCheckpoint):
		rep.StartedAt = p.opts.now().UTC().Truncate(time.Second)
		// Commit the start before the first page: a run interrupted on
		// that page then resumes this pass, and the writes it made count
		// as this pass's, instead of a fresh pass finding them unchanged.
		start := ports.Checkpoint{StartedAt: rep.StartedAt}
		if err := p.store.Commit(ctx, nil, start); err != nil {
			return start, fmt.Errorf("store the start of the pass: %w", err)
		}
		p.logger.LogAttrs(ctx, slog.LevelInfo, "sync pass started", p.settings()...)
		return start, nil
	case err != nil:
		return cp, fmt.Errorf("resume: %w", err)
	case cp.Next == "" && (cp.StartedAt.IsZero() || cp.Counts != ports.SyncCounts{}):
		// An empty Next is committed only at the start of a pass, before
		// any page: the last page finishes the pass instead.
		return cp, errors.New("resume: the checkpoint holds no continuation; remove it to start a fresh pass")
	}
	rep.Resumed, rep.StartedAt, rep.SyncCounts, rep.FailedIDs = true, cp.StartedAt, cp.Counts, cp.FailedIDs
	p.done, p.failedIDs = cp.Counts, slices.Clone(cp.FailedIDs)
	p.logger.LogAttrs(ctx, slog.LevelInfo, "sync pass resumed", append(p.settings(),
		slog.Time("started_at", cp.StartedAt), slog.Int("pages", cp.Counts.Pages), slog.Int("read", cp.Counts.Read))...)
	return cp, nil
}

// readPage returns the pass's reader of certification pages: before each
// page it checks the work beside the pass and goOn, then reads the page
// under a span of its own, which p.page holds until the page is committed.
func (p *pass) readPage(store *committer) func(context.Context, ports.PageQuery) (ports.Page[ports.Certification], error) {
	return func(ctx context.Context, q ports.PageQuery) (ports.Page[ports.Certification], error) {
		var none ports.Page[ports.Certification]
		if err := store.failed(); err != nil {
			return none, err
		}
		if err := p.mirror.failed(); err != nil {
			return none, err
		}
		if err := p.goOn(ctx); err != nil {
			return none, err
		}
		ctx, span := p.tel.tracer.Start(ctx, SpanPage, trace.WithAttributes(attrPage.Int(p.done.Pages+1)))
		page, err := retry(ctx, ctx, p, func() (ports.Page[ports.Certification], error) {
			return p.portal.ListCertifications(ctx, q)
		})
		if err != nil {
			err = fmt.Errorf("read page %d: %w", p.done.Pages+1, err)
			failed(span, err)
			span.End()
			return none, err
		}
		p.page.ctx, p.page.span = ctx, span
		return page, nil
	}
}

// goOn is checked before each page of certifications or assignments: the
// budget, the caller's context and the stop channel.
func (p *pass) goOn(ctx context.Context) error {
	if !p.opts.now().Before(p.deadline) {
		return fmt.Errorf("%w (%s)", ports.ErrBudgetExhausted, p.opts.Budget)
	}
	if err := ctx.Err(); err != nil {
		return canceled(err)
	}
	select {
	case <-p.stop:
		return fmt.Errorf("%w: %w", ErrStopped, context.Canceled) // its code is canceled
	default:
	}
	return nil
}

// processed is a page read and processed, waiting to be committed.
type processed struct {
	records   []ports.SyncRecord
	this      ports.SyncCounts // its own counts
	counts    ports.SyncCounts // the pass's totals with it
	failedIDs []string         // the pass's failed ids with it
	last      bool             // the last page: it finishes the pass
}

// count adds a processed page to the pass's totals.
func (p *pass) count(records []ports.SyncRecord) *processed {
	pg := &processed{records: records}
	tally(&pg.this, records)
	tally(&p.done, records)
	for i := range records {
		if records[i].Action == ports.ActionFailed && len(p.failedIDs) < MaxFailedIDs {
			p.failedIDs = append(p.failedIDs, records[i].ID)
		}
	}
	pg.counts, pg.failedIDs = p.done, slices.Clip(p.failedIDs)
	return pg
}

// finish stores the last page and ends the pass, once the page before is
// committed and the assignments are mirrored.
func (p *pass) finish(ctx context.Context, span trace.Span, store *committer, pg *processed, rep *Report) error {
	err := store.wait() // pages are stored in order
	if err == nil {
		err = p.mirror.wait() // a pass completes with its assignments
	}
	if err != nil {
		failed(span, err)
		span.End()
		return err
	}
	if err = p.store.Finish(ctx, pg.records); err != nil && !errors.Is(err, ports.ErrDeletionsHeld) {
		err = fmt.Errorf("finish the pass: %w", err)
	}
	if err == nil {
		// The certifications' held sweep is told first; the assignments'
		// when it is the only one.
		err = p.held
	}
	return p.committed(ctx, span, pg, rep, err)
}

// committed ends the page's span after its commit (or finish): on success
// the Report counts the page; a held sweep counts as success, since every
// record is stored and the rows gone from the portal are kept until an
// operator confirms.
func (p *pass) committed(ctx context.Context, span trace.Span, pg *processed, rep *Report, err error) error {
	defer span.End()
	if err != nil && !errors.Is(err, ports.ErrDeletionsHeld) {
		failed(span, err)
		return err
	}
	rep.SyncCounts, rep.FailedIDs, rep.Complete = pg.counts, pg.failedIDs, pg.last
	p.tel.pageDone(ctx, span, pg.this)
	p.logger.LogAttrs(ctx, slog.LevelDebug, "sync page done",
		slog.Int("page", pg.counts.Pages), slog.Int("records", len(pg.records)), slog.Int("written", pg.counts.Writes.Done))
	if p.opts.OnPage != nil {
		p.opts.OnPage(pg.counts)
	}
	return err // nil, or the held sweep
}
