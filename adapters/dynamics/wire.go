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

// certification maps w, giving a date-time in a date column its date in
// that column's zone. It returns what is wrong with the record instead
// when the key or a lookup is not a GUID or a date column holds no date.
func (w *wireCertification) certification(zone zoneOf) (ports.Certification, string) {
	if !ports.IsID(w.ID) || !optionalGUID(w.ContactID) {
		return ports.Certification{}, "record with a malformed GUID"
	}
	issued, ok1 := w.IssuedOn.date(zone, "hlf_issuedon")
	expires, ok2 := w.ExpiresOn.date(zone, "hlf_expireson")
	switch {
	case !ok1:
		return ports.Certification{}, notADate("hlf_issuedon", w.ID)
	case !ok2:
		return ports.Certification{}, notADate("hlf_expireson", w.ID)
	}
	return ports.Certification{
		ID:           w.ID,
		Name:         w.Name,
		ContactID:    w.ContactID,
		Type:         w.Type,
		IssuedOn:     issued,
		ExpiresOn:    expires,
		State:        ports.RecordState(w.StateCode),
		ModifiedOn:   w.ModifiedOn.UTC(),
		LastSyncedOn: utcOrZero(w.LastSyncedOn),
		SyncStatus:   ports.SyncStatus(w.SyncStatus),
		ETag:         w.ETag,
	}, ""
}

func notADate(column, id string) string {
	return column + " of record " + id + " is not a date"
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

func (w *wireAssignment) assignment(zone zoneOf) (ports.Assignment, string) {
	if !ports.IsID(w.ID) || !optionalGUID(w.MentorID) || !optionalGUID(w.CoordinatorID) || !optionalGUID(w.ChapterID) {
		return ports.Assignment{}, "record with a malformed GUID"
	}
	start, ok1 := w.StartDate.date(zone, "hlf_startdate")
	end, ok2 := w.EndDate.date(zone, "hlf_enddate")
	switch {
	case !ok1:
		return ports.Assignment{}, notADate("hlf_startdate", w.ID)
	case !ok2:
		return ports.Assignment{}, notADate("hlf_enddate", w.ID)
	}
	return ports.Assignment{
		ID:            w.ID,
		MentorID:      w.MentorID,
		CoordinatorID: w.CoordinatorID,
		ChapterID:     w.ChapterID,
		Status:        w.Status,
		StartDate:     start,
		EndDate:       end,
		State:         ports.RecordState(w.StateCode),
		ModifiedOn:    w.ModifiedOn.UTC(),
		ETag:          w.ETag,
	}, ""
}

// wireDate is a date column. A column with the Dataverse behaviour "Date
// only" holds "2006-01-02", decoded from the bytes in place (a page's most
// frequent value after strings) without a string copy or time.Parse. A
// column with the behaviour "User local" or "Time zone independent" holds
// a date-time such as "2024-06-12T22:00:00Z"; it is kept as it is and
// given its date when the record is mapped: as written (in UTC) for
// "Time zone independent", in the module's time zone for "User local".
// Anything else (a string that is neither, a number, an object) marks the
// value bad, and the record is refused naming the column: a decoding error
// here would lose which column and which record it was.
type wireDate struct {
	day ports.Date
	at  time.Time // the date-time sent instead of a date, or zero
	bad bool
}

func (d *wireDate) UnmarshalJSON(b []byte) error {
	*d = wireDate{}
	if len(b) == 12 && b[0] == '"' && b[5] == '-' && b[8] == '-' && b[11] == '"' {
		y, ok1 := digits(b[1:5])
		m, ok2 := digits(b[6:8])
		day, ok3 := digits(b[9:11])
		if ok1 && ok2 && ok3 && m >= 1 && m <= 12 && day >= 1 && day <= daysIn(time.Month(m), y) {
			d.day = ports.Date{Year: y, Month: time.Month(m), Day: day}
			return nil
		}
	}
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		d.bad = true
		return nil
	}
	s := string(b[1 : len(b)-1])
	if v, err := ports.ParseDate(s); err == nil {
		d.day = v
		return nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		d.at = t
		return nil
	}
	d.bad = true
	return nil
}

// date returns the date d holds: a date-time's date in the zone of its
// column, which zone is asked only then. It reports false for a value
// that is no date.
func (d wireDate) date(zone zoneOf, column string) (ports.Date, bool) {
	switch {
	case d.bad:
		return ports.Date{}, false
	case !d.at.IsZero():
		return ports.DateOf(d.at.In(zone(column))), true
	}
	return d.day, true
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
