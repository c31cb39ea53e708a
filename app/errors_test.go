package app_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/app/schedule"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

func TestErrorName(t *testing.T) {
	portalErr := &ports.PortalError{Code: ports.CodeAuthFailure, Op: "WhoAmI", StatusCode: 401}
	for want, err := range map[string]error{
		"config":          ports.ErrInvalidConfig,
		"notFound":        &ports.PortalError{Code: ports.CodeNotFound},
		"rateLimited":     errors.Join(core.ErrBudgetExhausted, &ports.PortalError{Code: ports.CodeRateLimited}),
		"budgetExhausted": core.ErrBudgetExhausted,
		"writesFailed":    fmt.Errorf("sync: %w", &core.WritesFailedError{Failed: 1, Writes: 3}),
		"deletionsHeld":   &ports.DeletionsHeldError{Table: "certifications", Rows: 600, Stored: 600, Threshold: 500},
		"databaseError":   fmt.Errorf("%w (river)", schedule.ErrNotMigrated),
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
		errors.Join(&core.WritesFailedError{Failed: 1, Writes: 1}, core.ErrBudgetExhausted, ports.ErrInvalidConfig),
	} {
		if got := app.ErrorName(err); got != "config" {
			t.Errorf("ErrorName(%v) = %q, want config: it ranks over the others", err, got)
		}
	}
}
