package dynamics

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// throttle is the pacing state an adapter shares between its calls, so that
// what the portal said to one call steers the next ones:
//
//   - Retry-After: an answer that asks to wait sets a "not before" time;
//     every attempt of every call waits for it before it sends anything,
//     instead of meeting the same refusal.
//   - In flight: at most limit requests are on the wire at once. The limit
//     never exceeds cap, which is the configured maximum lowered to the
//     latest x-ms-dop-hint the portal sent. A 429 halves it (once per
//     round: answers to requests sent before the last cut do not cut
//     again), and each run of limit successes raises it by one until it is
//     back at cap.
//
// Callers wait in arrival order. The path of an attempt that does not wait
// takes a lock twice and allocates nothing.
type throttle struct {
	max int // configured most requests in flight

	mu        sync.Mutex
	notBefore time.Time // no request before this time; zero once passed
	cap       int       // min(max, latest x-ms-dop-hint)
	limit     int       // current most requests in flight, 1 to cap
	inflight  int
	credit    int       // successes since the limit last changed
	cut       time.Time // when the limit was last halved
	queue     []chan struct{}
}

func newThrottle(maxInFlight int) *throttle {
	return &throttle{max: maxInFlight, cap: maxInFlight, limit: maxInFlight}
}

// throttleWait is acquire's answer when the portal's "not before" is
// further away than the caller may wait.
type throttleWait struct{ wait time.Duration }

func (t *throttleWait) Error() string { return "the portal asked to wait " + t.wait.String() }

// acquire waits until a request may be sent, then counts it in flight;
// release must follow. A "not before" time still ahead is waited for when
// mayWait allows it (the call's one decision about a pause, Client.mayWait),
// and otherwise acquire returns a *throttleWait at once, without sending.
// A free slot is waited for as long as ctx lasts (the call's time limits
// end it). It returns ctx's error when ctx ends first. paused is the time
// it waited for the portal's "not before".
func (t *throttle) acquire(ctx context.Context, mayWait func(time.Duration) bool) (paused time.Duration, err error) {
	for {
		t.mu.Lock()
		if !t.notBefore.IsZero() {
			if wait := time.Until(t.notBefore); wait > 0 {
				t.mu.Unlock()
				if !mayWait(wait) {
					return paused, &throttleWait{wait: wait}
				}
				begin := time.Now()
				err := sleep(ctx, wait)
				paused += time.Since(begin)
				if err != nil {
					return paused, err
				}
				continue
			}
			t.notBefore = time.Time{} // passed: later calls need not look at the clock
		}
		if t.inflight < t.limit && len(t.queue) == 0 {
			t.inflight++
			t.mu.Unlock()
			return paused, nil
		}
		ready := make(chan struct{})
		t.queue = append(t.queue, ready)
		t.mu.Unlock()
		if err := t.await(ctx, ready); err != nil {
			return paused, err
		}
		t.mu.Lock()
		resume := t.notBefore.After(time.Now())
		if resume {
			// A 429 came while this caller queued: give the slot back and
			// wait like everyone else.
			t.inflight--
			t.wakeLocked()
		}
		t.mu.Unlock()
		if !resume {
			return paused, nil
		}
	}
}

// await waits for ready, which release closes once the caller holds a
// slot. When ctx ends first, the caller leaves the queue, or hands on the
// slot it was given meanwhile.
func (t *throttle) await(ctx context.Context, ready chan struct{}) error {
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, q := range t.queue {
		if q == ready {
			t.queue = append(t.queue[:i], t.queue[i+1:]...)
			return ctx.Err()
		}
	}
	t.inflight-- // given a slot at the last moment
	t.wakeLocked()
	return ctx.Err()
}

// release ends a request that acquire admitted at sent, with what its
// answer said: the status (0 when there was none), the Retry-After asked
// and the x-ms-dop-hint sent (0 when absent).
func (t *throttle) release(sent time.Time, status int, retryAfter time.Duration, dopHint int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight--
	if dopHint > 0 {
		t.cap = min(t.max, dopHint)
		t.limit = min(t.limit, t.cap)
	}
	if retryAfter > 0 && status >= 400 {
		if until := time.Now().Add(retryAfter); until.After(t.notBefore) {
			t.notBefore = until
		}
	}
	switch {
	case status == http.StatusTooManyRequests:
		if sent.After(t.cut) {
			t.limit = max(1, t.limit/2)
			t.cut, t.credit = time.Now(), 0
		}
	case status >= 200 && status < 300 && t.limit < t.cap:
		t.credit++
		if t.credit >= t.limit {
			t.limit++
			t.credit = 0
		}
	}
	t.wakeLocked()
}

// wakeLocked hands free slots to the callers queued first.
func (t *throttle) wakeLocked() {
	for t.inflight < t.limit && len(t.queue) > 0 {
		t.inflight++
		close(t.queue[0])
		t.queue[0] = nil
		t.queue = t.queue[1:]
	}
}

// sleep waits d, or until ctx ends, and then returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
