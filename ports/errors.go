package ports

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrorCode classifies a failure: the codes of a failed portal call (a
// *PortalError), and those of the module's own failures outside the portal.
// Its String is the word the command line prints, such as "notFound", and
// the error.type of spans and metrics. CodeOf is the one classifier.
type ErrorCode int

// The error codes.
const (
	// CodeUnknown is the code of an error CodeOf does not know.
	CodeUnknown ErrorCode = iota
	// CodeAuthFailure: the portal or the token endpoint refused the
	// credentials or the token (401, 403, invalid_client, …).
	CodeAuthFailure
	// CodeNotFound: the record does not exist (404).
	CodeNotFound
	// CodeRateLimited: the portal's service protection limits answered 429;
	// RetryAfter says when to come back.
	CodeRateLimited
	// CodeServerError: the portal failed (5xx).
	CodeServerError
	// CodeNetworkError: no answer: refused or reset connection, TLS failure,
	// timeout, or the total time guard hit while waiting.
	CodeNetworkError
	// CodeInvalidRequest: the portal refused the request (400, 405, 409,
	// 412, 413, 422 and other 4xx).
	CodeInvalidRequest
	// CodeInvalidResponse: the answer could not be used: a redirect, a
	// success that is not JSON (a sign-in page), malformed or oversized
	// JSON, a nextLink to another host.
	CodeInvalidResponse
	// CodeCanceled: the caller cancelled the context (of a portal call, or
	// of the work around it), or stopped a sync pass between pages.
	CodeCanceled

	// The codes of failures outside a portal call, one per sentinel below.

	// CodeBudgetExhausted: a sync pass ran out of its time budget
	// (ErrBudgetExhausted) without being throttled at the time.
	CodeBudgetExhausted
	// CodeWritesFailed: a complete sync pass in which the portal refused
	// some writes (ErrWritesFailed).
	CodeWritesFailed
	// CodeDeletionsHeld: a complete sync pass whose sweep of rows gone from
	// the portal was held (ErrDeletionsHeld).
	CodeDeletionsHeld
	// CodeDatabaseError: the status store's database failed or is not
	// migrated (ErrDatabase, ErrNotMigrated).
	CodeDatabaseError
)

var codeNames = [...]string{
	CodeUnknown:         "unknown",
	CodeAuthFailure:     "authFailure",
	CodeNotFound:        "notFound",
	CodeRateLimited:     "rateLimited",
	CodeServerError:     "serverError",
	CodeNetworkError:    "networkError",
	CodeInvalidRequest:  "invalidRequest",
	CodeInvalidResponse: "invalidResponse",
	CodeCanceled:        "canceled",
	CodeBudgetExhausted: "budgetExhausted",
	CodeWritesFailed:    "writesFailed",
	CodeDeletionsHeld:   "deletionsHeld",
	CodeDatabaseError:   "databaseError",
}

// String returns the code's name, for example "authFailure".
func (c ErrorCode) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "ErrorCode(" + strconv.Itoa(int(c)) + ")"
}

// Sentinels, one per code, for errors.Is:
//
//	if errors.Is(err, ports.ErrNotFound) { … }
var (
	ErrAuthFailure     error = &PortalError{Code: CodeAuthFailure}
	ErrNotFound        error = &PortalError{Code: CodeNotFound}
	ErrRateLimited     error = &PortalError{Code: CodeRateLimited}
	ErrServerError     error = &PortalError{Code: CodeServerError}
	ErrNetworkError    error = &PortalError{Code: CodeNetworkError}
	ErrInvalidRequest  error = &PortalError{Code: CodeInvalidRequest}
	ErrInvalidResponse error = &PortalError{Code: CodeInvalidResponse}
	ErrCanceled        error = &PortalError{Code: CodeCanceled}
)

// ErrInvalidConfig marks a configuration error found before any request: an
// http:// base URL, a missing tenant, empty credentials. The command line
// exits with status 2 on it.
var ErrInvalidConfig = errors.New("invalid configuration")

