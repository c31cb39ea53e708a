package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
	"github.com/riverqueue/river"
)

func TestErrorName(t *testing.T) {
	portalErr := &ports.PortalError{Code: ports.CodeAuthFailure, Op: "WhoAmI", StatusCode: 401}
	for want, err := range map[string]error{
		"config":          ports.ErrInvalidConfig,
		"notFound":        &ports.PortalError{Code: ports.CodeNotFound},
		"rateLimited":     errors.Join(ports.ErrBudgetExhausted, &ports.PortalError{Code: ports.CodeRateLimited}),
		"budgetExhausted": ports.ErrBudgetExhausted,
		"writesFailed":    fmt.Errorf("sync: %w", &core.WritesFailedError{Failed: 1, Writes: 3}),
		"deletionsHeld":   &ports.DeletionsHeldError{Table: "certifications", Rows: 600, Stored: 600, Threshold: 500},
		"databaseError":   fmt.Errorf("%w (river)", ports.ErrNotMigrated),
		"error":           errors.New("disk full"),
	} {
		if got := app.ErrorName(err); got != want {
			t.Errorf("ErrorName(%v) = %q, want %q", err, got, want)
		}
	}
	// A configuration error outranks a portal error carried along with it,
	// so the command line exits 2 for it, not 1.
	for _, err := range []error{
		errors.Join(portalErr, ports.ErrInvalidConfig),
		fmt.Errorf("%w: %w", ports.ErrInvalidConfig, portalErr),
		fmt.Errorf("%w: %w", portalErr, ports.ErrInvalidConfig),
		errors.Join(&core.WritesFailedError{Failed: 1, Writes: 1}, ports.ErrBudgetExhausted, ports.ErrInvalidConfig),
	} {
		if got := app.ErrorName(err); got != "config" {
			t.Errorf("ErrorName(%v) = %q, want config: it ranks over the others", err, got)
		}
	}
}

// Every code maps the same way for its three consumers: the command line's
// word, the error.type of spans and metrics, and the outcome of a River
// job. Each row is one failure as the module produces it.
func TestEveryCodeMapsTheSameWayForAllThreeConsumers(t *testing.T) {
	throttled := &ports.PortalError{Code: ports.CodeRateLimited, Op: "ListCertifications", StatusCode: 429, RetryAfter: 90 * time.Second}
	seen := map[ports.ErrorCode]bool{}
	for _, tc := range []struct {
		code    ports.ErrorCode
		err     error
		outcome string // "complete", "snooze <d>", or "retry" (the error itself)
	}{
		{ports.CodeAuthFailure, &ports.PortalError{Code: ports.CodeAuthFailure, Op: "token"}, "retry"},
		{ports.CodeNotFound, &ports.PortalError{Code: ports.CodeNotFound}, "retry"},
		{ports.CodeRateLimited, fmt.Errorf("%w (1h0m0s): %w", ports.ErrBudgetExhausted, throttled), "snooze 1m30s"},
		{ports.CodeServerError, &ports.PortalError{Code: ports.CodeServerError, StatusCode: 503}, "retry"},
		{ports.CodeNetworkError, &ports.PortalError{Code: ports.CodeNetworkError}, "retry"},
		{ports.CodeInvalidRequest, &ports.PortalError{Code: ports.CodeInvalidRequest, StatusCode: 400}, "retry"},
		{ports.CodeInvalidResponse, &ports.PortalError{Code: ports.CodeInvalidResponse}, "retry"},
		{ports.CodeCanceled, fmt.Errorf("sync pass: %w", context.Canceled), "retry"},
		{ports.CodeBudgetExhausted, fmt.Errorf("%w (1h0m0s)", ports.ErrBudgetExhausted), "snooze " + schedule.DefaultSnooze.String()},
		{ports.CodeWritesFailed, &core.WritesFailedError{Failed: 1, Writes: 3}, "retry"},
		{ports.CodeDeletionsHeld, &ports.DeletionsHeldError{Table: "certifications", Rows: 600, Stored: 600, Threshold: 500}, "complete"},
		{ports.CodeDatabaseError, fmt.Errorf("%w: store page 2: connection reset", ports.ErrDatabase), "retry"},
		{ports.CodeDatabaseError, fmt.Errorf("%w (river)", ports.ErrNotMigrated), "retry"},
	} {
		seen[tc.code] = true
		word := tc.code.String()
		if got := app.ErrorName(tc.err); got != word {
			t.Errorf("%v: the command line's word %q, want %q", tc.err, got, word)
		}
		if got := ports.ErrorType(tc.err); got != word {
			t.Errorf("%v: error.type %q, want %q", tc.err, got, word)
		}
		outcome := "retry"
		switch res := schedule.Outcome(tc.err, false); {
		case res == nil:
			outcome = "complete"
		case res != tc.err:
			var snooze *river.JobSnoozeError
			if errors.As(res, &snooze) {
				outcome = "snooze " + snooze.Duration.String()
			} else {
				outcome = fmt.Sprintf("%v", res)
			}
		}
		if outcome != tc.outcome {
			t.Errorf("%v: River's outcome %s, want %s", tc.err, outcome, tc.outcome)
		}
	}
	for c := ports.CodeAuthFailure; !strings.HasPrefix(c.String(), "ErrorCode("); c++ {
		if !seen[c] {
			t.Errorf("code %s has no row", c)
		}
	}
	// A pass stopped by a shutdown hands its job over at once.
	if res := schedule.Outcome(fmt.Errorf("%w: %w", core.ErrStopped, context.Canceled), true); !errors.As(res, new(*river.JobSnoozeError)) {
		t.Errorf("a pass stopped by a shutdown: outcome %v, want a snooze", res)
	}
	if app.ErrorName(errors.New("disk full")) != "error" || ports.ErrorType(errors.New("disk full")) != "_OTHER" || schedule.Outcome(nil, false) != nil {
		t.Error("an error without a code, or none, maps wrongly")
	}
}
