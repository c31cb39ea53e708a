package core

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// Report is the outcome of one Run. Its JSON form is the sync command's
// report: the counts of ports.SyncCounts at the top level, then resumed,
// complete, startedAt and duration (a Go duration string rounded to the
// millisecond, such as "1.234s").
//
// After a pass that stopped early, the counts are those of the last fully
// processed page, the same as the checkpoint holds, so the run that resumes
// it carries on from exactly these numbers.
type Report struct {
	ports.SyncCounts
	// Duration is how long this Run took (not counting earlier runs of a
	// resumed pass).
	Duration time.Duration `json:"duration"`
	// Resumed is true when the pass carried on from a checkpoint.
	Resumed bool `json:"resumed"`
	// Complete is true when the pass read the last page and cleared its
	// checkpoint.
	Complete bool `json:"complete"`
	// StartedAt is when the pass began, in UTC to the second; a resumed
	// pass keeps the time of its first run.
	StartedAt time.Time `json:"startedAt"`
	// FailedIDs are the ids of the records whose write failed, in the order
	// read, at most the first MaxFailedIDs; a resumed pass keeps those of
	// its earlier runs.
	FailedIDs []string `json:"failedIds,omitempty"`
	// Assignments is the number of assignments this Run mirrored into
	// SyncOptions.Assignments (absent without one).
	Assignments int `json:"assignments,omitempty"`
}

// MaxFailedIDs is the most failed record ids a Report and a checkpoint keep.
const MaxFailedIDs = 100

// WritesFailedError is returned by Run after a complete pass in which the
// portal refused some writes. The pass read every page and cleared its
// checkpoint; the Report holds the counts and the failed ids, so a job that
// runs passes notices a portal that refuses writes instead of reporting
// success.
type WritesFailedError struct {
	// Failed is the number of writes the portal refused.
	Failed int
	// Writes is the number of writes the pass sent: done, failed, and
	// those that found the record deleted.
	Writes int
}

// Error says how many of the pass's writes failed, e.g. "3 of 120 writes
// failed".
func (e *WritesFailedError) Error() string {
	return fmt.Sprintf("%d of %d writes failed", e.Failed, e.Writes)
}

// Is reports whether target is ports.ErrWritesFailed.
func (e *WritesFailedError) Is(target error) bool { return target == ports.ErrWritesFailed }

// MarshalJSON writes the report with its duration as a string.
func (r Report) MarshalJSON() ([]byte, error) {
	type fields Report // the same fields without this method
	return json.Marshal(struct {
		fields
		Duration string `json:"duration"`
	}{fields(r), r.Duration.Round(time.Millisecond).String()})
}

// tally adds one page's records to c.
func tally(c *ports.SyncCounts, records []ports.SyncRecord) {
	c.Pages++
	c.Read += len(records)
	for i := range records {
		switch records[i].Computed {
		case ports.SyncStatusValid:
			c.Status.Valid++
		case ports.SyncStatusExpiring:
			c.Status.Expiring++
		case ports.SyncStatusExpired:
			c.Status.Expired++
		case ports.SyncStatusInactive:
			c.Status.Inactive++
		}
		switch records[i].Action {
		case ports.ActionWritten:
			c.Writes.Done++
		case ports.ActionUnchanged:
			c.Writes.Unchanged++
		case ports.ActionFailed:
			c.Writes.Failed++
		case ports.ActionDeleted:
			c.Writes.Deleted++
		}
	}
}
