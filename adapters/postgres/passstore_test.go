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
	"github.com/hlf/dynamicsportal/ports/passstoretest"
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

func TestPassStoreSuite(t *testing.T) {
	for _, mode := range queryModes {
		t.Run(mode, func(t *testing.T) {
			passstoretest.Run(t, func(t *testing.T) passstoretest.Harness {
				u := database(t, "default_query_exec_mode="+mode)
				conn := connect(t, u)
				return passstoretest.Harness{
					Open: func(t *testing.T) ports.PassStore {
						s, err := Open(t.Context(), u, nil)
						if err != nil {
							t.Fatal(err)
						}
						t.Cleanup(s.Close)
						return s
					},
					Stored: func(t *testing.T) []string {
						return queryStrings(t, conn, "select id::text || ' ' || status from portal.certifications order by id")
					},
				}
			})
		})
	}
}

// begin starts a pass as the core does: Resume finds nothing, and the
// start is committed.
func begin(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.Resume(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Resume = %v, want no checkpoint", err)
	}
	if err := s.Commit(t.Context(), nil, ports.Checkpoint{StartedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
}

// pass stores a complete pass of one page.
func pass(t *testing.T, s *Store, records ...ports.SyncRecord) {
	t.Helper()
	begin(t, s)
	if err := s.Finish(t.Context(), records); err != nil {
		t.Fatal(err)
	}
}

// A commit that fails stores nothing of its page and leaves the
// checkpoint as it was.
func TestAFailedCommitStoresNothing(t *testing.T) {
	s, conn := openStore(t)
	begin(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Commit(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "")}, ports.Checkpoint{Next: "page-2"})
	if ports.CodeOf(err) != ports.CodeCanceled {
		t.Errorf("Commit = %v, want canceled", err)
	}
	if got := queryStrings(t, conn, "select id::text from portal.certifications"); len(got) != 0 {
		t.Errorf("rows %v stored by a failed commit", got)
	}
	if got := queryStrings(t, conn, "select coalesce(checkpoint->>'next', '') from portal.sync_checkpoint"); !slices.Equal(got, []string{""}) {
		t.Errorf("checkpoint next = %q, want the start's", got)
	}
}

// A checkpoint saved by the version before the pass store (the pass's
// number in sinkPosition, or none yet) is resumed: the pass goes on under
// its number, and its rows stay at the sweep.
func TestAnEarlierVersionsCheckpointIsResumed(t *testing.T) {
	s, conn := openStore(t)
	exec(t, conn, `insert into portal.certifications (id, mentor_id, name, type, active, status, synced_at, sync_pass)
		values ($1, $3, 'x', 1, true, 'valid', now(), 41), ($2, $3, 'x', 1, true, 'valid', now(), 42)`, id('c', 1), id('c', 2), id('a', 1))
	exec(t, conn, `insert into portal.sync_checkpoint (checkpoint) values ('{"next":"page-2","sinkPosition":"42","startedAt":"2026-12-01T02:00:00Z","counts":{"read":1,"pages":1}}')`)
	cp, err := s.Resume(t.Context())
	if err != nil || cp.Next != "page-2" || cp.Counts.Read != 1 {
		t.Fatalf("Resume = %+v, %v", cp, err)
	}
	if err := s.Finish(t.Context(), []ports.SyncRecord{cert(id('c', 3), id('a', 1), ports.SyncStatusValid, "")}); err != nil {
		t.Fatal(err)
	}
	if got, want := queryStrings(t, conn, "select id::text from portal.certifications order by id"), []string{id('c', 2), id('c', 3)}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	// A start saved without a number: the next commit numbers the pass.
	exec(t, conn, `insert into portal.sync_checkpoint (checkpoint) values ('{"next":"","startedAt":"2026-12-02T02:00:00Z"}')`)
	if err := s.Finish(t.Context(), []ports.SyncRecord{cert(id('c', 3), id('a', 1), ports.SyncStatusValid, "")}); err != nil {
		t.Fatal(err)
	}
	if got, want := queryStrings(t, conn, "select id::text from portal.certifications order by id"), []string{id('c', 3)}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// The assignments a pass mirrors go under the pass's number, which its
// start committed, so the sweeps of both tables agree.
func TestAssignmentsGoUnderThePassOfTheCheckpoint(t *testing.T) {
	s, conn := openStore(t)
	begin(t, s)
	if err := s.WriteAssignments(t.Context(), []ports.Assignment{{ID: id('e', 1), MentorID: id('a', 1), CoordinatorID: id('b', 1), State: ports.StateActive}}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(t.Context(), []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "2030-01-01")}); err != nil {
		t.Fatal(err)
	}
	got := queryStrings(t, conn, "select sync_pass::text from portal.assignments union all select sync_pass::text from portal.certifications")
	if len(got) != 2 || got[0] != got[1] || got[0] == "0" {
		t.Errorf("sync passes %v: want one pass number, not 0", got)
	}
}

func TestResumeWithoutCheckpointAndDamaged(t *testing.T) {
	s, conn := openStore(t)
	if _, err := s.Resume(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Resume = %v, want ErrNoCheckpoint", err)
	}
	exec(t, conn, `insert into portal.sync_checkpoint (checkpoint) values ('{"next": 7}')`)
	_, err := s.Resume(t.Context())
	if err == nil || errors.Is(err, ports.ErrNoCheckpoint) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Resume of a damaged checkpoint = %v", err)
	}
}

