package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/leakscan"
	"github.com/hlf/dynamicsportal/ports"
)

// The data of the emulators: 7 certifications, so that a page size of 3
// gives 3 pages, the last one short.
const (
	seed         = 19
	records      = 7
	pageSize     = 3
	pagesOfThree = (records + pageSize - 1) / pageSize
)

// newSecret returns a unique client secret that the output scans look for.
func newSecret() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "SECRETMARKER-" + hex.EncodeToString(b)
}

// startEmulator starts an emulator signed by the shared CA with the test
// data and a marker secret; mod may change the options first. The test's
// cleanup closes it.
func startEmulator(t *testing.T, mod func(*dynamicstest.Options)) *dynamicstest.Emulator {
	t.Helper()
	o := dynamicstest.Options{Certifications: records, Seed: seed, ClientSecret: newSecret(), CA: sharedCA}
	if mod != nil {
		mod(&o)
	}
	e, err := dynamicstest.Start(&o)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// result is what one run of the command left.
type result struct {
	code           int
	stdout, stderr string
}

// lastLine is the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// errorCode returns the code of a last stderr line "portalsync: <code>:
// <detail>", or "" when the line has another shape.
func (r result) errorCode() string {
	rest, ok := strings.CutPrefix(lastLine(r.stderr), "portalsync: ")
	if !ok {
		return ""
	}
	code, _, ok := strings.Cut(rest, ": ")
	if !ok {
		return ""
	}
	return code
}

// wantExit checks the exit status and, for a failure, the error code on
// the last stderr line; a success ends with no such line. A mismatch ends
// the test.
func (r result) wantExit(t *testing.T, code int, errCode string) {
	t.Helper()
	if !r.exitIs(t, code, errCode) {
		t.FailNow()
	}
}

// exitIs is wantExit that lets the test go on, and reports whether the
// exit matched.
func (r result) exitIs(t *testing.T, code int, errCode string) bool {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr (end):\n%s", r.code, code, r.stdout, tail(r.stderr, 12))
		return false
	}
	if got := r.errorCode(); got != errCode {
		t.Errorf("last stderr line %q: code %q, want %q", lastLine(r.stderr), got, errCode)
		return false
	}
	return true
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// portalVars are the environment variables the command reads.
var portalVars = []string{
	"DYNAMICS_BASE_URL", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
	"AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"PORTALSYNC_FLAGS_FILE", "PORTALSYNC_CORRELATION_HEADER", "LOG_LEVEL", "LOG_FORMAT",
	"FEATURE_DYNAMICS_PORTAL_ENABLED",
}

// clientEnv is the environment a client of e needs, the flag turned on
// by the environment.
func clientEnv(e *dynamicstest.Emulator) []string {
	return []string{
		"DYNAMICS_BASE_URL=" + e.BaseURL(),
		"AZURE_TENANT_ID=" + e.TenantID(),
		"AZURE_AUTHORITY_HOST=" + e.AuthorityHost(),
		"AZURE_CLIENT_ID=" + e.ClientID(),
		"AZURE_CLIENT_SECRET=" + e.ClientSecret(),
		"FEATURE_DYNAMICS_PORTAL_ENABLED=true",
	}
}

// setProcessEnv clears the command's variables in this process and sets
// env (NAME=value entries) for the rest of the test.
func setProcessEnv(t *testing.T, env []string) {
	t.Helper()
	for _, k := range portalVars {
		t.Setenv(k, "")
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// lockedBuffer is a buffer several goroutines may write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// command prepares the built binary with a clean environment: PATH, HOME
// and TMPDIR from this process, TZ=UTC, and env.
func command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"TZ=UTC"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runBinary runs the built binary to its end.
func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := command(ctx, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("portalsync %s: %v\nstderr:\n%s", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// binaryEnv is the environment a subprocess needs to use e: the client
// settings and SSL_CERT_FILE naming the shared CA.
func binaryEnv(e *dynamicstest.Emulator) []string {
	return append(clientEnv(e), "SSL_CERT_FILE="+e.CAFile())
}

// flagsFileOn is the flags file of cli.md that turns the portal flag on.
const flagsFileOn = `{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond every few milliseconds until it holds or timeout
// passes, and reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// pageCheckpointed reports whether the checkpoint file at path records a
// processed page (a pass may also save one before its first page).
func pageCheckpointed(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var c ports.Checkpoint
	return json.Unmarshal(b, &c) == nil && c.Next != "" && c.Counts.Pages > 0
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// expectation is what a complete sync pass over some data must report,
// computed here from the data with core.Classify.
type expectation struct {
	certs  []ports.Certification
	counts ports.SyncCounts
	// needs maps the id of each record the pass must write to the status
	// it must write.
	needs map[string]ports.SyncStatus
	// pageNeeds counts the records to write per page of pageSize.
	pageNeeds []int
}

// expect computes the expectation of a pass over certs with the default
// 30-day window, "today" taken in loc, and pages of size.
func expect(certs []ports.Certification, loc *time.Location, size int) expectation {
	return expectWithin(certs, loc, size, 30)
}

// expectWithin is expect with a window of windowDays.
func expectWithin(certs []ports.Certification, loc *time.Location, size, windowDays int) expectation {
	today := ports.DateOf(time.Now().In(loc))
	x := expectation{certs: certs, needs: map[string]ports.SyncStatus{}}
	x.counts.Read = len(certs)
	x.counts.Pages = max(1, (len(certs)+size-1)/size)
	x.pageNeeds = make([]int, x.counts.Pages)
	for i, c := range certs {
		s := core.Classify(c, today, windowDays)
		switch s {
		case ports.SyncStatusValid:
			x.counts.Status.Valid++
		case ports.SyncStatusExpiring:
			x.counts.Status.Expiring++
		case ports.SyncStatusExpired:
			x.counts.Status.Expired++
		case ports.SyncStatusInactive:
			x.counts.Status.Inactive++
		}
		if c.SyncStatus != s || c.SyncStatus == ports.SyncStatusNone || c.LastSyncedOn.IsZero() {
			x.needs[c.ID] = s
			x.pageNeeds[i/size]++
			x.counts.Writes.Done++
		} else {
			x.counts.Writes.Unchanged++
		}
	}
	return x
}

// report is the sync command's JSON report.
type report struct {
	Portal string `json:"portal"`
	ports.SyncCounts
	FailedIDs   []string  `json:"failedIds"`
	Assignments int       `json:"assignments"`
	Resumed     bool      `json:"resumed"`
	Complete    bool      `json:"complete"`
	StartedAt   time.Time `json:"startedAt"`
	Duration    string    `json:"duration"`
}

// parseReport decodes stdout as exactly one report with exactly the
// report's keys.
func parseReport(t *testing.T, stdout string) report {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var r report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not one sync report: %v\n%s", err, stdout)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one report:\n%s", stdout)
	}
	if _, err := time.ParseDuration(r.Duration); err != nil {
		t.Errorf("report duration %q: %v", r.Duration, err)
	}
	return r
}

// checkComplete checks that a report is a complete pass of the live portal
// whose counts are the expectation's, with failed writes counted as failed.
func checkComplete(t *testing.T, r report, x expectation, failed int) {
	t.Helper()
	want := x.counts
	want.Writes.Done -= failed
	want.Writes.Failed = failed
	checkCounts(t, r, want)
}

// checkCompleteDeleted is checkComplete with writes that found their
// record deleted.
func checkCompleteDeleted(t *testing.T, r report, x expectation, deleted int) {
	t.Helper()
	want := x.counts
	want.Writes.Done -= deleted
	want.Writes.Deleted = deleted
	checkCounts(t, r, want)
}

func checkCounts(t *testing.T, r report, want ports.SyncCounts) {
	t.Helper()
	if !r.Complete || r.SyncCounts != want || r.Portal != "live" {
		t.Errorf("report: complete %v, portal %q, counts %+v\nwant complete, live, counts %+v", r.Complete, r.Portal, r.SyncCounts, want)
	}
}

// checkWrites checks the emulator's write log: no record written twice
// (unless resent, when a batch whose answer was lost went again), and
// every record written is one the pass had to write, with the status it
// had to write. It returns the number of writes.
func checkWrites(t *testing.T, e *dynamicstest.Emulator, x expectation, resent bool) int {
	t.Helper()
	seen := map[string]bool{}
	ws := e.Writes()
	for _, w := range ws {
		if seen[w.ID] && !resent {
			t.Errorf("record %s written twice", w.ID)
		}
		seen[w.ID] = true
		want, ok := x.needs[w.ID]
		switch {
		case !ok:
			t.Errorf("record %s written, but it needed no write", w.ID)
		case w.Status != want:
			t.Errorf("record %s written with status %v, want %v", w.ID, w.Status, want)
		case w.Created:
			t.Errorf("record %s created by the write", w.ID)
		}
	}
	return len(ws)
}

// ids are the ids of certs, in order.
func ids(certs []ports.Certification) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = c.ID
	}
	return out
}

// listedIDs decodes JSON lines of certifications and returns their ids.
func listedIDs(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(stdout) {
		var c ports.Certification
		if err := json.Unmarshal([]byte(line), &c); err != nil || c.ID == "" {
			t.Fatalf("stdout line is not a certification (%v): %q", err, line)
		}
		out = append(out, c.ID)
	}
	return out
}

// secretScan looks for secrets in everything the command printed or
// wrote, and keeps the totals.
type secretScan struct {
	mu    sync.Mutex
	bytes int
	hits  []string
}

// scan checks outputs (name → content) for the secrets of the emulators:
// their client secrets (and extra ones, such as a secret rotated away) in
// every form they travel in, every token they issued, every client
// assertion they received, the private key of the tests' client
// certificate, the marker every test secret carries, the word
// Authorization and a Bearer value. Each hit fails t.
func (s *secretScan) scan(t *testing.T, emus []*dynamicstest.Emulator, extraSecrets []string, outputs map[string]string) {
	t.Helper()
	ls := leakscan.New()
	ls.Text("SECRETMARKER", "the secret marker")
	for _, e := range emus {
		for _, sec := range append([]string{e.ClientSecret()}, extraSecrets...) {
			ls.Credentials(e.ClientID(), sec)
		}
		ls.Tokens(e.IssuedTokens()...)
		ls.Assertions(e.ReceivedAssertions()...)
	}
	if c := madeClientCert(); c != nil {
		ls.PrivateKeys(c.PEM())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, out := range outputs {
		s.bytes += len(out)
		for _, hit := range ls.Scan(name, []byte(out)) {
			s.hits = append(s.hits, t.Name()+": "+hit)
			t.Errorf("%s", hit)
		}
	}
}

// filesIn returns the regular files under dir, path → content.
func filesIn(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out["file "+filepath.Base(p)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The rows of the tests need data with records in every status, a write
// on every page and records already in sync.
func TestDataCoverEveryCase(t *testing.T) {
	e := startEmulator(t, nil)
	x := expect(e.Certifications(), time.Local, pageSize)
	st := x.counts.Status
	if st.Valid == 0 || st.Expiring == 0 || st.Expired == 0 || st.Inactive == 0 ||
		slices.Min(x.pageNeeds) == 0 || x.counts.Writes.Unchanged == 0 {
		t.Fatalf("seed %d gives statuses %+v, writes per page %v, %d unchanged: pick another seed",
			seed, st, x.pageNeeds, x.counts.Writes.Unchanged)
	}
}
