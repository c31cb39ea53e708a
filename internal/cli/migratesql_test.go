package cli

import (
	"context"
	"errors"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// catalogQuery describes, as text, everything of the module a database
// holds: schemas, relations and their columns, indexes, functions with
// their bodies and settings, policies, every privilege, and the version
// tables' versions.
const catalogQuery = `
select 'schema ' || nspname || ' ' || coalesce(nspacl::text, '') from pg_namespace where nspname in ('portal', 'portal_private', 'auth')
union all
select 'relation ' || c.oid::regclass::text || ' ' || c.relkind::text || ' rls=' || c.relrowsecurity || ' ' || coalesce(c.relacl::text, '')
  from pg_class c where c.relnamespace in ('portal'::regnamespace, 'portal_private'::regnamespace)
union all
select 'column ' || a.attrelid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
       || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
  from pg_attribute a join pg_class c on c.oid = a.attrelid
  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where c.relnamespace in ('portal'::regnamespace, 'portal_private'::regnamespace) and a.attnum > 0 and not a.attisdropped
union all
select 'index ' || indexdef from pg_indexes where schemaname in ('portal', 'portal_private')
union all
select 'function ' || p.oid::regprocedure::text || ' definer=' || p.prosecdef || ' ' || coalesce(p.proconfig::text, '') || ' '
       || coalesce(p.proacl::text, '') || ' ' || md5(p.prosrc)
  from pg_proc p where p.pronamespace in ('portal'::regnamespace, 'portal_private'::regnamespace, 'auth'::regnamespace)
     or p.oid = 'public.portal_certification_statuses(text, uuid)'::regprocedure
union all
select 'policy ' || schemaname || '.' || tablename || ' ' || policyname || ' ' || array_to_string(roles, ',') || ' ' || cmd
  from pg_policies where schemaname = 'portal'
union all
select 'goose ' || version_id || ' ' || is_applied from portal_private.portal_migrations
union all
select 'river ' || line || ' ' || version from portal_private.river_migration`

func catalog(t *testing.T, url string) []string {
	t.Helper()
	got := queryLines(t, url+"&search_path=pg_catalog", catalogQuery) // every name qualified
	slices.Sort(got)
	return got
}

// applyFiles runs each SQL file whole, as one implicit transaction (the
// simple protocol), as a migration tool does.
func applyFiles(t *testing.T, url string, files []postgres.SQLFile) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, f := range files {
		if _, err := conn.Exec(t.Context(), f.SQL); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
}

// The SQL files of migrate --sql leave a database exactly as migrate does,
// version tables included, so that migrate then applies nothing and
// serve --no-migrate starts; on a plain and on a Supabase-shaped database.
func TestMigrateSQLFilesLeaveTheDatabaseAsMigrateDoes(t *testing.T) {
	files, err := migrationSQLFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range pgtest.Shapes {
		t.Run(string(shape), func(t *testing.T) {
			byFiles := pgtest.ShapedDatabase(t, shape, emptyDB)
			applyFiles(t, byFiles, files)
			byMigrate := pgtest.ShapedDatabase(t, shape, emptyDB)
			if code, _, stderr := portalsync(t, "migrate", "--database-url", byMigrate); code != 0 {
				t.Fatalf("migrate: exit %d: %s", code, stderr)
			}
			a, b := catalog(t, byFiles), catalog(t, byMigrate)
			if len(b) < 100 {
				t.Fatalf("the catalog query found %d lines after migrate: it sees too little to compare", len(b))
			}
			if !slices.Equal(a, b) {
				t.Errorf("after the SQL files the catalog differs from migrate's:\nonly after the files: %q\nonly after migrate: %q",
					minusLines(a, b), minusLines(b, a))
			}
			if code, stdout, stderr := portalsync(t, "migrate", "--database-url", byFiles); code != 0 || stdout != "" {
				t.Errorf("migrate after the SQL files: exit %d, applied %q, %s; want nothing to do", code, stdout, stderr)
			}
			pool, err := pgxpool.New(t.Context(), byFiles)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if err := postgres.CheckMigrated(t.Context(), pool); err != nil {
				t.Errorf("the store's CheckMigrated, which serve --no-migrate runs: %v", err)
			}
			if err := schedule.CheckMigrated(t.Context(), pool); err != nil {
				t.Errorf("River's CheckMigrated, which serve --no-migrate runs: %v", err)
			}

			// Twice is refused, file by file, and changes nothing.
			before := catalog(t, byFiles)
			conn, err := pgx.Connect(t.Context(), byFiles)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			for _, f := range files {
				_, err := conn.Exec(t.Context(), f.SQL)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || pgErr.Code != "42710" && pgErr.Code != "42P06" {
					t.Errorf("%s applied twice: %v; want it refused as applied already", f.Name, err)
				}
			}
			if after := catalog(t, byFiles); !slices.Equal(after, before) {
				t.Errorf("refused files changed the database: %q, %q", minusLines(after, before), minusLines(before, after))
			}
		})
	}
}

func minusLines(a, b []string) []string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, l)
		}
	}
	return out
}

