package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/mocks"
	"github.com/hlf/dynamicsportal/ports"
	"go.uber.org/mock/gomock"
)

// sevenRecords is a portal of three pages (3, 3, 1) with every case of a
// first pass: written because never synced, because the status changed,
// or because the last synced time is missing; unchanged otherwise.
func sevenRecords() *portal {
	inactive := cert(4, days(100), ports.SyncStatusNone, time.Time{})
	inactive.State = ports.StateInactive
	return newPortal(3,
		cert(1, days(400), ports.SyncStatusNone, time.Time{}), // never synced: write valid
		cert(2, days(400), ports.SyncStatusValid, synced),     // unchanged
		cert(3, days(10), ports.SyncStatusValid, synced),      // now expiring: write
		inactive, // never synced: write inactive
		cert(5, days(-1), ports.SyncStatusExpired, synced),     // unchanged
		cert(6, days(400), ports.SyncStatusValid, time.Time{}), // no last synced time: write
		cert(7, nil, ports.SyncStatusNone, time.Time{}),        // never synced, no expiry: write
	)
}

func TestFreshPassOfSeveralPages(t *testing.T) {
	e := newEnv(t, sevenRecords())
	var progress []ports.SyncCounts
	s := e.service(t, core.SyncOptions{PageSize: 3, OnPage: func(c ports.SyncCounts) { progress = append(progress, c) }})

	rep, err := s.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	if got, want := e.portal.Written(), []string{id(1), id(3), id(4), id(6), id(7)}; !slices.Equal(got, want) {
		t.Errorf("written %v, want %v", got, want)
	}
	wantStamp := time.Date(2026, 11, 28, 10, 20, 30, 0, time.UTC)
	for _, m := range e.portal.writes {
		if !m.LastSyncedOn.Equal(wantStamp) || m.LastSyncedOn.Location() != time.UTC {
			t.Errorf("LastSyncedOn %v, want %v (now to the second, UTC)", m.LastSyncedOn, wantStamp)
		}
	}
	statusOf := map[string]ports.SyncStatus{}
	for _, c := range e.portal.certs {
		statusOf[c.ID] = c.SyncStatus
	}
	wantStatus := map[string]ports.SyncStatus{id(1): 1, id(2): 1, id(3): 2, id(4): 4, id(5): 3, id(6): 1, id(7): 1}
	for k, v := range wantStatus {
		if statusOf[k] != v {
			t.Errorf("%s: status %v after the pass, want %v", k, statusOf[k], v)
		}
	}

	// Every read asks for the page size, in key order, without a
	// modified-since filter.
	var conts []string
	for _, q := range e.portal.Queries() {
		if q.PageSize != 3 || !q.ModifiedSince.IsZero() {
			t.Errorf("query %+v: want page size 3 and no ModifiedSince", q)
		}
		conts = append(conts, q.Continuation)
	}
	if want := []string{"", "from-3", "from-6"}; !slices.Equal(conts, want) {
		t.Errorf("continuations %q, want %q", conts, want)
	}

	// The sink got three pages with the records as the pass left them.
	if len(e.sink.pages) != 3 || len(e.sink.pages[0]) != 3 || len(e.sink.pages[2]) != 1 {
		t.Fatalf("sink pages %d, want 3 of 3, 3 and 1 records", len(e.sink.pages))
	}
	wantActions := []string{"01:written", "02:unchanged", "03:written", "04:written", "05:unchanged", "06:written", "07:written"}
	if got := e.sink.actions(); !slices.Equal(got, wantActions) {
		t.Errorf("sink actions %v, want %v", got, wantActions)
	}
	r3 := e.sink.pages[0][2]
	if r3.Computed != ports.SyncStatusExpiring || r3.SyncStatus != ports.SyncStatusExpiring || !r3.LastSyncedOn.Equal(wantStamp) || r3.ETag == "" {
		t.Errorf("sink record 3 = %+v, want the written status, time and etag", r3)
	}
	if !slices.Equal(e.sink.rewinds, []string{""}) {
		t.Errorf("rewinds %q, want one to the start", e.sink.rewinds)
	}

	// A checkpoint after each page but the last, then cleared.
	if len(e.store.saves) != 2 {
		t.Fatalf("%d saves, want 2", len(e.store.saves))
	}
	startedAt := t0.Truncate(time.Second)
	for i, want := range []ports.Checkpoint{
		{Next: "from-3", SinkPosition: "3", StartedAt: startedAt, Counts: ports.SyncCounts{Read: 3, Pages: 1,
			Status: ports.StatusCounts{Valid: 2, Expiring: 1}, Writes: ports.WriteCounts{Done: 2, Unchanged: 1}}},
		{Next: "from-6", SinkPosition: "6", StartedAt: startedAt, Counts: ports.SyncCounts{Read: 6, Pages: 2,
			Status: ports.StatusCounts{Valid: 3, Expiring: 1, Expired: 1, Inactive: 1}, Writes: ports.WriteCounts{Done: 4, Unchanged: 2}}},
	} {
		if got := e.store.saves[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("save %d:\n got %+v\nwant %+v", i+1, got, want)
		}
	}
	if e.store.clears != 1 || e.store.cp != nil {
		t.Errorf("clears %d, checkpoint %v; want cleared once", e.store.clears, e.store.cp)
	}

	want := core.Report{
		SyncCounts: ports.SyncCounts{Read: 7, Pages: 3,
			Status: ports.StatusCounts{Valid: 4, Expiring: 1, Expired: 1, Inactive: 1},
			Writes: ports.WriteCounts{Done: 5, Unchanged: 2}},
		Complete:  true,
		StartedAt: startedAt,
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report:\n got %+v\nwant %+v", rep, want)
	}
	if len(progress) != 3 || progress[2] != want.SyncCounts || progress[0].Pages != 1 {
		t.Errorf("progress %+v, want the totals after each of 3 pages", progress)
	}

	lines := e.logs.Lines()
	if len(lines) != 2 || !strings.Contains(lines[0], "sync pass started") || !strings.Contains(lines[1], "sync pass finished") {
		t.Errorf("log lines:\n%s\nwant one start and one end line", strings.Join(lines, "\n"))
	}
}

