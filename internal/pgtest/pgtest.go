// Package pgtest gives tests a real PostgreSQL server and an isolated,
// migrated database per test.
//
// The server is, in order of preference, the one named by the environment
// variable PORTALSYNC_TEST_DATABASE_URL (a URL of a role that may create
// databases), or a throwaway cluster that the test binary starts itself
// with the installed PostgreSQL's initdb and postgres: a temporary
// directory, a Unix socket, no TCP port, password authentication, and the
// postgres OS user when the tests run as root (PostgreSQL refuses to run as
// root). The cluster lives as long as the test binary: a package's TestMain
// runs its tests through Wrap, which stops it at the end.
//
// When neither is possible, a test that asks for a database fails when the
// environment variable CI is "true", and is skipped with a message saying
// how to enable it otherwise.
//
// Each test gets its own database, copied from a template database that
// is prepared once (migrated) per template name, so tests are isolated and
// need not migrate one by one.
//
// A database has a Shape: Plain, or Supabase (a project's roles, owner and
// default privileges, in a throwaway cluster of its own, which preloads
// pg_cron when it is installed; the environment variable serves Plain
// only). RunShapes runs a package's tests once on each.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlf/dynamicsportal/internal/pgcluster"
	"go.uber.org/goleak"
)

// EnvURL names the environment variable holding the URL of a server to use
// instead of starting one.
const EnvURL = "PORTALSYNC_TEST_DATABASE_URL"

// howTo is the end of a skip message.
const howTo = "install PostgreSQL 15 (apt-get install -y postgresql-15) so the tests can start a throwaway cluster, " +
	"or set " + EnvURL + " to a server URL whose role may create databases"

// Shape is how a test database is set up (see pgcluster.Shape).
type Shape = pgcluster.Shape

// The shapes.
const (
	Plain    = pgcluster.Plain
	Supabase = pgcluster.Supabase
)

// SupabaseOwner is the project owner of the Supabase shape, who owns and
// migrates its databases.
const SupabaseOwner = pgcluster.SupabaseOwner

// Shapes are the shapes RunShapes runs a package's tests on.
var Shapes = []Shape{Plain, Supabase}

// server is the PostgreSQL server of one shape.
type server struct {
	started  *pgcluster.Cluster // the running throwaway cluster, if any
	adminURL string             // the server's URL once known
	err      error              // why the server could not be had
	tried    bool
}

var (
	mu       sync.Mutex
	servers  = map[Shape]*server{}
	current  = Plain              // the shape Database uses
	prepared = map[string]error{} // shape/template name → result of preparing it
)

// Runner is what TestMain runs: *testing.M, or the value Wrap returns.
type Runner interface{ Run() int }

// Wrap returns m such that running it stops the throwaway clusters, if any
// were started, before returning m.Run's exit code. Call it from TestMain,
// alone or under goleak:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }
func Wrap(m Runner) Runner { return wrapped{m: m, shapes: []Shape{Plain}} }

// RunShapes is Wrap that runs the package's tests once on each of Shapes:
// Database gives each run's tests a database of that shape. Each run
// starts with a line naming its shape, so a failure says which.
func RunShapes(m Runner) Runner { return wrapped{m: m, shapes: Shapes} }

type wrapped struct {
	m      Runner
	shapes []Shape
}

func (w wrapped) Run() int {
	defer Stop()
	code := 0
	for _, shape := range w.shapes {
		if len(w.shapes) > 1 {
			fmt.Printf("pgtest: the tests on the %s database\n", shape)
		}
		mu.Lock()
		current = shape
		mu.Unlock()
		if c := w.m.Run(); c != 0 {
			code = c
		}
	}
	return code
}

// Current returns the shape Database uses: the one RunShapes is running.
func Current() Shape {
	mu.Lock()
	defer mu.Unlock()
	return current
}

// Stop stops the throwaway clusters, if any are running, and removes their
// directories. Wrap's Run calls it; a TestMain that does more may call it
// itself.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	for _, srv := range servers {
		if srv.started != nil {
			srv.started.Stop()
		}
	}
	clear(servers)
	clear(prepared)
	current = Plain
}

// ServerURL returns the URL of the maintenance database of the server of
// the current shape, as its superuser, starting the throwaway cluster at
// the first call. It fails or skips t when there is no server (see the
// package comment).
func ServerURL(t testing.TB) string {
	t.Helper()
	return serverURL(t, Current())
}

func serverURL(t testing.TB, shape Shape) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	srv := servers[shape]
	if srv == nil {
		srv = &server{}
		servers[shape] = srv
	}
	if !srv.tried {
		srv.tried = true
		srv.adminURL, srv.started, srv.err = startServer(shape)
	}
	if srv.err != nil {
		unavailable(t, srv.err)
	}
	return srv.adminURL
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("no PostgreSQL for the tests (CI=true, so this fails): %v", err)
	}
	t.Skipf("no PostgreSQL for the tests: %v; to run them, %s", err, howTo)
}