func TestACompletePassRemovesRecordsGoneFromThePortal(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	pass(t, s, cert(id('c', 1), id('a', 1), ports.SyncStatusValid, ""), cert(id('c', 2), id('a', 1), ports.SyncStatusValid, ""),
		cert(id('c', 3), id('a', 2), ports.SyncStatusValid, ""))
	// c2 was deleted in the portal, c3 became inactive.
	pass(t, s, cert(id('c', 1), id('a', 1), ports.SyncStatusValid, ""), cert(id('c', 3), id('a', 2), ports.SyncStatusInactive, ""))
	got := queryStrings(t, conn, "select id::text || ' ' || status || ' ' || active::text from portal.certifications order by id")
	want := []string{id('c', 1) + " valid true", id('c', 3) + " inactive false"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if _, err := s.Resume(ctx); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("Resume after Finish: %v, want ErrNoCheckpoint", err)
	}
}

func TestRecordsWithoutAMentorAreSkipped(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	if err := s.Commit(ctx, []ports.SyncRecord{
		cert(id('c', 1), "", ports.SyncStatusValid, ""),
		cert("not-a-guid", id('a', 1), ports.SyncStatusValid, ""),
		cert(id('c', 3), id('a', 1), ports.SyncStatusExpiring, "2026-12-24"),
	}, ports.Checkpoint{Next: "x"}); err != nil {
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
			begin(t, s)
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
			if err := s.Finish(ctx, nil); err != nil {
				t.Fatal(err)
			}
			begin(t, s)
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

// The pass stores assignments beside its pages: a page of assignments is
// stored while a page of certifications is still being written (here held
// up by a row lock).
func TestAssignmentsAreStoredWhileAPageIsWritten(t *testing.T) {
	s, conn := openStore(t)
	ctx := t.Context()
	begin(t, s)
	first := cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "2030-01-01")
	if err := s.Commit(ctx, []ports.SyncRecord{first}, ports.Checkpoint{Next: "page-2"}); err != nil {
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
		page <- s.Commit(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusExpired, "2020-01-01")}, ports.Checkpoint{Next: "page-3"})
	}()
	defer func() {
		_ = lock.Rollback(ctx)
		if err := <-page; err != nil {
			t.Errorf("Commit after the lock: %v", err)
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

func TestAssignmentsFailOnACancelledContext(t *testing.T) {
	s, conn := openStore(t)
	begin(t, s)
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
		pass(t, s, cert(id('c', 1), id('a', 1), ports.SyncStatusValid, ""))
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
	r := cert(id('c', 1), id('a', 7), ports.SyncStatusExpiring, "2027-01-15")
	r.Name, r.Type = "Safeguarding refresher", 3
	r.IssuedOn = ports.Date{Year: 2025, Month: 3, Day: 9}
	r.ModifiedOn = time.Date(2026, 11, 30, 8, 15, 42, 0, time.UTC)
	inactive := cert(id('c', 2), id('a', 8), ports.SyncStatusInactive, "")
	pass(t, s, r, inactive)
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
// an assignment each, by the same numbers) and returns the errors of the
// assignments' last page and of Finish, joined.
func storeCerts(t *testing.T, s *Store, n int) error {
	t.Helper()
	ctx := t.Context()
	begin(t, s)
	page := make([]ports.SyncRecord, n)
	assigns := make([]ports.Assignment, n)
	for i := range n {
		page[i] = cert(id('c', i+1), id('a', i+1), ports.SyncStatusValid, "")
		assigns[i] = ports.Assignment{ID: id('b', i+1), MentorID: id('a', i+1), CoordinatorID: id('e', 1), State: ports.StateActive}
	}
	aerr := s.WriteAssignments(ctx, assigns, true)
	if aerr != nil && !errors.Is(aerr, ports.ErrDeletionsHeld) {
		t.Fatal(aerr)
	}
	return errors.Join(s.Finish(ctx, page), aerr)
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
		t.Fatalf("a pass after an empty listing = %v, want the sweep of 600 of 600 held at 500", err)
	}
	if c, a := count(t, conn, "certifications"), count(t, conn, "assignments"); c != 600 || a != 600 {
		t.Errorf("after the held sweep: %d certifications and %d assignments, want 600 of each kept", c, a)
	}
	if _, err := s.Resume(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
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
	s, err := Open(t.Context(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := storeCerts(t, s, 600); err != nil {
		t.Fatal(err)
	}
	s.Close()
	strict, err := Open(t.Context(), u, &Options{DeletionThreshold: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := storeCerts(t, strict, 594); !errors.Is(err, ports.ErrDeletionsHeld) {
		t.Errorf("a sweep of 6 over a threshold of 5: %v, want it held", err)
	}
	strict.Close()
	confirmed, err := Open(t.Context(), u, &Options{AllowDeletions: 600})
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
