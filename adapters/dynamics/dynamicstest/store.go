package dynamicstest

import (
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// certRow is one hlf_certification. Empty strings, zero dates, times and
// choices are null on the wire.
type certRow struct {
	id         string // lower-case GUID, the key
	name       string
	contact    string
	ctype      int
	issued     ports.Date
	expires    ports.Date
	state      int
	modified   time.Time // UTC, whole seconds
	lastSynced time.Time
	status     int
	version    int64
}

// assignRow is one hlf_assignment.
type assignRow struct {
	id          string
	mentor      string
	coordinator string
	chapter     string
	status      int
	start       ports.Date
	end         ports.Date
	state       int
	modified    time.Time
	version     int64
}

// schema describes a table to the generic listing and encoding code.
type schema[R any] struct {
	entitySet string // hlf_certifications
	entity    string // hlf_certification
	key       string // hlf_certificationid
	columns   []column[R]
	table     func(*store) *table[R]
	id        func(*R) string
	modified  func(*R) time.Time
	state     func(*R) int
	version   func(*R) int64
}

// column is one wire column: its name and how to append its JSON value.
type column[R any] struct {
	name  string
	value func(b []byte, r *R) []byte
	// date, for a date column, is its value, which the emulator's date
	// forms may send in another form than value's (a date only).
	date func(r *R) ports.Date
}

// columnIndex returns the index of the column called name, or -1.
func (s *schema[R]) columnIndex(name string) int {
	for i, c := range s.columns {
		if c.name == name {
			return i
		}
	}
	return -1
}

var certSchema = schema[certRow]{
	entitySet: "hlf_certifications",
	entity:    "hlf_certification",
	key:       "hlf_certificationid",
	columns: []column[certRow]{
		{"hlf_certificationid", func(b []byte, r *certRow) []byte { return appendString(b, r.id) }, nil},
		{"hlf_name", func(b []byte, r *certRow) []byte { return appendStringOrNull(b, r.name) }, nil},
		{"_hlf_contact_value", func(b []byte, r *certRow) []byte { return appendStringOrNull(b, r.contact) }, nil},
		{"hlf_certificationtype", func(b []byte, r *certRow) []byte { return appendChoice(b, r.ctype) }, nil},
		{"hlf_issuedon", func(b []byte, r *certRow) []byte { return appendDate(b, r.issued) }, func(r *certRow) ports.Date { return r.issued }},
		{"hlf_expireson", func(b []byte, r *certRow) []byte { return appendDate(b, r.expires) }, func(r *certRow) ports.Date { return r.expires }},
		{"statecode", func(b []byte, r *certRow) []byte { return strconv.AppendInt(b, int64(r.state), 10) }, nil},
		{"modifiedon", func(b []byte, r *certRow) []byte { return appendTime(b, r.modified) }, nil},
		{"hlf_lastsyncedon", func(b []byte, r *certRow) []byte { return appendTime(b, r.lastSynced) }, nil},
		{"hlf_syncstatus", func(b []byte, r *certRow) []byte { return appendChoice(b, r.status) }, nil},
	},
	table:    func(st *store) *table[certRow] { return &st.certs },
	id:       func(r *certRow) string { return r.id },
	modified: func(r *certRow) time.Time { return r.modified },
	state:    func(r *certRow) int { return r.state },
	version:  func(r *certRow) int64 { return r.version },
}

var assignSchema = schema[assignRow]{
	entitySet: "hlf_assignments",
	entity:    "hlf_assignment",
	key:       "hlf_assignmentid",
	columns: []column[assignRow]{
		{"hlf_assignmentid", func(b []byte, r *assignRow) []byte { return appendString(b, r.id) }, nil},
		{"_hlf_mentor_value", func(b []byte, r *assignRow) []byte { return appendStringOrNull(b, r.mentor) }, nil},
		{"_hlf_coordinator_value", func(b []byte, r *assignRow) []byte { return appendStringOrNull(b, r.coordinator) }, nil},
		{"_hlf_chapter_value", func(b []byte, r *assignRow) []byte { return appendStringOrNull(b, r.chapter) }, nil},
		{"hlf_status", func(b []byte, r *assignRow) []byte { return appendChoice(b, r.status) }, nil},
		{"hlf_startdate", func(b []byte, r *assignRow) []byte { return appendDate(b, r.start) }, func(r *assignRow) ports.Date { return r.start }},
		{"hlf_enddate", func(b []byte, r *assignRow) []byte { return appendDate(b, r.end) }, func(r *assignRow) ports.Date { return r.end }},
		{"statecode", func(b []byte, r *assignRow) []byte { return strconv.AppendInt(b, int64(r.state), 10) }, nil},
		{"modifiedon", func(b []byte, r *assignRow) []byte { return appendTime(b, r.modified) }, nil},
	},
	table:    func(st *store) *table[assignRow] { return &st.assigns },
	id:       func(r *assignRow) string { return r.id },
	modified: func(r *assignRow) time.Time { return r.modified },
	state:    func(r *assignRow) int { return r.state },
	version:  func(r *assignRow) int64 { return r.version },
}

// table holds the rows of one entity set in key order.
type table[R any] struct {
	rows []R
	// byModified lists row positions ordered by (modifiedon, key). It is
	// built on the first listing that orders by modifiedon and dropped by
	// every change.
	byModified []int32
}

// store is the portal's data behind one lock. Listings copy their page and
// encode it outside the lock.
type store struct {
	mu         sync.RWMutex
	certs      table[certRow]
	assigns    table[assignRow]
	version    int64 // the last row version handed out
	writes     []Write
	writeCount map[string]int
	// noWriteLog keeps writes and writeCount empty (Options.NoWriteLog).
	noWriteLog bool
}

// list returns one page of q from the table of s.
func list[R any](st *store, s *schema[R], q *listQuery) ([]R, bool) {
	t := s.table(st)
	if q.byModified {
		st.mu.Lock()
		defer st.mu.Unlock()
		if t.byModified == nil {
			t.byModified = orderByModified(s, t.rows)
		}
	} else {
		st.mu.RLock()
		defer st.mu.RUnlock()
	}
	return page(s, t, q)
}

func orderByModified[R any](s *schema[R], rows []R) []int32 {
	idx := make([]int32, len(rows))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := s.modified(&rows[a]).Compare(s.modified(&rows[b])); c != 0 {
			return c
		}
		return strings.Compare(s.id(&rows[a]), s.id(&rows[b]))
	})
	return idx
}

