package core_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

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
