package ports

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SyncAction says what a sync pass did with one record.
type SyncAction string

// The actions of a sync pass.
const (
	// ActionWritten: the status changed and the sync metadata was written.
	ActionWritten SyncAction = "written"
	// ActionUnchanged: the record already carried its status; no write.
	ActionUnchanged SyncAction = "unchanged"
	// ActionFailed: the portal refused the write (for example a 400 or a
	// 412) and the pass went on.
	ActionFailed SyncAction = "failed"
	// ActionDeleted: the record was deleted between read and write (the
	// write found no record); nothing is left to write.
	ActionDeleted SyncAction = "deleted"
)

// SyncRecord is one certification as a sync pass left it.
type SyncRecord struct {
	Certification
	// Computed is the status the pass computed for today.
	Computed SyncStatus `json:"computedStatus"`
	Action   SyncAction `json:"action"`
}

// PassStore keeps what a sync pass produces and where it stands: the
// records of each page and the checkpoint after it. Each call is whole or
// nothing: after a crash at any point, the store holds every page whose
// Commit returned, each once, and nothing of a call that did not return.
// One pass at a time may use a PassStore; its calls come one at a time.
type PassStore interface {
	// Resume returns the checkpoint of the unfinished pass the store
	// holds, and drops whatever it holds of that pass beyond it. When no
	// pass is unfinished it returns an error wrapping ErrNoCheckpoint, and
	// the next Commit begins a new pass.
	Resume(ctx context.Context) (Checkpoint, error)
	// Commit stores one page of the pass and the checkpoint after it, as
	// one. A pass commits its start (no records, no continuation) before
	// its first page, so a run cut off on that page is resumed like any
	// other.
	Commit(ctx context.Context, page []SyncRecord, next Checkpoint) error
	// Finish stores the last page and ends the pass, as one: the store then
	// holds the records of this pass only (those of records gone from the
	// portal are dropped), and Resume finds no checkpoint. A store that
	// keeps rows a sweep would remove returns, with everything else
	// stored, an error wrapping ErrDeletionsHeld.
	Finish(ctx context.Context, last []SyncRecord) error
}

// ErrNoCheckpoint is returned by PassStore.Resume when there is nothing to
// resume.
var ErrNoCheckpoint = errors.New("no checkpoint")

// Checkpoint is the progress of a sync pass after its last fully processed
// page.
type Checkpoint struct {
	// Next is the continuation of the next page to read.
	Next string `json:"next"`
	// StartedAt is when the pass began; a resumed pass keeps it.
	StartedAt time.Time `json:"startedAt"`
	// Counts are the pass's totals so far.
	Counts SyncCounts `json:"counts"`
	// FailedIDs are the ids of the records whose write failed so far, in
	// the order read, at most the first 100.
	FailedIDs []string `json:"failedIds,omitempty"`
}

// SyncCounts are the running totals of a sync pass.
type SyncCounts struct {
	// Read is the number of records read.
	Read int `json:"read"`
	// Pages is the number of pages processed.
	Pages int `json:"pages"`
	// Status counts the records by computed status.
	Status StatusCounts `json:"status"`
	// Writes counts what the pass did with the records.
	Writes WriteCounts `json:"writes"`
}

// StatusCounts counts records by computed sync status.
type StatusCounts struct {
	Valid    int `json:"valid"`
	Expiring int `json:"expiring"`
	Expired  int `json:"expired"`
	Inactive int `json:"inactive"`
}

// WriteCounts counts the sync metadata writes of a pass.
type WriteCounts struct {
	// Done counts the records written.
	Done int `json:"done"`
	// Unchanged counts the records that already carried their status.
	Unchanged int `json:"unchanged"`
	// Failed counts the writes the portal refused.
	Failed int `json:"failed"`
	// Deleted counts the writes that found the record deleted meanwhile.
	Deleted int `json:"deleted"`
}

// AssignmentSink receives the assignments a sync pass mirrors: every
// assignment, in key order, one page at a time. The pass calls it while the
// pages of certifications go on, so a type that is both an AssignmentSink
// and a PassStore must take calls to both at once.
type AssignmentSink interface {
	// WriteAssignments stores one page. last is true for the last page of
	// the listing: the sink then drops the assignments it holds that this
	// pass did not write (they no longer exist in the portal), or keeps
	// them and returns an error wrapping ErrDeletionsHeld.
	WriteAssignments(ctx context.Context, page []Assignment, last bool) error
}

// DeletionsHeldError says which sweep was held and by how much.
type DeletionsHeldError struct {
	// Table is the table the sweep would have removed rows from
	// (certifications or assignments).
	Table string
	// Rows is how many rows it would have removed, of Stored.
	Rows, Stored int
	// Threshold is the most it may remove unconfirmed.
	Threshold int
}

// Error says what was held, e.g. "a complete pass would remove 600 of 600
// stored certifications, more than the threshold of 500: they are kept".
func (e *DeletionsHeldError) Error() string {
	return fmt.Sprintf("a complete pass would remove %d of %d stored %s, more than the threshold of %d: they are kept (confirm with --allow-deletions %d)",
		e.Rows, e.Stored, e.Table, e.Threshold, e.Rows)
}

// Is reports whether target is ErrDeletionsHeld.
func (e *DeletionsHeldError) Is(target error) bool { return target == ErrDeletionsHeld }
