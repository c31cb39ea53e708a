package dynamics

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hlf/dynamicsportal/ports"
)

// maxMessage caps the service message kept in a PortalError, in bytes.
const maxMessage = 512

// maxRequestID caps the service request id (x-ms-service-request-id, or the
// token endpoint's trace id) kept for errors and logs, in bytes.
const maxRequestID = 128

// statusError maps a failed answer (not 2xx, or 2xx with an oversized
// body) per the contract's table, with the Dataverse error body's code and
// message when it has one.
func statusError(k call, r reply) *ports.PortalError {
	pe := &ports.PortalError{
		Code:             statusCode(r.status),
		Op:               k.op,
		StatusCode:       r.status,
		CorrelationID:    k.corr[0],
		ServiceRequestID: r.requestID,
		RetryAfter:       r.retryAfter,
	}
	switch {
	case r.oversized:
		pe.Code = ports.CodeInvalidResponse
		pe.Message = "answer body over the size limit"
	case r.status >= 300 && r.status < 400:
		pe.Message = "redirect not followed"
	case pe.Code == ports.CodeInvalidResponse:
		pe.Message = "unexpected HTTP status"
	default:
		pe.ServiceCode, pe.Message = parseErrorBody(r.body)
	}
	return pe
}

// statusCode maps an HTTP status that is not a success.
func statusCode(status int) ports.ErrorCode {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ports.CodeAuthFailure
	case status == http.StatusNotFound:
		return ports.CodeNotFound
	case status == http.StatusTooManyRequests:
		return ports.CodeRateLimited
	case status >= 400 && status < 500:
		return ports.CodeInvalidRequest
	case status >= 500 && status < 600:
		return ports.CodeServerError
	}
	return ports.CodeInvalidResponse
}

// parseErrorBody returns the normalised code and the cleaned message of a
// Dataverse error body, or empty strings for anything else.
func parseErrorBody(b []byte) (code, message string) {
	var w wireError
	if len(b) == 0 || json.Unmarshal(b, &w) != nil {
		return "", ""
	}
	return normalizeServiceCode(cleanText(string(w.Error.Code), 64)), cleanText(w.Error.Message, maxMessage)
}

// badAnswer is the error of a success the adapter cannot use.
func badAnswer(k call, r reply, msg string) *ports.PortalError {
	return &ports.PortalError{Code: ports.CodeInvalidResponse, Op: k.op, StatusCode: r.status,
		Message: msg, CorrelationID: k.corr[0], ServiceRequestID: r.requestID}
}

// badRequest is the error of a caller's input refused before any request.
func badRequest(op, msg string) *ports.PortalError {
	return &ports.PortalError{Code: ports.CodeInvalidRequest, Op: op, Message: msg}
}

// decodeJSON decodes a success body into v. A body that is not JSON (a
// sign-in page) or is malformed is refused; the error never quotes it.
func decodeJSON(k call, r reply, v any) error {
	if !isJSON(r.contentType) {
		return badAnswer(k, r, "answer is not JSON")
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		msg := "malformed JSON answer"
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			msg += " at byte " + strconv.FormatInt(se.Offset, 10)
		} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			msg += ": field " + cleanText(te.Field, 128) + " has the wrong type"
		}
		return badAnswer(k, r, msg)
	}
	return nil
}

// isJSON reports whether a Content-Type is application/json, with or
// without parameters.
func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// cleanText cuts s to at most n bytes on a rune boundary and replaces
// control characters and invalid UTF-8 with spaces, so a service message
// cannot forge log lines.
func cleanText(s string, n int) string {
	clean := len(s) <= n
	for i := 0; clean && i < len(s); i++ {
		clean = s[i] >= ' ' && s[i] < 0x7f
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// normalizeServiceCode returns a Dataverse error code in hex form. Dataverse
// sends codes as hex ("0x80040217") or as a signed decimal ("-2147220969");
// both become "0x80040217". Anything else is returned trimmed, as sent.
func normalizeServiceCode(code string) string {
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
