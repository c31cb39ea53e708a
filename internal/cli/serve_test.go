package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

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