func TestExpiringWithinIsRoundedUpToDays(t *testing.T) {
	for _, tt := range []struct {
		within  time.Duration
		expires int
		want    ports.SyncStatus
	}{
		{24 * time.Hour, 1, ports.SyncStatusExpiring},
		{24 * time.Hour, 2, ports.SyncStatusValid},
		{36 * time.Hour, 2, ports.SyncStatusExpiring},
		{36 * time.Hour, 3, ports.SyncStatusValid},
		{0, 30, ports.SyncStatusExpiring}, // the default, 30 days
		{0, 31, ports.SyncStatusValid},
	} {
		e := newEnv(t, newPortal(10, cert(1, days(tt.expires), 0, time.Time{})))
		if _, err := e.service(t, core.SyncOptions{ExpiringWithin: tt.within}).Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := e.sink.records()[0].Computed; got != tt.want {
			t.Errorf("window %v, expires in %d days: %v, want %v", tt.within, tt.expires, got, tt.want)
		}
	}
}

func TestTodayIsTakenInLocation(t *testing.T) {
	// 23:30 UTC on the 28th is already the 29th two hours east.
	e := newEnv(t, newPortal(10, cert(1, days(0), 0, time.Time{})))
	e.clock.now = time.Date(2026, 11, 28, 23, 30, 0, 0, time.UTC)
	if _, err := e.service(t, core.SyncOptions{Location: time.FixedZone("UTC+2", 2*3600)}).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := e.sink.records()[0]
	if r.Computed != ports.SyncStatusExpired {
		t.Errorf("expiring on the 28th, classified on the 29th: %v, want expired", r.Computed)
	}
	if r.LastSyncedOn.Location() != time.UTC || r.LastSyncedOn.Hour() != 23 {
		t.Errorf("LastSyncedOn %v, want UTC", r.LastSyncedOn)
	}
}

func TestSecondPassWritesNothingAndTheDateMovesOn(t *testing.T) {
	p := newPortal(2,
		cert(1, days(400), 0, time.Time{}),
		cert(2, days(31), 0, time.Time{}), // valid today, expiring tomorrow
		cert(3, nil, 0, time.Time{}),
		cert(4, days(5), 0, time.Time{}),
	)
	e := newEnv(t, p)
	s := e.service(t, core.SyncOptions{PageSize: 2})
	if _, err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Written()); n != 4 {
		t.Fatalf("first pass wrote %d records, want 4", n)
	}

	e.clock.Advance(time.Minute)
	rep, err := s.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Written()); n != 4 {
		t.Errorf("second pass wrote %d records, want none", n-4)
	}
	if rep.Writes != (ports.WriteCounts{Unchanged: 4}) || rep.Read != 4 || rep.Resumed {
		t.Errorf("second pass report %+v, want 4 unchanged", rep)
	}

	e.clock.Advance(24 * time.Hour)
	rep, err = s.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.written[4:]; !slices.Equal(got, []string{id(2)}) {
		t.Errorf("pass on the next day wrote %v, want only %s", got, id(2))
	}
	if rep.Writes != (ports.WriteCounts{Done: 1, Unchanged: 3}) || rep.Status.Expiring != 2 {
		t.Errorf("next-day report %+v", rep)
	}
}

