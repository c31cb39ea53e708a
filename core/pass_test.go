package core_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/core"
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
	if len(e.store.pages) != 3 || len(e.store.pages[0]) != 3 || len(e.store.pages[2]) != 1 {
		t.Fatalf("sink pages %d, want 3 of 3, 3 and 1 records", len(e.store.pages))
	}
	wantActions := []string{"01:written", "02:unchanged", "03:written", "04:written", "05:unchanged", "06:written", "07:written"}
	if got := e.store.actions(); !slices.Equal(got, wantActions) {
		t.Errorf("sink actions %v, want %v", got, wantActions)
	}
	r3 := e.store.pages[0][2]
	if r3.Computed != ports.SyncStatusExpiring || r3.SyncStatus != ports.SyncStatusExpiring || !r3.LastSyncedOn.Equal(wantStamp) || r3.ETag == "" {
		t.Errorf("sink record 3 = %+v, want the written status, time and etag", r3)
	}
	if len(e.store.starts) != 1 || !e.store.starts[0].StartedAt.Equal(t0.Truncate(time.Second)) {
		t.Errorf("starts %+v, want one at %s", e.store.starts, t0.Truncate(time.Second))
	}

	// A checkpoint after each page but the last, then cleared.
	if len(e.store.saves) != 2 {
		t.Fatalf("%d saves, want 2", len(e.store.saves))
	}
	startedAt := t0.Truncate(time.Second)
	for i, want := range []ports.Checkpoint{
		{Next: "from-3", StartedAt: startedAt, Counts: ports.SyncCounts{Read: 3, Pages: 1,
			Status: ports.StatusCounts{Valid: 2, Expiring: 1}, Writes: ports.WriteCounts{Done: 2, Unchanged: 1}}},
		{Next: "from-6", StartedAt: startedAt, Counts: ports.SyncCounts{Read: 6, Pages: 2,
			Status: ports.StatusCounts{Valid: 3, Expiring: 1, Expired: 1, Inactive: 1}, Writes: ports.WriteCounts{Done: 4, Unchanged: 2}}},
	} {
		if got := e.store.saves[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("save %d:\n got %+v\nwant %+v", i+1, got, want)
		}
	}
	if e.store.finishes != 1 || e.store.cp != nil {
		t.Errorf("finishes %d, checkpoint %v; want cleared once", e.store.finishes, e.store.cp)
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

func TestBudgetExhaustedBetweenPages(t *testing.T) {
	p := newPortal(1, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}), cert(3, nil, 0, time.Time{}))
	e := newEnv(t, p)
	p.onList = func() { e.clock.Advance(40 * time.Second) } // a slow portal
	rep, err := e.service(t, core.SyncOptions{Budget: time.Minute}).Run(t.Context())
	if !errors.Is(err, ports.ErrBudgetExhausted) || ports.CodeOf(err) != ports.CodeBudgetExhausted {
		t.Fatalf("Run = %v, want the budget exhausted without a portal code", err)
	}
	if rep.Pages != 2 || len(p.Queries()) != 2 || len(e.store.saves) != 2 || rep.Duration != 80*time.Second {
		t.Errorf("report %+v after %d reads; want 2 pages in 80s", rep, len(p.Queries()))
	}
}