// page returns up to q.size rows after q's cursor, in q's order, that pass
// q's filter, and whether another such row follows. The cursor is a sort
// key, not an offset, so rows written meanwhile are neither skipped nor
// repeated when the order is by key.
func page[R any](s *schema[R], t *table[R], q *listQuery) ([]R, bool) {
	n := len(t.rows)
	at := func(k int) *R {
		if q.desc {
			k = n - 1 - k
		}
		if q.byModified {
			return &t.rows[t.byModified[k]]
		}
		return &t.rows[k]
	}
	start := 0
	if q.after != nil {
		start = sort.Search(n, func(k int) bool { return compare(q, s, at(k)) > 0 })
	}
	out := make([]R, 0, min(q.size, n-start))
	for k := start; k < n; k++ {
		r := at(k)
		if !match(q, s, r) {
			continue
		}
		if len(out) == q.size {
			return out, true
		}
		out = append(out, *r)
	}
	return out, false
}

func (st *store) findCert(id string) (int, bool) {
	return slices.BinarySearchFunc(st.certs.rows, id, func(r certRow, id string) int { return strings.Compare(r.id, id) })
}

// getCert returns a copy of the certification with the given key.
func (st *store) getCert(id string) (certRow, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	i, ok := st.findCert(id)
	if !ok {
		return certRow{}, false
	}
	return st.certs.rows[i], true
}

// patch is one PATCH of a certification's sync columns.
type patch struct {
	id          string
	ifMatch     string // "", "*" or an entity tag
	ifNoneMatch bool   // If-None-Match: *
	setStatus   bool
	status      int
	setSynced   bool
	synced      time.Time
	at          time.Time // modifiedon of the write
	correlation string
}

