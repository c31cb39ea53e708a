package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/leakscan"
	"github.com/hlf/dynamicsportal/ports"
)

// windowDays is the expiring window of every pass here (the default 30d).
const windowDays = 30

// secretMarker starts the client secret of every emulator here, so that a
// leak is found wherever it lands. Like an Entra ID secret it holds
// characters that form encoding changes.
const secretMarker = "chaos~SECRET/7f3a+9c1e="

// expectation is what a complete pass over the seeded data must end with,
// computed from the data before the pass.
type expectation struct {
	ids    []string                    // in key order
	status map[string]ports.SyncStatus // computed status per id
	write  map[string]bool             // ids whose sync metadata needs writing
	counts ports.StatusCounts
}

// expect classifies certs on today with core.Classify and marks the records
// a pass must write: those whose status changed or that were never synced.
func expect(certs []ports.Certification, today ports.Date) expectation {
	e := expectation{status: map[string]ports.SyncStatus{}, write: map[string]bool{}}
	for _, c := range certs {
		s := core.Classify(c, today, windowDays)
		e.ids = append(e.ids, c.ID)
		e.status[c.ID] = s
		if c.SyncStatus != s || c.SyncStatus == ports.SyncStatusNone || c.LastSyncedOn.IsZero() {
			e.write[c.ID] = true
		}
		switch s {
		case ports.SyncStatusValid:
			e.counts.Valid++
		case ports.SyncStatusExpiring:
			e.counts.Expiring++
		case ports.SyncStatusExpired:
			e.counts.Expired++
		case ports.SyncStatusInactive:
			e.counts.Inactive++
		}
	}
	return e
}

// today is the date a pass classifies on; the emulator seeds on the same
// UTC date.
func today() ports.Date { return ports.DateOf(time.Now().UTC()) }

// skipIfDayChanged skips a test whose run crossed midnight UTC: the seeded
// data and the pass would then classify on different dates.
func skipIfDayChanged(t *testing.T, start ports.Date) {
	t.Helper()
	if today() != start {
		t.Skip("the date changed during the run; the expected statuses no longer hold")
	}
}

// writeFigures are what the emulator's write log says about a pass.
type writeFigures struct {
	min, max     int // writes per record that needed writing
	twice        int // records written more than once
	pagesTwice   int // pages holding such a record
	unneeded     int // writes of records that needed none
	wrongStatus  int // writes of a status other than the computed one
	totalWritten int
}

// checkWrites compares the emulator's write log with e: every record that
// needed writing was written with its computed status, exactly once when
// once is set (else at least once), and no other record was written.
func checkWrites(t *testing.T, emu *dynamicstest.Emulator, e expectation, pageSize int, once bool) writeFigures {
	t.Helper()
	per := map[string]int{}
	f := writeFigures{min: -1}
	for _, w := range emu.Writes() {
		per[w.ID]++
		f.totalWritten++
		if w.Status != e.status[w.ID] {
			f.wrongStatus++
		}
		if !e.write[w.ID] {
			f.unneeded++
		}
	}
	pages := map[int]bool{}
	for i, id := range e.ids {
		n := per[id]
		if n > 1 {
			f.twice++
			pages[i/pageSize] = true
		}
		if !e.write[id] {
			continue
		}
		if f.min < 0 || n < f.min {
			f.min = n
		}
		f.max = max(f.max, n)
	}
	f.pagesTwice = len(pages)
	switch {
	case once && (f.min != 1 || f.max != 1 || f.twice != 0 || f.unneeded != 0 || f.wrongStatus != 0):
		t.Errorf("writes: %+v; want each of the %d records that needed it written exactly once, with its status, and no other",
			f, len(e.write))
	case !once && (f.min < 1 || f.unneeded != 0 || f.wrongStatus != 0):
		t.Errorf("writes: %+v; want each of the %d records that needed it written, with its status, and no other",
			f, len(e.write))
	}
	for _, c := range emu.Certifications() {
		if c.SyncStatus != e.status[c.ID] || c.LastSyncedOn.IsZero() {
			t.Errorf("record %s left with status %v (synced %v), want %v", c.ID, c.SyncStatus, c.LastSyncedOn, e.status[c.ID])
			break
		}
	}
	return f
}

// checkCounts compares a complete pass's totals with e.
func checkCounts(t *testing.T, c ports.SyncCounts, e expectation, pageSize int) {
	t.Helper()
	want := ports.SyncCounts{
		Read:   len(e.ids),
		Pages:  (len(e.ids) + pageSize - 1) / pageSize,
		Status: e.counts,
		Writes: ports.WriteCounts{Done: len(e.write), Unchanged: len(e.ids) - len(e.write)},
	}
	if c != want {
		t.Errorf("report counts\n got %+v\nwant %+v", c, want)
	}
}

// checkRecordFile checks that the JSON-lines file holds every record once,
// in key order, with its computed status.
func checkRecordFile(t *testing.T, path string, e expectation) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r ports.SyncRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("record line %d: %v", len(ids)+1, err)
		}
		if r.Computed != e.status[r.ID] {
			t.Errorf("record %s in the file with status %v, want %v", r.ID, r.Computed, e.status[r.ID])
		}
		ids = append(ids, r.ID)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, e.ids) {
		t.Errorf("the record file holds %d records; want the %d records once each, in key order", len(ids), len(e.ids))
	}
}

// scanForSecrets searches every output for the client secret, the tokens
// the emulator issued and any Authorization header or bearer token, fails
// t on a hit, and logs what it scanned.
func scanForSecrets(t *testing.T, clientID, secret string, tokens []string, outputs map[string][]byte) {
	t.Helper()
	s := leakscan.New()
	s.Credentials(clientID, secret)
	s.Tokens(tokens...)
	for _, name := range slices.Sorted(maps.Keys(outputs)) {
		for _, hit := range s.Scan(name, outputs[name]) {
			t.Errorf("secret leak: %s", hit)
		}
	}
	t.Logf("secret scan: %s", s.Summary())
	if s.TokenCount() == 0 {
		t.Errorf("no issued token to search for")
	}
}

// faultKinds renders per-kind counts in a stable order.
func faultKinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}

// readIfExists reads a file, or returns nothing when it does not exist.
func readIfExists(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}
