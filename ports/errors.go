package ports

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrorCode classifies a failure. Its String is the name the command line
// prints, such as "notFound".
type ErrorCode int

// The error codes. Retried tells which ones an adapter retries.
const (
	// CodeUnknown is the code of an error that is not a *PortalError.
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
	// CodeCanceled: the caller cancelled the context.
	CodeCanceled
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

// CodeOf returns the code of the first *PortalError in err's chain, or
// CodeUnknown.
func CodeOf(err error) ErrorCode {
	if pe, ok := errors.AsType[*PortalError](err); ok {
		return pe.Code
	}
	return CodeUnknown
}

// NormalizeServiceCode returns a Dataverse error code in hex form. Dataverse
// sends codes as hex ("0x80040217") or as a signed decimal ("-2147220969");
// both become "0x80040217". Anything else is returned trimmed, as sent.
func NormalizeServiceCode(code string) string {
	code = strings.TrimSpace(code)
	if code == "" {
		return ""
	}
	if h, ok := strings.CutPrefix(strings.ToLower(code), "0x"); ok {
		if v, err := strconv.ParseUint(h, 16, 32); err == nil {
			return fmt.Sprintf("0x%08x", v)
		}
		return code
	}
	if v, err := strconv.ParseInt(code, 10, 64); err == nil && v >= -1<<31 && v < 1<<32 {
		return fmt.Sprintf("0x%08x", uint32(v))
	}
	return code
}