// apply checks p's preconditions and applies it, creating the record when
// it is missing and no precondition forbids that (upsert). It returns the
// row after the write and whether it was created.
func (st *store) apply(p patch) (certRow, bool, *apiError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i, found := st.findCert(p.id)
	switch {
	case found && p.ifNoneMatch:
		return certRow{}, false, &apiError{http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists."}
	case !found && p.ifMatch != "":
		return certRow{}, false, notFound(p.id)
	case found && p.ifMatch != "" && p.ifMatch != "*" && !etagMatches(p.ifMatch, st.certs.rows[i].version):
		return certRow{}, false, &apiError{http.StatusPreconditionFailed, codeVersionMismatch,
			"The version of the existing record doesn't match the RowVersion property provided."}
	}
	if !found {
		st.certs.rows = slices.Insert(st.certs.rows, i, certRow{id: p.id})
	}
	r := &st.certs.rows[i]
	if p.setStatus {
		r.status = p.status
	}
	if p.setSynced {
		r.lastSynced = p.synced
	}
	st.version++
	r.version = st.version
	r.modified = p.at
	st.certs.byModified = nil
	w := Write{
		ID:            r.id,
		Status:        ports.SyncStatus(r.status),
		LastSyncedOn:  r.lastSynced,
		Created:       !found,
		ETag:          etag(r.version),
		At:            p.at,
		CorrelationID: p.correlation,
	}
	if !st.noWriteLog {
		st.writes = append(st.writes, w)
		st.writeCount[r.id]++
	}
	return *r, !found, nil
}

func (st *store) deleteCertification(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	i, ok := st.findCert(id)
	if ok {
		st.certs.rows = slices.Delete(st.certs.rows, i, i+1)
		st.certs.byModified = nil
	}
	return ok
}

// deleteMany removes the rows of the given ids (lower case) from both
// tables in one pass each, and returns how many of each it removed.
func (st *store) deleteMany(certIDs, assignIDs map[string]bool) (certs, assigns int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := len(st.certs.rows)
	st.certs.rows = slices.DeleteFunc(st.certs.rows, func(r certRow) bool { return certIDs[r.id] })
	certs = n - len(st.certs.rows)
	n = len(st.assigns.rows)
	st.assigns.rows = slices.DeleteFunc(st.assigns.rows, func(r assignRow) bool { return assignIDs[r.id] })
	assigns = n - len(st.assigns.rows)
	st.certs.byModified, st.assigns.byModified = nil, nil
	return certs, assigns
}

func (st *store) certifications() []ports.Certification {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := make([]ports.Certification, len(st.certs.rows))
	for i := range st.certs.rows {
		out[i] = st.certs.rows[i].port()
	}
	return out
}

func (st *store) endAssignment(id string, on ports.Date, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	rows := st.assigns.rows
	i, ok := sort.Find(len(rows), func(i int) int { return strings.Compare(id, rows[i].id) })
	if !ok {
		return false
	}
	r := &rows[i]
	r.end, r.status, r.state = on, 3, int(ports.StateInactive)
	r.modified = now.UTC().Truncate(time.Second)
	st.version++
	r.version = st.version
	st.assigns.byModified = nil
	return true
}

func (st *store) assignments() []ports.Assignment {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := make([]ports.Assignment, len(st.assigns.rows))
	for i, r := range st.assigns.rows {
		out[i] = ports.Assignment{
			ID:            r.id,
			MentorID:      r.mentor,
			CoordinatorID: r.coordinator,
			ChapterID:     r.chapter,
			Status:        r.status,
			StartDate:     r.start,
			EndDate:       r.end,
			State:         ports.RecordState(r.state),
			ModifiedOn:    r.modified,
			ETag:          etag(r.version),
		}
	}
	return out
}

func (st *store) writeLog() []Write {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return slices.Clone(st.writes)
}

func (st *store) writeCounts() map[string]int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return maps.Clone(st.writeCount)
}

func (st *store) resetWrites() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.writes = nil
	st.writeCount = map[string]int{}
}

func (r *certRow) port() ports.Certification {
	return ports.Certification{
		ID:           r.id,
		Name:         r.name,
		ContactID:    r.contact,
		Type:         r.ctype,
		IssuedOn:     r.issued,
		ExpiresOn:    r.expires,
		State:        ports.RecordState(r.state),
		ModifiedOn:   r.modified,
		LastSyncedOn: r.lastSynced,
		SyncStatus:   ports.SyncStatus(r.status),
		ETag:         etag(r.version),
	}
}

// etag is the weak entity tag of a row version, W/"12345".
func etag(v int64) string { return `W/"` + strconv.FormatInt(v, 10) + `"` }

// etagMatches reports whether an If-Match value names row version v. It
// accepts the weak and the strong form, and a comma-separated list.
func etagMatches(header string, v int64) bool {
	want := strconv.FormatInt(v, 10)
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if strings.Trim(tag, `"`) == want {
			return true
		}
	}
	return false
}
