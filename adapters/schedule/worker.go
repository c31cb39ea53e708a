package schedule

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// CallGuard is the longest one portal call may take, retries included (the
// real adapter's total-time guard). A job's timeout is the pass's budget
// plus CallGuard: the budget is checked between pages, so the page in
// progress when it runs out may take that much longer.
const CallGuard = 45 * time.Second

// DefaultSnooze is how long a pass that ran out of budget waits before it
// carries on, when the portal named no Retry-After.
const DefaultSnooze = time.Minute

// Worker runs one sync pass per job. It is River's worker for SyncArgs.
type Worker struct {
	river.WorkerDefaults[SyncArgs]
	sync    *core.SyncService
	backoff time.Duration
	stop    <-chan struct{}
	logger  *slog.Logger
}

// Work runs the pass, or carries on the one the checkpoint store holds, and
// maps its outcome to River's:
//   - complete: the job completes;
//   - the budget ran out (throttled past it, or simply too long): the job
//     snoozes for the portal's Retry-After, or DefaultSnooze, and the next
//     run resumes from the checkpoint; a snooze counts no attempt;
//   - the process is shutting down: the pass stops after its page (or is
//     cancelled after the grace period) and the job snoozes for 0, so
//     another replica takes it at once, with no attempt counted;
//   - any other failure: the pass's error (its message names the portal's
//     error code), which River keeps on the job row and retries until MaxAttempts, then discards the job.
func (w *Worker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	w.logger.LogAttrs(ctx, slog.LevelInfo, "sync job started", slog.Int64("job_id", job.ID), slog.Int("attempt", job.Attempt))
	rep, err := w.sync.RunUntil(ctx, w.stop)
	out := Outcome(err, w.stopping())
	attrs := []slog.Attr{slog.Int64("job_id", job.ID), slog.Bool("complete", rep.Complete), slog.Int("pages", rep.Pages)}
	var snooze *river.JobSnoozeError
	switch {
	case out == nil:
		w.logger.LogAttrs(ctx, slog.LevelInfo, "sync job complete", attrs...)
	case errors.As(out, &snooze):
		w.logger.LogAttrs(ctx, slog.LevelInfo, "sync job snoozed", append(attrs, slog.Duration("for", snooze.Duration), slog.String("code", ports.CodeOf(err).String()))...)
	default:
		w.logger.LogAttrs(ctx, slog.LevelWarn, "sync job failed", append(attrs, slog.String("code", ports.CodeOf(err).String()), slog.String("error", err.Error()))...)
	}
	return out
}

// NextRetry spaces the attempts of a failing job: backoff, then twice as
// long after each further attempt.
func (w *Worker) NextRetry(job *river.Job[SyncArgs]) time.Time {
	return time.Now().Add(retryDelay(w.backoff, job.Attempt))
}

func retryDelay(backoff time.Duration, attempt int) time.Duration {
	d := backoff
	for i := 1; i < attempt && d < 24*time.Hour; i++ {
		d *= 2
	}
	return d
}

func (w *Worker) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// Outcome maps the error of a pass to the job's outcome (see Worker.Work);
// stopping is true when the process is shutting down. It decides by the
// error's code (ports.CodeOf), as the command line's word and the error.type
// of spans and metrics do.
func Outcome(err error, stopping bool) error {
	switch ports.CodeOf(err) {
	case ports.CodeUnknown:
		if err == nil {
			return nil
		}
	case ports.CodeCanceled:
		if stopping {
			return river.JobSnooze(0)
		}
	case ports.CodeDeletionsHeld:
		// The pass completed and stored everything else; running it again
		// would hold the same sweep. The store warned; an operator
		// confirms with --allow-deletions.
		return nil
	case ports.CodeBudgetExhausted:
		return river.JobSnooze(DefaultSnooze)
	case ports.CodeRateLimited:
		if errors.Is(err, ports.ErrBudgetExhausted) {
			// Throttled past the budget: come back when the portal says.
			d := DefaultSnooze
			if pe, ok := errors.AsType[*ports.PortalError](err); ok && pe.RetryAfter > 0 {
				d = pe.RetryAfter
			}
			return river.JobSnooze(d)
		}
	}
	return err
}