func TestPageReadFailureStopsThePass(t *testing.T) {
	p := newPortal(1, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}))
	p.pageErr[1] = []error{&ports.PortalError{Code: ports.CodeNetworkError, Op: "ListCertifications"}}
	e := newEnv(t, p)
	rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
	if !errors.Is(err, ports.ErrNetworkError) || !strings.Contains(err.Error(), "read page 2") {
		t.Fatalf("Run = %v, want networkError on page 2", err)
	}
	if rep.Pages != 1 || len(e.store.saves) != 1 || e.store.finishes != 0 {
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
	e.store.cp = &ports.Checkpoint{Next: "from-3", StartedAt: startedAt, Counts: carried}

	rep, err := e.service(t, core.SyncOptions{PageSize: 3}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.store.starts) != 0 {
		t.Errorf("starts %+v, want the pass resumed, none started", e.store.starts)
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
	if want := []string{"04:written", "05:unchanged", "06:written"}; !slices.Equal(e.store.actions(), want) {
		t.Errorf("sink actions %v, want %v", e.store.actions(), want)
	}
	if e.store.finishes != 1 {
		t.Errorf("finishes %d, want the checkpoint cleared", e.store.finishes)
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
	if got := len(e.store.records()); got != 6 {
		t.Errorf("sink holds %d records, want 6", got)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Run("before the run", func(t *testing.T) {
		e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := e.service(t, core.SyncOptions{}).Run(ctx)
		if ports.CodeOf(err) != ports.CodeCanceled || !errors.Is(err, context.Canceled) {
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
		if ports.CodeOf(err) != ports.CodeCanceled || p.calls[id(2)] != 0 || len(e.store.saves)+e.store.finishes != 0 {
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
		if ports.CodeOf(err) != ports.CodeCanceled || p.calls[id(2)] != 0 || len(e.store.pages) != 0 {
			t.Errorf("Run = %v, calls %v, sink pages %d; want canceled before record 2", err, p.calls, len(e.store.pages))
		}
	})
	t.Run("while throttled", func(t *testing.T) {
		p := newPortal(10, cert(1, nil, 0, time.Time{}))
		p.writeErr[id(1)] = []error{throttled(time.Second)}
		ctx, cancel := context.WithCancel(t.Context())
		e := newEnv(t, p)
		sleep := func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
		_, err := e.withSleep(sleep).service(t, core.SyncOptions{}).Run(ctx)
		if ports.CodeOf(err) != ports.CodeCanceled || !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want canceled", err)
		}
	})
}

func TestPassStoreFailures(t *testing.T) {
	boom := errors.New("disk full")
	t.Run("resume", func(t *testing.T) {
		e := newEnv(t, newPortal(10))
		e.mocks.store.EXPECT().Resume(gomock.Any()).Return(ports.Checkpoint{}, boom)
		_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "resume") {
			t.Errorf("Run = %v, want the resume error", err)
		}
	})
	t.Run("checkpoint without continuation", func(t *testing.T) {
		e := newEnv(t, newPortal(10))
		e.mocks.store.EXPECT().Resume(gomock.Any()).Return(ports.Checkpoint{Counts: ports.SyncCounts{Pages: 2}}, nil)
		_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no continuation") {
			t.Errorf("Run = %v, want a refused checkpoint", err)
		}
	})
	t.Run("commit", func(t *testing.T) {
		e := newEnv(t, newPortal(1, cert(1, nil, 0, time.Time{}), cert(2, nil, 0, time.Time{}), cert(3, nil, 0, time.Time{})))
		e.store.commitErr = boom
		rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
		// Page 2 may be read and processed while page 1 is being
		// committed, but it is never committed after page 1 failed.
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "store page 1") || rep.Pages != 0 || len(e.store.pages) != 0 || e.store.finishes != 0 {
			t.Errorf("Run = %+v, %v, pages %d; want the commit error of page 1, and no page after it", rep, err, len(e.store.pages))
		}
	})
	t.Run("finish", func(t *testing.T) {
		e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
		e.store.finishErr = boom
		rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "finish") || rep.Complete {
			t.Errorf("Run = %+v, %v; want the finish error, not complete", rep, err)
		}
	})
	t.Run("held sweep", func(t *testing.T) {
		e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
		held := &ports.DeletionsHeldError{Table: "certifications", Rows: 600, Stored: 601, Threshold: 500}
		e.store.finishErr = held
		rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
		if !errors.Is(err, held) || !rep.Complete || rep.Read != 1 {
			t.Errorf("Run = %+v, %v; want a complete pass with the held sweep", rep, err)
		}
	})
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
	if _, err := svc.Run(ctx); ports.CodeOf(err) != ports.CodeCanceled {
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
	if len(e.store.starts) != 1 {
		t.Errorf("starts %+v, want the pass started once and resumed", e.store.starts)
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
			e.mocks.store.EXPECT().Resume(gomock.Any()).Return(cp, nil)
			_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), "no continuation") {
				t.Errorf("Run = %v, want a refused checkpoint", err)
			}
		})
	}
}

// The start is committed before the first page is read; when it cannot
// be, the pass does not start.
func TestStartCommitFailure(t *testing.T) {
	boom := errors.New("disk full")
	e := newEnv(t, newPortal(10, cert(1, nil, 0, time.Time{})))
	e.mocks.store.EXPECT().Resume(gomock.Any()).Return(ports.Checkpoint{}, ports.ErrNoCheckpoint)
	e.mocks.store.EXPECT().Commit(gomock.Any(), gomock.Len(0), ports.Checkpoint{StartedAt: t0.Truncate(time.Second)}).Return(boom)
	_, err := e.serviceOnly(t, core.SyncOptions{}).Run(t.Context())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "start") || len(e.portal.Queries()) != 0 {
		t.Errorf("Run = %v after %d reads; want the start's commit error before any read", err, len(e.portal.Queries()))
	}
}
