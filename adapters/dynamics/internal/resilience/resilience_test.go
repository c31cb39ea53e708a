package resilience

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// outcome is a test result: whether to retry and the server's delay.
type outcome struct {
	v Verdict
	n int
}

func (o outcome) Verdict() Verdict { return o.v }

func TestDefaultsAndValidate(t *testing.T) {
	d := Settings{}.WithDefaults()
	if d != (Settings{MaxRetries: 3, BaseDelay: time.Second, MaxDelay: 16 * time.Second, Factor: 2}) {
		t.Errorf("defaults %+v", d)
	}
	custom := Settings{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Second, Factor: 1.5}
	if custom.WithDefaults() != custom || custom.Validate() != nil || (Settings{}).Validate() != nil {
		t.Errorf("custom settings changed or refused")
	}
	for _, s := range []Settings{
		{MaxRetries: -1}, {BaseDelay: -1}, {MaxDelay: -1}, {Factor: 0.5}, {Factor: math.NaN()}, {Factor: math.Inf(1)},
		{BaseDelay: time.Minute}, {BaseDelay: 2 * time.Second, MaxDelay: time.Second},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

func TestAllows(t *testing.T) {
	s := Settings{}
	for _, tt := range []struct {
		asked, left time.Duration
		want        bool
	}{
		{16 * time.Second, time.Minute, true},
		{16*time.Second + 1, time.Minute, false},
		{10 * time.Second, 10 * time.Second, true},
		{10 * time.Second, 9 * time.Second, false},
		{time.Second, -time.Second, false},
	} {
		if got := s.Allows(tt.asked, tt.left); got != tt.want {
			t.Errorf("Allows(%v, %v) = %v", tt.asked, tt.left, got)
		}
	}
}

// run executes fn under the executor and records when each attempt began.
func run(t *testing.T, ctx context.Context, s Settings, fn func(n int) (outcome, error)) (outcome, []time.Duration, error) {
	t.Helper()
	start := time.Now()
	var at []time.Duration
	r, err := NewExecutor[outcome](s).WithContext(ctx).Get(func() (outcome, error) {
		at = append(at, time.Since(start))
		return fn(len(at))
	})
	return r, at, err
}

func equal(a []time.Duration, b ...time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestExecutorBackoffAndExhaustion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		r, at, err := run(t, t.Context(), Settings{}, func(n int) (outcome, error) {
			return outcome{v: Verdict{Retry: true}, n: n}, boom
		})
		s := time.Second
		if !equal(at, 0, s, 3*s, 7*s) {
			t.Errorf("attempts at %v", at)
		}
		// The last result and error come back as they are, never an ExceededError.
		if err != boom || r.n != 4 {
			t.Errorf("got %+v, %v", r, err)
		}
	})
}

func TestExecutorHonoursTheServerDelayAndStopsOnSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, at, err := run(t, t.Context(), Settings{}, func(n int) (outcome, error) {
			if n < 3 {
				return outcome{v: Verdict{Retry: true, Delay: 5 * time.Second}, n: n}, nil
			}
			return outcome{n: n}, nil
		})
		if err != nil || r.n != 3 || !equal(at, 0, 5*time.Second, 10*time.Second) {
			t.Errorf("got %+v, %v at %v", r, err, at)
		}
	})
}

func TestExecutorDoesNotRetryWhatTheVerdictRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		_, at, err := run(t, t.Context(), Settings{}, func(n int) (outcome, error) { return outcome{n: n}, boom })
		if err != boom || len(at) != 1 {
			t.Errorf("%v after %d attempts", err, len(at))
		}
	})
}

func TestExecutorCustomSettings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := Settings{MaxRetries: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 300 * time.Millisecond, Factor: 3}
		_, at, _ := run(t, t.Context(), s, func(n int) (outcome, error) { return outcome{v: Verdict{Retry: true}}, nil })
		ms := time.Millisecond
		if !equal(at, 0, 100*ms, 400*ms, 700*ms, 1000*ms, 1300*ms) {
			t.Errorf("attempts at %v", at)
		}
	})
}

func TestExecutorStopsWaitingWhenTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, at, err := run(t, ctx, Settings{}, func(n int) (outcome, error) { return outcome{v: Verdict{Retry: true}}, nil })
		if !errors.Is(err, context.DeadlineExceeded) || len(at) != 2 || time.Since(start) != 1500*time.Millisecond {
			t.Errorf("%v after %d attempts and %v", err, len(at), time.Since(start))
		}
	})
}

