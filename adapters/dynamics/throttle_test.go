package dynamics

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// The tests in this file run in a synctest bubble: waits are instant and
// time.Now tells exactly when each request was sent.

// inFlight is a Web API handler that holds every request until release is
// closed and records the most requests it held at once.
type inFlight struct {
	release chan struct{}
	hint    string // x-ms-dop-hint to answer, if any
	mu      sync.Mutex
	now     int
	most    int
}

func (h *inFlight) serve(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	h.now++
	h.most = max(h.most, h.now)
	h.mu.Unlock()
	<-h.release
	h.mu.Lock()
	h.now--
	h.mu.Unlock()
	if h.hint != "" {
		w.Header().Set("x-ms-dop-hint", h.hint)
	}
	writeJSON(w, http.StatusOK, whoAmIJSON)
}

func (h *inFlight) peak() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.most
}

const whoAmIJSON = `{"BusinessUnitId":"5a2f3c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b","UserId":"7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928","OrganizationId":"0f1e2d3c-4b5a-4697-8877-665544332211"}`

// callMany runs n WhoAmI calls at once and returns their errors.
func callMany(c *Client, ctx context.Context, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = c.WhoAmI(ctx) })
	}
	wg.Wait()
	return errs
}

func TestThrottleRetryAfterHoldsBackOtherCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled("5"), okJSON(whoAmIJSON)))}
		c := newNetClient(t, f)
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := c.WhoAmI(t.Context()); err != nil {
				t.Error(err)
			}
		})
		time.Sleep(time.Second) // the first call has its 429 by now
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		// The second call waited for the first call's Retry-After instead
		// of going out at 1 s.
		wantTimes(t, tm.times(), 0, 5*time.Second, 5*time.Second)
	})
}

func TestThrottleLongPauseFailsWithoutSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled("20"), okJSON(whoAmIJSON)))}
		c := newNetClient(t, f)
		_, err := c.WhoAmI(t.Context()) // 20 s is over the 16 s cap: no retry
		if pe := wantCode(t, err, ports.CodeRateLimited); pe.RetryAfter != 20*time.Second {
			t.Fatalf("RetryAfter = %v, want 20s", pe.RetryAfter)
		}
		time.Sleep(3 * time.Second)
		_, err = c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeRateLimited)
		if pe.RetryAfter != 17*time.Second || pe.StatusCode != 0 || pe.CorrelationID == "" {
			t.Fatalf("not-sent error = %+v, want RetryAfter 17s, no status, a correlation id", pe)
		}
		if len(tm.times()) != 1 {
			t.Fatalf("the portal saw %d requests, want 1: a paused call must not be sent", len(tm.times()))
		}
		time.Sleep(time.Second) // 16 s left: within the cap, the call waits
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, 20*time.Second)
	})
}

func TestThrottleWaitEndsWithCallersContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled("10"), okJSON(whoAmIJSON)))}
		c := newNetClient(t, f)
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = c.WhoAmI(t.Context()) })
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.WhoAmI(ctx)
		wantCode(t, err, ports.CodeCanceled)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 2*time.Second {
			t.Fatalf("after %v: %v, want the caller's deadline at 2s", time.Since(start), err)
		}
		wg.Wait()
		wantTimes(t, tm.times(), 0, 10*time.Second)
	})
}

func TestThrottleLimitsRequestsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &inFlight{release: make(chan struct{})}
		f := &fakeNet{api: h.serve}
		c := newNetClient(t, f, Options{MaxInFlight: 3})
		var errs []error
		done := make(chan struct{})
		go func() { errs = callMany(c, t.Context(), 10); close(done) }()
		synctest.Wait()
		if got := h.peak(); got != 3 {
			t.Fatalf("%d requests in flight, want 3", got)
		}
		close(h.release)
		<-done
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := f.calls.Load(); got != 10 {
			t.Fatalf("%d requests, want 10", got)
		}
	})
}

func TestThrottleFollowsDOPHint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		open := make(chan struct{})
		close(open)
		h := &inFlight{release: open, hint: "2"}
		c := newNetClient(t, &fakeNet{api: h.serve}, Options{MaxInFlight: 10})
		if _, err := c.WhoAmI(t.Context()); err != nil { // learns the hint
			t.Fatal(err)
		}
		h.release = make(chan struct{})
		done := make(chan struct{})
		go func() { callMany(c, t.Context(), 8); close(done) }()
		synctest.Wait()
		if got := h.peak(); got != 2 {
			t.Fatalf("%d requests in flight, want the hint, 2", got)
		}
		close(h.release)
		<-done
	})
}

func TestThrottleHalvesOncePerRoundAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(8)
		acquire := func() time.Time {
			t.Helper()
			if _, err := th.acquire(t.Context(), waitAny); err != nil {
				t.Fatal(err)
			}
			return time.Now()
		}
		// Four requests of one round all get a 429: one cut.
		var sent []time.Time
		for range 4 {
			sent = append(sent, acquire())
		}
		time.Sleep(time.Millisecond)
		for _, s := range sent {
			th.release(s, http.StatusTooManyRequests, 0, 0)
		}
		if th.limit != 4 {
			t.Fatalf("limit after one round of 429s = %d, want 4", th.limit)
		}
		// A request sent after the cut that gets a 429 cuts again.
		time.Sleep(time.Millisecond)
		th.release(acquire(), http.StatusTooManyRequests, 0, 0)
		if th.limit != 2 {
			t.Fatalf("limit after a second round = %d, want 2", th.limit)
		}
		// limit successes raise the limit by one.
		for _, want := range []int{3, 4, 5} {
			for range want - 1 {
				th.release(acquire(), http.StatusOK, 0, 0)
			}
			if th.limit != want {
				t.Fatalf("limit = %d, want %d", th.limit, want)
			}
		}
		// Never above the hint, and never under 1.
		th.release(acquire(), http.StatusOK, 0, 3)
		if th.limit != 3 || th.cap != 3 {
			t.Fatalf("after a hint of 3: limit %d, cap %d", th.limit, th.cap)
		}
		for range 10 {
			time.Sleep(time.Millisecond)
			th.release(acquire(), http.StatusTooManyRequests, 0, 0)
		}
		if th.limit != 1 {
			t.Fatalf("limit = %d, want 1", th.limit)
		}
		if th.inflight != 0 {
			t.Fatalf("%d still in flight", th.inflight)
		}
	})
}

