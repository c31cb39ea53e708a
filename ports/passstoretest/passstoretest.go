// Package passstoretest is the suite every ports.PassStore must pass: the
// promises a sync pass relies on, run the same way against each
// implementation (PostgreSQL, files, memory).
package passstoretest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// Harness gives the suite stores on one storage of their own.
type Harness struct {
	// Open returns a store on the harness's storage, as a process that
	// starts after a crash would get it: it sees what the stores opened
	// before committed, and nothing they held in memory. A store whose
	// storage is the process's memory returns the same store each time.
	Open func(t *testing.T) ports.PassStore
	// Stored returns what the storage holds for its readers, one line per
	// record, "id status", in the order the records were stored (by id for
	// a table).
	Stored func(t *testing.T) []string
}

// Run runs the suite; newHarness is called once per case, for storage of
// that case's own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("AFreshStoreHasNothingToResume", func(t *testing.T) {
		h := newHarness(t)
		resume(t, h.Open(t), nil)
	})
	t.Run("ResumeReturnsTheLastCommittedCheckpoint", func(t *testing.T) {
		h := newHarness(t)
		s := h.Open(t)
		resume(t, s, nil)
		run(t, s, passSteps(ports.SyncStatusValid)[:3])
		want := passSteps(ports.SyncStatusValid)[2].next
		resume(t, h.Open(t), &want)
	})
	t.Run("ACompletePassHoldsEachRecordOnce", func(t *testing.T) {
		h := newHarness(t)
		completePass(t, h, nil, ports.SyncStatusValid)
		equal(t, "after a complete pass", h.Stored(t), lines(records(ports.SyncStatusValid)))
		resume(t, h.Open(t), nil)
	})
	t.Run("FinishSweepsOnlyACompletePass", func(t *testing.T) {
		h := newHarness(t)
		gone := record(99, ports.SyncStatusValid)
		completePass(t, h, []ports.SyncRecord{gone}, ports.SyncStatusValid)
		s := h.Open(t)
		resume(t, s, nil)
		steps := passSteps(ports.SyncStatusExpired)
		run(t, s, steps[:len(steps)-1])
		if got := h.Stored(t); !slices.Contains(got, line(gone)) {
			t.Errorf("before Finish the store holds %q: want the record the pass did not store yet kept, %q", got, line(gone))
		}
		run(t, s, steps[len(steps)-1:])
		equal(t, "after Finish", h.Stored(t), lines(records(ports.SyncStatusExpired)))
	})
	t.Run("ANewPassBeginsAfterAFinishedOne", func(t *testing.T) {
		h := newHarness(t)
		completePass(t, h, nil, ports.SyncStatusValid)
		s := h.Open(t)
		resume(t, s, nil)
		only := record(1, ports.SyncStatusExpiring)
		if err := s.Finish(t.Context(), []ports.SyncRecord{only}); err != nil {
			t.Fatal(err)
		}
		equal(t, "after a one-page pass", h.Stored(t), lines([]ports.SyncRecord{only}))
	})
	// A crash after any number of steps of a pass, then a run that resumes
	// it: no committed page is lost, none is held twice, and the store
	// ends as after an uninterrupted pass. The pass before it stored one
	// record more (gone from the portal since) under another status.
	steps := passSteps(ports.SyncStatusExpired)
	for crash := 0; crash <= len(steps); crash++ {
		t.Run(fmt.Sprintf("ACrashAfterStep%dLosesNothingAndDuplicatesNothing", crash), func(t *testing.T) {
			h := newHarness(t)
			completePass(t, h, []ports.SyncRecord{record(99, ports.SyncStatusValid)}, ports.SyncStatusValid)
			s := h.Open(t)
			resume(t, s, nil)
			run(t, s, steps[:crash])

			s = h.Open(t) // the crash: a new process on the same storage
			var want *ports.Checkpoint
			if crash > 0 && crash < len(steps) {
				want = &steps[crash-1].next
			}
			cp := resume(t, s, want)
			from := 0
			if crash == len(steps) {
				from = len(steps) // finished before the crash
			} else if cp != nil {
				from = slices.IndexFunc(steps, func(st step) bool { return st.next.Next == cp.Next }) + 1
			}
			run(t, s, steps[from:])
			equal(t, "after the resumed pass", h.Stored(t), lines(records(ports.SyncStatusExpired)))
			resume(t, h.Open(t), nil)
		})
	}
}

