// Package resilience builds the retry policy of the Dynamics adapter on
// failsafe-go and holds the small decisions around it: which answers and
// network failures are worth another attempt, and how a Retry-After header
// is read.
//
// A policy is built for each call and composed into the call's executor, between the call's total time limit and the limit of each
// attempt. It never returns failsafe-go's own retry errors: when the
// retries run out, the last attempt's result comes back unchanged, so the
// caller maps it to its own error type.
package resilience

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
)

// The defaults of Settings.
const (
	DefaultMaxRetries = 3
	DefaultBaseDelay  = time.Second
	DefaultMaxDelay   = 16 * time.Second
	DefaultFactor     = 2.0
)

// Settings describe the retry policy as plain data. A zero field takes its
// default.
type Settings struct {
	// MaxRetries is the most retries after the first attempt (default 3).
	MaxRetries int
	// BaseDelay is the wait before the first retry (default 1 s).
	BaseDelay time.Duration
	// MaxDelay caps every wait, the backoff's and a Retry-After the server
	// asks for (default 16 s). A server that asks for more is not waited
	// for.
	MaxDelay time.Duration
	// Factor multiplies the wait after each retry (default 2).
	Factor float64
}

// WithDefaults returns s with every zero field set to its default.
func (s Settings) WithDefaults() Settings {
	if s.MaxRetries == 0 {
		s.MaxRetries = DefaultMaxRetries
	}
	if s.BaseDelay == 0 {
		s.BaseDelay = DefaultBaseDelay
	}
	if s.MaxDelay == 0 {
		s.MaxDelay = DefaultMaxDelay
	}
	if s.Factor == 0 {
		s.Factor = DefaultFactor
	}
	return s
}

// Validate reports the first setting that cannot work: a negative count or
// delay, a factor under 1 (or not a number), a base delay over the cap.
// Zero fields are valid: they take their defaults.
func (s Settings) Validate() error {
	switch {
	case s.MaxRetries < 0:
		return errors.New("retry: MaxRetries is negative")
	case s.BaseDelay < 0:
		return errors.New("retry: BaseDelay is negative")
	case s.MaxDelay < 0:
		return errors.New("retry: MaxDelay is negative")
	case math.IsNaN(s.Factor) || math.IsInf(s.Factor, 0) || (s.Factor != 0 && s.Factor < 1):
		return errors.New("retry: Factor must be at least 1")
	}
	d := s.WithDefaults()
	if d.BaseDelay > d.MaxDelay {
		return fmt.Errorf("retry: BaseDelay %s is over MaxDelay %s", d.BaseDelay, d.MaxDelay)
	}
	return nil
}

// Allows reports whether a delay the server asked for may be waited: it is
// within MaxDelay and within left, the time that remains before the call's
// deadline. A call that may not wait fails at once instead.
func (s Settings) Allows(asked, left time.Duration) bool {
	return asked <= s.WithDefaults().MaxDelay && asked <= left
}

// Verdict is what the retry policy needs to know about one attempt.
type Verdict struct {
	// Retry is true when the attempt failed in a way another attempt may
	// fix and the call may be repeated.
	Retry bool
	// Delay is the wait the server asked for (Retry-After); zero means
	// the backoff's own delay.
	Delay time.Duration
}

// Judged is a result that carries its Verdict.
type Judged interface {
	Verdict() Verdict
}

// NewRetryPolicy returns the retry policy of one call, described by s
// (zero fields take their defaults). An attempt is repeated when its
// result's Verdict says so, or when a timeout policy inside the retry
// policy cut it (timeout.ErrExceeded: the attempt's own time limit). It
// waits the server's delay when the verdict carries one, else the
// exponential backoff, without jitter. When the retries run out, the last
// result and error are returned as they are, never failsafe-go's
// ExceededError.
//
// The policy keeps the last verdict's delay itself, because reading it
// back from the execution races with a timeout policy around the retries
// (failsafe-go v0.9.8 writes the execution's last result when it cancels).
// So a policy serves one execution at a time: build one per call.
func NewRetryPolicy[R Judged](s Settings) retrypolicy.RetryPolicy[R] {
	s = s.WithDefaults()
	var delay time.Duration // the server's delay in the last verdict judged
	return retrypolicy.NewBuilder[R]().
		HandleIf(func(r R, err error) bool {
			v := r.Verdict()
			delay = v.Delay
			return v.Retry || errors.Is(err, timeout.ErrExceeded)
		}).
		WithMaxRetries(s.MaxRetries).
		WithBackoffFactor(s.BaseDelay, s.MaxDelay, s.Factor).
		WithDelayFunc(func(failsafe.ExecutionAttempt[R]) time.Duration {
			if delay > 0 {
				return delay
			}
			return -1 // the backoff
		}).
		ReturnLastFailure().
		Build()
}

// NewExecutor returns an executor of the retry policy alone (see
// NewRetryPolicy), for a caller that needs no time limits around it. Like
// the policy, it serves one call at a time.
//
// Bind each call's context with WithContext: its cancellation or deadline
// ends a wait at once.
func NewExecutor[R Judged](s Settings) failsafe.Executor[R] {
	return failsafe.With[R](NewRetryPolicy[R](s))
}

// RetryableStatus reports whether an HTTP status is worth another attempt:
// 429, 500, 502, 503 and 504.
func RetryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// TransientNetworkError reports whether a failure to get an answer is worth
// another attempt: a refused, reset or aborted connection, a connection
// closed before the answer, or a timeout. A TLS or certificate failure never
// is, nor is a cancelled context.
func TransientNetworkError(err error) bool {
	if err == nil || tlsFailure(err) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	return false
}

func tlsFailure(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	_, ok := errors.AsType[*tls.ECHRejectionError](err)
	return ok
}

// maxAsked is the longest delay ParseRetryAfter returns; longer asks are cut
// to it so a duration never overflows.
const maxAsked = time.Duration(math.MaxInt64)

// ParseRetryAfter reads a Retry-After header value: seconds ("120", or
// with a decimal fraction such as "0.25", which some gateways send) or an
// HTTP date, which counts from now. It reports false for an empty or
// unreadable value. The delay is never negative; a date in the past gives 0.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		return parseSeconds(v)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// parseSeconds reads whole seconds with an optional decimal fraction. A
// fraction finer than a nanosecond rounds up, so the wait is never shorter
// than asked.
func parseSeconds(v string) (time.Duration, bool) {
	whole, frac, dotted := strings.Cut(v, ".")
	if dotted && !allDigits(frac) {
		return 0, false
	}
	n, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		if ne, ok := errors.AsType[*strconv.NumError](err); ok && ne.Err == strconv.ErrRange {
			return maxAsked, true
		}
		return 0, false
	}
	if n > uint64(maxAsked/time.Second) {
		return maxAsked, true
	}
	d := time.Duration(n) * time.Second
	var f time.Duration
	scale := 100 * time.Millisecond
	for i := 0; i < len(frac) && scale > 0; i++ {
		f += time.Duration(frac[i]-'0') * scale
		scale /= 10
	}
	if len(frac) > 9 && strings.Trim(frac[9:], "0") != "" {
		f++
	}
	if d > maxAsked-f {
		return maxAsked, true
	}
	return d + f, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
