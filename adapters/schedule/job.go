package schedule

import (
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// The River job of a sync pass: its one definition, from which the SQL
// function portal.enqueue_sync() is built too (enqueue.go).
const (
	// Kind is the River job kind.
	Kind = "portal_sync"
	// Queue is the River queue the job runs on, one job at a time per
	// process.
	Queue = "portal_sync"
	// MaxAttempts is how many times a failing job runs before River
	// discards it, keeping the error of each attempt on the job row.
	// Snoozes (a budget run out, a throttled pass) and shutdowns do not
	// count.
	MaxAttempts = 5
)

// UniqueStates are the states in which a sync job blocks the insert of
// another: at most one is pending, scheduled, available, running or
// waiting for a retry, cluster-wide. Completed, cancelled and discarded
// jobs do not count, so the next tick inserts a new one.
func UniqueStates() []rivertype.JobState {
	return []rivertype.JobState{
		rivertype.JobStateAvailable,
		rivertype.JobStatePending,
		rivertype.JobStateRetryable,
		rivertype.JobStateRunning,
		rivertype.JobStateScheduled,
	}
}

// SyncArgs are the arguments of the sync job: none, a job is one pass over
// the whole roster, carried on from the checkpoint store.
type SyncArgs struct{}

// Kind returns the job kind, portal_sync.
func (SyncArgs) Kind() string { return Kind }

// InsertOpts put every sync job on its queue, unique by kind in
// UniqueStates, with MaxAttempts.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       Queue,
		MaxAttempts: MaxAttempts,
		UniqueOpts:  river.UniqueOpts{ByState: UniqueStates()},
	}
}
