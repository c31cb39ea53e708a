package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlf/dynamicsportal/ports"
)

func cert(id, mentor string, status ports.SyncStatus, expires string) ports.SyncRecord {
	r := ports.SyncRecord{
		Certification: ports.Certification{ID: id, ContactID: mentor, Name: "Peer mentor basic course", Type: 1,
			IssuedOn: ports.Date{Year: 2024, Month: 1, Day: 2}, ModifiedOn: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Computed: status, Action: ports.ActionWritten,
	}
	if expires != "" {
		r.ExpiresOn, _ = ports.ParseDate(expires)
	}
	if status == ports.SyncStatusInactive {
		r.State = ports.StateInactive
	}
	return r
}

// ids returns a GUID made of one repeated hex digit and a number, easy to
// read in failures: id('c', 1) = cccccccc-0000-4000-8000-000000000001.
func id(kind byte, n int) string {
	k := strings.Repeat(string(kind), 8)
	return k + "-0000-4000-8000-" + strings.Repeat("0", 12-len(itoa(n))) + itoa(n)
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func TestPageAndCheckpointCommitTogether(t *testing.T) {
	for _, mode := range queryModes {
		t.Run(mode, func(t *testing.T) {
			s, conn := openStore(t, "default_query_exec_mode="+mode)
			ctx := t.Context()
			if err := s.Rewind(ctx, ""); err != nil {
				t.Fatal(err)
			}
			pos, err := s.WritePage(ctx, []ports.SyncRecord{
				cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "2030-01-01"),
				cert(id('c', 2), id('a', 1), ports.SyncStatusExpired, "2020-01-01"),
			})
			if err != nil {
				t.Fatal(err)
			}
			// Not visible before the checkpoint commits it.
			if got := queryStrings(t, conn, "select id::text from portal.certifications"); len(got) != 0 {
				t.Fatalf("rows visible before the checkpoint: %v", got)
			}
			cp := ports.Checkpoint{Next: "page-2", SinkPosition: pos, StartedAt: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC),
				Counts: ports.SyncCounts{Read: 2, Pages: 1}}
			if err := s.Save(ctx, cp); err != nil {
				t.Fatal(err)
			}
			got := queryStrings(t, conn, "select id::text || ' ' || mentor_id::text || ' ' || status || ' ' || coalesce(expires_on::text, '-') || ' ' || active::text from portal.certifications order by id")
			want := []string{
				id('c', 1) + " " + id('a', 1) + " valid 2030-01-01 true",
				id('c', 2) + " " + id('a', 1) + " expired 2020-01-01 true",
			}
			if !slices.Equal(got, want) {
				t.Errorf("rows %q, want %q", got, want)
			}
			loaded, err := s.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Next != cp.Next || loaded.SinkPosition != pos || !loaded.StartedAt.Equal(cp.StartedAt) || loaded.Counts != cp.Counts {
				t.Errorf("Load = %+v, want %+v", loaded, cp)
			}
		})
	}
}

func TestAPageWithoutItsCheckpointIsNotStored(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	pos, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, ports.Checkpoint{Next: "2", SinkPosition: pos}); err != nil {
		t.Fatal(err)
	}
	// The next page is written, then the process dies before its
	// checkpoint: the page and the checkpoint are both absent.
	if _, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 2), id('a', 1), ports.SyncStatusValid, "")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := queryStrings(t, conn, "select id::text from portal.certifications order by id"); !slices.Equal(got, []string{id('c', 1)}) {
		t.Errorf("rows after a page lost its checkpoint: %v, want only the first page's", got)
	}
	if got := queryStrings(t, conn, "select checkpoint->>'next' from portal.sync_checkpoint"); !slices.Equal(got, []string{"2"}) {
		t.Errorf("checkpoint next = %v, want [2]", got)
	}
}

func TestRewindDropsThePageInFlight(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	pos, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rewind(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, ports.Checkpoint{Next: "2", SinkPosition: pos}); err != nil {
		t.Fatal(err)
	}
	if got := queryStrings(t, conn, "select id::text from portal.certifications"); len(got) != 0 {
		t.Errorf("the page written before Rewind was stored: %v", got)
	}
}

