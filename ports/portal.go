package ports

import (
	"context"
	"time"
)

// DynamicsPortal is what the module may do on the HLF Dynamics 365 portal:
// check its identity, read certifications and assignments, and write sync
// metadata back to a certification. Nothing else.
//
// Every method takes the caller's context first; cancelling it stops the call,
// including any wait between retries. Failures are *PortalError values, so
// callers branch with errors.Is (for example errors.Is(err, ErrNotFound)) and
// read details with errors.As.
type DynamicsPortal interface {
	// WhoAmI checks that the portal accepts the module's credentials and
	// returns the identity it acts as.
	WhoAmI(ctx context.Context) (Identity, error)

	// ListCertifications returns one page of certifications in key order.
	// Pass the Next of the previous page in q.Continuation to read the next
	// page; an empty Next marks the last page.
	ListCertifications(ctx context.Context, q PageQuery) (Page[Certification], error)

	// GetCertification returns one certification by its id.
	GetCertification(ctx context.Context, id string) (Certification, error)

	// ListAssignments returns one page of mentor assignments, paged like
	// ListCertifications.
	ListAssignments(ctx context.Context, q PageQuery) (Page[Assignment], error)

	// WriteSyncMetadata writes the sync columns of one existing
	// certification. It never creates a record: a missing one fails with
	// ErrNotFound.
	WriteSyncMetadata(ctx context.Context, id string, m SyncMetadata) (SyncResponse, error)

	// WriteSyncMetadataBatch writes the sync columns of up to
	// MaxBatchWrites certifications, each independently of the others,
	// in as few requests as the portal allows (Dataverse's $batch). It
	// returns one result per write, in order, each holding what
	// WriteSyncMetadata would have returned for it: a missing record is
	// ErrNotFound in its result and the others are still written. The
	// error is for the call as a whole (the portal answered the batch
	// with a failure or an answer that cannot be used, the caller
	// cancelled, more than MaxBatchWrites writes): then there are no
	// results, and any of the writes may or may not have been applied.
	WriteSyncMetadataBatch(ctx context.Context, writes []SyncWrite) ([]SyncWriteResult, error)
}

// MaxBatchWrites is the most writes one WriteSyncMetadataBatch takes: the
// parts a Dataverse $batch may hold.
const MaxBatchWrites = 1000

// SyncWrite is one write of a WriteSyncMetadataBatch.
type SyncWrite struct {
	// ID is the certification's key.
	ID       string
	Metadata SyncMetadata
}

// SyncWriteResult is the outcome of one SyncWrite: Err is nil and
// Response the portal's answer, or Err is the *PortalError the write
// failed with.
type SyncWriteResult struct {
	Response SyncResponse
	Err      error
}

// PageQuery asks for one page of a collection.
type PageQuery struct {
	// ModifiedSince, when not zero, keeps only records modified after it.
	// It is for listings of recent changes; a sync pass leaves it zero.
	ModifiedSince time.Time
	// PageSize is the most records per page; zero means the implementation's
	// default. Implementations cap it at what the portal allows (5000).
	PageSize int
	// Continuation is the Next of the previous page, or empty for the first
	// page. It is opaque: callers store and return it unchanged. When it is
	// set, ModifiedSince is already part of it and is ignored.
	Continuation string
}

// Page is one page of a collection.
type Page[T any] struct {
	// Items are the records of this page, in the collection's order.
	Items []T
	// Next continues the listing after this page; empty on the last page.
	// It holds no secret and may be saved to a checkpoint.
	Next string
}

// Identity is what the portal says the module acts as.
type Identity struct {
	UserID         string `json:"userId"`
	BusinessUnitID string `json:"businessUnitId"`
	OrganizationID string `json:"organizationId"`
	// Stub is true when the answer comes from the no-op stub rather than a
	// live portal.
	Stub bool `json:"stub,omitempty"`
}