func TestWriteFailuresAreCountedAndThePassGoesOn(t *testing.T) {
	p := newPortal(2,
		cert(1, days(400), 0, time.Time{}),
		cert(2, days(400), 0, time.Time{}),
		cert(3, days(400), 0, time.Time{}),
		cert(4, days(400), 0, time.Time{}),
	)
	p.writeErr[id(2)] = []error{&ports.PortalError{Code: ports.CodeNotFound, Op: "WriteSyncMetadata", StatusCode: 404}}
	p.writeErr[id(3)] = []error{&ports.PortalError{Code: ports.CodeInvalidRequest, Op: "WriteSyncMetadata", StatusCode: 412}}
	e := newEnv(t, p)

	rep, err := e.service(t, core.SyncOptions{PageSize: 2}).Run(t.Context())
	// The pass completes and clears its checkpoint, and still reports the
	// refused write as an error; the deleted record is no failure.
	var wf *core.WritesFailedError
	if !errors.As(err, &wf) || !errors.Is(err, core.ErrWritesFailed) || wf.Failed != 1 || wf.Writes != 4 ||
		err.Error() != "1 of 4 writes failed" || ports.CodeOf(err) != ports.CodeUnknown {
		t.Fatalf("Run = %v, want a *WritesFailedError: 1 of 4 writes failed", err)
	}
	if rep.Writes != (ports.WriteCounts{Done: 2, Failed: 1, Deleted: 1}) || !rep.Complete {
		t.Errorf("report %+v, want 2 done, 1 failed, 1 deleted, complete", rep)
	}
	if !slices.Equal(rep.FailedIDs, []string{id(3)}) {
		t.Errorf("failed ids %v, want [%s]", rep.FailedIDs, id(3))
	}
	if e.store.clears != 1 || e.store.cp != nil {
		t.Errorf("checkpoint clears %d, left %+v; want it cleared", e.store.clears, e.store.cp)
	}
	want := []string{"01:written", "02:deleted", "03:failed", "04:written"}
	if got := e.sink.actions(); !slices.Equal(got, want) {
		t.Errorf("sink actions %v, want %v", got, want)
	}
	if r := e.sink.records()[2]; r.SyncStatus != ports.SyncStatusNone || !r.LastSyncedOn.IsZero() {
		t.Errorf("failed record %+v keeps its read values", r)
	}
	var warns []string
	for _, l := range e.logs.Lines() {
		if strings.Contains(l, "level=WARN") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 2 || !strings.Contains(warns[0], "id="+id(3)) || !strings.Contains(warns[0], "code=invalidRequest") ||
		!strings.Contains(warns[1], "sync pass finished with failed writes") || !strings.Contains(warns[1], id(3)) {
		t.Errorf("warn lines:\n%s\nwant the failed write with id and code, then the pass's end naming it", strings.Join(warns, "\n"))
	}
	for _, l := range e.logs.Lines() {
		if strings.Contains(l, id(1)) || strings.Contains(l, id(4)) {
			t.Errorf("a successful record is logged above debug: %s", l)
		}
	}
}

func TestFailedIDsAreKeptAcrossAResumeAndCapped(t *testing.T) {
	var certs []ports.Certification
	for n := 1; n <= core.MaxFailedIDs+20; n++ {
		certs = append(certs, cert(n, days(400), 0, time.Time{}))
	}
	p := newPortal(60, certs...)
	refused := &ports.PortalError{Code: ports.CodeInvalidRequest, Op: "WriteSyncMetadata", StatusCode: 400}
	for n := 1; n <= len(certs); n++ {
		if n != 2 { // one write succeeds
			p.writeErr[id(n)] = []error{refused}
		}
	}
	// The pass stops on its second page, and a second run resumes it.
	p.pageErr[60] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "ListCertifications", StatusCode: 500}}
	e := newEnv(t, p)
	svc := e.service(t, core.SyncOptions{PageSize: 60})
	if _, err := svc.Run(t.Context()); ports.CodeOf(err) != ports.CodeServerError {
		t.Fatalf("first run = %v, want serverError", err)
	}
	if e.store.cp == nil || len(e.store.cp.FailedIDs) != 59 || e.store.cp.FailedIDs[0] != id(1) || e.store.cp.FailedIDs[1] != id(3) {
		t.Fatalf("checkpoint %+v, want the 59 failed ids of page 1", e.store.cp)
	}
	rep, err := svc.Run(t.Context())
	var wf *core.WritesFailedError
	if !errors.As(err, &wf) || wf.Failed != len(certs)-1 || wf.Writes != len(certs) {
		t.Fatalf("second run = %v, want %d of %d writes failed", err, len(certs)-1, len(certs))
	}
	if !rep.Resumed || !rep.Complete || len(rep.FailedIDs) != core.MaxFailedIDs ||
		rep.FailedIDs[0] != id(1) || rep.FailedIDs[59] != id(61) || rep.FailedIDs[core.MaxFailedIDs-1] != id(core.MaxFailedIDs+1) {
		t.Errorf("report resumed %v complete %v with %d failed ids %v; want the first %d, those of the first run first",
			rep.Resumed, rep.Complete, len(rep.FailedIDs), rep.FailedIDs, core.MaxFailedIDs)
	}
}

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
	if !errors.Is(err, core.ErrBudgetExhausted) || !errors.Is(err, ports.ErrRateLimited) || ports.CodeOf(err) != ports.CodeRateLimited {
		t.Fatalf("Run = %v, want the budget exhausted while rateLimited", err)
	}
	var pe *ports.PortalError
	if !errors.As(err, &pe) || pe.RetryAfter != 45*time.Second {
		t.Errorf("error %v does not carry the portal's last answer", err)
	}
	if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{30 * time.Second}) {
		t.Errorf("sleeps %v, want only the wait that fit in the budget", got)
	}
	if len(e.store.saves) != 1 || e.store.cp.Next != "from-2" || e.store.clears != 0 {
		t.Errorf("saves %+v, clears %d; want the checkpoint of page 1 intact", e.store.saves, e.store.clears)
	}
	if len(e.sink.pages) != 1 || rep.Pages != 1 || rep.Writes.Done != 2 || rep.Complete {
		t.Errorf("report %+v, sink pages %d; want the counts of page 1", rep, len(e.sink.pages))
	}
	if !strings.Contains(strings.Join(e.logs.Lines(), "\n"), "code=rateLimited") {
		t.Errorf("end log line lacks the code:\n%s", strings.Join(e.logs.Lines(), "\n"))
	}
}

func TestBudgetExhaustedBetweenPages(t *testing.T) {
	p := newPortal(1, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}), cert(3, nil, 0, time.Time{}))
	e := newEnv(t, p)
	p.onList = func() { e.clock.Advance(40 * time.Second) } // a slow portal
	rep, err := e.service(t, core.SyncOptions{Budget: time.Minute}).Run(t.Context())
	if !errors.Is(err, core.ErrBudgetExhausted) || ports.CodeOf(err) != ports.CodeUnknown {
		t.Fatalf("Run = %v, want the budget exhausted without a portal code", err)
	}
	if rep.Pages != 2 || len(p.Queries()) != 2 || len(e.store.saves) != 2 || rep.Duration != 80*time.Second {
		t.Errorf("report %+v after %d reads; want 2 pages in 80s", rep, len(p.Queries()))
	}
}

func TestServerErrorMidPageStopsThePass(t *testing.T) {
	p := newPortal(3,
		cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}), cert(3, days(400), 0, time.Time{}),
		cert(4, days(400), 0, time.Time{}), cert(5, days(400), 0, time.Time{}), cert(6, days(400), 0, time.Time{}),
		cert(7, days(400), 0, time.Time{}),
	)
	p.writeErr[id(5)] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "WriteSyncMetadata", StatusCode: 503}}
	e := newEnv(t, p)

	rep, err := e.service(t, core.SyncOptions{PageSize: 3, Concurrency: 1, WriteBatch: 1}).Run(t.Context())
	if !errors.Is(err, ports.ErrServerError) || !strings.Contains(err.Error(), id(5)) {
		t.Fatalf("Run = %v, want serverError naming the record", err)
	}
	if len(e.store.saves) != 1 || e.store.cp.Next != "from-3" || e.store.clears != 0 {
		t.Errorf("saves %+v; want the checkpoint of page 1, not advanced", e.store.saves)
	}
	if len(e.sink.pages) != 1 || rep.Pages != 1 || rep.Read != 3 || rep.Complete {
		t.Errorf("report %+v, sink pages %d; want page 1 only", rep, len(e.sink.pages))
	}
	if p.calls[id(6)] != 0 || len(p.Queries()) != 2 {
		t.Errorf("calls after the failure: writes %v, reads %d", p.calls, len(p.Queries()))
	}
}

