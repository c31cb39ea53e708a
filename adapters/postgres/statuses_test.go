package postgres

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StatusesFor sets both settings auth.uid() reads, transaction-locally: a
// session-level request.jwt.claim.sub that other code left on the pooled
// connection chooses nobody, and once StatusesFor returns the connection
// holds no claims and no role. One connection in the pool makes sure the
// leftover and the call meet.
func TestStatusesForIgnoresAndLeavesNoSessionClaims(t *testing.T) {
	u := database(t)
	conn := connect(t, u)
	seedWorld(t, conn)
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := New(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another user's subject, left at session level on the only connection.
	if _, err := s.Pool().Exec(t.Context(), "select set_config('request.jwt.claim.sub', $1, false)", uuidOf("uC1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.StatusesFor(t.Context(), uuidOf("uM1"), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range got {
		names = append(names, nameOf(st.CertificationID))
	}
	if want := []string{"c12", "c11"}; !slices.Equal(names, want) {
		t.Errorf("uM1 with uC1's claim.sub left on the connection sees %v, want their own %v", names, want)
	}

	// After the call: what the connection holds at session level.
	if _, err := s.Pool().Exec(t.Context(), "reset all"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatusesFor(t.Context(), uuidOf("uM1"), Filter{}); err != nil {
		t.Fatal(err)
	}
	var sub, claims, role string
	if err := s.Pool().QueryRow(t.Context(), `select coalesce(current_setting('request.jwt.claim.sub', true), ''),
		coalesce(current_setting('request.jwt.claims', true), ''), current_user::text`).Scan(&sub, &claims, &role); err != nil {
		t.Fatal(err)
	}
	if sub != "" || claims != "" || role == "authenticated" {
		t.Errorf("after StatusesFor the connection holds claim.sub %q, claims %q, role %s; want no claims and the owner's role", sub, claims, role)
	}
}

// "Today" in the status function is the date in UTC, whatever the caller's
// session time zone. A zone is picked whose date differs from UTC's now
// (UTC+14 from 10:00 UTC, else UTC-12): an assignment that ends today in
// UTC is current from UTC+14, where it is already tomorrow; one that starts
// today in UTC is current from UTC-12, where it is still yesterday.
func TestStatusesTodayIsTheDateInUTC(t *testing.T) {
	u := database(t)
	conn := connect(t, u)
	var hour int
	var today string
	if err := conn.QueryRow(t.Context(), "select extract(hour from now() at time zone 'UTC')::int, (now() at time zone 'UTC')::date::text").Scan(&hour, &today); err != nil {
		t.Fatal(err)
	}
	zone, column := "Etc/GMT-14", "ends_on" // UTC+14: local date is tomorrow
	if hour < 10 {
		zone, column = "Etc/GMT+12", "starts_on" // UTC-12: local date is yesterday
	}
	exec(t, conn, "insert into portal.people values ($1, $2)", uuidOf("uC1"), uuidOf("C1"))
	exec(t, conn, `insert into portal.certifications (id, mentor_id, name, active, status, synced_at) values ($1, $2, 'Course', true, 'valid', now())`,
		uuidOf("c11"), uuidOf("M1"))
	exec(t, conn, `insert into portal.assignments (id, mentor_id, coordinator_id, `+column+`, active, synced_at) values (gen_random_uuid(), $1, $2, $3::date, true, now())`,
		uuidOf("M1"), uuidOf("C1"), today)
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	var local string
	if err := tx.QueryRow(t.Context(), `select set_config('timezone', $1, true), set_config('role', 'authenticated', true),
		set_config('request.jwt.claims', $2, true)`, zone, `{"sub": "`+uuidOf("uC1")+`"}`).Scan(&local, new(string), new(string)); err != nil {
		t.Fatal(err)
	}
	var localDate string
	if err := tx.QueryRow(t.Context(), "select current_date::text").Scan(&localDate); err != nil || localDate == today {
		t.Fatalf("session date in %s is %s (%v), want one other than UTC's %s", zone, localDate, err, today)
	}
	var n int
	if err := tx.QueryRow(t.Context(), "select count(*) from public.portal_certification_statuses()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("a caller in %s (date %s) sees %d certifications of a mentor whose assignment %s %s in UTC; want 1", zone, localDate, n, column, today)
	}
}

// The chapter filter counts only current, active assignments: a mentor
// visible to a coordinator, whose only assignment in the filtered chapter
// is inactive, is not listed.
func TestTheChapterFilterCountsOnlyActiveAssignments(t *testing.T) {
	s, conn := openStore(t)
	exec(t, conn, "insert into portal.people values ($1, $2)", uuidOf("uC1"), uuidOf("C1"))
	exec(t, conn, `insert into portal.certifications (id, mentor_id, name, active, status, synced_at) values ($1, $2, 'Course', true, 'valid', now())`,
		uuidOf("c11"), uuidOf("M1"))
	exec(t, conn, `insert into portal.assignments (id, mentor_id, coordinator_id, chapter_id, active, synced_at) values
		(gen_random_uuid(), $1, $2, $3, true, now()), (gen_random_uuid(), $1, $4, $5, false, now())`,
		uuidOf("M1"), uuidOf("C1"), uuidOf("K1"), uuidOf("C9"), uuidOf("K2"))
	for _, tc := range []struct {
		chapter string
		want    int
	}{{"K1", 1}, {"K2", 0}} {
		got, err := s.StatusesFor(t.Context(), uuidOf("uC1"), Filter{ChapterID: uuidOf(tc.chapter)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("uC1 filtered by %s (M1's assignment there is %s): %d rows, want %d", tc.chapter,
				map[string]string{"K1": "active", "K2": "inactive"}[tc.chapter], len(got), tc.want)
		}
	}
}

// The RLS matrix: identities × assignment shapes × operations, run against
// the migrated database as the roles anon, authenticated and service_role
// (never as the owner, who bypasses row-level security). Every case states
// the rows it expects, by name, so a deny that becomes an allow, or the
// reverse, fails.
//
// The world (contacts M… are mentors, C… coordinators, K… chapters):
//
//	M1 ─ C1 in K1, current since 100 days          certs c11 valid 2030-01-01, c12 expired 2020-05-01
//	M2 ─ C1 in K1, no start, ends today (current)   certs c21 expiring 2027-01-15, c22 valid (no expiry)
//	M2 ─ C2 in K2, starts today (current)
//	M3 unassigned                                   cert  c31 valid 2030-06-01
//	M4 ─ C3 in K4, ended yesterday                  cert  c41 expired 2021-01-01
//	M5 ─ C4 in K4, starts tomorrow                  cert  c51 valid 2031-01-01
//	M6 ─ C5 in K4, inactive                         cert  c61 inactive 2029-01-01
//	M7 ─ C1, no chapter, current                    cert  c71 valid 2032-01-01
//	M8 ─ C2 in K2, current                          cert  c81 valid 2033-01-01
//	M9 ─ C6 in K3, current                          cert  c91 expiring 2027-02-01
//
// Users (portal.people maps a user to a contact; chapter_admins to chapters):
//
//	uM1→M1, uM2→M2, uC1→C1 … uC6→C6, uS→S (a contact with nothing)
//	uC6 also administers K3 (coordinator and chapter admin of M9)
//	uK1 administers K1; uK12 administers K1 and K2; uK4 administers K4
//	(none of them has a contact); uNone has neither a contact nor a chapter.

// uuidOf names a fixed GUID; nameOf turns it back into the name.
var names = map[string]string{}

func uuidOf(name string) string {
	sum := md5.Sum([]byte("rls-matrix/" + name))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	u := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	names[u] = name
	return u
}

func nameOf(u string) string {
	if n, ok := names[u]; ok {
		return n
	}
	return u
}

// certStatus and certMentor describe the fixture's certifications.
var (
	certStatus = map[string]string{"c11": "valid", "c12": "expired", "c21": "expiring", "c22": "valid", "c31": "valid",
		"c41": "expired", "c51": "valid", "c61": "inactive", "c71": "valid", "c81": "valid", "c91": "expiring"}
	certExpires = map[string]string{"c11": "2030-01-01", "c12": "2020-05-01", "c21": "2027-01-15", "c31": "2030-06-01",
		"c41": "2021-01-01", "c51": "2031-01-01", "c61": "2029-01-01", "c71": "2032-01-01", "c81": "2033-01-01", "c91": "2027-02-01"}
	// chapterMentors are the mentors with a current assignment in a chapter.
	chapterMentors = map[string][]string{"K1": {"M1", "M2"}, "K2": {"M2", "M8"}, "K3": {"M9"}, "K4": nil}
)

// seedWorld inserts the world above as the owner.
func seedWorld(t testing.TB, conn *pgx.Conn) {
	t.Helper()
	for c, st := range certStatus {
		var expires any
		if e, ok := certExpires[c]; ok {
			expires = e
		}
		mentor := "M" + c[1:2]
		exec(t, conn, `insert into portal.certifications (id, mentor_id, name, type, expires_on, active, status, synced_at)
			values ($1, $2, $3, 1, $4::date, $5, $6, now())`, uuidOf(c), uuidOf(mentor), "Course "+c, expires, st != "inactive", st)
	}
	assign := func(a, mentor, coord, chapter, starts, ends string, active bool) {
		var ch any
		if chapter != "" {
			ch = uuidOf(chapter)
		}
		exec(t, conn, `insert into portal.assignments (id, mentor_id, coordinator_id, chapter_id, starts_on, ends_on, active, synced_at)
			values ($1, $2, $3, $4, current_date + $5::int, current_date + $6::int, $7, now())`,
			uuidOf(a), uuidOf(mentor), uuidOf(coord), ch, offset(starts), offset(ends), active)
	}
	assign("a1", "M1", "C1", "K1", "-100", "", true)
	assign("a2", "M2", "C1", "K1", "", "0", true)
	assign("a3", "M2", "C2", "K2", "0", "", true)
	assign("a4", "M4", "C3", "K4", "-100", "-1", true)
	assign("a5", "M5", "C4", "K4", "1", "", true)
	assign("a6", "M6", "C5", "K4", "-100", "", false)
	assign("a7", "M7", "C1", "", "-10", "", true)
	assign("a8", "M8", "C2", "K2", "-10", "", true)
	assign("a9", "M9", "C6", "K3", "-10", "", true)
	for _, p := range [][2]string{{"uM1", "M1"}, {"uM2", "M2"}, {"uC1", "C1"}, {"uC2", "C2"}, {"uC3", "C3"},
		{"uC4", "C4"}, {"uC5", "C5"}, {"uC6", "C6"}, {"uS", "S"}} {
		exec(t, conn, "insert into portal.people (user_id, contact_id) values ($1, $2)", uuidOf(p[0]), uuidOf(p[1]))
	}
	for _, ca := range [][2]string{{"uC6", "K3"}, {"uK1", "K1"}, {"uK12", "K1"}, {"uK12", "K2"}, {"uK4", "K4"}} {
		exec(t, conn, "insert into portal.chapter_admins (user_id, chapter_id) values ($1, $2)", uuidOf(ca[0]), uuidOf(ca[1]))
	}
}

// offset turns "" into SQL null and "-3" into -3.
func offset(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// identity is who runs a statement: a role, and the JWT claims (nil: no
// claims set at all).
type identity struct {
	name   string
	role   string
	claims map[string]any
}

func user(name string) identity {
	return identity{name: name, role: "authenticated", claims: map[string]any{"sub": uuidOf(name), "role": "authenticated"}}
}

var (
	anon           = identity{name: "anon", role: "anon"}
	noClaims       = identity{name: "authenticated without claims", role: "authenticated"}
	emptyClaims    = identity{name: "authenticated with claims but no sub", role: "authenticated", claims: map[string]any{"role": "authenticated"}}
	serviceRole    = identity{name: "service_role without claims", role: "service_role"}
	serviceAsC1    = identity{name: "service_role for uC1", role: "service_role", claims: map[string]any{"sub": uuidOf("uC1"), "role": "service_role"}}
	jwtClaimsSvcM1 = identity{name: "authenticated uM1 claiming role service_role", role: "authenticated",
		claims: map[string]any{"sub": uuidOf("uM1"), "role": "service_role"}}
)

// as runs fn in a transaction as id, rolled back afterwards.
func as(t testing.TB, conn *pgx.Conn, id identity, fn func(tx pgx.Tx) error) error {
	t.Helper()
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if id.claims != nil {
		b, _ := json.Marshal(id.claims)
		if _, err := tx.Exec(t.Context(), "select set_config('request.jwt.claims', $1, true)", string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(t.Context(), "select set_config('role', $1, true)", id.role); err != nil {
		t.Fatal(err)
	}
	return fn(tx)
}

// statuses calls the function as id and returns the certification names.
func statuses(t testing.TB, conn *pgx.Conn, id identity, status, chapter string) ([]string, error) {
	t.Helper()
	var got []string
	err := as(t, conn, id, func(tx pgx.Tx) error {
		var ch any
		if chapter != "" {
			ch = uuidOf(chapter)
		}
		var st any
		if status != "" {
			st = status
		}
		rows, err := tx.Query(t.Context(), "select certification_id::text from public.portal_certification_statuses($1, $2)", st, ch)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, u := range ids {
			got = append(got, nameOf(u))
		}
		return err
	})
	return got, err
}

// sqlState returns the SQLSTATE of err, or "".
func sqlState(err error) string {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code
	}
	return ""
}

// byExpiry orders certification names as the function must: expiry date,
// none last, then id.
func byExpiry(certs ...string) []string {
	out := slices.Clone(certs)
	slices.SortFunc(out, func(a, b string) int {
		ea, oka := certExpires[a]
		eb, okb := certExpires[b]
		switch {
		case oka && okb && ea != eb:
			return strings.Compare(ea, eb)
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(uuidOf(a), uuidOf(b))
	})
	return out
}

// withStatus keeps the certifications of one status.
func withStatus(status string, certs []string) []string {
	var out []string
	for _, c := range certs {
		if certStatus[c] == status {
			out = append(out, c)
		}
	}
	return out
}

// inChapter keeps the certifications of mentors with a current assignment
// in chapter.
func inChapter(chapter string, certs []string) []string {
	var out []string
	for _, c := range certs {
		if slices.Contains(chapterMentors[chapter], "M"+c[1:2]) {
			out = append(out, c)
		}
	}
	return out
}

// matrixCounts tallies the cases, for the size check and the notes.
type matrixCounts struct{ allow, deny int }

func (m *matrixCounts) add(allowed bool) {
	if allowed {
		m.allow++
	} else {
		m.deny++
	}
}

// sees states, for every identity, every certification it sees with no
// filter. Everything the function returns under a filter is derived from
// this list with withStatus and inChapter.
var sees = []struct {
	id   identity
	want []string
}{
	{user("uM1"), byExpiry("c11", "c12")},                       // own
	{user("uM2"), byExpiry("c21", "c22")},                       // own; two coordinators grant the mentor nothing more
	{user("uC1"), byExpiry("c11", "c12", "c21", "c22", "c71")},  // M1, M2 (ends today), M7 (no chapter)
	{user("uC2"), byExpiry("c21", "c22", "c81")},                // M2 (starts today), M8
	{user("uC3"), nil},                                          // assignment ended yesterday
	{user("uC4"), nil},                                          // assignment starts tomorrow
	{user("uC5"), nil},                                          // assignment inactive
	{user("uC6"), byExpiry("c91")},                              // coordinator and chapter admin of M9: once
	{user("uK1"), byExpiry("c11", "c12", "c21", "c22")},         // chapter K1, no contact needed
	{user("uK12"), byExpiry("c11", "c12", "c21", "c22", "c81")}, // K1 and K2: M2 once
	{user("uK4"), nil},                                          // K4 holds no current assignment
	{user("uS"), nil},                                           // a contact with nothing
	{user("uNone"), nil},                                        // no contact, no chapter
	{noClaims, nil},                                             // no auth.uid()
	{emptyClaims, nil},                                          // claims without sub
	{serviceRole, nil},                                          // service_role has no caller either
	{serviceAsC1, byExpiry("c11", "c12", "c21", "c22", "c71")},  // service_role on behalf of uC1: uC1's scope
	{jwtClaimsSvcM1, byExpiry("c11", "c12")},                    // a "role": "service_role" claim grants nothing more
}

func TestRLSMatrixFunction(t *testing.T) {
	_, conn := openStore(t)
	seedWorld(t, conn)
	var n matrixCounts
	check := func(id identity, status, chapter string, want []string) {
		t.Helper()
		got, err := statuses(t, conn, id, status, chapter)
		if err != nil {
			t.Errorf("%s, status %q, chapter %q: %v", id.name, status, chapter, err)
			return
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s, status %q, chapter %q: got %v, want %v", id.name, status, chapter, got, want)
		}
		n.add(len(want) > 0)
	}
	for _, s := range sees {
		check(s.id, "", "", s.want)
		for _, st := range []string{"valid", "expiring", "expired", "inactive"} {
			check(s.id, st, "", withStatus(st, s.want))
		}
		for _, ch := range []string{"K1", "K2", "K3", "K4", "Knowhere"} {
			check(s.id, "", ch, inChapter(ch, s.want))
		}
		check(s.id, "expiring", "K1", withStatus("expiring", inChapter("K1", s.want)))
		check(s.id, "valid", "K2", withStatus("valid", inChapter("K2", s.want)))

		// An unknown status is an error for every caller allowed to call.
		_, err := statuses(t, conn, s.id, "lapsed", "")
		if sqlState(err) != "22023" {
			t.Errorf("%s, status lapsed: %v, want SQLSTATE 22023", s.id.name, err)
		}
		n.add(false)
	}
	// anon may not execute the function at all, with or without claims or
	// filters.
	for _, id := range []identity{anon, {name: "anon claiming uC1", role: "anon", claims: user("uC1").claims}} {
		for _, f := range [][2]string{{"", ""}, {"valid", ""}, {"", "K1"}, {"lapsed", ""}} {
			_, err := statuses(t, conn, id, f[0], f[1])
			if sqlState(err) != "42501" {
				t.Errorf("%s, filter %q: %v, want SQLSTATE 42501", id.name, f, err)
			}
			n.add(false)
		}
	}
	// A sub that is not a GUID is refused, never read as nobody or
	// everybody.
	_, err := statuses(t, conn, identity{name: "bad sub", role: "authenticated", claims: map[string]any{"sub": "everyone"}}, "", "")
	if sqlState(err) != "22P02" {
		t.Errorf("a sub that is not a GUID: %v, want SQLSTATE 22P02", err)
	}
	n.add(false)
	t.Logf("function cases: %d allow, %d deny", n.allow, n.deny)
	functionCounts = n
}

// functionCounts and tableCounts are read by TestRLSMatrixSize.
var functionCounts, tableCounts matrixCounts

// tableOps are direct statements on every portal table.
var tableOps = []struct {
	table string
	op    string
	sql   string
}{}

func init() {
	for _, tb := range []struct{ name, insert, update string }{
		{"certifications", "insert into portal.certifications (id, mentor_id, name, active, status, synced_at) values (gen_random_uuid(), gen_random_uuid(), 'x', true, 'valid', now())", "update portal.certifications set status = 'valid'"},
		{"assignments", "insert into portal.assignments (id, mentor_id, coordinator_id, active, synced_at) values (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), true, now())", "update portal.assignments set active = true"},
		{"people", "insert into portal.people (user_id, contact_id) values (gen_random_uuid(), gen_random_uuid())", "update portal.people set contact_id = contact_id"},
		{"chapter_admins", "insert into portal.chapter_admins (user_id, chapter_id) values (gen_random_uuid(), gen_random_uuid())", "update portal.chapter_admins set chapter_id = chapter_id"},
		{"sync_checkpoint", `insert into portal.sync_checkpoint (checkpoint) values ('{}')`, "update portal.sync_checkpoint set checkpoint = checkpoint"},
	} {
		tableOps = append(tableOps,
			struct{ table, op, sql string }{tb.name, "select", "select count(*) from portal." + tb.name},
			struct{ table, op, sql string }{tb.name, "insert", tb.insert},
			struct{ table, op, sql string }{tb.name, "update", tb.update},
			struct{ table, op, sql string }{tb.name, "delete", "delete from portal." + tb.name},
		)
	}
}

func TestRLSMatrixTables(t *testing.T) {
	_, conn := openStore(t)
	seedWorld(t, conn)
	exec(t, conn, `insert into portal.sync_checkpoint (checkpoint) values ('{"next": "x"}')`)
	var n matrixCounts
	// anon and authenticated (whoever the claims name) touch no table.
	for _, id := range []identity{anon, noClaims, user("uC1"), user("uK12"), jwtClaimsSvcM1} {
		for _, op := range tableOps {
			err := as(t, conn, id, func(tx pgx.Tx) error {
				_, err := tx.Exec(t.Context(), op.sql)
				return err
			})
			if sqlState(err) != "42501" {
				t.Errorf("%s: %s on %s: %v, want SQLSTATE 42501", id.name, op.op, op.table, err)
			}
			n.add(false)
		}
	}
	// service_role (the server-side key) reads the four tables of the
	// contract and maintains people and chapter_admins; the sync's own
	// tables are written by the sync only, and the checkpoint is the
	// sync's business.
	rows := map[string]int64{"certifications": 11, "assignments": 9, "people": 9, "chapter_admins": 5}
	for _, op := range tableOps {
		var affected int64
		err := as(t, conn, serviceRole, func(tx pgx.Tx) error {
			if op.op == "select" {
				return tx.QueryRow(t.Context(), op.sql).Scan(&affected)
			}
			tag, err := tx.Exec(t.Context(), op.sql)
			affected = tag.RowsAffected()
			return err
		})
		maintained := op.table == "people" || op.table == "chapter_admins"
		switch {
		case op.op == "select" && op.table != "sync_checkpoint", op.op != "select" && maintained:
			want := rows[op.table]
			if op.op == "insert" {
				want = 1
			}
			if err != nil || affected != want {
				t.Errorf("service_role: %s on %s: %d rows, %v; want %d rows", op.op, op.table, affected, err, want)
			}
			n.add(true)
		default:
			if sqlState(err) != "42501" {
				t.Errorf("service_role: %s on %s: %v, want SQLSTATE 42501", op.op, op.table, err)
			}
			n.add(false)
		}
	}
	t.Logf("table cases: %d allow, %d deny", n.allow, n.deny)
	tableCounts = n
}

func TestRLSMatrixStructure(t *testing.T) {
	_, conn := openStore(t)
	// RLS is enabled on every table of the schema, and no policy names
	// anon, authenticated or public.
	noRLS := queryStrings(t, conn, `select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname = 'portal' and c.relkind in ('r', 'p') and not c.relrowsecurity order by 1`)
	if len(noRLS) != 0 {
		t.Errorf("portal tables without RLS: %v", noRLS)
	}
	tables := queryStrings(t, conn, `select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname = 'portal' and c.relkind in ('r', 'p') order by 1`)
	if want := []string{"assignments", "certifications", "chapter_admins", "people", "sync_checkpoint"}; !slices.Equal(tables, want) {
		t.Errorf("portal tables %v, want %v", tables, want)
	}
	open := queryStrings(t, conn, `select tablename || ' ' || policyname from pg_policies
		where schemaname = 'portal' and roles && array['anon', 'authenticated', 'public']::name[]`)
	if len(open) != 0 {
		t.Errorf("policies for anon, authenticated or public: %v", open)
	}
	// No grant on any portal table to anon, authenticated or public.
	grants := queryStrings(t, conn, `select grantee || ' ' || privilege_type || ' ' || table_name from information_schema.role_table_grants
		where table_schema = 'portal' and grantee in ('anon', 'authenticated', 'PUBLIC')`)
	if len(grants) != 0 {
		t.Errorf("grants on portal tables: %v", grants)
	}
	// The function: security definer, search_path fixed to empty.
	var definer bool
	var config []string
	if err := conn.QueryRow(t.Context(), `select prosecdef, coalesce(proconfig, '{}') from pg_proc
		where oid = 'public.portal_certification_statuses(text, uuid)'::regprocedure`).Scan(&definer, &config); err != nil {
		t.Fatal(err)
	}
	if !definer {
		t.Error("the function is not security definer")
	}
	if !slices.Equal(config, []string{`search_path=""`}) {
		t.Errorf("the function's settings are %q, want search_path=\"\"", config)
	}
	// Who may execute it.
	for role, want := range map[string]bool{"anon": false, "public": false, "authenticated": true, "service_role": true} {
		var got bool
		q := "select has_function_privilege($1, 'public.portal_certification_statuses(text, uuid)', 'execute')"
		if role == "public" {
			q = `select exists (select from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
				where p.oid = 'public.portal_certification_statuses(text, uuid)'::regprocedure and a.grantee = 0 and a.privilege_type = 'EXECUTE')`
			if err := conn.QueryRow(t.Context(), q).Scan(&got); err != nil {
				t.Fatal(err)
			}
		} else if err := conn.QueryRow(t.Context(), q, role).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s may execute the function: %v, want %v", role, got, want)
		}
	}
	// No view runs with its owner's rights (PostgreSQL's default for a
	// view without security_invoker) in the schemas the app reaches.
	views := queryStrings(t, conn, `select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where c.relkind = 'v' and n.nspname in ('public', 'portal', 'auth')
		and not coalesce('security_invoker=true' = any(c.reloptions) or 'security_invoker=on' = any(c.reloptions), false)`)
	if len(views) != 0 {
		t.Errorf("security-definer views: %v", views)
	}
	// The roles exist and cannot log in on plain PostgreSQL.
	logins := queryStrings(t, conn, `select rolname::text from pg_roles where rolname in ('anon', 'authenticated', 'service_role') and not rolcanlogin order by 1`)
	if !slices.Equal(logins, []string{"anon", "authenticated", "service_role"}) {
		t.Errorf("nologin roles: %v", logins)
	}
}

func TestRLSMatrixSize(t *testing.T) {
	if functionCounts == (matrixCounts{}) || tableCounts == (matrixCounts{}) {
		t.Skip("run with the matrix tests (go test -run RLSMatrix)")
	}
	allow := functionCounts.allow + tableCounts.allow
	deny := functionCounts.deny + tableCounts.deny
	t.Logf("RLS matrix: %d cases, %d allow, %d deny", allow+deny, allow, deny)
	if allow+deny < 100 || deny < allow {
		t.Errorf("RLS matrix: %d allow and %d deny cases; want at least 100, and no fewer deny than allow", allow, deny)
	}
}

// The Go backend's path must see exactly what the app sees.
func TestStatusesForMatchesTheMatrix(t *testing.T) {
	for _, mode := range queryModes {
		t.Run(mode, func(t *testing.T) {
			s, conn := openStore(t, "default_query_exec_mode="+mode)
			seedWorld(t, conn)
			for _, c := range sees {
				userID, ok := c.id.claims["sub"].(string)
				if c.id.role != "authenticated" || c.id.claims["role"] != "authenticated" || !ok {
					continue
				}
				got, err := s.StatusesFor(t.Context(), userID, Filter{})
				if err != nil {
					t.Fatalf("%s: %v", c.id.name, err)
				}
				var names []string
				for _, st := range got {
					names = append(names, nameOf(st.CertificationID))
					if want := certStatus[nameOf(st.CertificationID)]; st.Status != want {
						t.Errorf("%s: %s status %q, want %q", c.id.name, nameOf(st.CertificationID), st.Status, want)
					}
				}
				if !slices.Equal(names, c.want) {
					t.Errorf("%s: StatusesFor = %v, want %v", c.id.name, names, c.want)
				}
			}
			got, err := s.StatusesFor(t.Context(), uuidOf("uC1"), Filter{Status: "expiring", ChapterID: uuidOf("K1")})
			if err != nil {
				t.Fatal(err)
			}
			want := CertificationStatus{CertificationID: uuidOf("c21"), MentorID: uuidOf("M2"), Name: "Course c21",
				ExpiresOn: ports.Date{Year: 2027, Month: 1, Day: 15}, Status: "expiring"}
			if len(got) != 1 || got[0].SyncedAt.IsZero() {
				t.Fatalf("uC1 expiring in K1: %+v", got)
			}
			got[0].SyncedAt = want.SyncedAt
			if got[0] != want {
				t.Errorf("uC1 expiring in K1: %+v, want %+v", got[0], want)
			}
			// The identity ends with the transaction: the pool's
			// connections are the owner's again.
			var role string
			if err := s.Pool().QueryRow(t.Context(), "select current_user::text").Scan(&role); err != nil {
				t.Fatal(err)
			}
			if role == "authenticated" {
				t.Error("a pooled connection kept the role authenticated")
			}
		})
	}
}

func TestStatusesForRefusesBadInputBeforeQuerying(t *testing.T) {
	s, _ := openStore(t)
	for _, tc := range []struct {
		user string
		f    Filter
	}{
		{"not-a-guid", Filter{}},
		{"", Filter{}},
		{uuidOf("uC1"), Filter{Status: "lapsed"}},
		{uuidOf("uC1"), Filter{ChapterID: "K1"}},
	} {
		if _, err := s.StatusesFor(t.Context(), tc.user, tc.f); !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("StatusesFor(%q, %+v) = %v, want ErrInvalidConfig", tc.user, tc.f, err)
		}
	}
}

// Changes take effect at once: an assignment the sync mirrors (reassigned,
// ended), a certification deleted in the portal, and the backend's changes
// to people and chapter_admins.
func TestRLSChangesTakeEffectAtOnce(t *testing.T) {
	s, conn := openStore(t)
	seedWorld(t, conn)
	ctx := t.Context()
	check := func(step string, id identity, want ...string) {
		t.Helper()
		got, err := statuses(t, conn, id, "", "")
		if err != nil {
			t.Fatalf("%s: %s: %v", step, id.name, err)
		}
		if want = byExpiry(want...); !slices.Equal(got, want) {
			t.Errorf("%s: %s sees %v, want %v", step, id.name, got, want)
		}
	}
	today := ports.DateOf(timeNow(t, conn))
	assignment := func(name, mentor, coordinator, chapter string, start, end ports.Date) ports.Assignment {
		a := ports.Assignment{ID: uuidOf(name), MentorID: uuidOf(mentor), CoordinatorID: uuidOf(coordinator), StartDate: start, EndDate: end}
		if chapter != "" {
			a.ChapterID = uuidOf(chapter)
		}
		return a
	}
	// M7 is reassigned from C1 to C2 in the portal, and a1 (M1 ─ C1 in
	// K1) ends yesterday; a sync pass mirrors every assignment.
	all := []ports.Assignment{
		assignment("a1", "M1", "C1", "K1", today.AddDays(-100), today.AddDays(-1)),
		assignment("a2", "M2", "C1", "K1", ports.Date{}, today),
		assignment("a3", "M2", "C2", "K2", today, ports.Date{}),
		assignment("a7", "M7", "C2", "", today.AddDays(-10), ports.Date{}),
		assignment("a8", "M8", "C2", "K2", today.AddDays(-10), ports.Date{}),
		assignment("a9", "M9", "C6", "K3", today.AddDays(-10), ports.Date{}),
	}
	begin(t, s)
	if err := s.WriteAssignments(ctx, all, true); err != nil {
		t.Fatal(err)
	}
	check("after the sync", user("uC1"), "c21", "c22")               // M1 ended, M7 gone
	check("after the sync", user("uC2"), "c21", "c22", "c71", "c81") // M7 arrives
	check("after the sync", user("uK1"), "c21", "c22")               // M1's K1 assignment ended
	check("after the sync", user("uM1"), "c11", "c12")               // own stays

	// c81 is deleted in the portal: the next complete pass drops it.
	var records []ports.SyncRecord
	for _, c := range []string{"c11", "c12", "c21", "c22", "c31", "c41", "c51", "c61", "c71", "c91"} {
		st := map[string]ports.SyncStatus{"valid": ports.SyncStatusValid, "expiring": ports.SyncStatusExpiring,
			"expired": ports.SyncStatusExpired, "inactive": ports.SyncStatusInactive}[certStatus[c]]
		r := cert(uuidOf(c), uuidOf("M"+c[1:2]), st, certExpires[c])
		records = append(records, r)
	}
	if err := s.Finish(ctx, records); err != nil {
		t.Fatal(err)
	}
	check("after the pass", user("uC2"), "c21", "c22", "c71")

	// The backend maps uC1 to nothing, and gives uNone chapter K2.
	exec(t, conn, "delete from portal.people where user_id = $1", uuidOf("uC1"))
	exec(t, conn, "insert into portal.chapter_admins (user_id, chapter_id) values ($1, $2)", uuidOf("uNone"), uuidOf("K2"))
	check("after the backend's change", user("uC1"))
	check("after the backend's change", user("uNone"), "c21", "c22")
	exec(t, conn, "delete from portal.chapter_admins where user_id = $1", uuidOf("uK12"))
	check("after the backend's change", user("uK12"))
}

// timeNow is the database's today, at midnight UTC.
func timeNow(t testing.TB, conn *pgx.Conn) time.Time {
	t.Helper()
	var d time.Time
	if err := conn.QueryRow(t.Context(), "select current_date::timestamp").Scan(&d); err != nil {
		t.Fatal(err)
	}
	return d
}
