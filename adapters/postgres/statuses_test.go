package postgres

import (
	"slices"
	"testing"

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
	s := New(pool, Options{})
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