// A write that stops the pass starts no other, but lets the one already
// sent finish: Run returns only once it has settled, so no write of the
// pass can land after Run, when a pass run again at once could read the
// record first and write it a second time.
func TestFatalWriteLetsTheWritesInFlightSettle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPortal(10, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}), cert(3, nil, 0, time.Time{}))
		p.writeErr[id(1)] = []error{&ports.PortalError{Code: ports.CodeAuthFailure, Op: "WriteSyncMetadata", StatusCode: 401}}
		e := newEnv(t, nil) // the mock is set up call by call
		e.clock = nil
		m := e.mocks.portal
		m.EXPECT().ListCertifications(gomock.Any(), gomock.Any()).DoAndReturn(p.list)
		m.EXPECT().WriteSyncMetadata(gomock.Any(), id(1), gomock.Any()).DoAndReturn(
			func(ctx context.Context, id string, md ports.SyncMetadata) (ports.SyncResponse, error) {
				synctest.Wait() // until the write of record 2 is on the wire
				return p.write(ctx, id, md)
			})
		m.EXPECT().WriteSyncMetadata(gomock.Any(), id(2), gomock.Any()).DoAndReturn(
			func(ctx context.Context, id string, md ports.SyncMetadata) (ports.SyncResponse, error) {
				time.Sleep(time.Second) // a slow answer, long after record 1 failed
				if ctx.Err() != nil {
					return ports.SyncResponse{}, &ports.PortalError{Code: ports.CodeCanceled, Err: ctx.Err()}
				}
				return p.write(ctx, id, md)
			})
		start := time.Now()
		_, err := e.service(t, core.SyncOptions{Concurrency: 2, WriteBatch: 1}).Run(t.Context())
		if !errors.Is(err, ports.ErrAuthFailure) {
			t.Errorf("Run = %v, want the first failure, authFailure", err)
		}
		if got := p.Written(); !slices.Equal(got, []string{id(2)}) || p.calls[id(3)] != 0 || time.Since(start) < time.Second {
			t.Errorf("written %v, calls %v after %v; want record 2 written in full, record 3 not started", got, p.calls, time.Since(start))
		}
		if len(e.sink.pages) != 0 || len(e.store.saves) != 0 {
			t.Errorf("the failed page reached the sink (%d) or the checkpoint (%d)", len(e.sink.pages), len(e.store.saves))
		}
	})
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

func TestPageReadFailureStopsThePass(t *testing.T) {
	p := newPortal(1, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}))
	p.pageErr[1] = []error{&ports.PortalError{Code: ports.CodeNetworkError, Op: "ListCertifications"}}
	e := newEnv(t, p)
	rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
	if !errors.Is(err, ports.ErrNetworkError) || !strings.Contains(err.Error(), "read page 2") {
		t.Fatalf("Run = %v, want networkError on page 2", err)
	}
	if rep.Pages != 1 || len(e.store.saves) != 1 || e.store.clears != 0 {
		t.Errorf("report %+v, saves %d", rep, len(e.store.saves))
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	startedAt := t0.Add(-10 * time.Minute).Truncate(time.Second)
	p := newPortal(3,
		cert(1, days(400), ports.SyncStatusValid, startedAt), // page 1, done before the interruption
		cert(2, days(400), ports.SyncStatusValid, startedAt),
		cert(3, days(400), ports.SyncStatusValid, synced),
		cert(4, days(400), ports.SyncStatusValid, startedAt.Add(5*time.Minute)), // written on the page in flight
		cert(5, days(400), ports.SyncStatusValid, startedAt.Add(-time.Second)),  // synced by an earlier pass
		cert(6, days(10), 0, time.Time{}),                                       // not reached before the interruption
	)
	e := newEnv(t, p)
	carried := ports.SyncCounts{Read: 3, Pages: 1, Status: ports.StatusCounts{Valid: 3}, Writes: ports.WriteCounts{Done: 2, Unchanged: 1}}
	e.store.cp = &ports.Checkpoint{Next: "from-3", SinkPosition: "3", StartedAt: startedAt, Counts: carried}

	rep, err := e.service(t, core.SyncOptions{PageSize: 3}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.sink.rewinds, []string{"3"}) {
		t.Errorf("rewinds %q, want the checkpoint's position", e.sink.rewinds)
	}
	if q := p.Queries(); len(q) != 1 || q[0].Continuation != "from-3" {
		t.Errorf("queries %+v, want one from the checkpoint", q)
	}
	if got := p.Written(); !slices.Equal(got, []string{id(6)}) {
		t.Errorf("written %v, want only record 6", got)
	}
	want := core.Report{
		SyncCounts: ports.SyncCounts{Read: 6, Pages: 2, Status: ports.StatusCounts{Valid: 5, Expiring: 1},
			Writes: ports.WriteCounts{Done: 4, Unchanged: 2}},
		Resumed: true, Complete: true, StartedAt: startedAt,
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report:\n got %+v\nwant %+v", rep, want)
	}
	if want := []string{"04:written", "05:unchanged", "06:written"}; !slices.Equal(e.sink.actions(), want) {
		t.Errorf("sink actions %v, want %v", e.sink.actions(), want)
	}
	if e.store.clears != 1 {
		t.Errorf("clears %d, want the checkpoint cleared", e.store.clears)
	}
	if l := e.logs.Lines()[0]; !strings.Contains(l, "sync pass resumed") {
		t.Errorf("first log line %q, want the resume", l)
	}
}

// After a pass stopped mid-page, the resumed pass's totals equal what the
// pass wrote, as if it had not been interrupted.
func TestInterruptedPassCountsEachWriteOnce(t *testing.T) {
	var certs []ports.Certification
	for n := 1; n <= 6; n++ {
		certs = append(certs, cert(n, days(400), 0, time.Time{}))
	}
	p := newPortal(3, certs...)
	p.writeErr[id(6)] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "WriteSyncMetadata", StatusCode: 500}}
	e := newEnv(t, p)
	s := e.service(t, core.SyncOptions{PageSize: 3, Concurrency: 1})
	if _, err := s.Run(t.Context()); !errors.Is(err, ports.ErrServerError) {
		t.Fatalf("first run = %v, want serverError", err)
	}
	e.clock.Advance(time.Minute)
	rep, err := s.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Writes != (ports.WriteCounts{Done: 6}) || !rep.Resumed || len(p.written) != 6 {
		t.Errorf("report %+v after %d writes; want 6 done, each once", rep, len(p.written))
	}
	if got := len(e.sink.records()); got != 6 {
		t.Errorf("sink holds %d records, want 6", got)
	}
}

