package app

import (
	"errors"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// ErrorName returns the word the command line prints before an error's
// detail: "config" for a configuration error found before any network call,
// the portal error code ("authFailure", "notFound", "rateLimited", …) when
// err carries one, "budgetExhausted" for a sync pass that ran out of time
// without being throttled, "writesFailed" for a complete pass in which the
// portal refused writes, "deletionsHeld" for a complete pass whose sweep of
// rows gone from the portal was held, "databaseError" for a failure of the status
// store's database, and "error" otherwise.
func ErrorName(err error) string {
	switch {
	case errors.Is(err, ports.ErrInvalidConfig):
		return "config"
	case ports.CodeOf(err) != ports.CodeUnknown:
		return ports.CodeOf(err).String()
	case errors.Is(err, core.ErrBudgetExhausted):
		return "budgetExhausted"
	case errors.Is(err, core.ErrWritesFailed):
		return "writesFailed"
	case errors.Is(err, ports.ErrDeletionsHeld):
		return "deletionsHeld"
	case errors.Is(err, postgres.ErrDatabase):
		return "databaseError"
	}
	return "error"
}