// The files' names are those the Supabase CLI expects, in the order
// migrate applies them (so a migration added later, with a later
// timestamp, sorts after every file before it); writing them again changes
// nothing; a file changed by hand is refused, not overwritten.
func TestMigrateSQLWritesStableFiles(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := portalsync(t, "migrate", "--sql", dir)
	if code != 0 {
		t.Fatalf("migrate --sql: exit %d: %s", code, stderr)
	}
	printed := strings.Fields(stdout)
	files, err := migrationSQLFiles()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		if !slices.Contains(printed, filepath.Join(dir, f.Name)) {
			t.Errorf("%s not printed", f.Name)
		}
		if len(f.Name) < 16 || f.Name[14] != '_' || strings.Trim(f.Name[:14], "0123456789") != "" || !strings.HasSuffix(f.Name, ".sql") {
			t.Errorf("%s: want <14-digit timestamp>_<name>.sql", f.Name)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("the files sort otherwise than migrate applies them: %q", names)
	}
	if len(sqlFileTimes) != len(files) {
		t.Errorf("sqlFileTimes has %d entries for %d migrations: drop the stale ones", len(sqlFileTimes), len(files))
	}
	written, _ := os.ReadDir(dir)
	if len(written) != len(files) {
		t.Errorf("%d files written, want %d", len(written), len(files))
	}
	first := filepath.Join(dir, names[0])
	info, _ := os.Stat(first)
	if code, _, stderr := portalsync(t, "migrate", "--sql", dir); code != 0 {
		t.Fatalf("migrate --sql again: exit %d: %s", code, stderr)
	}
	if again, _ := os.Stat(first); !again.ModTime().Equal(info.ModTime()) && !sameFile(t, first, files[0].SQL) {
		t.Errorf("writing again changed %s", names[0])
	}
	if err := os.WriteFile(first, []byte("-- edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = portalsync(t, "migrate", "--sql", dir)
	if last := lastLine(stderr); code != 2 || !strings.Contains(last, names[0]) {
		t.Errorf("migrate --sql over an edited file: exit %d, %q; want exit 2 naming it", code, last)
	}
	if b, _ := os.ReadFile(first); string(b) != "-- edited by hand\n" {
		t.Error("the edited file was overwritten")
	}
}

func sameFile(t *testing.T, path, content string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	return err == nil && string(b) == content
}

// pgTAPFile is the access contract as pgTAP tests, shipped for teams to
// run with supabase test db.
const pgTAPFile = "../../supabase/tests/portal_access.test.sql"

// pgProve runs the pgTAP file against the database at url and returns
// whether it passed, with its output.
func pgProve(t *testing.T, url string) (bool, string) {
	t.Helper()
	bin := pgtest.NeedCommand(t, "pg_prove", "apt-get install -y postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl")
	// psql, under pg_prove, takes the connection from libpq's variables.
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	cmd := exec.CommandContext(t.Context(), bin, pgTAPFile)
	cmd.Env = append(os.Environ(), "PGHOST="+u.Query().Get("host"), "PGUSER="+u.User.Username(), "PGPASSWORD="+pw,
		"PGDATABASE="+strings.TrimPrefix(u.Path, "/"), "PGSSLMODE=disable")
	out, err := cmd.CombinedOutput()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatal(err)
	}
	return err == nil, string(out)
}

// The pgTAP file passes on a plain database migrated by portalsync
// migrate, on a Supabase-shaped one migrated by it, and on a
// Supabase-shaped one built from the SQL files, as supabase db push
// leaves it. It fails when an assignment that ended yesterday counts as
// current.
func TestPgTAPAccessContract(t *testing.T) {
	files, err := migrationSQLFiles()
	if err != nil {
		t.Fatal(err)
	}
	superuser := func(shape pgtest.Shape, url string) string { return pgtest.Superuser(shape, url) }
	dbs := map[string]string{}
	for _, shape := range pgtest.Shapes {
		url := pgtest.ShapedDatabase(t, shape, emptyDB)
		if code, _, stderr := portalsync(t, "migrate", "--database-url", url); code != 0 {
			t.Fatalf("migrate: exit %d: %s", code, stderr)
		}
		dbs[string(shape)+", migrated"] = superuser(shape, url)
	}
	fromFiles := pgtest.ShapedDatabase(t, pgtest.Supabase, emptyDB)
	applyFiles(t, fromFiles, files)
	dbs["supabase, from the SQL files"] = superuser(pgtest.Supabase, fromFiles)
	for name, url := range dbs {
		if ok, out := pgProve(t, url); !ok || !strings.Contains(out, "All tests successful") {
			t.Errorf("%s: pg_prove failed:\n%s", name, out)
		}
	}

	// The mutant: an assignment that ended yesterday counted as current.
	mutant := dbs["supabase, from the SQL files"]
	conn, err := pgx.Connect(t.Context(), mutant)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var def string
	if err := conn.QueryRow(t.Context(), "select pg_get_functiondef('public.portal_certification_statuses(text, uuid)'::regprocedure)").Scan(&def); err != nil {
		t.Fatal(err)
	}
	mutated := strings.ReplaceAll(def, "a.ends_on >= v_today", "a.ends_on >= v_today - 1")
	if mutated == def {
		t.Fatal("the mutant changes nothing: the function's text is not what the test expects")
	}
	if _, err := conn.Exec(t.Context(), mutated); err != nil {
		t.Fatal(err)
	}
	ok, out := pgProve(t, mutant)
	if ok || !strings.Contains(out, "a coordinator sees the mentors of their current assignments") {
		t.Errorf("pg_prove on the mutant passed, or failed elsewhere:\n%s", out)
	}
}