func TestConcurrencyBound(t *testing.T) {
	for _, tt := range []struct{ concurrency, want int }{{1, 1}, {3, 3}, {0, core.DefaultConcurrency}} {
		synctest.Test(t, func(t *testing.T) {
			var certs []ports.Certification
			for n := range 20 {
				certs = append(certs, cert(n, nil, 0, time.Time{}))
			}
			p := newPortal(20, certs...)
			var inFlight, most atomic.Int32
			p.onWrite = func(string) {
				n := inFlight.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond) // every worker blocks here before time moves
				inFlight.Add(-1)
			}
			e := newEnv(t, p)
			e.clock = nil
			rep, err := e.service(t, core.SyncOptions{Concurrency: tt.concurrency, WriteBatch: 1}).Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := int(most.Load()); got != tt.want {
				t.Errorf("concurrency %d: at most %d writes in flight, want %d", tt.concurrency, got, tt.want)
			}
			if rep.Writes.Done != 20 {
				t.Errorf("done %d, want 20", rep.Writes.Done)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	t.Run("before the run", func(t *testing.T) {
		e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := e.service(t, core.SyncOptions{}).Run(ctx)
		if !errors.Is(err, ports.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want canceled wrapping context.Canceled", err)
		}
		if len(e.portal.Queries()) != 0 {
			t.Error("a canceled pass read a page")
		}
	})
	t.Run("by a write", func(t *testing.T) {
		p := newPortal(10, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}))
		ctx, cancel := context.WithCancel(t.Context())
		p.writeErr[id(1)] = []error{&ports.PortalError{Code: ports.CodeCanceled, Op: "WriteSyncMetadata", Err: context.Canceled}}
		p.onWrite = func(string) { cancel() }
		e := newEnv(t, p)
		_, err := e.service(t, core.SyncOptions{Concurrency: 1, WriteBatch: 1}).Run(ctx)
		if !errors.Is(err, ports.ErrCanceled) || p.calls[id(2)] != 0 || len(e.store.saves)+e.store.clears != 0 {
			t.Errorf("Run = %v, calls %v; want canceled, nothing more written or saved", err, p.calls)
		}
	})
	t.Run("between writes", func(t *testing.T) {
		// The portal ignores the context; the pass notices it between writes.
		p := newPortal(10, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}))
		ctx, cancel := context.WithCancel(t.Context())
		p.onWrite = func(string) { cancel() }
		e := newEnv(t, p)
		_, err := e.service(t, core.SyncOptions{Concurrency: 1, WriteBatch: 1}).Run(ctx)
		if !errors.Is(err, ports.ErrCanceled) || p.calls[id(2)] != 0 || len(e.sink.pages) != 0 {
			t.Errorf("Run = %v, calls %v, sink pages %d; want canceled before record 2", err, p.calls, len(e.sink.pages))
		}
	})
	t.Run("while throttled", func(t *testing.T) {
		p := newPortal(10, cert(1, nil, 0, time.Time{}))
		p.writeErr[id(1)] = []error{throttled(time.Second)}
		ctx, cancel := context.WithCancel(t.Context())
		e := newEnv(t, p)
		sleep := func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
		_, err := e.service(t, core.SyncOptions{Sleep: sleep}).Run(ctx)
		if !errors.Is(err, ports.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want canceled", err)
		}
	})
}

func TestSleepFailure(t *testing.T) {
	p := newPortal(10, cert(1, nil, 0, time.Time{}))
	p.writeErr[id(1)] = []error{throttled(time.Second)}
	e := newEnv(t, p)
	boom := errors.New("clock broken")
	_, err := e.service(t, core.SyncOptions{Sleep: func(context.Context, time.Duration) error { return boom }}).Run(t.Context())
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the Sleep error", err)
	}
}

func TestCheckpointAndSinkFailures(t *testing.T) {
	boom := errors.New("disk full")
	t.Run("load", func(t *testing.T) {
		e := newEnv(t, newPortal(10))
		e.mocks.store.EXPECT().Load(gomock.Any()).Return(ports.Checkpoint{}, boom)
		_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "load checkpoint") {
			t.Errorf("Run = %v, want the load error", err)
		}
	})
	t.Run("checkpoint without continuation", func(t *testing.T) {
		e := newEnv(t, newPortal(10))
		e.mocks.store.EXPECT().Load(gomock.Any()).Return(ports.Checkpoint{Counts: ports.SyncCounts{Pages: 2}}, nil)
		_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no continuation") {
			t.Errorf("Run = %v, want a refused checkpoint", err)
		}
	})
	t.Run("rewind at start", func(t *testing.T) {
		e := newEnv(t, newPortal(10))
		e.mocks.store.EXPECT().Load(gomock.Any()).Return(ports.Checkpoint{}, ports.ErrNoCheckpoint)
		e.mocks.sink.EXPECT().Rewind(gomock.Any(), "").Return(boom)
		if _, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context()); !errors.Is(err, boom) {
			t.Errorf("Run = %v, want the rewind error", err)
		}
	})
	t.Run("rewind on resume", func(t *testing.T) {
		e := newEnv(t, newPortal(10))
		e.mocks.store.EXPECT().Load(gomock.Any()).Return(ports.Checkpoint{Next: "from-5", SinkPosition: "42"}, nil)
		e.mocks.sink.EXPECT().Rewind(gomock.Any(), "42").Return(boom)
		if _, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context()); !errors.Is(err, boom) {
			t.Errorf("Run = %v, want the rewind error", err)
		}
	})
	t.Run("sink", func(t *testing.T) {
		e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
		e.sink.err = boom
		rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
		if !errors.Is(err, boom) || rep.Pages != 0 || e.store.clears != 0 {
			t.Errorf("Run = %+v, %v; want the sink error before any checkpoint change", rep, err)
		}
	})
	t.Run("save", func(t *testing.T) {
		e := newEnv(t, newPortal(1, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{})))
		e.store.saveErr = boom
		rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
		// Page 2 may be read and processed while page 1 is being stored,
		// but it is never stored after page 1's checkpoint failed.
		if !errors.Is(err, boom) || rep.Pages != 0 || len(e.sink.pages) != 1 || e.store.clears != 0 {
			t.Errorf("Run = %+v, %v, sink pages %d; want the save error after page 1, and page 2 not stored", rep, err, len(e.sink.pages))
		}
	})
	t.Run("clear", func(t *testing.T) {
		e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
		e.mocks.store.EXPECT().Load(gomock.Any()).Return(ports.Checkpoint{}, ports.ErrNoCheckpoint)
		e.mocks.store.EXPECT().Save(gomock.Any(), gomock.Any()).Return(nil)
		e.mocks.store.EXPECT().Clear(gomock.Any()).Return(boom)
		e.sink.install(e.mocks.sink)
		rep, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
		if !errors.Is(err, boom) || rep.Complete {
			t.Errorf("Run = %+v, %v; want the clear error, not complete", rep, err)
		}
	})
}

