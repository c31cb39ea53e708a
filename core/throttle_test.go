package core_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

func TestRateLimitedWriteWaitsThenSucceeds(t *testing.T) {
	p := newPortal(10, cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}))
	p.writeErr[id(1)] = []error{throttled(7 * time.Second)}
	e := newEnv(t, p)

	rep, err := e.service(t, core.SyncOptions{Concurrency: 1, WriteBatch: 1}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
		t.Errorf("sleeps %v, want the 7s the portal asked", got)
	}
	if p.calls[id(1)] != 2 || p.calls[id(2)] != 1 {
		t.Errorf("write calls %v, want 2 for the throttled record and 1 for the other", p.calls)
	}
	if got := p.writes[0].LastSyncedOn; !got.Equal(t0.Add(7 * time.Second).Truncate(time.Second)) {
		t.Errorf("LastSyncedOn of the retried write %v, want the time of the retry", got)
	}
	if rep.Writes.Done != 2 || !rep.Complete {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(strings.Join(e.logs.Lines(), "\n"), "portal throttles the sync") {
		t.Error("no log line about the throttling")
	}
}

func TestRateLimitedWithoutDelayWaitsAFallback(t *testing.T) {
	p := newPortal(10, cert(1, days(400), 0, time.Time{}))
	p.pageErr[0] = []error{&ports.PortalError{Code: ports.CodeRateLimited, Op: "ListCertifications", StatusCode: 429}}
	e := newEnv(t, p)

	rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Sleeps(); len(got) != 1 || got[0] != 5*time.Second {
		t.Errorf("sleeps %v, want one fallback wait of 5s", got)
	}
	if len(p.Queries()) != 2 || !rep.Complete {
		t.Errorf("%d page reads, report %+v; want the throttled read retried", len(p.Queries()), rep)
	}
}

func TestBudgetExhaustedWhileThrottled(t *testing.T) {
	p := newPortal(2,
		cert(1, days(400), 0, time.Time{}),
		cert(2, days(400), 0, time.Time{}),
		cert(3, days(400), 0, time.Time{}),
		cert(4, days(400), 0, time.Time{}),
	)
	// The first wait fits in the budget, the second would not.
	p.writeErr[id(3)] = []error{throttled(30 * time.Second), throttled(45 * time.Second)}
	e := newEnv(t, p)

	rep, err := e.service(t, core.SyncOptions{PageSize: 2, Concurrency: 1, Budget: time.Minute}).Run(t.Context())
	if !errors.Is(err, ports.ErrBudgetExhausted) || !errors.Is(err, ports.ErrRateLimited) || ports.CodeOf(err) != ports.CodeRateLimited {
		t.Fatalf("Run = %v, want the budget exhausted while rateLimited", err)
	}
	var pe *ports.PortalError
	if !errors.As(err, &pe) || pe.RetryAfter != 45*time.Second {
		t.Errorf("error %v does not carry the portal's last answer", err)
	}
	if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{30 * time.Second}) {
		t.Errorf("sleeps %v, want only the wait that fit in the budget", got)
	}
	if len(e.store.saves) != 1 || e.store.cp.Next != "from-2" || e.store.finishes != 0 {
		t.Errorf("saves %+v, finishes %d; want the checkpoint of page 1 intact", e.store.saves, e.store.finishes)
	}
	if len(e.store.pages) != 1 || rep.Pages != 1 || rep.Writes.Done != 2 || rep.Complete {
		t.Errorf("report %+v, sink pages %d; want the counts of page 1", rep, len(e.store.pages))
	}
	if !strings.Contains(strings.Join(e.logs.Lines(), "\n"), "code=rateLimited") {
		t.Errorf("end log line lacks the code:\n%s", strings.Join(e.logs.Lines(), "\n"))
	}
}

// A throttled write waiting for its turn when another write stops the
// pass gives up at once: it was never sent.
func TestFatalWriteEndsTheThrottleWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPortal(10, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}))
		p.writeErr[id(1)] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "WriteSyncMetadata", StatusCode: 500}}
		p.writeErr[id(2)] = []error{throttled(time.Hour)}
		// Record 1 fails only once record 2's call is under way, so record 2
		// is throttled (or about to wait) when the pass must stop.
		second := make(chan struct{})
		p.onWrite = func(w string) {
			switch w {
			case id(2):
				close(second)
			case id(1):
				<-second
			}
		}
		e := newEnv(t, p)
		e.clock = nil
		start := time.Now()
		_, err := e.service(t, core.SyncOptions{Concurrency: 2, Budget: 2 * time.Hour, WriteBatch: 1}).Run(t.Context())
		if !errors.Is(err, ports.ErrServerError) {
			t.Errorf("Run = %v, want the serverError of record 1", err)
		}
		if d := time.Since(start); d >= time.Hour || p.calls[id(2)] != 1 {
			t.Errorf("Run took %v, record 2 called %d times; want it to stop waiting when record 1 failed", d, p.calls[id(2)])
		}
	})
}

func TestSleepFailure(t *testing.T) {
	p := newPortal(10, cert(1, nil, 0, time.Time{}))
	p.writeErr[id(1)] = []error{throttled(time.Second)}
	e := newEnv(t, p)
	boom := errors.New("clock broken")
	_, err := e.withSleep(func(context.Context, time.Duration) error { return boom }).service(t, core.SyncOptions{}).Run(t.Context())
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the Sleep error", err)
	}
}

func TestRateLimitedBatchWaitsAndGoesAgain(t *testing.T) {
	p := newPortal(10, unsynced(3)...)
	p.batchErr = []error{throttled(5 * time.Second)}
	e := newEnv(t, p)
	rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{5 * time.Second}) {
		t.Errorf("sleeps %v, want 5s", got)
	}
	if got := p.Batches(); !slices.Equal(got, []int{3, 3}) || rep.Writes.Done != 3 {
		t.Errorf("batches %v, %d done; want the batch sent again whole", got, rep.Writes.Done)
	}
}