func TestACompletePassRemovesRecordsGoneFromThePortal(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	pass := func(records ...ports.SyncRecord) {
		t.Helper()
		if err := s.Rewind(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, ports.Checkpoint{StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WritePage(ctx, records); err != nil {
			t.Fatal(err)
		}
		if err := s.Clear(ctx); err != nil {
			t.Fatal(err)
		}
	}
	pass(cert(id('c', 1), id('a', 1), ports.SyncStatusValid, ""), cert(id('c', 2), id('a', 1), ports.SyncStatusValid, ""),
		cert(id('c', 3), id('a', 2), ports.SyncStatusValid, ""))
	// c2 was deleted in the portal, c3 became inactive.
	pass(cert(id('c', 1), id('a', 1), ports.SyncStatusValid, ""), cert(id('c', 3), id('a', 2), ports.SyncStatusInactive, ""))
	got := queryStrings(t, conn, "select id::text || ' ' || status || ' ' || active::text from portal.certifications order by id")
	want := []string{id('c', 1) + " valid true", id('c', 3) + " inactive false"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("Load after Clear: %v, want ErrNoCheckpoint", err)
	}
}

func TestAResumedPassKeepsItsNumber(t *testing.T) {
	u := database(t)
	conn := connect(t, u)
	ctx := t.Context()
	s, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// An earlier complete pass stored c1 and c2.
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, ""), cert(id('c', 2), id('a', 1), ports.SyncStatusValid, "")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	// A new pass stores page 1 (c1) and is interrupted.
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	pos, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, ports.Checkpoint{Next: "2", SinkPosition: pos}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Another process resumes it, stores page 2 (c3) and completes: c1
	// stays (stored by this pass before the interruption), c2 goes.
	s2, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	cp, err := s2.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Rewind(ctx, cp.SinkPosition); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.WritePage(ctx, []ports.SyncRecord{cert(id('c', 3), id('a', 1), ports.SyncStatusValid, "")}); err != nil {
		t.Fatal(err)
	}
	if err := s2.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	got := queryStrings(t, conn, "select id::text from portal.certifications order by id")
	if want := []string{id('c', 1), id('c', 3)}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

func TestRewindRefusesAForeignPosition(t *testing.T) {
	s, _ := openStore(t)
	for _, pos := range []string{"1024", "-3", "0"} {
		err := s.Rewind(t.Context(), pos)
		if pos == "1024" {
			// A byte offset of a JSON-lines file parses as a number: it is
			// taken as a pass number, and only sweeps depend on it.
			if err != nil {
				t.Errorf("Rewind(%q): %v", pos, err)
			}
			continue
		}
		if !errors.Is(err, ErrDatabase) || !strings.Contains(err.Error(), "not a sync pass") {
			t.Errorf("Rewind(%q) = %v, want a databaseError naming the position", pos, err)
		}
	}
	if err := s.Rewind(t.Context(), "page-7"); err == nil {
		t.Error("Rewind(page-7) succeeded")
	}
}

func TestRecordsWithoutAMentorAreSkipped(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	if _, err := s.WritePage(ctx, []ports.SyncRecord{
		cert(id('c', 1), "", ports.SyncStatusValid, ""),
		cert("not-a-guid", id('a', 1), ports.SyncStatusValid, ""),
		cert(id('c', 3), id('a', 1), ports.SyncStatusExpiring, "2026-12-24"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, ports.Checkpoint{Next: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := queryStrings(t, conn, "select id::text from portal.certifications"); !slices.Equal(got, []string{id('c', 3)}) {
		t.Errorf("rows %v, want only the record with a mentor", got)
	}
}

func TestAssignmentsAreMirroredAndSwept(t *testing.T) {
	for _, mode := range queryModes {
		t.Run(mode, func(t *testing.T) {
			s, conn := openStore(t, "default_query_exec_mode="+mode)
			ctx := t.Context()
			start := ports.Date{Year: 2025, Month: 3, Day: 1}
			a := func(n int, chapter string, end ports.Date, state ports.RecordState) ports.Assignment {
				return ports.Assignment{ID: id('e', n), MentorID: id('a', n), CoordinatorID: id('b', 1), ChapterID: chapter,
					Status: 1, StartDate: start, EndDate: end, State: state, ModifiedOn: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			}
			if err := s.Rewind(ctx, ""); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteAssignments(ctx, []ports.Assignment{a(1, id('d', 1), ports.Date{}, ports.StateActive), a(2, "", ports.Date{}, ports.StateActive)}, false); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteAssignments(ctx, []ports.Assignment{a(3, id('d', 2), start.AddDays(10), ports.StateInactive), {ID: id('e', 4)}}, true); err != nil {
				t.Fatal(err)
			}
			q := "select id::text || ' ' || coalesce(chapter_id::text, '-') || ' ' || coalesce(starts_on::text, '-') || ' ' || coalesce(ends_on::text, '-') || ' ' || active::text from portal.assignments order by id"
			want := []string{
				id('e', 1) + " " + id('d', 1) + " 2025-03-01 - true",
				id('e', 2) + " - 2025-03-01 - true",
				id('e', 3) + " " + id('d', 2) + " 2025-03-01 2025-03-11 false",
			}
			if got := queryStrings(t, conn, q); !slices.Equal(got, want) {
				t.Errorf("rows %q, want %q", got, want)
			}
			// The next pass no longer lists e2: its last page sweeps it.
			if err := s.Rewind(ctx, ""); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteAssignments(ctx, []ports.Assignment{a(1, id('d', 1), ports.Date{}, ports.StateActive)}, false); err != nil {
				t.Fatal(err)
			}
			if got := queryStrings(t, conn, "select id::text from portal.assignments order by id"); len(got) != 3 {
				t.Errorf("swept before the last page: %v", got)
			}
			if err := s.WriteAssignments(ctx, []ports.Assignment{a(3, id('d', 2), start.AddDays(10), ports.StateInactive)}, true); err != nil {
				t.Fatal(err)
			}
			if got, want := queryStrings(t, conn, "select id::text from portal.assignments order by id"), []string{id('e', 1), id('e', 3)}; !slices.Equal(got, want) {
				t.Errorf("after the second listing: %v, want %v", got, want)
			}
		})
	}
}

func TestLoadWithoutCheckpointAndDamaged(t *testing.T) {
	s, conn := openStore(t)
	if _, err := s.Load(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Load = %v, want ErrNoCheckpoint", err)
	}
	exec(t, conn, `insert into portal.sync_checkpoint (checkpoint) values ('{"next": 7}')`)
	_, err := s.Load(t.Context())
	if err == nil || errors.Is(err, ports.ErrNoCheckpoint) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Load of a damaged checkpoint = %v", err)
	}
}

// The pass stores assignments beside its pages: a page of assignments is
// stored while a page of certifications is still being written (here held
// up by a row lock).
func TestAssignmentsAreStoredWhileAPageIsWritten(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	first := cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "2030-01-01")
	if _, err := s.WritePage(ctx, []ports.SyncRecord{first}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, ports.Checkpoint{Next: "page-2"}); err != nil {
		t.Fatal(err)
	}
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "select from portal.certifications where id = $1 for update", first.ID); err != nil {
		t.Fatal(err)
	}
	page := make(chan error, 1)
	go func() {
		_, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusExpired, "2020-01-01")})
		page <- err
	}()
	defer func() {
		_ = lock.Rollback(ctx)
		if err := <-page; err != nil {
			t.Errorf("WritePage after the lock: %v", err)
		}
	}()
	// Wait until the page's statement waits for the lock.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := s.Pool().QueryRow(ctx, "select count(*) from pg_stat_activity where wait_event_type = 'Lock'").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page never waited for the row lock")
		}
	}
	stored := make(chan error, 1)
	go func() {
		stored <- s.WriteAssignments(ctx, []ports.Assignment{{ID: id('e', 1), MentorID: id('a', 1), CoordinatorID: id('b', 1), State: ports.StateActive}}, true)
	}()
	select {
	case err := <-stored:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		_ = lock.Rollback(ctx)
		<-stored
		t.Fatal("the assignments waited for the page of certifications")
	}
	if got := queryStrings(t, conn, "select id::text from portal.assignments"); !slices.Equal(got, []string{id('e', 1)}) {
		t.Errorf("assignments %v, want the one stored", got)
	}
}