func TestNewSyncServiceValidates(t *testing.T) {
	e := newEnv(t, nil)
	p, s, st := e.mocks.portal, e.mocks.sink, e.mocks.store
	for _, tt := range []struct {
		name string
		f    func() (*core.SyncService, error)
	}{
		{"no portal", func() (*core.SyncService, error) { return core.NewSyncService(nil, s, st, nil, core.SyncOptions{}) }},
		{"no sink", func() (*core.SyncService, error) { return core.NewSyncService(p, nil, st, nil, core.SyncOptions{}) }},
		{"no store", func() (*core.SyncService, error) { return core.NewSyncService(p, s, nil, nil, core.SyncOptions{}) }},
		{"page size", func() (*core.SyncService, error) {
			return core.NewSyncService(p, s, st, nil, core.SyncOptions{PageSize: -1})
		}},
		{"window", func() (*core.SyncService, error) {
			return core.NewSyncService(p, s, st, nil, core.SyncOptions{ExpiringWithin: -time.Hour})
		}},
		{"budget", func() (*core.SyncService, error) {
			return core.NewSyncService(p, s, st, nil, core.SyncOptions{Budget: -time.Second})
		}},
		{"concurrency", func() (*core.SyncService, error) {
			return core.NewSyncService(p, s, st, nil, core.SyncOptions{Concurrency: -1})
		}},
		{"negative write batch", func() (*core.SyncService, error) {
			return core.NewSyncService(p, s, st, nil, core.SyncOptions{WriteBatch: -1})
		}},
		{"write batch over the $batch limit", func() (*core.SyncService, error) {
			return core.NewSyncService(p, s, st, nil, core.SyncOptions{WriteBatch: ports.MaxBatchWrites + 1})
		}},
	} {
		if svc, err := tt.f(); svc != nil || !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("%s: %v, %v; want ErrInvalidConfig", tt.name, svc, err)
		}
	}
	if svc, err := core.NewSyncService(p, s, st, nil, core.SyncOptions{}); svc == nil || err != nil {
		t.Errorf("defaults: %v, %v", svc, err)
	}
}

func TestReportJSON(t *testing.T) {
	r := core.Report{
		SyncCounts: ports.SyncCounts{Read: 7, Pages: 3, Status: ports.StatusCounts{Valid: 4, Expiring: 1, Expired: 1, Inactive: 1},
			Writes: ports.WriteCounts{Done: 5, Unchanged: 1, Failed: 1}},
		Duration:  1234567 * time.Microsecond,
		Resumed:   true,
		Complete:  true,
		StartedAt: time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC),
		FailedIDs: []string{id(3)},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"read":7,"pages":3,"status":{"valid":4,"expiring":1,"expired":1,"inactive":1},` +
		`"writes":{"done":5,"unchanged":1,"failed":1,"deleted":0},"resumed":true,"complete":true,` +
		`"startedAt":"2026-11-28T01:00:07Z","failedIds":["` + id(3) + `"],"duration":"1.235s"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}

func TestRunUntilStopsBetweenPages(t *testing.T) {
	p := newPortal(3, sevenRecords().certs...)
	e := newEnv(t, p)
	stop := make(chan struct{})
	// The stop comes while the first page is read: that page is finished,
	// the second is not read.
	p.onList = func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}
	rep, err := e.service(t, core.SyncOptions{PageSize: 3}).RunUntil(t.Context(), stop)
	if !errors.Is(err, core.ErrStopped) || ports.CodeOf(err) != ports.CodeCanceled {
		t.Fatalf("RunUntil = %v, want ErrStopped with the code canceled", err)
	}
	if rep.Pages != 1 || len(p.Queries()) != 1 || len(e.store.saves) != 1 || e.store.cp == nil || e.store.cp.Next != "from-3" {
		t.Errorf("report %+v after %d reads, saves %d, checkpoint %+v; want the first page finished and checkpointed, no second read",
			rep, len(p.Queries()), len(e.store.saves), e.store.cp)
	}
	if got, want := p.Written(), []string{id(1), id(3)}; !slices.Equal(got, want) {
		t.Errorf("written %v, want the first page's writes %v", got, want)
	}

	// The next run resumes the pass and finishes it.
	rep, err = e.serviceOnly(t, core.SyncOptions{PageSize: 3}).RunUntil(t.Context(), nil)
	if err != nil || !rep.Complete || !rep.Resumed || rep.Pages != 3 {
		t.Errorf("resumed run: %+v, %v; want the pass completed over 3 pages", rep, err)
	}
}

// unsynced returns n certifications numbered from 1 that all need a write.
func unsynced(n int) []ports.Certification {
	certs := make([]ports.Certification, n)
	for i := range certs {
		certs[i] = cert(i+1, days(400), 0, time.Time{})
	}
	return certs
}

func TestWritesGoInBatchesOfEqualSize(t *testing.T) {
	for _, tt := range []struct {
		batch int
		want  []int // batch sizes, sorted
	}{
		{100, []int{83, 83, 84}},
		{0, []int{19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20}}, // the default, 20
		{250, []int{250}},
		{1000, []int{250}},
		{1, nil},
	} {
		p := newPortal(250, unsynced(250)...)
		e := newEnv(t, p)
		rep, err := e.service(t, core.SyncOptions{WriteBatch: tt.batch}).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got := p.Batches()
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("write batch %d: batches %v, want %v", tt.batch, got, tt.want)
		}
		if rep.Writes.Done != 250 || len(p.Written()) != 250 {
			t.Errorf("write batch %d: %d done, %d written; want 250", tt.batch, rep.Writes.Done, len(p.Written()))
		}
		for id, n := range p.calls {
			if n != 1 {
				t.Fatalf("write batch %d: %s written %d times", tt.batch, id, n)
			}
		}
	}
}

