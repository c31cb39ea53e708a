package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestHealthzWithoutTheDatabase: /healthz answers 503 when the database
// does not answer (200 is proven by the replicas in test/scheduling).
func TestHealthzWithoutTheDatabase(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var logs syncLog
	srv, err := serveHealth("127.0.0.1:0", pool, http.NotFoundHandler(), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background()) //nolint:errcheck
	addr := logs.addr(t)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz without a database: %d, want 503", resp.StatusCode)
	}
	if _, err := serveHealth(addr, pool, http.NotFoundHandler(), slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("a second server on the same address started; want a usage error")
	}
}

// syncLog keeps the JSON log records of a test.
type syncLog struct{ lines [][]byte }

func (l *syncLog) Write(p []byte) (int, error) {
	l.lines = append(l.lines, append([]byte(nil), p...))
	return len(p), nil
}

func (l *syncLog) addr(t *testing.T) string {
	t.Helper()
	for _, b := range l.lines {
		var rec struct {
			Msg, Addr string
		}
		if json.Unmarshal(b, &rec) == nil && rec.Msg == "healthz listening" {
			return rec.Addr
		}
	}
	t.Fatal("no healthz listening record")
	return ""
}

// /healthz and /metrics listen on loopback unless --public: a network
// address without it is a usage error before the database is reached. The
// server has read-header, read, write and idle timeouts.
func TestServeListensOnLoopbackUnlessPublic(t *testing.T) {
	const url = "postgres://portal:pw@127.0.0.1:1/portal?connect_timeout=1"
	for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080"} {
		code, _, stderr := portalsync(t, "serve", "--database-url", url, "--listen", addr)
		if last := lastLine(stderr); code != 2 || !strings.Contains(last, "--public") {
			t.Errorf("serve --listen %s: exit %d, %q; want exit 2 naming --public", addr, code, last)
		}
	}
	// With --public the flags pass, and the database is reached next.
	code, _, stderr := portalsync(t, "serve", "--database-url", url, "--listen", ":0", "--public")
	if last := lastLine(stderr); code != 1 || !strings.HasPrefix(last, "portalsync: databaseError: ") {
		t.Errorf("serve --listen :0 --public: exit %d, %q; want the database's error", code, last)
	}
	if !strings.Contains(stderr, "process list") {
		t.Errorf("no warning that --database-url shows in the process list: %s", stderr)
	}
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	srv, err := serveHealth("127.0.0.1:0", pool, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background()) //nolint:errcheck
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 {
		t.Errorf("timeouts: read header %v, read %v, write %v, idle %v; want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

// serve refuses the stub: with the portal flag off it exits 3 before any
// River client starts, saying how to turn it on or to allow the stub; a
// stub replica would complete every job and hide a stale store.
func TestServeRefusesTheStub(t *testing.T) {
	url := pgtest.Database(t, emptyDB)
	code, _, stderr := portalsync(t, "serve", "--database-url", url, "--schedule", "off")
	last := lastLine(stderr)
	if code != 3 || !strings.HasPrefix(last, "portalsync: stub: ") || !strings.Contains(last, "--allow-stub") {
		t.Errorf("serve with the flag off: exit %d, last line %q; want exit 3 naming --allow-stub", code, last)
	}
	if strings.Contains(stderr, "River client started") {
		t.Error("a River client started before the refusal")
	}
}

// A database with the store's migrations but not River's: serve
// --no-migrate refuses to start with a databaseError, as the README says,
// like a database with neither.
func TestServeNoMigrateWithoutRiversMigrationsIsADatabaseError(t *testing.T) {
	url := pgtest.Database(t, emptyDB)
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	code, _, stderr := portalsync(t, "serve", "--database-url", url, "--no-migrate", "--schedule", "off")
	if last := lastLine(stderr); code != 1 || !strings.HasPrefix(last, "portalsync: databaseError: ") || !strings.Contains(last, "River") {
		t.Errorf("serve --no-migrate without River's migrations: exit %d, %q; want exit 1 with a databaseError naming River's", code, last)
	}
}
