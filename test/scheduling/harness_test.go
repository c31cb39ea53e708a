package scheduling

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/internal/leakscan"
	"github.com/hlf/dynamicsportal/internal/pgtest"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	buildOut  []byte
)

// portalsync builds the command once per test binary.
func portalsync(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds portalsync and runs replicas of it for tens of seconds")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "portalsync-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "portalsync")
		buildOut, buildErr = exec.Command("go", "build", "-o", binary, "github.com/hlf/dynamicsportal/cmd/portalsync").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	t.Cleanup(func() {}) // the binary's directory goes with the machine's temp files
	return binary
}

// template is a database with the status store's migrations and River's,
// as `portalsync migrate` leaves it.
var template = pgtest.Template{Name: "sched_" + pgtest.HashFS(postgres.Migrations()), Prepare: func(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		return err
	}
	_, err = schedule.Migrate(ctx, pool)
	return err
}}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf.Bytes())
}

// world is one test's database, emulator and replicas.
type world struct {
	t      *testing.T
	bin    string
	dbURL  string
	pool   *pgxpool.Pool
	emu    *dynamicstest.Emulator
	emuLog *lockedBuffer
	env    []string
}

func newWorld(t *testing.T, opts dynamicstest.Options) *world {
	t.Helper()
	return newWorldOn(t, pgtest.Plain, opts)
}

