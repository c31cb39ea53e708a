package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// TestMain fails the package's tests when a goroutine outlives them, and
// stops the throwaway PostgreSQL cluster at the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.RunShapes(m)) }

// migrated is a template database with the store's migrations applied; its
// name changes with the migrations.
var migrated = pgtest.Template{
	Name: "portal_" + pgtest.HashFS(Migrations()),
	Prepare: func(ctx context.Context, url string) error {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return err
		}
		defer pool.Close()
		_, err = Migrate(ctx, pool)
		return err
	},
}

// database returns the URL of a fresh migrated database, with extra query
// parameters (such as default_query_exec_mode=exec) appended.
func database(t testing.TB, params ...string) string {
	t.Helper()
	u := pgtest.Database(t, migrated)
	for _, p := range params {
		u += "&" + p
	}
	return u
}

// openStore opens a store on a fresh migrated database and closes it when
// the test ends. It also returns a superuser connection to the same
// database for setting up and checking rows.
func openStore(t testing.TB, params ...string) (*Store, *pgx.Conn) {
	t.Helper()
	u := database(t, params...)
	s, err := Open(t.Context(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, connect(t, u)
}

// connect returns a connection, closed when the test ends.
func connect(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// exec runs SQL statements as the superuser, failing the test on error.
func exec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(sql), err)
	}
}

// queryStrings returns the first column of every row of a query.
func queryStrings(t testing.TB, conn *pgx.Conn, sql string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// queryModes are the query execution modes the store must work in: pgx's
// default (prepared statements cached per connection), and the two that
// a pooler in transaction mode allows.
var queryModes = []string{"cache_statement", "exec", "simple_protocol"}