// The sentinels of the failures outside a portal call, for errors.Is; CodeOf
// gives each its code.
var (
	// ErrBudgetExhausted marks a pass stopped because its time budget ran
	// out. When the pass was throttled at the time, the error also wraps
	// the portal's rateLimited *PortalError, and CodeOf reports
	// rateLimited.
	ErrBudgetExhausted = errors.New("sync time budget exhausted")
	// ErrWritesFailed marks a pass that completed while some of its writes
	// failed (a *core.WritesFailedError).
	ErrWritesFailed = errors.New("writes failed")
	// ErrDeletionsHeld marks a complete pass whose sweep of the rows gone
	// from the portal was held: it would have removed more rows than the
	// store's threshold, as a changed filter, a lost privilege or a bug that
	// empties the portal's listing would. The rows are kept and everything
	// else is stored; an operator confirms the deletion explicitly.
	// errors.Is(err, ErrDeletionsHeld) holds for a *DeletionsHeldError.
	ErrDeletionsHeld = errors.New("deletions held")
	// ErrDatabase marks a failure of the status store's database: it
	// cannot be reached, refused the credentials, or failed a statement.
	ErrDatabase = errors.New("databaseError")
	// ErrNotMigrated marks a database that lacks some of the migrations
	// the store or the scheduler needs. It wraps ErrDatabase.
	ErrNotMigrated = fmt.Errorf("%w: not migrated", ErrDatabase)
)

// PortalError is the one error type of a failed portal call.
type PortalError struct {
	// Code classifies the failure.
	Code ErrorCode
	// Op names the call, for example "ListCertifications" or "token".
	Op string
	// StatusCode is the HTTP status, or 0 when there was no answer.
	StatusCode int
	// ServiceCode is the Dataverse error code in hex ("0x80040217"; decimal
	// codes are normalised), or the token endpoint's error ("invalid_client").
	ServiceCode string
	// Message is the service's message, cut to a safe length.
	Message string
	// CorrelationID is the id the module sent with the call.
	CorrelationID string
	// ServiceRequestID is the portal's x-ms-service-request-id, or the token
	// endpoint's trace id: what a support ticket needs.
	ServiceRequestID string
	// RetryAfter is the delay the portal asked for, when it asked.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

// Error describes the failure without secrets: code, call, status, service
// code, message and ids.
func (e *PortalError) Error() string {
	var b strings.Builder
	b.WriteString(e.Code.String())
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.ServiceCode != "" {
		b.WriteString(" ")
		b.WriteString(e.ServiceCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.CorrelationID != "" {
		b.WriteString(" [correlation id ")
		b.WriteString(e.CorrelationID)
		if e.ServiceRequestID != "" {
			b.WriteString(", service request id ")
			b.WriteString(e.ServiceRequestID)
		}
		b.WriteString("]")
	} else if e.ServiceRequestID != "" {
		b.WriteString(" [service request id ")
		b.WriteString(e.ServiceRequestID)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *PortalError) Unwrap() error { return e.Err }

// Is reports whether target is a *PortalError with the same code, so
// errors.Is(err, ErrNotFound) holds for every not-found failure.
func (e *PortalError) Is(target error) bool {
	t, ok := target.(*PortalError)
	return ok && t.Code == e.Code
}

// CodeOf classifies err: the code of the first *PortalError in its chain,
// or else the code of the first sentinel above it wraps (a cancelled
// context is canceled), or CodeUnknown. The command line's word, the
// error.type of spans and metrics, and the scheduler's outcome of a job
// all come from it.
func CodeOf(err error) ErrorCode {
	if pe, ok := errors.AsType[*PortalError](err); ok {
		return pe.Code
	}
	switch {
	case err == nil:
		return CodeUnknown
	case errors.Is(err, ErrBudgetExhausted):
		return CodeBudgetExhausted
	case errors.Is(err, ErrWritesFailed):
		return CodeWritesFailed
	case errors.Is(err, ErrDeletionsHeld):
		return CodeDeletionsHeld
	case errors.Is(err, ErrDatabase):
		return CodeDatabaseError
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return CodeCanceled
	}
	return CodeUnknown
}

// ErrorType is err's error.type in spans and metrics: its code, or
// "_OTHER" for an error CodeOf does not know.
func ErrorType(err error) string {
	if c := CodeOf(err); c != CodeUnknown {
		return c.String()
	}
	return "_OTHER"
}