// Assignments stored before any Rewind number the pass themselves, and the
// certifications that follow go on under the same number.
func TestAssignmentsFirstNumberThePass(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	if err := s.WriteAssignments(ctx, []ports.Assignment{{ID: id('e', 1), MentorID: id('a', 1), CoordinatorID: id('b', 1), State: ports.StateActive}}, true); err != nil {
		t.Fatal(err)
	}
	pos, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "2030-01-01")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	got := queryStrings(t, conn, "select sync_pass::text from portal.assignments union all select sync_pass::text from portal.certifications")
	if pos == "0" || !slices.Equal(got, []string{pos, pos}) {
		t.Errorf("sync passes %v, page position %s: want one pass number, not 0", got, pos)
	}
}

func TestAssignmentsFailOnACancelledContext(t *testing.T) {
	s, conn := openStore(t)
	if err := s.Rewind(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.WriteAssignments(ctx, []ports.Assignment{{ID: id('e', 1), MentorID: id('a', 1), CoordinatorID: id('b', 1)}}, true)
	if ports.CodeOf(err) != ports.CodeCanceled {
		t.Errorf("WriteAssignments = %v, want canceled", err)
	}
	if got := queryStrings(t, conn, "select id::text from portal.assignments"); len(got) != 0 {
		t.Errorf("assignments %v stored, want none", got)
	}
}

// The sweep of records gone from the portal runs only when a pass
// completes: no checkpoint save removes a row, so an interrupted pass
// leaves every row of the previous complete pass in place, and the next run
// resumes it and sweeps at its end.
func TestTheSweepRunsOnlyWhenAPassCompletes(t *testing.T) {
	u := database(t)
	conn := connect(t, u)
	ctx := t.Context()
	s, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows := func() []string {
		return queryStrings(t, conn, "select id::text from portal.certifications order by id")
	}
	c := func(n int) ports.SyncRecord { return cert(id('c', n), id('a', 1), ports.SyncStatusValid, "") }
	// A complete pass stores c1, c2, c3.
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePage(ctx, []ports.SyncRecord{c(1), c(2), c(3)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	// The next pass stores two pages, saving a checkpoint after each, and
	// is interrupted: the portal no longer lists c2 and c3, but nothing
	// is removed yet.
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for i, page := range [][]ports.SyncRecord{{c(1)}, {c(4)}} {
		pos, err := s.WritePage(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, ports.Checkpoint{Next: itoa(i + 2), SinkPosition: pos}); err != nil {
			t.Fatal(err)
		}
		if got := rows(); !slices.Contains(got, id('c', 2)) || !slices.Contains(got, id('c', 3)) {
			t.Fatalf("after the checkpoint of page %d: rows %v, want c2 and c3 kept", i+1, got)
		}
	}
	s.Close()
	// The next run resumes the pass from its checkpoint and completes it:
	// now c2 and c3 go.
	s2, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	cp, err := s2.Load(ctx)
	if err != nil || cp.Next != "3" {
		t.Fatalf("Load = %+v, %v; want the interrupted pass's checkpoint", cp, err)
	}
	if err := s2.Rewind(ctx, cp.SinkPosition); err != nil {
		t.Fatal(err)
	}
	if err := s2.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := rows(), []string{id('c', 1), id('c', 4)}; !slices.Equal(got, want) {
		t.Errorf("after the resumed pass completed: rows %v, want %v", got, want)
	}
}

// synced_at advances on every store of a row, whether or not it changed.
func TestSyncedAtAdvancesOnEveryStore(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	syncedAt := func() time.Time {
		var at time.Time
		if err := conn.QueryRow(ctx, "select synced_at from portal.certifications where id = $1", id('c', 1)).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	var seen []time.Time
	for range 3 {
		if err := s.Rewind(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WritePage(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, syncedAt())
	}
	if !seen[1].After(seen[0]) || !seen[2].After(seen[1]) {
		t.Errorf("synced_at over three stores of the same record: %v, want each later than the one before", seen)
	}
}

// Every stored column holds the portal's value: issued_on the issue date,
// expires_on the expiry, type, name, the mentor, active, the status the
// pass computed, modified_on.
func TestEveryStoredColumnIsThePortalsValue(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	r := cert(id('c', 1), id('a', 7), ports.SyncStatusExpiring, "2027-01-15")
	r.Name, r.Type = "Safeguarding refresher", 3
	r.IssuedOn = ports.Date{Year: 2025, Month: 3, Day: 9}
	r.ModifiedOn = time.Date(2026, 11, 30, 8, 15, 42, 0, time.UTC)
	inactive := cert(id('c', 2), id('a', 8), ports.SyncStatusInactive, "")
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePage(ctx, []ports.SyncRecord{r, inactive}); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	got := queryStrings(t, conn, `select concat_ws('|', id, mentor_id, name, type, issued_on, coalesce(expires_on::text, 'none'), active::text, status,
		to_char(modified_on at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')) from portal.certifications order by id`)
	want := []string{
		id('c', 1) + "|" + id('a', 7) + "|Safeguarding refresher|3|2025-03-09|2027-01-15|true|expiring|2026-11-30T08:15:42",
		id('c', 2) + "|" + id('a', 8) + "|Peer mentor basic course|1|2024-01-02|none|false|inactive|2026-01-02T03:04:05",
	}
	if !slices.Equal(got, want) {
		t.Errorf("stored rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// storeCerts runs a complete pass that stores certifications 1…n (with
// an assignment each, by the same numbers) and returns Clear's error.
func storeCerts(t *testing.T, s *Store, n int) error {
	t.Helper()
	ctx := t.Context()
	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	page := make([]ports.SyncRecord, n)
	assigns := make([]ports.Assignment, n)
	for i := range n {
		page[i] = cert(id('c', i+1), id('a', i+1), ports.SyncStatusValid, "")
		assigns[i] = ports.Assignment{ID: id('b', i+1), MentorID: id('a', i+1), CoordinatorID: id('e', 1), State: ports.StateActive}
	}
	if err := s.WriteAssignments(ctx, assigns, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePage(ctx, page); err != nil {
		t.Fatal(err)
	}
	return s.Clear(ctx)
}

func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), "select count(*) from portal."+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A complete pass whose listing came back empty (a changed filter, a lost
// privilege) would empty the store: the sweep is held above the threshold
// (500 rows, or 10% of the table), the rows are kept, and the pass says
// so; the checkpoint is cleared all the same.
func TestAnEmptyListingLeavesTheStoreIntact(t *testing.T) {
	s, conn := openStore(t)
	if err := storeCerts(t, s, 600); err != nil {
		t.Fatal(err)
	}
	err := storeCerts(t, s, 0)
	var held *ports.DeletionsHeldError
	if !errors.As(err, &held) || !errors.Is(err, ports.ErrDeletionsHeld) || held.Rows != 600 || held.Stored != 600 || held.Threshold != 500 {
		t.Fatalf("Clear after an empty listing = %v, want the sweep of 600 of 600 held at 500", err)
	}
	if c, a := count(t, conn, "certifications"), count(t, conn, "assignments"); c != 600 || a != 600 {
		t.Errorf("after the held sweep: %d certifications and %d assignments, want 600 of each kept", c, a)
	}
	if _, err := s.Load(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("the checkpoint after a held sweep: %v, want it cleared (the pass is complete)", err)
	}
}

// Real deletions below the threshold go through: 10 records gone among
// 1000.
func TestTenDeletionsAmongAThousandGoThrough(t *testing.T) {
	s, conn := openStore(t)
	if err := storeCerts(t, s, 1000); err != nil {
		t.Fatal(err)
	}
	if err := storeCerts(t, s, 990); err != nil {
		t.Fatalf("a sweep of 10 of 1000: %v", err)
	}
	if c, a := count(t, conn, "certifications"), count(t, conn, "assignments"); c != 990 || a != 990 {
		t.Errorf("%d certifications and %d assignments, want 990 of each", c, a)
	}
}

// A confirmed mass deletion goes through: AllowDeletions (portalsync
// --allow-deletions N) covers it; and a threshold of one's own applies.
func TestAConfirmedMassDeletionGoesThrough(t *testing.T) {
	u := database(t)
	conn := connect(t, u)
	s, err := Open(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := storeCerts(t, s, 600); err != nil {
		t.Fatal(err)
	}
	s.Close()
	strict, err := Open(t.Context(), u, Options{DeletionThreshold: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := storeCerts(t, strict, 594); !errors.Is(err, ports.ErrDeletionsHeld) {
		t.Errorf("a sweep of 6 over a threshold of 5: %v, want it held", err)
	}
	strict.Close()
	confirmed, err := Open(t.Context(), u, Options{AllowDeletions: 600})
	if err != nil {
		t.Fatal(err)
	}
	defer confirmed.Close()
	if err := storeCerts(t, confirmed, 0); err != nil {
		t.Fatalf("a confirmed sweep of 600: %v", err)
	}
	if c, a := count(t, conn, "certifications"), count(t, conn, "assignments"); c != 0 || a != 0 {
		t.Errorf("%d certifications and %d assignments left, want none", c, a)
	}
}
