package dynamicstest

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestLimitRequests(t *testing.T) {
	clk := newClock()
	ts := newTester(t, Options{Certifications: 5, Now: clk.Now, Limits: Limits{Requests: 3, Window: 10 * time.Second}})
	for i, want := range []string{"2", "1", "0"} {
		r := ts.get("WhoAmI")
		wantStatus(t, r, http.StatusOK)
		if got := r.header.Get("x-ms-ratelimit-burst-remaining-xrm-requests"); got != want {
			t.Errorf("request %d: burst remaining %q, want %s", i+1, got, want)
		}
		clk.Advance(time.Second)
	}
	r := ts.get("hlf_certifications")
	wantStatus(t, r, http.StatusTooManyRequests)
	if code := r.errorCode(t); code != codeRequestLimit {
		t.Errorf("code %s", code)
	}
	// The first request leaves the window 10 s after it, 7 s from now.
	if got := r.header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After %q, want 7", got)
	}
	clk.Advance(6 * time.Second)
	wantStatus(t, ts.get("WhoAmI"), http.StatusTooManyRequests)
	clk.Advance(time.Second)
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	// The token endpoint is not limited.
	wantStatus(t, ts.postToken(ts.tokenForm()), http.StatusOK)
	if s := ts.e.Stats(); s.Throttled != 2 {
		t.Errorf("Stats.Throttled = %d, want 2", s.Throttled)
	}
}

func TestLimitConcurrent(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5, Limits: Limits{Concurrent: 1}, DOPHint: 4})
	ts.e.SetLatency(RouteWhoAmI, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = ts.fresh().do(ctx, http.MethodGet, ts.url("WhoAmI"), map[string]string{"Authorization": "Bearer " + ts.token}, "")
	}()
	inflight := func() int {
		ts.e.limits.mu.Lock()
		defer ts.e.limits.mu.Unlock()
		if u := ts.e.limits.users[ts.e.ClientID()]; u != nil {
			return u.inflight
		}
		return 0
	}
	for inflight() == 0 {
		time.Sleep(time.Millisecond)
	}
	r := ts.get("hlf_certifications")
	wantStatus(t, r, http.StatusTooManyRequests)
	if code := r.errorCode(t); code != codeConcurrency || r.header.Get("Retry-After") != "1" {
		t.Errorf("code %s, Retry-After %q", code, r.header.Get("Retry-After"))
	}
	if r.header.Get("x-ms-dop-hint") != "4" {
		t.Errorf("x-ms-dop-hint %q", r.header.Get("x-ms-dop-hint"))
	}
	cancel()
	<-done
	for inflight() != 0 {
		time.Sleep(time.Millisecond)
	}
	wantStatus(t, ts.get("hlf_certifications"), http.StatusOK)
}

func TestLimitExecutionTime(t *testing.T) {
	clk := newClock()
	ts := newTester(t, Options{Certifications: 5, Now: clk.Now, Limits: Limits{ExecutionTime: 50 * time.Millisecond, Window: time.Minute}})
	ts.e.SetLatency(RouteWhoAmI, 30*time.Millisecond)
	r := ts.get("WhoAmI")
	wantStatus(t, r, http.StatusOK)
	if got := r.header.Get("x-ms-ratelimit-time-remaining-xrm-requests"); got != "0.05" {
		t.Errorf("time remaining %q before any time was spent", got)
	}
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	r = ts.get("WhoAmI")
	wantStatus(t, r, http.StatusTooManyRequests)
	if code := r.errorCode(t); code != codeExecutionLimit || r.header.Get("Retry-After") != "60" {
		t.Errorf("code %s, Retry-After %q", code, r.header.Get("Retry-After"))
	}
	clk.Advance(time.Minute)
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
}

func TestNoLimitHeadersByDefault(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	r := ts.get("WhoAmI")
	for _, h := range []string{"x-ms-ratelimit-burst-remaining-xrm-requests", "x-ms-ratelimit-time-remaining-xrm-requests", "x-ms-dop-hint"} {
		if v := r.header.Get(h); v != "" {
			t.Errorf("%s: %q without limits", h, v)
		}
	}
}
