package ports

import (
	"fmt"
	"time"
)

// RecordState is the Dataverse statecode of a record.
type RecordState int

// The record states a table in the portal uses.
const (
	StateActive   RecordState = 0
	StateInactive RecordState = 1
)

// SyncStatus is the sync status the module writes to a certification
// (the hlf_syncstatus choice column). The zero value means the record was
// never synced.
type SyncStatus int

// The sync statuses, with the values the portal stores.
const (
	SyncStatusNone     SyncStatus = 0
	SyncStatusValid    SyncStatus = 1
	SyncStatusExpiring SyncStatus = 2
	SyncStatusExpired  SyncStatus = 3
	SyncStatusInactive SyncStatus = 4
)

var syncStatusNames = [...]string{"none", "valid", "expiring", "expired", "inactive"}

// String returns the status name: none, valid, expiring, expired or inactive.
func (s SyncStatus) String() string {
	if s >= 0 && int(s) < len(syncStatusNames) {
		return syncStatusNames[s]
	}
	return fmt.Sprintf("SyncStatus(%d)", int(s))
}

// Valid reports whether s is one of the statuses the portal knows.
func (s SyncStatus) Valid() bool {
	return s >= SyncStatusNone && s <= SyncStatusInactive
}

// Certification is one peer-mentor certification
// (called DynamicsCertificationRecord in the original design).
type Certification struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	ContactID string `json:"contactId"`
	Type      int    `json:"type"`
	IssuedOn  Date   `json:"issuedOn"`
	// ExpiresOn is zero when the certificate does not expire.
	ExpiresOn  Date        `json:"expiresOn"`
	State      RecordState `json:"state"`
	ModifiedOn time.Time   `json:"modifiedOn"`
	// LastSyncedOn is zero when the module never wrote the record.
	LastSyncedOn time.Time `json:"lastSyncedOn,omitzero"`
	// SyncStatus is the status last written by the module, or
	// SyncStatusNone.
	SyncStatus SyncStatus `json:"syncStatus"`
	// ETag is the row version the record was read at.
	ETag string `json:"etag,omitempty"`
}

// Assignment links a peer mentor to a coordinator and a chapter.
type Assignment struct {
	ID            string `json:"id"`
	MentorID      string `json:"mentorId"`
	CoordinatorID string `json:"coordinatorId"`
	ChapterID     string `json:"chapterId"`
	Status        int    `json:"status"`
	StartDate     Date   `json:"startDate"`
	// EndDate is zero for an open-ended assignment.
	EndDate    Date        `json:"endDate"`
	State      RecordState `json:"state"`
	ModifiedOn time.Time   `json:"modifiedOn"`
	ETag       string      `json:"etag,omitempty"`
}

// SyncMetadata is what the module writes to a certification.
type SyncMetadata struct {
	Status       SyncStatus
	LastSyncedOn time.Time
}

// SyncResponse is the portal's answer to a sync-metadata write
// (called DynamicsHlfSyncResponse in the original design).
type SyncResponse struct {
	ID           string     `json:"id"`
	Status       SyncStatus `json:"syncStatus"`
	LastSyncedOn time.Time  `json:"lastSyncedOn"`
	// ETag is the row version after the write.
	ETag string `json:"etag,omitempty"`
	// Skipped is true when nothing was written (the stub acknowledges
	// writes this way).
	Skipped bool `json:"skipped,omitempty"`
}
