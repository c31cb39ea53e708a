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

// RecordSink receives the records of a sync pass, one page at a time, after
// the page's writes are done.
type RecordSink interface {
	// WritePage stores one page and returns an opaque position that marks
	// the end of what the sink holds. The core saves it in the checkpoint
	// with the page.
	WritePage(ctx context.Context, records []SyncRecord) (position string, err error)
	// Rewind drops whatever the sink took after position; an empty position
	// drops everything. A resumed pass rewinds to its checkpoint so the
	// page that was in flight is not stored twice.
	Rewind(ctx context.Context, position string) error
}

// ErrNoCheckpoint is returned by CheckpointStore.Load when there is nothing
// to resume.
var ErrNoCheckpoint = errors.New("no checkpoint")

// CheckpointStore keeps the progress of an unfinished sync pass.
type CheckpointStore interface {
	// Load returns the saved checkpoint, or an error wrapping
	// ErrNoCheckpoint when there is none.
	Load(ctx context.Context) (Checkpoint, error)
	// Save replaces the checkpoint. It must be atomic: after a crash, Load
	// returns either the old or the new checkpoint, never a mix.
	Save(ctx context.Context, c Checkpoint) error
	// Clear removes the checkpoint once a pass has finished.
	Clear(ctx context.Context) error
}

// Checkpoint is the progress of a sync pass after its last fully processed
// page.
type Checkpoint struct {
	// Next is the continuation of the next page to read.
	Next string `json:"next"`
	// SinkPosition is the sink's position after the last processed page.
	SinkPosition string `json:"sinkPosition,omitempty"`
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
// and a RecordSink must take calls to both at once.
type AssignmentSink interface {
	// WriteAssignments stores one page. last is true for the last page of
	// the listing: the sink then drops the assignments it holds that this
	// pass did not write (they no longer exist in the portal).
	WriteAssignments(ctx context.Context, page []Assignment, last bool) error
}

// ErrDeletionsHeld marks a complete pass whose sweep of the rows gone from
// the portal was held: it would have removed more rows than the store's
// threshold, as a changed filter, a lost privilege or a bug that empties
// the portal's listing would. The rows are kept and everything else is
// stored; an operator confirms the deletion explicitly.
// errors.Is(err, ErrDeletionsHeld) holds for a *DeletionsHeldError.
var ErrDeletionsHeld = errors.New("deletions held")

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
