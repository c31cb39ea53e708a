package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(Wrap(m)) }

// table is a template with one table, for the isolation test.
var table = Template{Name: "pgtest_self", Prepare: func(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "create table t (v int); insert into t values (1)")
	return err
}}

func count(t *testing.T, url string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n int
	if err := conn.QueryRow(t.Context(), "select count(*) from t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDatabasesAreIsolatedCopiesOfTheTemplate(t *testing.T) {
	a, b := Database(t, table), Database(t, table)
	if a == b {
		t.Fatal("two tests got the same database")
	}
	conn, err := pgx.Connect(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "insert into t values (2), (3)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())
	if n := count(t, a); n != 3 {
		t.Errorf("database a holds %d rows, want 3", n)
	}
	if n := count(t, b); n != 1 {
		t.Errorf("database b holds %d rows, want the template's 1", n)
	}
}

func TestDatabaseIsDroppedAfterTheTest(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		u := Database(t, table)
		name = u[strings.LastIndex(u, "/")+1 : strings.Index(u, "?")]
	})
	conn, err := pgx.Connect(t.Context(), ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var exists bool
	if err := conn.QueryRow(t.Context(), "select exists(select from pg_database where datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test", name)
	}
}

func TestServerRunsUnprivilegedOnASocket(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip("the server comes from " + EnvURL)
	}
	u := ServerURL(t)
	if !strings.Contains(u, "host=%2F") {
		t.Errorf("server URL is not a Unix socket: host missing")
	}
	if Password(u) == "" {
		t.Error("the throwaway cluster has no password")
	}
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var listen string
	if err := conn.QueryRow(t.Context(), "show listen_addresses").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	if listen != "" {
		t.Errorf("listen_addresses = %q, want none (no TCP port)", listen)
	}
	wrong := strings.Replace(u, Password(u), "wrong", 1)
	if c, err := pgx.Connect(t.Context(), wrong); err == nil {
		c.Close(t.Context())
		t.Error("a wrong password was accepted")
	}
}

func TestWithDatabase(t *testing.T) {
	got := WithDatabase("postgres://u:p@/postgres?host=%2Ftmp%2Fx", "db1")
	if got != "postgres://u:p@/db1?host=%2Ftmp%2Fx" {
		t.Errorf("WithDatabase = %s", got)
	}
}

// The cluster outlives the test that started it; IgnoreCluster lets a
// per-test leak check pass over it, and over nothing else.
func TestIgnoreClusterNamesTheClustersGoroutine(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip(EnvURL + " is set: no throwaway cluster is started")
	}
	ServerURL(t)
	if err := goleak.Find(); err == nil {
		t.Fatal("no goroutine outlives the cluster's start; the check below would prove nothing")
	}
	if err := goleak.Find(IgnoreCluster()); err != nil {
		t.Errorf("with IgnoreCluster: %v", err)
	}
}

// A Supabase-shaped database is owned by postgres, who is not a superuser,
// and what postgres creates in public is open to anon, as on Supabase.
func TestSupabaseShape(t *testing.T) {
	u := ShapedDatabase(t, Supabase, Template{Name: "pgtest_empty", Prepare: func(context.Context, string) error { return nil }})
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var user string
	var super, anonSees bool
	var uid *string
	if _, err := conn.Exec(t.Context(), "create table public.t (v int)"); err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(t.Context(), `select current_user::text, (select rolsuper from pg_roles where rolname = current_user),
		has_table_privilege('anon', 'public.t', 'DELETE'), auth.uid()::text`).Scan(&user, &super, &anonSees, &uid)
	if err != nil {
		t.Fatal(err)
	}
	if user != SupabaseOwner || super || !anonSees || uid != nil {
		t.Errorf("as %s (superuser %v): anon may delete from a new public table: %v; auth.uid() %v; want postgres, not a superuser, true, null",
			user, super, anonSees, uid)
	}
}
