// Package memory is a ports.PassStore held in memory: a pass's records and
// its checkpoint live as long as the process. It serves tests, and a pass
// that must leave every real store alone (one the portal stub answers).
package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/hlf/dynamicsportal/ports"
)

var _ ports.PassStore = (*Store)(nil)

// Store keeps the records of the last complete pass and of the pass in
// progress, and the checkpoint. It is safe for concurrent use; the zero
// value is an empty store.
type Store struct {
	mu      sync.Mutex
	records map[string]stored
	passes  int               // passes begun so far
	pass    int               // the pass in progress; 0: none
	cp      *ports.Checkpoint // of the pass in progress
}

type stored struct {
	ports.SyncRecord
	pass int
}

// New returns an empty store.
func New() *Store { return &Store{} }

// Resume returns the checkpoint of the pass in progress, or an error
// wrapping ports.ErrNoCheckpoint.
func (s *Store) Resume(context.Context) (ports.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp == nil {
		s.pass = 0
		return ports.Checkpoint{}, fmt.Errorf("memory store: %w", ports.ErrNoCheckpoint)
	}
	return *s.cp, nil
}

// Commit stores the page and the checkpoint after it.
func (s *Store) Commit(_ context.Context, page []ports.SyncRecord, next ports.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(page)
	next.FailedIDs = slices.Clone(next.FailedIDs)
	s.cp = &next
	return nil
}

// Finish stores the last page, drops the records this pass did not store,
// and the checkpoint.
func (s *Store) Finish(_ context.Context, last []ports.SyncRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(last)
	for id, r := range s.records {
		if r.pass != s.pass {
			delete(s.records, id)
		}
	}
	s.pass, s.cp = 0, nil
	return nil
}

// put stores records under the pass in progress, beginning one if needed.
// The caller holds s.mu.
func (s *Store) put(records []ports.SyncRecord) {
	if s.pass == 0 {
		s.passes++
		s.pass = s.passes
	}
	if s.records == nil {
		s.records = make(map[string]stored)
	}
	for _, r := range records {
		s.records[r.ID] = stored{SyncRecord: r, pass: s.pass}
	}
}

// Records returns the records the store holds, by id.
func (s *Store) Records() []ports.SyncRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ports.SyncRecord, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, r.SyncRecord)
	}
	slices.SortFunc(out, func(a, b ports.SyncRecord) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
