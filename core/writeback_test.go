package core_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
	"go.uber.org/mock/gomock"
)

func TestTodayIsTakenInLocation(t *testing.T) {
	// 23:30 UTC on the 28th is already the 29th two hours east.
	e := newEnv(t, newPortal(10, cert(1, days(0), 0, time.Time{})))
	e.clock.now = time.Date(2026, 11, 28, 23, 30, 0, 0, time.UTC)
	if _, err := e.service(t, core.SyncOptions{Location: time.FixedZone("UTC+2", 2*3600)}).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := e.store.records()[0]
	if r.Computed != ports.SyncStatusExpired {
		t.Errorf("expiring on the 28th, classified on the 29th: %v, want expired", r.Computed)
	}
	if r.LastSyncedOn.Location() != time.UTC || r.LastSyncedOn.Hour() != 23 {
		t.Errorf("LastSyncedOn %v, want UTC", r.LastSyncedOn)
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
	if !errors.As(err, &wf) || !errors.Is(err, ports.ErrWritesFailed) || wf.Failed != 1 || wf.Writes != 4 ||
		err.Error() != "1 of 4 writes failed" || ports.CodeOf(err) != ports.CodeWritesFailed {
		t.Fatalf("Run = %v, want a *WritesFailedError: 1 of 4 writes failed", err)
	}
	if rep.Writes != (ports.WriteCounts{Done: 2, Failed: 1, Deleted: 1}) || !rep.Complete {
		t.Errorf("report %+v, want 2 done, 1 failed, 1 deleted, complete", rep)
	}
	if !slices.Equal(rep.FailedIDs, []string{id(3)}) {
		t.Errorf("failed ids %v, want [%s]", rep.FailedIDs, id(3))
	}
	if e.store.finishes != 1 || e.store.cp != nil {
		t.Errorf("checkpoint finishes %d, left %+v; want it cleared", e.store.finishes, e.store.cp)
	}
	want := []string{"01:written", "02:deleted", "03:failed", "04:written"}
	if got := e.store.actions(); !slices.Equal(got, want) {
		t.Errorf("sink actions %v, want %v", got, want)
	}
	if r := e.store.records()[2]; r.SyncStatus != ports.SyncStatusNone || !r.LastSyncedOn.IsZero() {
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
	if len(e.store.saves) != 1 || e.store.cp.Next != "from-3" || e.store.finishes != 0 {
		t.Errorf("saves %+v; want the checkpoint of page 1, not advanced", e.store.saves)
	}
	if len(e.store.pages) != 1 || rep.Pages != 1 || rep.Read != 3 || rep.Complete {
		t.Errorf("report %+v, sink pages %d; want page 1 only", rep, len(e.store.pages))
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
		if len(e.store.pages) != 0 || len(e.store.saves) != 0 {
			t.Errorf("the failed page reached the sink (%d) or the checkpoint (%d)", len(e.store.pages), len(e.store.saves))
		}
	})
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
			if rep.Writes.Done != 3 || rep.Pages != 1 || len(e.store.pages) != 1 || e.store.cp.Next != "from-3" || e.store.cp.Counts.Writes.Done != 3 {
				t.Errorf("report %+v, sink pages %d, checkpoint %+v; want page 1 only", rep, len(e.store.pages), e.store.cp)
			}
		})
	}
}