func startServer(shape Shape) (string, *pgcluster.Cluster, error) {
	if u := os.Getenv(EnvURL); u != "" && shape == Plain {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			return "", nil, fmt.Errorf("%s: cannot connect: %w", EnvURL, pgcluster.RedactErr(err, u))
		}
		_ = conn.Close(ctx)
		return u, nil, nil
	}
	c, err := pgcluster.Start(shape)
	if err != nil {
		return "", nil, err
	}
	return c.URL(), c, nil
}

// Template is a database prepared once and copied for each test.
type Template struct {
	// Name identifies the template's content, for example a hash of the
	// migrations, so a changed preparation gets a new template on a
	// shared server. Letters, digits and underscores, at most 40.
	Name string
	// Prepare fills the template database, given its URL.
	Prepare func(ctx context.Context, url string) error
}

// Database creates a database for t of the current shape (see RunShapes),
// copied from tmpl (prepared first if this is the first use of its name),
// drops it when t ends, and returns its URL, as the database's owner. The
// URL carries the server's password: never print it.
func Database(t testing.TB, tmpl Template) string {
	t.Helper()
	return ShapedDatabase(t, Current(), tmpl)
}

// ShapedDatabase is Database for a database of the given shape.
func ShapedDatabase(t testing.TB, shape Shape, tmpl Template) string {
	t.Helper()
	admin := serverURL(t, shape)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmplName := "tmpl_" + tmpl.Name
	if err := prepare(ctx, shape, admin, tmplName, tmpl); err != nil {
		t.Fatalf("pgtest: prepare template %s (%s): %v", tmpl.Name, shape, pgcluster.RedactErr(err, admin))
	}
	name := "test_" + randomHex(8)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", pgcluster.RedactErr(err, admin))
	}
	defer conn.Close(ctx)
	// A template in use by another session cannot be copied: retry briefly.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()+" template "+pgx.Identifier{tmplName}.Sanitize()+
			" strategy file_copy"+pgcluster.OwnerClause(shape))
		if err == nil || attempt == 50 || !strings.Contains(err.Error(), "is being accessed by other users") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database: %v", pgcluster.RedactErr(err, admin))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, pgcluster.RedactErr(err, admin))
			return
		}
		defer conn.Close(ctx)
		if shape == Supabase {
			// pg_cron's jobs of the database go with it.
			_, _ = conn.Exec(ctx, "delete from cron.job where database = $1", name)
		}
		if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, pgcluster.RedactErr(err, admin))
		}
	})
	return pgcluster.OwnerURL(shape, WithDatabase(admin, name))
}

// prepare creates the template database once per server and name. An
// advisory lock in the maintenance database keeps concurrent test binaries
// sharing a server from preparing the same template twice.
func prepare(ctx context.Context, shape Shape, admin, tmplName string, tmpl Template) error {
	key := string(shape) + "/" + tmplName
	mu.Lock()
	err, done := prepared[key]
	mu.Unlock()
	if done {
		return err
	}
	err = prepareOnce(ctx, shape, admin, tmplName, tmpl)
	mu.Lock()
	prepared[key] = err
	mu.Unlock()
	return err
}

func prepareOnce(ctx context.Context, shape Shape, admin, tmplName string, tmpl Template) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "select pg_advisory_lock(7142024)"); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock(7142024)") //nolint:errcheck
	var ready bool
	err = conn.QueryRow(ctx, "select exists(select from pg_database where datname = $1 and datistemplate)", tmplName).Scan(&ready)
	if err != nil || ready {
		return err
	}
	// A template left half-made by a killed run is made again.
	if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{tmplName}.Sanitize()); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{tmplName}.Sanitize()+pgcluster.OwnerClause(shape)); err != nil {
		return err
	}
	if err := pgcluster.SetUpDatabase(ctx, shape, WithDatabase(admin, tmplName)); err != nil {
		return err
	}
	if err := tmpl.Prepare(ctx, pgcluster.OwnerURL(shape, WithDatabase(admin, tmplName))); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "alter database "+pgx.Identifier{tmplName}.Sanitize()+" with is_template true allow_connections false")
	return err
}

// WithDatabase returns u with its database name replaced by name.
func WithDatabase(u, name string) string { return pgcluster.WithDatabase(u, name) }

// Password returns the password of a URL, or "" (for leak scans).
func Password(u string) string { return pgcluster.Password(u) }

// IgnoreCluster is the goleak option for a leak check inside a test of a
// package whose tests may have started a throwaway cluster, which outlives
// every test until Stop:
//
//	goleak.VerifyNone(t, pgtest.IgnoreCluster())
func IgnoreCluster() goleak.Option { return goleak.IgnoreAnyFunction(pgcluster.WaiterName()) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// HashFS returns a short hash of every file in fsys (names and contents),
// for a Template.Name that changes when the migrations do.
func HashFS(fsys fs.FS) string {
	h := sha256.New()
	_ = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(fsys, path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}
