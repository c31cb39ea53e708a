package app

import (
	"errors"

	"github.com/hlf/dynamicsportal/ports"
)

// ErrorName returns the word the command line prints before an error's
// detail: "config" for a configuration error found before any network
// call, else the error's code (ports.CodeOf: "authFailure", "rateLimited",
// "budgetExhausted", "writesFailed", "deletionsHeld", "databaseError", …),
// or "error" for an error without one.
func ErrorName(err error) string {
	if errors.Is(err, ports.ErrInvalidConfig) {
		return "config"
	}
	if c := ports.CodeOf(err); c != ports.CodeUnknown {
		return c.String()
	}
	return "error"
}
