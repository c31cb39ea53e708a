package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// emptyDB is a database with nothing in it: the tests migrate it with the
// command.
var emptyDB = pgtest.Template{Name: "empty", Prepare: func(context.Context, string) error { return nil }}

func sqlExec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

const (
	user1    = "10000000-0000-4000-8000-000000000001"
	contact1 = "20000000-0000-4000-8000-000000000001"
	mentor1  = "30000000-0000-4000-8000-000000000001"
	chapter1 = "40000000-0000-4000-8000-000000000001"
)

func TestMigrateThenStatuses(t *testing.T) {
	url := pgtest.Database(t, emptyDB)
	code, stdout, stderr := portalsync(t, "migrate", "--database-url", url)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	firstRiver := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "river ") })
	if lines[0] != "portal 00001_supabase_roles_and_auth_uid" || firstRiver < 3 ||
		!slices.ContainsFunc(lines[:firstRiver], func(l string) bool { return l == "portal 00003_portal_certification_statuses" }) {
		t.Errorf("migrate printed %q, want a line per migration, the store's then River's", lines)
	}
	// Applied already: nothing more, with the URL from the environment.
	dbEnv := []string{"DATABASE_URL=" + url}
	code, stdout, stderr = portalsyncEnv(t, dbEnv, "migrate")
	if code != 0 || stdout != "" {
		t.Errorf("second migrate: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}

	sqlExec(t, url, `insert into portal.people values ($1, $2)`, user1, contact1)
	sqlExec(t, url, `insert into portal.assignments (id, mentor_id, coordinator_id, chapter_id, active, synced_at)
		values (gen_random_uuid(), $1, $2, $3, true, now())`, mentor1, contact1, chapter1)
	sqlExec(t, url, `insert into portal.certifications (id, mentor_id, name, expires_on, active, status, synced_at) values
		('50000000-0000-4000-8000-000000000001', $1, 'Peer mentor basic course', '2027-01-02', true, 'expiring', '2026-12-01T02:00:00Z'),
		('50000000-0000-4000-8000-000000000002', $1, 'Safeguarding refresher', null, true, 'valid', '2026-12-01T02:00:00Z'),
		('50000000-0000-4000-8000-000000000003', gen_random_uuid(), 'Someone else''s', null, true, 'valid', now())`, mentor1)

	code, stdout, stderr = portalsyncEnv(t, dbEnv, "statuses", "--as", user1)
	if code != 0 {
		t.Fatalf("statuses: exit %d: %s", code, stderr)
	}
	want := []string{
		`{"certificationId":"50000000-0000-4000-8000-000000000001","mentorId":"30000000-0000-4000-8000-000000000001","name":"Peer mentor basic course","expiresOn":"2027-01-02","status":"expiring","syncedAt":"2026-12-01T02:00:00Z"}`,
		`{"certificationId":"50000000-0000-4000-8000-000000000002","mentorId":"30000000-0000-4000-8000-000000000001","name":"Safeguarding refresher","expiresOn":null,"status":"valid","syncedAt":"2026-12-01T02:00:00Z"}`,
	}
	if got := strings.Split(strings.TrimSpace(stdout), "\n"); !slices.Equal(got, want) {
		t.Errorf("statuses printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range want {
		if !json.Valid([]byte(line)) {
			t.Errorf("not JSON: %s", line)
		}
	}
	code, stdout, _ = portalsyncEnv(t, dbEnv, "statuses", "--as", user1, "--status", "valid", "--chapter", chapter1)
	if code != 0 || strings.TrimSpace(stdout) != want[1] {
		t.Errorf("statuses --status valid --chapter: exit %d, %q", code, stdout)
	}
	code, stdout, _ = portalsyncEnv(t, dbEnv, "statuses", "--as", "10000000-0000-4000-8000-000000000099")
	if code != 0 || stdout != "" {
		t.Errorf("statuses for a stranger: exit %d, %q; want nothing", code, stdout)
	}
	if strings.Contains(stderr, pgtest.Password(url)) && pgtest.Password(url) != "" {
		t.Error("stderr holds the database password")
	}
}

func TestStoreCommandsUsageErrors(t *testing.T) {
	const url = "postgres://portal:S3cret-Usage@127.0.0.1:1/portal"
	for _, args := range [][]string{
		{"sync", "--database-url", url, "--out", "records.jsonl"},
		{"sync", "--database-url", url, "--checkpoint", "cp.json"},
		{"sync", "--database-url", url, "--page-size", "9000"},
		{"statuses", "--database-url", url},
		{"statuses", "--database-url", url, "--as", "nobody"},
		{"statuses", "--database-url", url, "--as", user1, "--status", "lapsed"},
		{"statuses", "--database-url", url, "--as", user1, "--chapter", "north"},
		{"statuses", "--as", user1},
		{"migrate"},
		{"migrate", "--database-url", "postgres://portal:S3cret-Usage@db.example:notaport/portal"},
	} {
		code, stdout, stderr := portalsync(t, args...)
		if code != 2 || !strings.HasPrefix(lastLine(stderr), "portalsync: config: ") || stdout != "" {
			t.Errorf("%q: exit %d, last stderr line %q, stdout %q; want exit 2, config", args, code, lastLine(stderr), stdout)
		}
		if strings.Contains(stderr, "S3cret-Usage") {
			t.Errorf("%q: stderr holds the password: %s", args, stderr)
		}
	}
}

func TestAnUnreachableDatabaseIsADatabaseError(t *testing.T) {
	const secret = "S3cret-Unreachable"
	url := "postgres://portal:" + secret + "@127.0.0.1:1/portal?connect_timeout=3"
	for _, args := range [][]string{
		{"migrate", "--database-url", url},
		{"statuses", "--database-url", url, "--as", user1},
		{"sync", "--database-url", url},
	} {
		code, stdout, stderr := portalsync(t, args...)
		if code != 1 || !strings.HasPrefix(lastLine(stderr), "portalsync: databaseError: ") {
			t.Errorf("%q: exit %d, last stderr line %q; want exit 1, databaseError", args[0], code, lastLine(stderr))
		}
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("%q: output holds the password", args[0])
		}
	}
}

func TestAnUnmigratedDatabaseIsADatabaseError(t *testing.T) {
	url := pgtest.Database(t, emptyDB)
	for _, args := range [][]string{{"statuses", "--as", user1}, {"sync"}} {
		code, _, stderr := portalsync(t, append(args, "--database-url", url)...)
		if code != 1 || !strings.Contains(lastLine(stderr), "databaseError: the status store's migrations are not all applied") {
			t.Errorf("%q: exit %d, last stderr line %q", args[0], code, lastLine(stderr))
		}
	}
}
