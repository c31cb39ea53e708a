package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestOpenAnUnreachableDatabaseFailsFast(t *testing.T) {
	const secret = "s3cret-Unreachable"
	// Port 1 on loopback: nothing listens, the connection is refused.
	start := time.Now()
	_, err := Open(t.Context(), "postgres://portal:"+secret+"@127.0.0.1:1/portal?sslmode=disable", &Options{ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, ports.ErrDatabase) {
		t.Fatalf("Open = %v, want ports.ErrDatabase", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error holds the password: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "databaseError: connect: ") {
		t.Errorf("error %q does not say what failed", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %s", d)
	}
}

func TestOpenAMalformedURLIsAConfigError(t *testing.T) {
	const secret = "s3cret-Malformed"
	for _, u := range []string{
		"postgres://portal:" + secret + "@db.example:notaport/portal",
		"postgres://portal:" + secret + "@db.example/portal?sslmode=sometimes",
		"host=db.example password=" + secret + " sslmode=sometimes",
	} {
		_, err := Open(t.Context(), u, nil)
		if !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("Open(%s) = %v, want ErrInvalidConfig", Redact(u), err)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error holds the password: %v", err)
		}
	}
}

func TestOpenWithAWrongPasswordNamesNeitherPassword(t *testing.T) {
	u := database(t)
	right := pgtest.Password(u)
	if right == "" {
		t.Skip("the server given in " + pgtest.EnvURL + " has no password")
	}
	const wrong = "Wrong-Password-42"
	_, err := Open(t.Context(), strings.Replace(u, right, wrong, 1), nil)
	if !errors.Is(err, ports.ErrDatabase) {
		t.Fatalf("Open = %v, want ports.ErrDatabase", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), right) {
		t.Errorf("error holds a password: %v", err)
	}
}

func TestAHungStatementIsCutByTheStatementTimeout(t *testing.T) {
	u := database(t)
	s, err := Open(t.Context(), u, &Options{StatementTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Another session holds the checkpoint table locked.
	conn := connect(t, u)
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "lock table portal.sync_checkpoint in access exclusive mode"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Commit(t.Context(), nil, ports.Checkpoint{Next: "x"})
	if !errors.Is(err, ports.ErrDatabase) {
		t.Fatalf("Commit = %v, want ports.ErrDatabase", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Commit returned after %s", d)
	}
	// The store works again once the lock is gone.
	_ = tx.Rollback(t.Context())
	if err := s.Commit(t.Context(), nil, ports.Checkpoint{Next: "y"}); err != nil {
		t.Fatal(err)
	}
}

func TestCancelledIsCanceled(t *testing.T) {
	s, _ := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Commit(ctx, nil, ports.Checkpoint{Next: "x"})
	if ports.CodeOf(err) != ports.CodeCanceled {
		t.Errorf("Commit with a cancelled context = %v, want code canceled", err)
	}
}

func TestPasswordOfAndRedact(t *testing.T) {
	for _, tc := range []struct{ in, pw, redacted string }{
		{"postgres://u:pa%40ss@h:5432/db?sslmode=require", "pa@ss", "postgres://u:xxxxx@h:5432/db?sslmode=require"},
		{"postgres://u@h/db", "", "postgres://u@h/db"},
		{"postgres://u:p w@h:x/db", "p w", "postgres://u:xxxxx@h:x/db"},
		{"host=h user=u password='topsecret' dbname=d", "topsecret", "host=h user=u password='xxxxx' dbname=d"},
		{"host=h user=u dbname=d", "", "host=h user=u dbname=d"},
	} {
		if got := passwordOf(tc.in); got != tc.pw {
			t.Errorf("passwordOf(%q) = %q, want %q", tc.in, got, tc.pw)
		}
		if got := Redact(tc.in); got != tc.redacted {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.redacted)
		}
	}
}

func TestNewKeepsTheHostsPoolOpen(t *testing.T) {
	owner, _ := openStore(t)
	s, err := New(owner.Pool(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := owner.Pool().Ping(t.Context()); err != nil {
		t.Errorf("the host's pool was closed: %v", err)
	}
}

func TestSkippedRecordsAreLoggedWithoutDetails(t *testing.T) {
	u := database(t)
	var logs bytes.Buffer
	s, err := Open(t.Context(), u, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Commit(t.Context(), []ports.SyncRecord{cert(id('c', 1), "", ports.SyncStatusValid, "")}, ports.Checkpoint{Next: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAssignments(t.Context(), []ports.Assignment{{ID: id('e', 1), MentorID: id('a', 1)}}, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"certification skipped", "assignment skipped", id('c', 1), id('e', 1)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), pgtest.Password(u)) && pgtest.Password(u) != "" {
		t.Error("logs hold the password")
	}
}

// Every occurrence of the password in an error is redacted, not only the
// first; and a password holding "@" in a URL that does not parse is
// redacted whole.
func TestRedactionCoversEveryOccurrenceAndAnAtSign(t *testing.T) {
	const pw = "S3cr3t-Pw"
	err := dbError("connect", errors.New("first "+pw+" then "+pw+" again "+pw), pw)
	if n := strings.Count(err.Error(), pw); n != 0 || strings.Count(err.Error(), "xxxxx") != 3 {
		t.Errorf("dbError = %q: the password left %d times, want every one of 3 redacted", err, n)
	}
	const at = "p@ss@word"
	raw := "postgres://owner:" + at + "@db.example.test:port/postgres" // ":port" does not parse
	if got := passwordOf(raw); got != at {
		t.Errorf("passwordOf(%q) = %q, want %q", raw, got, at)
	}
	if got := Redact(raw); strings.Contains(got, "p@ss") || strings.Contains(got, "word") {
		t.Errorf("Redact(%q) = %q: part of the password is left", raw, got)
	}
	_, err = Open(t.Context(), raw, nil)
	if err == nil || strings.Contains(err.Error(), "ss@word") || strings.Contains(err.Error(), "p@ss") {
		t.Errorf("Open(%q) = %v: want an error without any part of the password", raw, err)
	}
}

// DatabaseError says what to add when the error is pgx's prepared
// statements meeting on a pooler's shared server connection, and is a
// plain databaseError otherwise.
func TestDatabaseErrorNamesThePoolerSetting(t *testing.T) {
	clash := &pgconn.PgError{Code: "42P05", Message: `prepared statement "stmtcache_0a1b2c" already exists`}
	if err := DatabaseError("river migrations", fmt.Errorf("wrapped: %w", clash)); !errors.Is(err, ports.ErrDatabase) || !strings.Contains(err.Error(), "default_query_exec_mode=exec") {
		t.Errorf("a prepared-statement clash: %v, want a databaseError naming default_query_exec_mode=exec", err)
	}
	missing := &pgconn.PgError{Code: "26000", Message: `prepared statement "stmtcache_0a1b2c" does not exist`}
	if err := DatabaseError("statuses", missing); !strings.Contains(err.Error(), "pooler in transaction mode") {
		t.Errorf("a missing prepared statement: %v, want the pooler named", err)
	}
	other := &pgconn.PgError{Code: "42P05", Message: `prepared statement "mine" already exists`}
	if err := DatabaseError("x", other); !errors.Is(err, ports.ErrDatabase) || strings.Contains(err.Error(), "pooler") {
		t.Errorf("another clash: %v, want a plain databaseError", err)
	}
}
