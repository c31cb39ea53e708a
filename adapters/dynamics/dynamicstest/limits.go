package dynamicstest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter enforces Limits per user.
type limiter struct {
	l     Limits
	mu    sync.Mutex
	users map[string]*usage
}

// usage is one user's requests in the window, in arrival order.
type usage struct {
	reqs     []time.Time
	exec     []execEntry
	execSum  time.Duration
	inflight int
}

type execEntry struct {
	at time.Time
	d  time.Duration
}

func newLimiter(l Limits) *limiter { return &limiter{l: l, users: map[string]*usage{}} }

// prune drops what left the window ending at now.
func (u *usage) prune(now time.Time, window time.Duration) {
	from := now.Add(-window)
	i := 0
	for i < len(u.reqs) && !u.reqs[i].After(from) {
		i++
	}
	u.reqs = u.reqs[i:]
	i = 0
	for i < len(u.exec) && !u.exec[i].at.After(from) {
		u.execSum -= u.exec[i].d
		i++
	}
	u.exec = u.exec[i:]
}

// throttle is a refusal: the error to send and the wait to ask for.
type throttle struct {
	err  *apiError
	wait time.Duration
}

// acquire admits a request of user at now holding ops operations (1, or
// the parts of a $batch), or answers 429 itself. It sets the rate limit
// headers when limits are on. The returned release must be called with the
// time the request ended and how long it was served.
//
// A request is refused only once a limit is already reached, as Dataverse
// does: an admitted batch may take the window past a limit by its own
// operations.
func (l *limiter) acquire(w http.ResponseWriter, user string, now time.Time, ops int) (release func(end time.Time, served time.Duration), ok bool) {
	if !l.l.on() {
		return func(time.Time, time.Duration) {}, true
	}
	l.mu.Lock()
	u := l.users[user]
	if u == nil {
		u = &usage{}
		l.users[user] = u
	}
	u.prune(now, l.l.Window)
	t := l.check(u, now)
	if t == nil {
		n := 1
		if l.l.BatchPerPart {
			n = max(ops, 1)
		}
		for range n {
			u.reqs = append(u.reqs, now)
		}
		u.inflight++
		if cost := l.l.OperationCost * time.Duration(max(ops, 1)); l.l.ExecutionTime > 0 && cost > 0 {
			u.exec = append(u.exec, execEntry{at: now, d: cost})
			u.execSum += cost
		}
	}
	burst, execLeft := l.l.Requests-len(u.reqs), l.l.ExecutionTime-u.execSum
	l.mu.Unlock()

	h := w.Header()
	if l.l.Requests > 0 {
		h.Set("x-ms-ratelimit-burst-remaining-xrm-requests", strconv.Itoa(max(burst, 0)))
	}
	if l.l.ExecutionTime > 0 {
		h.Set("x-ms-ratelimit-time-remaining-xrm-requests", strconv.FormatFloat(max(execLeft, 0).Seconds(), 'f', 2, 64))
	}
	if t != nil {
		secs := int64((t.wait + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		writeAPIError(w, t.err)
		return nil, false
	}
	return func(end time.Time, served time.Duration) {
		l.mu.Lock()
		defer l.mu.Unlock()
		u.inflight--
		if l.l.ExecutionTime > 0 && l.l.OperationCost <= 0 {
			u.exec = append(u.exec, execEntry{at: end, d: served})
			u.execSum += served
		}
	}, true
}

// check returns the limit a new request of u would break, if any:
// concurrency first, then the request count, then the execution time.
func (l *limiter) check(u *usage, now time.Time) *throttle {
	window := strconv.FormatFloat(l.l.Window.Seconds(), 'f', -1, 64)
	switch {
	case l.l.Concurrent > 0 && u.inflight >= l.l.Concurrent:
		return &throttle{
			err:  &apiError{http.StatusTooManyRequests, codeConcurrency, "Number of concurrent requests exceeded the limit of " + strconv.Itoa(l.l.Concurrent) + "."},
			wait: time.Second,
		}
	case l.l.Requests > 0 && len(u.reqs) >= l.l.Requests:
		return &throttle{
			err: &apiError{http.StatusTooManyRequests, codeRequestLimit, "Number of requests exceeded the limit of " +
				strconv.Itoa(l.l.Requests) + " over time window of " + window + " seconds."},
			wait: u.reqs[len(u.reqs)-l.l.Requests].Add(l.l.Window).Sub(now),
		}
	case l.l.ExecutionTime > 0 && u.execSum >= l.l.ExecutionTime:
		// Wait until enough served time has left the window.
		var wait time.Duration
		sum := u.execSum
		for _, e := range u.exec {
			sum -= e.d
			if sum < l.l.ExecutionTime {
				wait = e.at.Add(l.l.Window).Sub(now)
				break
			}
		}
		return &throttle{
			err: &apiError{http.StatusTooManyRequests, codeExecutionLimit, "Combined execution time of incoming requests exceeded limit of " +
				strconv.FormatFloat(l.l.ExecutionTime.Seconds(), 'f', -1, 64) + " seconds over time window of " + window + " seconds."},
			wait: wait,
		}
	}
	return nil
}