func TestThrottleQueuedCallerLeavesOnCancelOrDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(1)
		if _, err := th.acquire(t.Context(), waitAny); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() { _, err := th.acquire(ctx, waitAny); errc <- err }()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
		start := time.Now()
		dctx, dcancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer dcancel()
		if _, err := th.acquire(dctx, waitAny); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait past the deadline: %v, want the deadline", err)
		}
		if time.Since(start) != 5*time.Second {
			t.Fatalf("gave up after %v, want 5s", time.Since(start))
		}
		th.release(time.Now(), http.StatusOK, 0, 0)
		if th.inflight != 0 || len(th.queue) != 0 {
			t.Fatalf("in flight %d, queued %d after everyone left", th.inflight, len(th.queue))
		}
		if _, err := th.acquire(t.Context(), waitAny); err != nil {
			t.Fatal(err)
		}
	})
}

func TestThrottleQueuedSlotWaitsForPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(1)
		if _, err := th.acquire(t.Context(), waitAny); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		got := make(chan time.Duration)
		var paused time.Duration
		go func() {
			var err error
			if paused, err = th.acquire(t.Context(), waitAny); err != nil {
				t.Error(err)
			}
			got <- time.Since(sent)
		}()
		synctest.Wait()
		// The request in flight gets a 429 asking for 3 s: the queued
		// caller is handed the slot but must not send before then.
		th.release(sent, http.StatusTooManyRequests, 3*time.Second, 0)
		if d := <-got; d != 3*time.Second {
			t.Fatalf("queued caller went at %v, want 3s", d)
		}
		if paused != 3*time.Second {
			t.Errorf("acquire reports a pause of %v, want the 3s the portal asked for", paused)
		}
	})
}

func TestThrottleFastPathAllocatesNothing(t *testing.T) {
	th := newThrottle(4)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := th.acquire(ctx, waitAny); err != nil {
			t.Fatal(err)
		}
		th.release(time.Now(), http.StatusOK, 0, 0)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request, want 0", allocs)
	}
}

func TestMaxInFlightRange(t *testing.T) {
	for _, n := range []int{-1, 1001} {
		if _, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, MaxInFlight: n}); !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("MaxInFlight %d: %v, want ErrInvalidConfig", n, err)
		}
	}
}

func TestThrottleQueuedCallHitsItsGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &inFlight{release: make(chan struct{})}
		f := &fakeNet{api: h.serve}
		c := newNetClient(t, f, Options{MaxInFlight: 1, Timeouts: Timeouts{Total: 5 * time.Second}})
		done := make(chan struct{})
		go func() { _, _ = c.WhoAmI(t.Context()); close(done) }() // holds the only slot
		synctest.Wait()
		defer func() { close(h.release); <-done }()
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if time.Since(start) != 5*time.Second || pe.StatusCode != 0 || !errors.Is(err, errTotalTimeout) {
			t.Fatalf("after %v: %+v, want the 5s guard while queued", time.Since(start), pe)
		}
		if got := f.calls.Load(); got != 1 {
			t.Fatalf("%d requests sent, want 1: the queued call never had a slot", got)
		}
	})
}

// waitAny lets acquire wait any pause.
func waitAny(time.Duration) bool { return true }

// A shared pause longer than the time a call has left fails the call at
// once as rateLimited, nothing sent, even when the call's guard is shorter
// than the 16 s cap (so the cap alone would let it wait).
func TestSharedPauseOverTheTimeLeftFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled("8"), okJSON(whoAmIJSON)))}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Total: 5 * time.Second}})
		_, err := c.WhoAmI(t.Context()) // 8 s is within the cap but over the 5 s the call has
		wantCode(t, err, ports.CodeRateLimited)
		time.Sleep(time.Second)
		start := time.Now()
		_, err = c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeRateLimited)
		if time.Since(start) != 0 || pe.RetryAfter != 7*time.Second || pe.StatusCode != 0 {
			t.Fatalf("after %v: %+v; want rateLimited at once with RetryAfter 7s", time.Since(start), pe)
		}
		if n := len(tm.times()); n != 1 {
			t.Fatalf("the portal saw %d requests, want 1", n)
		}
	})
}

// A later, shorter Retry-After never shortens a longer pause in force.
func TestShorterRetryAfterKeepsTheLongerPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(4)
		sent := time.Now()
		for range 2 {
			if _, err := th.acquire(t.Context(), waitAny); err != nil {
				t.Fatal(err)
			}
		}
		th.release(sent, http.StatusTooManyRequests, 10*time.Second, 0)
		th.release(sent, http.StatusTooManyRequests, 2*time.Second, 0)
		start := time.Now()
		if _, err := th.acquire(t.Context(), waitAny); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Fatalf("the next request went after %v, want the longer pause, 10s", d)
		}
	})
}
