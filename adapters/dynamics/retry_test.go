package dynamics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// The tests in this file run in a synctest bubble: their delays are
// instant, and time.Now inside the bubble tells exactly when each request
// was sent.

// timed records when each Web API request arrived, relative to the start.
type timed struct {
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
}

func newTimed() *timed { return &timed{start: time.Now()} }

func (tm *timed) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tm.mu.Lock()
		tm.at = append(tm.at, time.Since(tm.start))
		tm.mu.Unlock()
		h(w, r)
	}
}

func (tm *timed) times() []time.Duration {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return append([]time.Duration(nil), tm.at...)
}

func wantTimes(t *testing.T, got []time.Duration, want ...time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("requests at %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("requests at %v, want %v", got, want)
		}
	}
}

func throttled(retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("x-ms-service-request-id", "req-429")
		writeJSON(w, http.StatusTooManyRequests, `{"error":{"code":"-2147015902","message":"Number of requests exceeded the limit."}}`)
	}
}

func TestRetry429AfterAskedDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled("3"), okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f)
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, 3*time.Second)
		s := f.apiSeen()
		if s[0].header.Get("X-Correlation-Id") != s[1].header.Get("X-Correlation-Id") {
			t.Errorf("the retry has another correlation id")
		}
	})
}

func TestRetry429WithoutRetryAfterUsesBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled(""), throttled("0"), okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f)
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, time.Second, 3*time.Second)
	})
}

func TestRetryAfterHTTPDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		date := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
		f := &fakeNet{api: tm.wrap(sequence(throttled(date), okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f)
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, 5*time.Second)
	})
}

func TestRetryAfterBeyondWhatTheCallMayWaitFailsAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retryAfter string
		opts       Options
		want       time.Duration
	}{
		{"over the 16 s cap", "17", Options{}, 17 * time.Second},
		{"a date over the cap", "", Options{}, time.Hour},
		{"over the time left", "12", Options{Timeouts: Timeouts{Total: 10 * time.Second}}, 12 * time.Second},
		{"over a lowered cap", "3", Options{Retry: RetrySettings{BaseDelay: time.Second, MaxDelay: 2 * time.Second}}, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ra := tt.retryAfter
				if ra == "" {
					ra = time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
				}
				tm := newTimed()
				f := &fakeNet{api: tm.wrap(throttled(ra))}
				c := newNetClient(t, f, tt.opts)
				start := time.Now()
				_, err := c.WhoAmI(t.Context())
				pe := wantCode(t, err, ports.CodeRateLimited)
				if pe.RetryAfter != tt.want || pe.StatusCode != 429 || pe.ServiceCode != "0x80072322" || pe.ServiceRequestID != "req-429" {
					t.Errorf("error %+v", pe)
				}
				if time.Since(start) != 0 || len(tm.times()) != 1 {
					t.Errorf("waited %v over %d requests, want an immediate failure", time.Since(start), len(tm.times()))
				}
			})
		})
	}
}

func Test503OnEveryAttemptExhaustsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(status(503, fixture(t, "error-empty-code.json")))}
		c := newNetClient(t, f)
		_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
		pe := wantCode(t, err, ports.CodeServerError)
		if pe.StatusCode != 503 || pe.Message != "An unexpected error occurred." || pe.Op != "ListCertifications" {
			t.Errorf("error %+v", pe)
		}
		wantTimes(t, tm.times(), 0, time.Second, 3*time.Second, 7*time.Second)
		if f.tokens.Load() != 1 {
			t.Errorf("%d token requests, want 1", f.tokens.Load())
		}
	})
}

func TestBackoffIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(status(502, ""))}
		c := newNetClient(t, f, Options{Retry: RetrySettings{MaxRetries: 6}, Timeouts: Timeouts{Total: time.Hour}})
		_, err := c.WhoAmI(t.Context())
		wantCode(t, err, ports.CodeServerError)
		s := time.Second
		wantTimes(t, tm.times(), 0, s, 3*s, 7*s, 15*s, 31*s, 47*s)
	})
}

func TestRetriedStatusesAndOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for code, attempts := range map[int]int{429: 4, 500: 4, 502: 4, 503: 4, 504: 4, 501: 1, 505: 1, 400: 1, 401: 1, 403: 1, 404: 1, 409: 1, 412: 1, 301: 1} {
			f := &fakeNet{api: status(code, `{}`)}
			c := newNetClient(t, f)
			_, err := c.WhoAmI(t.Context())
			if err == nil {
				t.Fatalf("%d: no error", code)
			}
			if got := len(f.apiSeen()); got != attempts {
				t.Errorf("status %d: %d attempts, want %d", code, got, attempts)
			}
		}
	})
}

func TestOnlyIdempotentCallsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: status(503, `{}`)}
		c := newNetClient(t, f)
		_, err := c.do(t.Context(), newCall(t.Context(), "Create", http.MethodPost, c.cert.list))
		wantCode(t, err, ports.CodeServerError)
		if n := len(f.apiSeen()); n != 1 {
			t.Errorf("a POST was sent %d times", n)
		}
		_, err = c.WriteSyncMetadata(t.Context(), certID, ports.SyncMetadata{Status: 1, LastSyncedOn: time.Now()})
		wantCode(t, err, ports.CodeServerError)
		if n := len(f.apiSeen()); n != 5 {
			t.Errorf("the PATCH with If-Match was sent %d times, want 4", n-1)
		}
	})
}

func TestContextCanceledMidBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: status(503, `{}`)}
		c := newNetClient(t, f)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(500 * time.Millisecond)
			cancel()
		}()
		start := time.Now()
		_, err := c.WhoAmI(ctx)
		pe := wantCode(t, err, ports.CodeCanceled)
		if !errors.Is(err, context.Canceled) || pe.CorrelationID == "" {
			t.Errorf("error %+v", pe)
		}
		if d := time.Since(start); d != 500*time.Millisecond || len(f.apiSeen()) != 1 {
			t.Errorf("stopped after %v and %d requests", d, len(f.apiSeen()))
		}
	})
}

func TestCallerDeadlineIsCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
		c := newNetClient(t, f)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err := c.WhoAmI(ctx)
		wantCode(t, err, ports.CodeCanceled)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap the caller's deadline", err)
		}
	})
}

func TestTotalGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })}
		c := newNetClient(t, f)
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if d := time.Since(start); d != 45*time.Second {
			t.Errorf("gave up after %v, want 45s", d)
		}
		// 30 s attempt limit, 1 s backoff, then the guard cuts the second attempt.
		wantTimes(t, tm.times(), 0, 31*time.Second)
		if !errors.Is(err, errTotalTimeout) || errors.Is(err, context.Canceled) || pe.Message != "no answer within 45s" {
			t.Errorf("error %+v", pe)
		}
	})
}

func TestTotalGuardHitWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: throttled("8")}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Total: 20 * time.Second}})
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeRateLimited)
		// 0, 8, 16: the third ask of 8 s is over the 4 s left and fails at once.
		if d := time.Since(start); d != 16*time.Second || pe.RetryAfter != 8*time.Second {
			t.Errorf("after %v: %+v", d, pe)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: status(503, `{}`)}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Total: 2 * time.Second}})
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		wantCode(t, err, ports.CodeNetworkError)
		if d := time.Since(start); d != 2*time.Second || !errors.Is(err, errTotalTimeout) {
			t.Errorf("after %v: %v", d, err)
		}
	})
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		f := &fakeNet{api: tm.wrap(sequence(hang, okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Attempt: 5 * time.Second}})
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, 6*time.Second)
	})
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Attempt: time.Second}})
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if !errors.Is(err, errAttemptTimeout) || len(f.apiSeen()) != 4 {
			t.Errorf("after %d attempts: %+v", len(f.apiSeen()), pe)
		}
	})
}

// failing returns err for the first n requests, then passes them on. It
// counts every request.
type failing struct {
	n, seen int
	err     error
	next    http.RoundTripper
	mu      sync.Mutex
}

func (f *failing) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.seen++
	fail := f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return nil, f.err
	}
	return f.next.RoundTrip(r)
}

// apiOnly sends token requests straight to token and the rest to api.
type apiOnly struct {
	api, token http.RoundTripper
}

func (a *apiOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "login.microsoftonline.com" {
		return a.token.RoundTrip(r)
	}
	return a.api.RoundTrip(r)
}

func TestTransientNetworkErrorsAreRetried(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	permanent := errors.New("unsupported protocol")
	for name, tt := range map[string]struct {
		err      error
		attempts int
	}{
		"refused":   {refused, 2},
		"reset":     {reset, 2},
		"permanent": {permanent, 1},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fn := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
				api := &failing{n: 1, err: tt.err, next: fn}
				c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: &apiOnly{api: api, token: fn}}})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				_, err = c.WhoAmI(t.Context())
				if api.seen != tt.attempts {
					t.Errorf("%d attempts, want %d", api.seen, tt.attempts)
				}
				if tt.attempts == 1 {
					pe := wantCode(t, err, ports.CodeNetworkError)
					if !errors.Is(err, permanent) || pe.StatusCode != 0 {
						t.Errorf("error %+v does not wrap the cause", pe)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d != time.Second {
					t.Errorf("retried after %v, want 1s", d)
				}
			})
		})
	}
}