// Writes a batch answered with rateLimited go again, alone, after the
// wait; the others are never sent twice.
func TestRateLimitedBatchPartsAreWrittenAgain(t *testing.T) {
	p := newPortal(10, unsynced(4)...)
	p.writeErr[id(2)] = []error{throttled(7 * time.Second)}
	p.writeErr[id(3)] = []error{throttled(3 * time.Second)}
	e := newEnv(t, p)
	rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
		t.Errorf("sleeps %v, want the longest wait asked, 7s", got)
	}
	if got := p.Batches(); !slices.Equal(got, []int{4, 2}) {
		t.Errorf("batches %v, want 4 then the 2 throttled", got)
	}
	if p.calls[id(1)] != 1 || p.calls[id(2)] != 2 || p.calls[id(3)] != 2 || p.calls[id(4)] != 1 {
		t.Errorf("write calls %v", p.calls)
	}
	if rep.Writes.Done != 4 || rep.Writes.Failed != 0 || !rep.Complete {
		t.Errorf("report %+v", rep)
	}
	for _, c := range p.certs[1:3] {
		if !c.LastSyncedOn.Equal(t0.Add(7 * time.Second).Truncate(time.Second)) {
			t.Errorf("%s stamped %v, want the time of its second write", c.ID, c.LastSyncedOn)
		}
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

// A batch that fails as a whole stops the pass; nothing of its page is
// counted or checkpointed, whatever the portal may have applied.
func TestFailedBatchStopsThePass(t *testing.T) {
	for _, fail := range []struct {
		name  string
		setup func(e *env, p *portal)
		code  ports.ErrorCode
	}{
		{"invalid response", func(_ *env, p *portal) {
			p.batchErr = []error{nil, &ports.PortalError{Code: ports.CodeInvalidResponse, Op: "WriteSyncMetadataBatch", Message: "2 parts for 3 requests"}}
		}, ports.CodeInvalidResponse},
		{"server error", func(_ *env, p *portal) {
			p.batchErr = []error{nil, &ports.PortalError{Code: ports.CodeServerError, Op: "WriteSyncMetadataBatch", StatusCode: 503}}
		}, ports.CodeServerError},
		{"a part's server error", func(_ *env, p *portal) {
			p.writeErr[id(5)] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "WriteSyncMetadataBatch", StatusCode: 500}}
		}, ports.CodeServerError},
		{"fewer results than writes", func(e *env, p *portal) {
			calls := 0
			e.mocks.portal.EXPECT().WriteSyncMetadataBatch(gomock.Any(), gomock.Any()).DoAndReturn(
				func(ctx context.Context, ws []ports.SyncWrite) ([]ports.SyncWriteResult, error) {
					calls++
					rs, err := p.writeBatch(ctx, ws)
					if calls == 2 {
						rs = rs[:len(rs)-1]
					}
					return rs, err
				}).Times(2)
		}, ports.CodeInvalidResponse},
	} {
		t.Run(fail.name, func(t *testing.T) {
			p := newPortal(3, unsynced(6)...)
			e := newEnv(t, nil)
			fail.setup(e, p)
			p.install(e.mocks.portal)
			rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
			if ports.CodeOf(err) != fail.code {
				t.Fatalf("Run = %v, want %s", err, fail.code)
			}
			if rep.Writes.Done != 3 || rep.Pages != 1 || len(e.sink.pages) != 1 || e.store.cp.Next != "from-3" || e.store.cp.Counts.Writes.Done != 3 {
				t.Errorf("report %+v, sink pages %d, checkpoint %+v; want page 1 only", rep, len(e.sink.pages), e.store.cp)
			}
		})
	}
}

func TestAPassMirrorsEveryAssignment(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}), cert(3, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(5, 2)
	rep, err := e.service(t, core.SyncOptions{PageSize: 2, Assignments: a.install(e, t)}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"51", "52"}, {"53", "54"}, {"55"}}; !slices.EqualFunc(a.pages, want, slices.Equal) {
		t.Errorf("assignment pages %v, want %v", a.pages, want)
	}
	if want := []bool{false, false, true}; !slices.Equal(a.lasts, want) {
		t.Errorf("last flags %v, want %v", a.lasts, want)
	}
	if rep.Assignments != 5 || !rep.Complete || rep.Read != 3 {
		t.Errorf("report %+v, want 5 assignments and a complete pass of 3", rep)
	}
}

// A resumed pass reads the assignments again, and still writes no
// certification that the interrupted run wrote.
func TestAResumedPassReadsAssignmentsAgain(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}), cert(3, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(3, 5)
	p.pageErr[2] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "ListCertifications", StatusCode: 500}}
	svc := e.service(t, core.SyncOptions{PageSize: 2, Assignments: a.install(e, t)})
	if _, err := svc.Run(t.Context()); ports.CodeOf(err) != ports.CodeServerError {
		t.Fatalf("first run: %v, want serverError", err)
	}
	written := p.Written()
	// The failed page may stop the first run's mirror before it reads
	// anything; the resumed run reads every assignment again, once.
	if a.reads > 1 {
		t.Errorf("first run read assignments %d times, want at most once", a.reads)
	}
	a.reads, a.pages, a.lasts = 0, nil, nil
	rep, err := svc.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a.reads != 1 || len(a.pages) != 1 || len(a.pages[0]) != 3 || !a.lasts[0] {
		t.Errorf("resumed run read assignments %d times into pages %v (last %v), want all 3 in one last page", a.reads, a.pages, a.lasts)
	}
	if !rep.Resumed || rep.Assignments != 3 {
		t.Errorf("report %+v, want a resumed run that mirrored 3 assignments", rep)
	}
	if got := p.Written(); len(got) != 3 || !slices.Equal(got[:2], written) {
		t.Errorf("written %v after the resume, first run wrote %v: want each record once", got, written)
	}
}

// The assignments are mirrored beside the certification pages; a pass
// whose assignments failed stops without its last page, so it is never
// complete without them, and keeps its checkpoint to resume from.
func TestAFailedAssignmentReadStopsThePass(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(3, 2)
	a.errs = []error{&ports.PortalError{Code: ports.CodeAuthFailure, Op: "ListAssignments", StatusCode: 401}}
	rep, err := e.service(t, core.SyncOptions{Assignments: a.install(e, t)}).Run(t.Context())
	if ports.CodeOf(err) != ports.CodeAuthFailure || !strings.Contains(err.Error(), "read assignments page 1") {
		t.Errorf("Run = %v, want authFailure on the first assignments page", err)
	}
	if rep.Complete || rep.Pages != 0 || len(e.sink.pages) != 0 {
		t.Errorf("report %+v, sink pages %d: want the last page not stored", rep, len(e.sink.pages))
	}
	if e.store.cp == nil || e.store.clears != 0 {
		t.Error("the pass's checkpoint is gone; a resumed run would start over")
	}
}