func TestRetryableStatus(t *testing.T) {
	for code := 100; code < 600; code++ {
		want := code == 429 || code == 500 || code == 502 || code == 503 || code == 504
		if RetryableStatus(code) != want {
			t.Errorf("RetryableStatus(%d) = %v", code, !want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransientNetworkError(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	cert := &x509.Certificate{}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"refused", wrap(os.NewSyscallError("connect", syscall.ECONNREFUSED)), true},
		{"reset", wrap(os.NewSyscallError("read", syscall.ECONNRESET)), true},
		{"aborted", wrap(syscall.ECONNABORTED), true},
		{"broken pipe", wrap(syscall.EPIPE), true},
		{"closed early", &url.Error{Op: "Get", URL: "u", Err: io.ErrUnexpectedEOF}, true},
		{"EOF", &url.Error{Op: "Get", URL: "u", Err: io.EOF}, true},
		{"timeout", wrap(timeoutErr{}), true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"canceled", &url.Error{Op: "Get", URL: "u", Err: context.Canceled}, false},
		{"DNS not found", wrap(&net.DNSError{Err: "no such host", IsNotFound: true}), false},
		{"unknown authority", &url.Error{Op: "Get", URL: "u", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: cert}}}, false},
		{"hostname", &url.Error{Op: "Get", URL: "u", Err: x509.HostnameError{Certificate: cert, Host: "x"}}, false},
		{"expired", x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}, false},
		{"bare unknown authority", x509.UnknownAuthorityError{Cert: cert}, false},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false},
		{"alert", fmt.Errorf("remote error: %w", tls.AlertError(42)), false},
		{"ECH rejected", &tls.ECHRejectionError{}, false},
		{"certificate with a reset", fmt.Errorf("%w %w", x509.UnknownAuthorityError{Cert: cert}, syscall.ECONNRESET), false},
		{"other", errors.New("unsupported protocol scheme"), false},
	} {
		if got := TransientNetworkError(tt.err); got != tt.want {
			t.Errorf("%s: TransientNetworkError = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 3 ", 3 * time.Second, true},
		{"0", 0, true},
		{"Sat, 28 Nov 2026 08:00:20 GMT", 20 * time.Second, true},
		{"Saturday, 28-Nov-26 08:00:20 GMT", 20 * time.Second, true},
		{"Sat Nov 28 08:00:20 2026", 20 * time.Second, true},
		{"Sat, 28 Nov 2026 07:59:00 GMT", 0, true},
		{"99999999999999999999999", maxAsked, true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", maxAsked, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 1500 * time.Millisecond, true},
		{"0.05", 50 * time.Millisecond, true},
		{" 2.000 ", 2 * time.Second, true},
		{"0.0000000001", time.Nanosecond, true},
		{"0.1234567890", 123456789 * time.Nanosecond, true},
		{"9223372036.854775807", maxAsked, true},
		{"9223372036.9", maxAsked, true},
		{"99999999999999999999999.5", maxAsked, true},
		{"1.", 0, false},
		{"1.5.2", 0, false},
		{"1.-5", 0, false},
		{"1,5", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"5s", 0, false},
		{"soon", 0, false},
	} {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "Sat, 28 Nov 2026 08:00:20 GMT", "99999999999999999999", "", "1e3", "\x00",
		"0.05", "1.5", "1.", "9223372036.999999999", "0.0000000001"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, negative", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v with ok false", v, d)
		}
		if n, err := strconv.ParseUint(v, 10, 32); err == nil && (!ok || d != time.Duration(n)*time.Second) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %d s", v, d, ok, n)
		}
		if ok {
			v = strings.TrimSpace(v)
			if _, err := http.ParseTime(v); err == nil {
				return
			}
			whole, frac, dotted := strings.Cut(v, ".")
			if _, err := strconv.ParseUint(whole, 10, 64); err != nil && d != maxAsked ||
				dotted && strings.Trim(frac, "0123456789") != "" || dotted && frac == "" {
				t.Fatalf("ParseRetryAfter(%q) accepted a value that is neither seconds nor a date", v)
			}
			// Seconds with a fraction: never shorter than asked, less
			// than one second more than the whole seconds.
			if n, err := strconv.ParseUint(whole, 10, 32); err == nil && dotted &&
				(d < time.Duration(n)*time.Second || d > time.Duration(n+1)*time.Second) {
				t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
			}
		}
	})
}