// step is one call of a pass: Commit(page, next), or Finish(page) when
// finish is set.
type step struct {
	page   []ports.SyncRecord
	next   ports.Checkpoint
	finish bool
}

var startedAt = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)

// passSteps is a pass over records(status): its start, then three pages of
// two records, the last one finishing it.
func passSteps(status ports.SyncStatus) []step {
	rs := records(status)
	cp := func(next string, pages int) ports.Checkpoint {
		c := ports.Checkpoint{Next: next, StartedAt: startedAt, Counts: ports.SyncCounts{Read: 2 * pages, Pages: pages}}
		if pages > 0 {
			c.FailedIDs = []string{rs[0].ID}
		}
		return c
	}
	return []step{
		{next: cp("", 0)},
		{page: rs[0:2], next: cp("page-2", 1)},
		{page: rs[2:4], next: cp("page-3", 2)},
		{page: rs[4:6], finish: true},
	}
}

// run makes the steps' calls on s.
func run(t *testing.T, s ports.PassStore, steps []step) {
	t.Helper()
	for _, st := range steps {
		var err error
		if st.finish {
			err = s.Finish(t.Context(), st.page)
		} else {
			err = s.Commit(t.Context(), st.page, st.next)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// completePass stores a whole pass over records(status) and extra.
func completePass(t *testing.T, h Harness, extra []ports.SyncRecord, status ports.SyncStatus) {
	t.Helper()
	s := h.Open(t)
	resume(t, s, nil)
	steps := passSteps(status)
	steps[len(steps)-1].page = append(slices.Clone(steps[len(steps)-1].page), extra...)
	run(t, s, steps)
}

// resume calls s.Resume and checks its answer: want, or ErrNoCheckpoint
// for a nil want. It returns the checkpoint, nil for none.
func resume(t *testing.T, s ports.PassStore, want *ports.Checkpoint) *ports.Checkpoint {
	t.Helper()
	got, err := s.Resume(t.Context())
	switch {
	case want == nil && errors.Is(err, ports.ErrNoCheckpoint):
		return nil
	case want == nil:
		t.Fatalf("Resume = %+v, %v: want ErrNoCheckpoint", got, err)
	case err != nil:
		t.Fatalf("Resume: %v; want %+v", err, *want)
	case got.Next != want.Next || !got.StartedAt.Equal(want.StartedAt) || got.Counts != want.Counts || !slices.Equal(got.FailedIDs, want.FailedIDs):
		t.Fatalf("Resume = %+v; want %+v", got, *want)
	}
	return &got
}

// records are the six records of a pass, in key order, all with status.
func records(status ports.SyncStatus) []ports.SyncRecord {
	out := make([]ports.SyncRecord, 6)
	for i := range out {
		out[i] = record(i+1, status)
	}
	return out
}

func record(n int, status ports.SyncStatus) ports.SyncRecord {
	return ports.SyncRecord{
		Certification: ports.Certification{
			ID:        fmt.Sprintf("c0000000-0000-4000-8000-%012d", n),
			ContactID: "a0000000-0000-4000-8000-000000000001",
			Name:      "Peer mentor basic course",
			IssuedOn:  ports.Date{Year: 2024, Month: 1, Day: 2},
			ExpiresOn: ports.Date{Year: 2027, Month: 1, Day: 2},
		},
		Computed: status,
		Action:   ports.ActionWritten,
	}
}

func line(r ports.SyncRecord) string { return r.ID + " " + r.Computed.String() }

func lines(rs []ports.SyncRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = line(r)
	}
	return out
}

func equal(t *testing.T, when string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s the store holds\n%s\nwant\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
