package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/hlf/dynamicsportal/adapters/memory"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

func TestOutcome(t *testing.T) {
	throttled := &ports.PortalError{Code: ports.CodeRateLimited, RetryAfter: 90 * time.Second}
	canceled := &ports.PortalError{Code: ports.CodeCanceled, Err: context.Canceled}
	auth := &ports.PortalError{Code: ports.CodeAuthFailure, Op: "token"}
	for _, tc := range []struct {
		name     string
		err      error
		stopping bool
		snooze   time.Duration // -1: no snooze
		same     bool          // the error itself is returned
	}{
		{"complete", nil, false, -1, false},
		{"budget out while throttled: the portal's Retry-After", fmt.Errorf("%w (1h): %w", ports.ErrBudgetExhausted, throttled), false, 90 * time.Second, false},
		{"budget out without a Retry-After: a minute", fmt.Errorf("%w (1h): %w", ports.ErrBudgetExhausted, &ports.PortalError{Code: ports.CodeRateLimited}), false, time.Minute, false},
		{"budget out between pages: a minute", fmt.Errorf("%w (1h)", ports.ErrBudgetExhausted), false, time.Minute, false},
		{"stopped by the shutdown between pages", fmt.Errorf("x: %w", &ports.PortalError{Code: ports.CodeCanceled, Err: core.ErrStopped}), true, 0, false},
		{"cancelled after the grace period", canceled, true, 0, false},
		{"cancelled by the job timeout, not stopping: an attempt", canceled, false, -1, true},
		{"auth failure: an attempt", fmt.Errorf("read page 1: %w", auth), false, -1, true},
		{"auth failure while stopping: an attempt", fmt.Errorf("read page 1: %w", auth), true, -1, true},
		{"a held sweep: the pass is complete", &ports.DeletionsHeldError{Table: "certifications", Rows: 600, Stored: 600, Threshold: 500}, false, -1, false},
	} {
		out := Outcome(tc.err, tc.stopping)
		var snooze *river.JobSnoozeError
		switch {
		case tc.err == nil || errors.Is(tc.err, ports.ErrDeletionsHeld):
			if out != nil {
				t.Errorf("%s: %v, want nil", tc.name, out)
			}
		case tc.snooze >= 0:
			if !errors.As(out, &snooze) || snooze.Duration != tc.snooze {
				t.Errorf("%s: %v, want a snooze of %v", tc.name, out, tc.snooze)
			}
		case tc.same:
			if out != tc.err || errors.As(out, &snooze) {
				t.Errorf("%s: %v, want the error itself", tc.name, out)
			}
		}
	}
}

func TestRetryDelayDoubles(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 4: 8 * time.Minute} {
		if got := retryDelay(time.Minute, attempt); got != want {
			t.Errorf("retryDelay(1m, %d) = %v, want %v", attempt, got, want)
		}
	}
	if got := retryDelay(time.Hour, 40); got > 48*time.Hour {
		t.Errorf("retryDelay(1h, 40) = %v, want it capped", got)
	}
}

func TestOptionsRefuseARescueTimeWithinTheJobTimeout(t *testing.T) {
	for _, c := range []Options{
		{Budget: -time.Minute},
		{RescueAfter: time.Hour},
		{Budget: time.Minute, RescueAfter: time.Minute + CallGuard},
		{Budget: time.Minute, RescueAfter: time.Minute},
		{Budget: time.Minute, RetryBackoff: -1},
	} {
		if _, err := c.withDefaults(); !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want a config error", c, err)
		}
	}
	c, err := Options{Budget: time.Hour}.withDefaults()
	if err != nil || c.RescueAfter != time.Hour+CallGuard+time.Minute || c.RetryBackoff != DefaultRetryBackoff {
		t.Errorf("defaults %+v, %v", c, err)
	}
}

// scriptedPortal answers the first certification page with its items and
// a continuation, runs onFirst, then fails every later read with err. The
// assignments are one empty page.
type scriptedPortal struct {
	ports.DynamicsPortal
	reads   int
	onFirst func()
	err     error
}

func (p *scriptedPortal) ListCertifications(context.Context, ports.PageQuery) (ports.Page[ports.Certification], error) {
	p.reads++
	if p.reads > 1 {
		return ports.Page[ports.Certification]{}, p.err
	}
	if p.onFirst != nil {
		p.onFirst()
	}
	return ports.Page[ports.Certification]{Next: "page-2"}, nil
}

func (p *scriptedPortal) ListAssignments(context.Context, ports.PageQuery) (ports.Page[ports.Assignment], error) {
	return ports.Page[ports.Assignment]{}, nil
}

func work(t *testing.T, portal ports.DynamicsPortal, budget time.Duration, stop chan struct{}) error {
	t.Helper()
	svc, err := core.NewSyncService(portal, memory.New(), &core.SyncOptions{Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	w := &Worker{sync: svc, backoff: time.Minute, stop: stop, logger: slog.New(slog.DiscardHandler)}
	return w.Work(t.Context(), &river.Job[SyncArgs]{JobRow: &rivertype.JobRow{ID: 7, Attempt: 1}})
}

// A pass throttled past its budget snoozes its job for the portal's
// Retry-After: Work's own answer, not only what the process suite sees.
func TestWorkSnoozesAThrottledPassForTheRetryAfter(t *testing.T) {
	throttled := &ports.PortalError{Code: ports.CodeRateLimited, RetryAfter: 2 * time.Hour, Op: "ListCertifications"}
	err := work(t, &scriptedPortal{err: throttled}, time.Minute, make(chan struct{}))
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration != 2*time.Hour {
		t.Errorf("Work = %v, want a snooze of the portal's 2h", err)
	}
}

// A pass stopped by the shutdown (between pages) snoozes its job for 0,
// which River does not count as an attempt, so another replica takes it at
// once.
func TestWorkSnoozesAPassStoppedByShutdownForZero(t *testing.T) {
	stop := make(chan struct{})
	p := &scriptedPortal{onFirst: func() { close(stop) }, err: errors.New("page 2 must not be read")}
	err := work(t, p, time.Hour, stop)
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration != 0 {
		t.Errorf("Work = %v, want a snooze of 0", err)
	}
	if p.reads != 1 {
		t.Errorf("%d pages read, want the pass to stop after the first", p.reads)
	}
}