// newWorldOn is newWorld on a database of the given shape.
func newWorldOn(t *testing.T, shape pgtest.Shape, opts dynamicstest.Options) *world {
	t.Helper()
	w := &world{t: t, bin: portalsync(t), emuLog: &lockedBuffer{}}
	w.dbURL = pgtest.ShapedDatabase(t, shape, template)
	pool, err := pgxpool.New(t.Context(), w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	w.pool = pool
	opts.Logger = slog.New(slog.NewJSONHandler(w.emuLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	emu, err := dynamicstest.Start(&opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	w.emu = emu
	w.env = append(emu.Env(), "DATABASE_URL="+w.dbURL, "LOG_FORMAT=json", "LOG_LEVEL=info", "TZ=UTC", "PATH="+os.Getenv("PATH"))
	return w
}

// replica is one running `portalsync serve`.
type replica struct {
	name   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

// serve starts a replica with args after "serve".
func (w *world) serve(name string, args ...string) *replica {
	w.t.Helper()
	r := &replica{name: name, stderr: &lockedBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(w.bin, append([]string{"serve"}, args...)...)
	r.cmd.Env, r.cmd.Stderr, r.cmd.Stdout = w.env, r.stderr, r.stderr
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	w.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if w.t.Failed() {
			w.t.Logf("%s stderr:\n%s", r.name, tail(r.stderr.Bytes(), 40))
		}
	})
	return r
}

// run runs a portalsync command to its end and returns stdout, stderr and
// the exit code.
func (w *world) run(args ...string) (string, string, int) {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(w.bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = w.env, &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		w.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// exited waits up to d for the replica to end and returns its exit code,
// or -1 when it is still running.
func (r *replica) exited(d time.Duration) int {
	select {
	case <-r.done:
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

func (r *replica) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// logRecord is one JSON log line of a replica.
type logRecord struct {
	Time  time.Time `json:"time"`
	Msg   string    `json:"msg"`
	JobID int64     `json:"job_id"`
	Addr  string    `json:"addr"`
	For   int64     `json:"for"`
	Code  string    `json:"code"`
}

// logs returns the replica's JSON log records with message msg.
func (r *replica) logs(msg string) []logRecord {
	var out []logRecord
	sc := bufio.NewScanner(bytes.NewReader(r.stderr.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec logRecord
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == msg {
			out = append(out, rec)
		}
	}
	return out
}

// waitLog waits up to d for a log record msg on any of rs and returns the
// replica and record.
func waitLog(t *testing.T, d time.Duration, msg string, rs ...*replica) (*replica, logRecord) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, r := range rs {
			if recs := r.logs(msg); len(recs) > 0 {
				return r, recs[0]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q log record within %v", msg, d)
	return nil, logRecord{}
}

// request is one request the emulator served.
type request struct {
	start, end time.Time
	route      string
	continued  bool
	status     int
}

// requests reads the emulator's request log.
func (w *world) requests() []request {
	w.t.Helper()
	var out []request
	dec := json.NewDecoder(bytes.NewReader(w.emuLog.Bytes()))
	for dec.More() {
		var rec struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			Route     string    `json:"route"`
			Continued bool      `json:"continued"`
			Status    int       `json:"status"`
			Duration  int64     `json:"duration"`
		}
		if err := dec.Decode(&rec); err != nil {
			w.t.Fatalf("emulator log: %v", err)
		}
		if rec.Msg != "request" {
			continue
		}
		out = append(out, request{start: rec.Time.Add(-time.Duration(rec.Duration)), end: rec.Time, route: rec.Route, continued: rec.Continued, status: rec.Status})
	}
	slices.SortFunc(out, func(a, b request) int { return a.start.Compare(b.start) })
	return out
}

// passFigures is what the portal saw of the sync passes.
type passFigures struct {
	passes   int // runs of a pass, each beginning with first-page reads
	complete int // passes that read every page, each answered 200
	overlaps int // passes with a request still running when the next began, or with reads of another pass mixed in
}

// passes splits the emulator's requests into passes and checks them: a
// pass reads pages pages in all, and every request of it ends before the
// next pass's first read starts. A pass reads the first page of the
// certifications and of the assignments (beside each other, in either
// order); a first-page read of a listing the pass being split has already
// begun starts the next pass.
func passes(reqs []request, pages int) passFigures {
	var f passFigures
	var starts []int
	begun := map[string]bool{}
	for i, r := range reqs {
		if r.continued || r.route != string(dynamicstest.RouteCertifications) && r.route != string(dynamicstest.RouteAssignments) {
			continue
		}
		if len(starts) == 0 || begun[r.route] {
			starts = append(starts, i)
			clear(begun)
		}
		begun[r.route] = true
	}
	f.passes = len(starts)
	for k, s := range starts {
		end := len(reqs)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		reads, ok, overlap := 0, true, false
		for _, r := range reqs[s:end] {
			if r.route == string(dynamicstest.RouteCertifications) {
				reads++
				ok = ok && r.status == 200
			}
			if end < len(reqs) && r.end.After(reqs[end].start) {
				overlap = true
			}
		}
		if reads > pages {
			overlap = true // reads of another pass mixed in
		}
		if reads == pages && ok {
			f.complete++
		}
		if overlap {
			f.overlaps++
		}
	}
	return f
}

// jobs counts the sync job rows by state.
func (w *world) jobs() map[string]int {
	w.t.Helper()
	rows, err := w.pool.Query(w.t.Context(), "select state::text, count(*) from portal_private.river_job where kind = $1 group by 1", schedule.Kind)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			w.t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// waitJobs waits up to d until cond holds for the job counts.
func (w *world) waitJobs(d time.Duration, what string, cond func(map[string]int) bool) map[string]int {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for {
		j := w.jobs()
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("after %v: jobs %v; want %s", d, j, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writtenTwice counts the records the portal received more than one write
// for.
func (w *world) writtenTwice() int {
	n := 0
	for _, c := range w.emu.Stats().Writes {
		if c > 1 {
			n++
		}
	}
	return n
}

// scanForSecrets searches the outputs of every replica (and the job rows'
// errors) for the client secret, the tokens the emulator issued and the
// database password. tokens says whether the emulator issued any (none
// when every token request is refused).
func (w *world) scanForSecrets(tokens bool, rs ...*replica) {
	w.t.Helper()
	s := leakscan.New()
	s.Credentials(w.emu.ClientID(), w.emu.ClientSecret())
	s.Tokens(w.emu.IssuedTokens()...)
	if pw := pgtest.Password(w.dbURL); pw != "" {
		s.Text(pw, "database password")
	}
	for _, r := range rs {
		for _, hit := range s.Scan(r.name+" stderr", r.stderr.Bytes()) {
			w.t.Errorf("secret leak: %s", hit)
		}
	}
	var errs []byte
	if err := w.pool.QueryRow(w.t.Context(), "select coalesce(string_agg(errors::text, ' '), '') from portal_private.river_job").Scan(&errs); err != nil {
		w.t.Fatal(err)
	}
	for _, hit := range s.Scan("job rows' errors", errs) {
		w.t.Errorf("secret leak: %s", hit)
	}
	w.t.Logf("secret scan: %s", s.Summary())
	if tokens && s.TokenCount() == 0 {
		w.t.Errorf("no issued token to search for")
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stoppedLast checks that the replica's last stderr line is its shutdown
// record: nothing of the process is written after it.
func (r *replica) stoppedLast(t *testing.T) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(r.stderr.Bytes())), "\n")
	var rec logRecord
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil || rec.Msg != "stopped" {
		t.Errorf("%s: last stderr line %q, want the shutdown record \"stopped\"", r.name, lines[len(lines)-1])
	}
}
