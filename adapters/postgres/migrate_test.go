package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

// empty is a template with nothing in it.
var empty = pgtest.Template{Name: "empty", Prepare: func(context.Context, string) error { return nil }}

func TestMigrateAppliesEachMigrationOnce(t *testing.T) {
	u := pgtest.Database(t, empty)
	pool, err := pgxpool.New(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	applied, err := Migrate(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00001_supabase_roles_and_auth_uid.sql", "00002_portal_tables.sql", "00003_portal_certification_statuses.sql", "00004_enqueue_sync.sql", "00005_statuses_use_the_mentor_index.sql", "00006_private_schema_and_utc_today.sql"}
	if !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	again, err := Migrate(t.Context(), pool)
	if err != nil || len(again) != 0 {
		t.Errorf("second Migrate applied %v, %v; want nothing", again, err)
	}
	// goose keeps its versions in a table of its own name, not the
	// default a host's own goose migrations would use.
	conn := connect(t, u)
	if got := queryStrings(t, conn, "select schemaname || '.' || tablename from pg_tables where tablename like '%migrations' or tablename like 'goose%'"); !slices.Equal(got, []string{migrationsTable}) {
		t.Errorf("version tables %v, want [%s]", got, migrationsTable)
	}
}

// On Supabase auth.uid() exists already: the migrations keep it (and its
// owner), whatever its definition. On plain PostgreSQL the test makes one
// that always answers the same user.
func TestMigrateKeepsAnExistingAuthUID(t *testing.T) {
	u := pgtest.Database(t, empty)
	conn := connect(t, pgtest.Superuser(pgtest.Current(), u))
	const fixed = "11111111-2222-4333-8444-555555555555"
	if pgtest.Current() == pgtest.Plain {
		exec(t, conn, "create schema auth")
		exec(t, conn, "create function auth.uid() returns uuid language sql stable as $$ select '"+fixed+"'::uuid $$")
	}
	const def = "select prosrc || ' owned by ' || proowner::regrole::text from pg_proc where oid = 'auth.uid()'::regprocedure"
	before := queryStrings(t, conn, def)
	pool, err := pgxpool.New(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	if after := queryStrings(t, conn, def); !slices.Equal(after, before) {
		t.Errorf("auth.uid() after migrate: %q, want it as it was: %q", after, before)
	}
	if pgtest.Current() == pgtest.Plain {
		var got string
		if err := conn.QueryRow(t.Context(), "select auth.uid()::text").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != fixed {
			t.Errorf("auth.uid() = %s, want the existing function's %s", got, fixed)
		}
	}
}

// auth.uid() as the migrations define it reads the claims as Supabase's
// does: request.jwt.claim.sub when it is set and not empty, else the
// subject of request.jwt.claims. An empty claim.sub, which a session keeps
// once a transaction set it, falls through.
func TestAuthUIDReadsTheClaims(t *testing.T) {
	_, conn := openStore(t)
	for _, tc := range []struct{ sub, claims, want string }{
		{"", `{"sub": "` + uuidOf("uM1") + `"}`, uuidOf("uM1")},
		{"", `{"role": "authenticated"}`, "null"},
		{"", ``, "null"},
		{uuidOf("uM2"), `{"sub": "` + uuidOf("uM1") + `"}`, uuidOf("uM2")},
		{uuidOf("uM2"), ``, uuidOf("uM2")},
	} {
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(t.Context(), "select set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true)", tc.claims, tc.sub); err != nil {
			t.Fatal(err)
		}
		var got *string
		err = tx.QueryRow(t.Context(), "select auth.uid()::text").Scan(&got)
		_ = tx.Rollback(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s := "null"
		if got != nil {
			s = *got
		}
		if s != tc.want {
			t.Errorf("claim.sub %q, claims %q: auth.uid() = %s, want %s", tc.sub, tc.claims, s, tc.want)
		}
	}
}

func TestMigrateOnAClosedPoolFails(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), database(t))
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	if _, err := Migrate(t.Context(), pool); !errors.Is(err, ports.ErrDatabase) {
		t.Errorf("Migrate on a closed pool = %v, want ports.ErrDatabase", err)
	}
}

func TestCheckMigrated(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), pgtest.Database(t, empty))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := CheckMigrated(t.Context(), pool); !errors.Is(err, ports.ErrNotMigrated) || !errors.Is(err, ports.ErrDatabase) {
		t.Errorf("CheckMigrated on an empty database = %v, want ports.ErrNotMigrated", err)
	}
	if _, err := Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	if err := CheckMigrated(t.Context(), pool); err != nil {
		t.Errorf("CheckMigrated after Migrate = %v", err)
	}
	pool.Close()
	if err := CheckMigrated(t.Context(), pool); !errors.Is(err, ports.ErrDatabase) || errors.Is(err, ports.ErrNotMigrated) {
		t.Errorf("CheckMigrated on a closed pool = %v, want a databaseError", err)
	}
}

// SQLFiles: the private schema first, then one file per migration, each
// refusing to run twice and recording its own version; no goose marker
// of a down step is left in them.
func TestSQLFilesOnePerMigration(t *testing.T) {
	files, err := SQLFiles()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(entries)+1 || files[0].Name != "portal_private_schema" || !strings.Contains(files[0].SQL, "create schema portal_private;") {
		t.Fatalf("%d files, first %q; want the private schema then %d migrations", len(files), files[0].Name, len(entries))
	}
	for i, f := range files[1:] {
		v := i + 1
		if !strings.HasPrefix(f.Name, fmt.Sprintf("portal_%05d_", v)) || !strings.Contains(f.SQL, fmt.Sprintf("where version_id = %d", v)) ||
			!strings.Contains(f.SQL, fmt.Sprintf("values (%d, true);", v)) || strings.Contains(f.SQL, "+goose Down") || strings.Contains(f.SQL, "+goose Up") {
			t.Errorf("file %s does not guard and record version %d alone", f.Name, v)
		}
	}
}
