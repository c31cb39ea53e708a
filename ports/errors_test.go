package ports_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

func TestPortalErrorString(t *testing.T) {
	cause := errors.New("connection refused")
	for _, tt := range []struct {
		e    *ports.PortalError
		want string
	}{
		{&ports.PortalError{}, "unknown"},
		{&ports.PortalError{Code: ports.CodeNotFound, Op: "GetCertification", StatusCode: 404, ServiceCode: "0x80040217",
			Message: "gone", CorrelationID: "c1", ServiceRequestID: "s1"},
			"notFound: GetCertification: HTTP 404 0x80040217: gone [correlation id c1, service request id s1]"},
		{&ports.PortalError{Code: ports.CodeRateLimited, Op: "WhoAmI", RetryAfter: 20 * time.Second, CorrelationID: "c2"},
			"rateLimited: WhoAmI (retry after 20s) [correlation id c2]"},
		{&ports.PortalError{Code: ports.CodeNetworkError, Op: "token", Err: cause, ServiceRequestID: "t1"},
			"networkError: token: connection refused [service request id t1]"},
		{&ports.PortalError{Code: ports.CodeAuthFailure, Message: "m", Err: cause}, "authFailure: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error()\n got %q\nwant %q", got, tt.want)
		}
	}
}

func TestPortalErrorIsAsCodeOf(t *testing.T) {
	cause := context.Canceled
	err := fmt.Errorf("sync: %w", &ports.PortalError{Code: ports.CodeCanceled, Op: "WhoAmI", Err: cause})
	if !errors.Is(err, ports.ErrCanceled) || !errors.Is(err, context.Canceled) || errors.Is(err, ports.ErrNotFound) {
		t.Errorf("errors.Is on %v", err)
	}
	if errors.Is(err, errors.New("canceled")) {
		t.Errorf("Is matched a plain error")
	}
	pe, ok := errors.AsType[*ports.PortalError](err)
	if !ok || pe.Op != "WhoAmI" || pe.Unwrap() != cause {
		t.Errorf("As = %+v", pe)
	}
	if ports.CodeOf(err) != ports.CodeCanceled || ports.CodeOf(io.EOF) != ports.CodeUnknown || ports.CodeOf(nil) != ports.CodeUnknown {
		t.Errorf("CodeOf")
	}
	sentinels := map[error]ports.ErrorCode{
		ports.ErrAuthFailure: ports.CodeAuthFailure, ports.ErrNotFound: ports.CodeNotFound, ports.ErrRateLimited: ports.CodeRateLimited,
		ports.ErrServerError: ports.CodeServerError, ports.ErrNetworkError: ports.CodeNetworkError,
		ports.ErrInvalidRequest: ports.CodeInvalidRequest, ports.ErrInvalidResponse: ports.CodeInvalidResponse, ports.ErrCanceled: ports.CodeCanceled,
	}
	for s, code := range sentinels {
		if ports.CodeOf(s) != code || !errors.Is(&ports.PortalError{Code: code, Message: "x"}, s) {
			t.Errorf("sentinel of %v", code)
		}
	}
}

func TestErrorCodeString(t *testing.T) {
	want := []string{"unknown", "authFailure", "notFound", "rateLimited", "serverError", "networkError", "invalidRequest", "invalidResponse", "canceled"}
	for i, w := range want {
		if got := ports.ErrorCode(i).String(); got != w {
			t.Errorf("ErrorCode(%d) = %q, want %q", i, got, w)
		}
	}
	if got := ports.ErrorCode(42).String(); got != "ErrorCode(42)" {
		t.Errorf("out of range: %q", got)
	}
	if got := ports.ErrorCode(-1).String(); got != "ErrorCode(-1)" {
		t.Errorf("negative: %q", got)
	}
}
