package cli

import (
	"context"
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/hlf/dynamicsportal/adapters/postgres"
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

// On a plain database and on one shaped like a Supabase project, migrated
// by its non-superuser owner.
func TestMigrateThenStatuses(t *testing.T) {
	for _, shape := range pgtest.Shapes {
		t.Run(string(shape), func(t *testing.T) { migrateThenStatuses(t, shape) })
	}
}

func migrateThenStatuses(t *testing.T, shape pgtest.Shape) {
	url := pgtest.ShapedDatabase(t, shape, emptyDB)
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
		if code != 1 || !strings.Contains(lastLine(stderr), "databaseError: not migrated: the status store's migrations are not all applied") {
			t.Errorf("%q: exit %d, last stderr line %q", args[0], code, lastLine(stderr))
		}
	}
}

// migrateAsBefore migrates url as releases before the private schema did:
// goose's history in public.portal_migrations with the store's first five
// migrations, and River's tables in public.
func migrateAsBefore(t *testing.T, url string) {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	first5 := fstest.MapFS{}
	for i, name := range []string{"00001_supabase_roles_and_auth_uid.sql", "00002_portal_tables.sql", "00003_portal_certification_statuses.sql",
		"00004_enqueue_sync.sql", "00005_statuses_use_the_mentor_index.sql"} {
		b, err := fs.ReadFile(postgres.Migrations(), name)
		if err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
		first5[name] = &fstest.MapFile{Data: b}
	}
	db := stdlib.OpenDBFromPool(pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, first5, goose.WithTableName("portal_migrations"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(t.Context(), rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
}

// A deployment migrated before the private schema keeps its pending and
// scheduled jobs, its job history and its migration history when migrate
// moves River's tables and goose's history out of public; a second
// migrate does nothing.
//
// On the Supabase shape, the tables had Supabase's default grants to anon
// and the others while in public; the move takes them back.
func TestMigrateMovesAnEarlierDeploymentOutOfPublic(t *testing.T) {
	for _, shape := range pgtest.Shapes {
		t.Run(string(shape), func(t *testing.T) { migrateMovesAnEarlierDeployment(t, shape) })
	}
}

func migrateMovesAnEarlierDeployment(t *testing.T, shape pgtest.Shape) {
	url := pgtest.ShapedDatabase(t, shape, emptyDB)
	migrateAsBefore(t, url)
	// A job waiting, one parked ahead, one finished with its errors: as
	// the release before would have left them (enqueue_sync into public).
	sqlExec(t, url, `insert into public.river_job (args, kind, max_attempts, queue, state, scheduled_at, finalized_at, errors, attempt)
		values ('{}', 'portal_sync', 5, 'portal_sync', 'completed', now() - interval '1 day', now() - interval '1 day',
		        array['{"at": "2026-12-05T02:00:00Z", "attempt": 1, "error": "serverError: 503"}'::jsonb], 2)`)
	sqlExec(t, url, `select portal.enqueue_sync()`)
	sqlExec(t, url, `insert into public.river_job (args, kind, max_attempts, queue, state, scheduled_at)
		values ('{}', 'portal_sync', 5, 'portal_sync', 'scheduled', now() + interval '10 hours')`)
	before := jobRows(t, url, "public")

	code, stdout, stderr := portalsync(t, "migrate", "--database-url", url)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	if got := strings.Fields(stdout); !slices.Equal(got, []string{"portal", "00006_private_schema_and_utc_today"}) {
		t.Errorf("migrate printed %q, want only the store's new migration (River's were all applied)", stdout)
	}
	if got := jobRows(t, url, "portal_private"); !slices.Equal(got, before) || len(got) != 3 {
		t.Errorf("jobs after the move\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	left := queryLines(t, url, `select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname = 'public' and (c.relname like 'river%' or c.relname like '%migrations')
		union all select proname::text from pg_proc where pronamespace = 'public'::regnamespace and proname like 'river%'
		union all select typname::text from pg_type where typnamespace = 'public'::regnamespace and typname like 'river%'`)
	if len(left) != 0 {
		t.Errorf("left in public: %q", left)
	}
	grants := queryLines(t, url, `select grantee || ' ' || table_name || ' ' || privilege_type from information_schema.role_table_grants
		where table_schema = 'portal_private' and grantee in ('anon', 'authenticated', 'service_role', 'PUBLIC')`)
	if len(grants) != 0 {
		t.Errorf("privileges left on the moved tables: %q", grants)
	}
	if got := queryLines(t, url, "select version_id::text from portal_private.portal_migrations where version_id > 0 order by 1"); !slices.Equal(got, []string{"1", "2", "3", "4", "5", "6"}) {
		t.Errorf("migration history %q, want versions 1 to 6", got)
	}
	// The moved queue works: enqueue sees the pending job, and a second
	// migrate applies nothing.
	code, stdout, _ = portalsyncEnv(t, []string{"DATABASE_URL=" + url}, "enqueue")
	if code != 0 || !strings.Contains(stdout, `"enqueued":false`) {
		t.Errorf("enqueue after the move: exit %d, %s; want the pending job found", code, stdout)
	}
	if code, stdout, stderr = portalsync(t, "migrate", "--database-url", url); code != 0 || stdout != "" {
		t.Errorf("second migrate: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
}

// Jobs of another kind in public's River are a host's: migrate leaves them,
// and says why, as a database error.
func TestMigrateLeavesAHostsRiverInPublic(t *testing.T) {
	url := pgtest.Database(t, emptyDB)
	migrateAsBefore(t, url)
	sqlExec(t, url, `insert into public.river_job (args, kind, max_attempts, queue, state) values ('{}', 'send_email', 25, 'default', 'available')`)
	code, _, stderr := portalsync(t, "migrate", "--database-url", url)
	if last := lastLine(stderr); code != 1 || !strings.HasPrefix(last, "portalsync: databaseError: ") || !strings.Contains(last, "kinds other than portal_sync") {
		t.Errorf("migrate: exit %d, last line %q; want a databaseError naming the other kinds", code, last)
	}
	if got := queryLines(t, url, "select kind from public.river_job"); !slices.Equal(got, []string{"send_email"}) {
		t.Errorf("public.river_job holds %q, want the host's job untouched", got)
	}
}

// jobRows describes every job of the River tables in schema.
func jobRows(t *testing.T, url, schema string) []string {
	t.Helper()
	return queryLines(t, url, `select concat_ws(' ', id, kind, state, attempt, scheduled_at > now(), finalized_at is not null, errors::text)
		from `+schema+`.river_job order by id`)
}

// queryLines returns the first column of each row, as text.
func queryLines(t *testing.T, url, sql string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// A database reached over the network without a verified certificate is a
// config error before any connection (so the name is never looked up). The
// explicit opt-out connects, and warns: "localhost." is not one of the
// exact local names, so it counts as a network host, and resolves to
// loopback, where nothing listens on port 1.
func TestAnUnverifiedDatabaseHostIsAConfigError(t *testing.T) {
	code, stdout, stderr := portalsync(t, "statuses", "--as", user1, "--database-url", "postgres://owner:Phish-Me-Not@db.example.test:5432/postgres")
	last := lastLine(stderr)
	if code != 2 || stdout != "" || !strings.Contains(last, "sslmode=verify-full") || !strings.Contains(last, "--database-insecure") {
		t.Errorf("exit %d, last line %q; want exit 2 naming sslmode=verify-full and --database-insecure", code, last)
	}
	code, _, stderr2 := portalsync(t, "statuses", "--as", user1, "--database-insecure", "--database-url", "postgres://owner:Phish-Me-Not@localhost.:1/postgres")
	if code != 1 || !strings.Contains(stderr2, "does not verify its certificate") || !strings.HasPrefix(lastLine(stderr2), "portalsync: databaseError: ") {
		t.Errorf("with --database-insecure: exit %d, stderr %q; want a warning, then a databaseError (nothing listens)", code, stderr2)
	}
	if strings.Contains(stderr+stderr2, "Phish-Me-Not") {
		t.Error("stderr holds the password")
	}
}
