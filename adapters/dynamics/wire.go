package dynamics

// The wire models: what the portal's Web API sends and takes, in Dynamics
// column names, and their mapping to the ports types. If the portal's
// tables differ from the contract, this file is the one to change.

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// Keys and $select lists of the tables.
const (
	certificationKey     = "hlf_certificationid"
	certificationColumns = "hlf_certificationid,hlf_name,_hlf_contact_value,hlf_certificationtype,hlf_issuedon,hlf_expireson,statecode,modifiedon,hlf_lastsyncedon,hlf_syncstatus"
	syncColumns          = "hlf_certificationid,hlf_lastsyncedon,hlf_syncstatus"
	assignmentKey        = "hlf_assignmentid"
	assignmentColumns    = "hlf_assignmentid,_hlf_mentor_value,_hlf_coordinator_value,_hlf_chapter_value,hlf_status,hlf_startdate,hlf_enddate,statecode,modifiedon"
	modifiedSinceFilter  = "&$filter=modifiedon%20gt%20"
)

// wirePage is an OData collection answer. A nil Value means the answer had
// no "value" array, which is refused.
type wirePage[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

type wireWhoAmI struct {
	BusinessUnitID string `json:"BusinessUnitId"`
	UserID         string `json:"UserId"`
	OrganizationID string `json:"OrganizationId"`
}

func (w wireWhoAmI) identity() (ports.Identity, bool) {
	if !ports.IsID(w.UserID) || !ports.IsID(w.BusinessUnitID) || !ports.IsID(w.OrganizationID) {
		return ports.Identity{}, false
	}
	return ports.Identity{UserID: w.UserID, BusinessUnitID: w.BusinessUnitID, OrganizationID: w.OrganizationID}, true
}

type wireCertification struct {
	ETag         string    `json:"@odata.etag"`
	ID           string    `json:"hlf_certificationid"`
	Name         string    `json:"hlf_name"`
	ContactID    string    `json:"_hlf_contact_value"`
	Type         int       `json:"hlf_certificationtype"`
	IssuedOn     wireDate  `json:"hlf_issuedon"`
	ExpiresOn    wireDate  `json:"hlf_expireson"`
	StateCode    int       `json:"statecode"`
	ModifiedOn   time.Time `json:"modifiedon"`
	LastSyncedOn time.Time `json:"hlf_lastsyncedon"`
	SyncStatus   int       `json:"hlf_syncstatus"`
}

// certification maps w; it reports false when the key or a lookup is not a
// GUID.
func (w *wireCertification) certification() (ports.Certification, bool) {
	if !ports.IsID(w.ID) || !optionalGUID(w.ContactID) {
		return ports.Certification{}, false
	}
	return ports.Certification{
		ID:           w.ID,
		Name:         w.Name,
		ContactID:    w.ContactID,
		Type:         w.Type,
		IssuedOn:     ports.Date(w.IssuedOn),
		ExpiresOn:    ports.Date(w.ExpiresOn),
		State:        ports.RecordState(w.StateCode),
		ModifiedOn:   w.ModifiedOn.UTC(),
		LastSyncedOn: utcOrZero(w.LastSyncedOn),
		SyncStatus:   ports.SyncStatus(w.SyncStatus),
		ETag:         w.ETag,
	}, true
}

type wireAssignment struct {
	ETag          string    `json:"@odata.etag"`
	ID            string    `json:"hlf_assignmentid"`
	MentorID      string    `json:"_hlf_mentor_value"`
	CoordinatorID string    `json:"_hlf_coordinator_value"`
	ChapterID     string    `json:"_hlf_chapter_value"`
	Status        int       `json:"hlf_status"`
	StartDate     wireDate  `json:"hlf_startdate"`
	EndDate       wireDate  `json:"hlf_enddate"`
	StateCode     int       `json:"statecode"`
	ModifiedOn    time.Time `json:"modifiedon"`
}

func (w *wireAssignment) assignment() (ports.Assignment, bool) {
	if !ports.IsID(w.ID) || !optionalGUID(w.MentorID) || !optionalGUID(w.CoordinatorID) || !optionalGUID(w.ChapterID) {
		return ports.Assignment{}, false
	}
	return ports.Assignment{
		ID:            w.ID,
		MentorID:      w.MentorID,
		CoordinatorID: w.CoordinatorID,
		ChapterID:     w.ChapterID,
		Status:        w.Status,
		StartDate:     ports.Date(w.StartDate),
		EndDate:       ports.Date(w.EndDate),
		State:         ports.RecordState(w.StateCode),
		ModifiedOn:    w.ModifiedOn.UTC(),
		ETag:          w.ETag,
	}, true
}

// wireDate is a date-only column. It decodes the usual "2006-01-02" from
// the bytes in place, a page's most frequent value after strings, without
// the string copy and time.Parse of ports.Date's decoder, which it leaves
// everything else to (null, and errors).
type wireDate ports.Date

func (d *wireDate) UnmarshalJSON(b []byte) error {
	if len(b) == 12 && b[0] == '"' && b[5] == '-' && b[8] == '-' && b[11] == '"' {
		y, ok1 := digits(b[1:5])
		m, ok2 := digits(b[6:8])
		day, ok3 := digits(b[9:11])
		if ok1 && ok2 && ok3 && m >= 1 && m <= 12 && day >= 1 && day <= daysIn(time.Month(m), y) {
			*d = wireDate{Year: y, Month: time.Month(m), Day: day}
			return nil
		}
	}
	return (*ports.Date)(d).UnmarshalJSON(b)
}

// digits reads b as a decimal number; it reports false if b holds anything
// but digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// wireSync is the answer to a sync-metadata write with
// Prefer: return=representation.
type wireSync struct {
	ETag         string    `json:"@odata.etag"`
	ID           string    `json:"hlf_certificationid"`
	LastSyncedOn time.Time `json:"hlf_lastsyncedon"`
	SyncStatus   int       `json:"hlf_syncstatus"`
}

func (w wireSync) response() (ports.SyncResponse, bool) {
	if !ports.IsID(w.ID) {
		return ports.SyncResponse{}, false
	}
	return ports.SyncResponse{
		ID:           w.ID,
		Status:       ports.SyncStatus(w.SyncStatus),
		LastSyncedOn: utcOrZero(w.LastSyncedOn),
		ETag:         w.ETag,
	}, true
}

// syncBody is the PATCH body of a sync-metadata write: the two sync columns
// only, the time in UTC to the second.
func syncBody(m ports.SyncMetadata) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"hlf_syncstatus":`...)
	b = strconv.AppendInt(b, int64(m.Status), 10)
	b = append(b, `,"hlf_lastsyncedon":"`...)
	b = m.LastSyncedOn.UTC().Truncate(time.Second).AppendFormat(b, time.RFC3339)
	return append(b, `"}`...)
}

// wireError is a Dataverse error body.
type wireError struct {
	Error struct {
		Code    flexString `json:"code"`
		Message string     `json:"message"`
	} `json:"error"`
}

// wireTokenError is the part of an Entra ID error answer the adapter keeps.
type wireTokenError struct {
	Description string `json:"error_description"`
	TraceID     string `json:"trace_id"`
}

// flexString takes a JSON string or number: Dataverse codes come as "0x…"
// strings, some gateways send the decimal code as a number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*f = flexString(b)
	}
	return nil // null and other shapes: no code
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func optionalGUID(s string) bool { return s == "" || ports.IsID(s) }
