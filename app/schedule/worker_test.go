package schedule

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"

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
		{"budget out while throttled: the portal's Retry-After", fmt.Errorf("%w (1h): %w", core.ErrBudgetExhausted, throttled), false, 90 * time.Second, false},
		{"budget out without a Retry-After: a minute", fmt.Errorf("%w (1h): %w", core.ErrBudgetExhausted, &ports.PortalError{Code: ports.CodeRateLimited}), false, time.Minute, false},
		{"budget out between pages: a minute", fmt.Errorf("%w (1h)", core.ErrBudgetExhausted), false, time.Minute, false},
		{"stopped by the shutdown between pages", fmt.Errorf("x: %w", &ports.PortalError{Code: ports.CodeCanceled, Err: core.ErrStopped}), true, 0, false},
		{"cancelled after the grace period", canceled, true, 0, false},
		{"cancelled by the job timeout, not stopping: an attempt", canceled, false, -1, true},
		{"auth failure: an attempt", fmt.Errorf("read page 1: %w", auth), false, -1, true},
		{"auth failure while stopping: an attempt", fmt.Errorf("read page 1: %w", auth), true, -1, true},
	} {
		out := Outcome(tc.err, tc.stopping)
		var snooze *river.JobSnoozeError
		switch {
		case tc.err == nil:
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

func TestConfigRefusesARescueTimeWithinTheJobTimeout(t *testing.T) {
	for _, c := range []Config{
		{},
		{Budget: time.Minute, RescueAfter: time.Minute + CallGuard},
		{Budget: time.Minute, RescueAfter: time.Minute},
		{Budget: time.Minute, RetryBackoff: -1},
	} {
		if _, err := c.withDefaults(); !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want a config error", c, err)
		}
	}
	c, err := Config{Budget: time.Hour}.withDefaults()
	if err != nil || c.RescueAfter != time.Hour+CallGuard+time.Minute || c.RetryBackoff != DefaultRetryBackoff {
		t.Errorf("defaults %+v, %v", c, err)
	}
}