// A failed certification page stops the assignments being mirrored beside
// it, and Run returns only once the mirror has stopped.
func TestAFailedPageStopsTheAssignmentMirror(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	p.pageErr[0] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "ListCertifications", StatusCode: 500}}
	e := newEnv(t, p)
	a := newAssignments(10, 1)
	a.install(e, t)
	// The sink stores nothing until the pass is cancelled, and the
	// certification page is read (and fails) once the sink is entered.
	var returned atomic.Bool
	entered := make(chan struct{})
	p.onList = func() { <-entered }
	sink := mocks.NewMockAssignmentSink(gomock.NewController(t))
	sink.EXPECT().WriteAssignments(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, _ []ports.Assignment, _ bool) error {
		close(entered)
		<-ctx.Done()
		returned.Store(true)
		return ctx.Err()
	})
	_, err := e.service(t, core.SyncOptions{Assignments: sink}).Run(t.Context())
	if ports.CodeOf(err) != ports.CodeServerError {
		t.Fatalf("Run = %v, want the page's serverError", err)
	}
	if !returned.Load() || a.reads != 1 {
		t.Errorf("assignment sink returned %v, %d assignment pages read: want the mirror stopped on its first page before Run returned", returned.Load(), a.reads)
	}
}

func TestAThrottledAssignmentReadWaitsAndGoesOn(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(1, 2)
	a.errs = []error{throttled(7 * time.Second)}
	rep, err := e.service(t, core.SyncOptions{Assignments: a.install(e, t)}).Run(t.Context())
	if err != nil || rep.Assignments != 1 {
		t.Fatalf("Run = %+v, %v", rep, err)
	}
	if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
		t.Errorf("sleeps %v, want the 7s the portal asked for", got)
	}
}

func TestWithoutAnAssignmentSinkNoAssignmentIsRead(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	// No ListAssignments expectation: gomock fails the test on a call.
	rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
	if err != nil || rep.Assignments != 0 {
		t.Fatalf("Run = %+v, %v", rep, err)
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b), "assignments") {
		t.Errorf("report %s names assignments without an assignment sink", b)
	}
}

// A run cut off on the first page of a fresh pass has made writes before
// any page checkpoint. The next run resumes that pass from its start
// checkpoint, so its report counts those writes as done, exactly as the
// portal received them, instead of starting a new pass that finds the
// records unchanged.
func TestInterruptedFirstPageIsResumed(t *testing.T) {
	p := newPortal(3,
		cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}), cert(3, days(400), 0, time.Time{}),
		cert(4, days(400), 0, time.Time{}),
	)
	e := newEnv(t, p)
	ctx, cancel := context.WithCancel(t.Context())
	p.onWrite = func(rid string) {
		if rid == id(2) {
			cancel() // the process dies after the write of record 2
		}
	}
	svc := e.service(t, core.SyncOptions{Concurrency: 1})
	if _, err := svc.Run(ctx); !errors.Is(err, ports.ErrCanceled) {
		t.Fatalf("first run = %v, want canceled", err)
	}
	if len(e.store.starts) != 1 || len(e.store.saves) != 0 || e.store.cp == nil || e.store.cp.Next != "" ||
		!e.store.cp.StartedAt.Equal(t0.Truncate(time.Second)) {
		t.Fatalf("after the cut: starts %+v, saves %+v; want the start checkpoint only", e.store.starts, e.store.saves)
	}

	e.clock.Advance(time.Minute)
	p.onWrite = nil
	rep, err := svc.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Written(); !slices.Equal(got, []string{id(1), id(2), id(3), id(4)}) || p.calls[id(1)] != 1 || p.calls[id(2)] != 1 {
		t.Errorf("written %v (calls %v), want every record once", got, p.calls)
	}
	want := core.Report{
		SyncCounts: ports.SyncCounts{Read: 4, Pages: 2, Status: ports.StatusCounts{Valid: 4}, Writes: ports.WriteCounts{Done: 4}},
		Duration:   rep.Duration, Resumed: true, Complete: true, StartedAt: t0.Truncate(time.Second),
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report:\n got %+v\nwant %+v", rep, want)
	}
	if q := p.Queries(); len(q) != 3 || q[1].Continuation != "" {
		t.Errorf("queries %+v, want the first page read again", q)
	}
	if !slices.Equal(e.sink.rewinds, []string{"", ""}) {
		t.Errorf("rewinds %q, want the sink emptied by both runs", e.sink.rewinds)
	}
}

// A start checkpoint that does not hold the start time, or that holds
// counts without a continuation, is refused as damaged.
func TestStartCheckpointMustBeWhole(t *testing.T) {
	for name, cp := range map[string]ports.Checkpoint{
		"no start time":         {},
		"counts, no next":       {StartedAt: t0, Counts: ports.SyncCounts{Pages: 2, Read: 6}},
		"writes counted, empty": {StartedAt: t0, Counts: ports.SyncCounts{Writes: ports.WriteCounts{Done: 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, newPortal(10))
			e.mocks.store.EXPECT().Load(gomock.Any()).Return(cp, nil)
			_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), "no continuation") {
				t.Errorf("Run = %v, want a refused checkpoint", err)
			}
		})
	}
}

// The start checkpoint is saved before the first page is read; when it
// cannot be saved, the pass does not start.
func TestStartCheckpointSaveFailure(t *testing.T) {
	boom := errors.New("disk full")
	e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
	e.mocks.store.EXPECT().Load(gomock.Any()).Return(ports.Checkpoint{}, ports.ErrNoCheckpoint)
	e.mocks.store.EXPECT().Save(gomock.Any(), ports.Checkpoint{StartedAt: t0.Truncate(time.Second)}).Return(boom)
	e.sink.install(e.mocks.sink)
	_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
	if !errors.Is(err, boom) || len(e.portal.Queries()) != 0 {
		t.Errorf("Run = %v after %d reads; want the save error before any read", err, len(e.portal.Queries()))
	}
}
