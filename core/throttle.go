package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// retryAfterFallback is how long a pass waits after a rateLimited answer
// that names no delay, so it does not hammer a portal that is shedding load.
const retryAfterFallback = 5 * time.Second

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
// within the budget, or return at once ports.ErrBudgetExhausted wrapping the
// answer, so the pass stops with its checkpoint. A wait ends early, as
// canceled, when stop is done.
func (p *pass) pause(ctx, stop context.Context, pe *ports.PortalError) error {
	d := pe.RetryAfter
	if d <= 0 {
		d = retryAfterFallback
	}
	if p.opts.now().Add(d).After(p.deadline) {
		return fmt.Errorf("%w (%s): %w", ports.ErrBudgetExhausted, p.opts.Budget, pe)
	}
	p.logger.LogAttrs(ctx, slog.LevelInfo, "portal throttles the sync; waiting",
		slog.String("op", pe.Op), slog.Duration("retry_after", d))
	if err := p.opts.sleep(stop, d); err != nil {
		if stop.Err() != nil {
			return canceled(stop.Err())
		}
		return err
	}
	return nil
}

// canceled is the error of a pass stopped by its context: err is the
// context's error. Its code is canceled.
func canceled(err error) error { return fmt.Errorf("sync pass: %w", err) }

// sleep waits d, or until ctx ends, and then returns ctx's error: the
// default of SyncOptions.Sleep.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
