package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

var matrixBinary = flag.Bool("e2e.binary", false,
	"run the fault matrix through the built binary instead of in process (no goroutine check)")

// row is one fault of the matrix and what the command must do with it.
type row struct {
	name string
	// args are the command and its flags; {dir} is the row's directory.
	// The debug log flags are added.
	args []string
	// faults are injected in order, in the emulator's command-line form;
	// {other} is the host:port of a second emulator, which must see no
	// connection.
	faults []string
	// opts changes the emulator's options; setup runs once it started.
	opts  func(f *fixture, o *dynamicstest.Options)
	setup func(f *fixture)
	// during runs alongside the command.
	during func(f *fixture)
	// exit is the exit status, code the code on the last stderr line.
	exit int
	code string
	// attempts is the number of requests route must have seen (at least
	// that many with atLeast).
	route    dynamicstest.Route
	attempts func(x expectation) int
	atLeast  bool
	// writes is the number of writes the emulator must have applied.
	writes func(x expectation) int
	// resent allows a record written twice: a batch whose answer was lost
	// is sent again.
	resent bool
	// after checks more, and may run the command again.
	after func(f *fixture, r result)
}

func n(k int) func(expectation) int { return func(expectation) int { return k } }

func pagesPlus(k int) func(expectation) int {
	return func(x expectation) int { return x.counts.Pages + k }
}

func needsPlus(k int) func(expectation) int {
	return func(x expectation) int { return len(x.needs) + k }
}

func firstPageNeeds(x expectation) int { return x.pageNeeds[0] }

// writesThrottledOneAtATime is the number of write requests when the
// portal serves one at a time: of k writes sent together one is served and
// the others are throttled and sent again together, so k(k+1)/2 per page.
func writesThrottledOneAtATime(x expectation) int {
	n := 0
	for _, k := range x.pageNeeds {
		n += k * (k + 1) / 2
	}
	return n
}

// fixture is the state of one row.
type fixture struct {
	t     *testing.T
	emu   *dynamicstest.Emulator
	other *dynamicstest.Emulator
	dir   string
	x     expectation
	// clock is the emulator's clock when a row hands it in.
	clock *clock
	// env is the command's environment (the binary's; in process it is
	// also set in the process).
	env []string
	// rotated are client secrets rotated away, still scanned for.
	rotated []string
	outputs map[string]string
	runs    int

	mu        sync.Mutex
	interrupt func()
	done      chan struct{}
}

// setEnv sets one variable of the command's environment.
func (f *fixture) setEnv(name, value string) {
	f.env = append(withoutVar(f.env, name), name+"="+value)
	if !*matrixBinary {
		f.t.Setenv(name, value)
	}
}

// wait polls cond until it holds, and gives up when the run ends first or
// after 10 s.
func (f *fixture) wait(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		select {
		case <-f.done:
			return cond()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// interruptRun interrupts the command that runs: SIGINT to the binary, or
// the cancellation of its context in process.
func (f *fixture) interruptRun() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.interrupt != nil {
		f.interrupt()
	}
}

// checkpoint is the row's checkpoint file.
func (f *fixture) checkpoint() string { return filepath.Join(f.dir, "checkpoint.json") }

// run runs the command once, with during alongside, and keeps its output
// for the secret scan.
func (f *fixture) run(args []string, during func(*fixture)) result {
	f.t.Helper()
	f.runs++
	f.done = make(chan struct{})
	var wait func() result
	if *matrixBinary {
		wait = f.startBinary(args)
	} else {
		wait = f.startInProcess(args)
	}
	var wg sync.WaitGroup
	if during != nil {
		wg.Go(func() { during(f) })
	}
	r := wait()
	close(f.done)
	wg.Wait()
	name := fmt.Sprintf("run %d ", f.runs)
	f.outputs[name+"stdout"], f.outputs[name+"stderr"] = r.stdout, r.stderr
	return r
}

// startInProcess starts the command in process and returns the function
// that waits for its result.
func (f *fixture) startInProcess(args []string) func() result {
	ctx, cancel := context.WithCancel(f.t.Context())
	f.setInterrupt(cancel)
	done := make(chan result, 1)
	go func() { done <- runInProcess(ctx, args...) }()
	return func() result {
		r := <-done
		f.setInterrupt(nil)
		cancel()
		return r
	}
}

// startBinary starts the built binary and returns the function that waits
// for its result.
func (f *fixture) startBinary(args []string) func() result {
	ctx, cancel := context.WithTimeout(f.t.Context(), time.Minute)
	cmd := command(ctx, append(slices.Clone(f.env), "SSL_CERT_FILE="+caFile), args...)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		f.t.Fatal(err)
	}
	f.setInterrupt(func() { _ = cmd.Process.Signal(os.Interrupt) })
	return func() result {
		defer cancel()
		err := cmd.Wait()
		f.setInterrupt(nil)
		r := result{stdout: stdout.String(), stderr: stderr.String()}
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			f.t.Fatal(err)
		}
		return r
	}
}

func (f *fixture) setInterrupt(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.interrupt = fn
}

// summary is the outcome of one row, for the final log.
type summary struct {
	name           string
	exit           int
	code           string
	route          dynamicstest.Route
	attempts       int
	writes, failed int
}

// matrixScan gathers the secret scan of the fault matrix.
var matrixScan secretScan

// The command's answer to each fault of the token endpoint and the Web
// API: exit status, error code, attempts, writes; and in every row, no
// secret in any output or file, and no goroutine left once the emulator
// is closed.
func TestFaultMatrix(t *testing.T) {
	var (
		check    = []string{"check"}
		list     = []string{"certifications", "--page-size", "3"}
		syncPass = []string{"sync", "--page-size", "3", "--write-batch", "1", "--checkpoint", "{dir}/checkpoint.json", "--out", "{dir}/records.jsonl"}
		// Each page's writes in one $batch request.
		batchPass = []string{"sync", "--page-size", "3", "--write-batch", "10", "--checkpoint", "{dir}/checkpoint.json", "--out", "{dir}/records.jsonl"}
	)
	with := func(base []string, more ...string) []string { return append(slices.Clone(base), more...) }

	rows := []row{
		// Statuses of the Web API.
		{name: "check: 400", args: check, faults: []string{"whoami:400"},
			exit: 1, code: "invalidRequest", route: dynamicstest.RouteWhoAmI, attempts: n(1), writes: n(0)},
		{name: "check: 401", args: check, faults: []string{"whoami:401"},
			exit: 1, code: "authFailure", route: dynamicstest.RouteWhoAmI, attempts: n(1), writes: n(0)},
		{name: "check: 403", args: check, faults: []string{"whoami:403"},
			exit: 1, code: "authFailure", route: dynamicstest.RouteWhoAmI, attempts: n(1), writes: n(0)},
		{name: "check: 404", args: check, faults: []string{"whoami:404"},
			exit: 1, code: "notFound", route: dynamicstest.RouteWhoAmI, attempts: n(1), writes: n(0)},
		{name: "listing: 404 (no such table)", args: list, faults: []string{"certifications:404"},
			exit: 1, code: "notFound", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},
		{name: "listing: 405", args: list, faults: []string{"certifications:405"},
			exit: 1, code: "invalidRequest", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},
		{name: "sync: 404 on a write counts it deleted", args: syncPass, faults: []string{"patch:404"},
			exit: 0, route: dynamicstest.RoutePatch, attempts: needsPlus(0), writes: needsPlus(-1)},
		{name: "sync: 409 on a write counts it failed", args: syncPass, faults: []string{"patch:409"},
			exit: 1, code: "writesFailed", route: dynamicstest.RoutePatch, attempts: needsPlus(0), writes: needsPlus(-1)},
		{name: "sync: 412 on a write counts it failed", args: syncPass, faults: []string{"patch:412"},
			exit: 1, code: "writesFailed", route: dynamicstest.RoutePatch, attempts: needsPlus(0), writes: needsPlus(-1)},
		{name: "sync: 413 on a write counts it failed", args: syncPass, faults: []string{"patch:413"},
			exit: 1, code: "writesFailed", route: dynamicstest.RoutePatch, attempts: needsPlus(0), writes: needsPlus(-1)},
		{name: "sync: 400 on every write counts each failed", args: syncPass, faults: []string{"patch:400,times=always"},
			exit: 1, code: "writesFailed", route: dynamicstest.RoutePatch, attempts: needsPlus(0), writes: n(0)},
		{name: "sync: 401 on every write stops the pass", args: syncPass, faults: []string{"patch:401,times=always"},
			exit: 1, code: "authFailure", route: dynamicstest.RoutePatch, attempts: n(1), atLeast: true, writes: n(0),
			after: completes},
		{name: "sync: interrupted during the first page's writes; the next run completes", args: syncPass,
			faults: []string{"patch:latency=1ms", "patch:latency=1m"},
			during: func(f *fixture) {
				if f.wait(func() bool {
					return len(f.emu.Writes()) == 1 && f.emu.Stats().Requests[dynamicstest.RoutePatch] == 2
				}) {
					f.interruptRun()
				}
			},
			exit: 1, code: "canceled", route: dynamicstest.RoutePatch, attempts: n(2), writes: n(1),
			after: completes},
		{name: "listing: 429 with Retry-After 1 s", args: list, faults: []string{"certifications:429,retry-after=1"},
			exit: 0, route: dynamicstest.RouteCertifications, attempts: pagesPlus(1), writes: n(0)},
		{name: "check: 429 with Retry-After as an HTTP date", args: check, faults: []string{"whoami:429,retry-after-date=1"},
			exit: 0, route: dynamicstest.RouteWhoAmI, attempts: n(2), writes: n(0)},
		{name: "listing: 429 with Retry-After past the cap fails at once", args: list,
			faults: []string{"certifications:429,retry-after=20"},
			exit:   1, code: "rateLimited", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},
		{name: "sync: 429 with Retry-After past the budget stops the pass", args: with(syncPass, "--budget", "5s"),
			faults: []string{"certifications:429,retry-after=20"},
			exit:   1, code: "rateLimited", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0),
			after: completes},
		{name: "sync: 429 on a write with Retry-After 1 s", args: syncPass, faults: []string{"patch:429,retry-after=1"},
			exit: 0, route: dynamicstest.RoutePatch, attempts: needsPlus(1), writes: needsPlus(0)},
		{name: "check: 500, then success", args: check, faults: []string{"whoami:500"},
			exit: 0, route: dynamicstest.RouteWhoAmI, attempts: n(2), writes: n(0)},
		{name: "check: 501 is not retried", args: check, faults: []string{"whoami:501"},
			exit: 1, code: "serverError", route: dynamicstest.RouteWhoAmI, attempts: n(1), writes: n(0)},
		{name: "listing: 502, then success", args: list, faults: []string{"certifications:502"},
			exit: 0, route: dynamicstest.RouteCertifications, attempts: pagesPlus(1), writes: n(0)},
		{name: "check: 503 until the retries run out", args: check, faults: []string{"whoami:503,retry-after=1,times=always"},
			exit: 1, code: "serverError", route: dynamicstest.RouteWhoAmI, attempts: n(4), writes: n(0)},
		{name: "sync: 504 on a write, then success", args: syncPass, faults: []string{"patch:504"},
			exit: 0, route: dynamicstest.RoutePatch, attempts: needsPlus(1), writes: needsPlus(0)},
		{name: "sync: the budget runs out after the first page; the next run resumes", args: with(syncPass, "--budget", "50ms"),
			faults: []string{"certifications:latency=100ms"},
			exit:   1, code: "budgetExhausted", route: dynamicstest.RouteCertifications, attempts: n(1), writes: firstPageNeeds,
			after: resumes},
		{name: "sync: page 2 fails after every retry; the next run resumes", args: syncPass,
			faults: []string{"certifications:latency=1ms", "certifications:503,retry-after=1,times=4"},
			exit:   1, code: "serverError", route: dynamicstest.RouteCertifications, attempts: n(5), writes: firstPageNeeds,
			after: resumes},

		// The network and the shape of answers.
		{name: "check: connection reset twice", args: check, faults: []string{"whoami:reset,times=2"},
			exit: 0, route: dynamicstest.RouteWhoAmI, attempts: n(3), writes: n(0)},
		{name: "sync: connection reset on a write", args: syncPass, faults: []string{"patch:reset"},
			exit: 0, route: dynamicstest.RoutePatch, attempts: needsPlus(1), writes: needsPlus(0)},
		{name: "listing: truncated body, then success", args: list, faults: []string{"certifications:truncate"},
			exit: 0, route: dynamicstest.RouteCertifications, attempts: pagesPlus(1), writes: n(0)},
		{name: "check: malformed JSON", args: check, faults: []string{"whoami:malformed"},
			exit: 1, code: "invalidResponse", route: dynamicstest.RouteWhoAmI, attempts: n(1), writes: n(0)},
		{name: "listing: HTML sign-in page with 200", args: list, faults: []string{"certifications:html"},
			exit: 1, code: "invalidResponse", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},
		{name: "check: redirect to http is not followed", args: check,
			faults: []string{"whoami:redirect=http://{other}/api/data/v9.2/WhoAmI"},
			exit:   1, code: "invalidResponse", route: dynamicstest.RouteWhoAmI, attempts: n(1), writes: n(0)},
		{name: "listing: redirect to another host is not followed", args: list,
			faults: []string{"certifications:redirect=https://{other}/api/data/v9.2/hlf_certifications"},
			exit:   1, code: "invalidResponse", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},
		{name: "listing: nextLink to a foreign host", args: list, faults: []string{"certifications:nextlink"},
			exit: 1, code: "invalidResponse", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},
		{name: "sync: nextLink to another host is not followed", args: syncPass,
			faults: []string{"certifications:nextlink=https://{other}/api/data/v9.2/hlf_certifications?$skiptoken=1"},
			exit:   1, code: "invalidResponse", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},
		{name: "listing: hang, then interrupt", args: list, faults: []string{"certifications:hang"},
			during: func(f *fixture) {
				if f.wait(func() bool { return f.emu.Stats().Requests[dynamicstest.RouteCertifications] > 0 }) {
					f.interruptRun()
				}
			},
			exit: 1, code: "canceled", route: dynamicstest.RouteCertifications, attempts: n(1), writes: n(0)},

		// The token endpoint.
		{name: "check: token endpoint 503, then a token", args: check, faults: []string{"token:503"},
			exit: 0, route: dynamicstest.RouteToken, attempts: n(2), writes: n(0)},
		{name: "check: token endpoint 429 with Retry-After 1 s", args: check, faults: []string{"token:429,retry-after=1"},
			exit: 0, route: dynamicstest.RouteToken, attempts: n(2), writes: n(0)},
		{name: "check: invalid_client", args: check, faults: []string{"token:401,code=invalid_client"},
			exit: 1, code: "authFailure", route: dynamicstest.RouteToken, attempts: n(1), writes: n(0),
			after: noWebAPICall},
		{name: "check: token endpoint 400", args: check, faults: []string{"token:400"},
			exit: 1, code: "authFailure", route: dynamicstest.RouteToken, attempts: n(1), writes: n(0),
			after: noWebAPICall},
		{name: "listing: token without expires_in is used once", args: list, faults: []string{"token:no-expires-in"},
			exit: 0, route: dynamicstest.RouteToken, attempts: n(2), writes: n(0)},
		{name: "check: token endpoint hangs past its 2 s limit once", args: check, faults: []string{"token:hang"},
			exit: 0, route: dynamicstest.RouteToken, attempts: n(2), writes: n(0)},
		{name: "check: token endpoint hangs, then interrupt", args: check, faults: []string{"token:hang"},
			during: func(f *fixture) {
				if f.wait(func() bool { return f.emu.Stats().TokenRequests > 0 }) {
					f.interruptRun()
				}
			},
			exit: 1, code: "canceled", route: dynamicstest.RouteToken, attempts: n(1), writes: n(0),
			after: noWebAPICall},
		{name: "check: token connection reset", args: check, faults: []string{"token:reset"},
			exit: 0, route: dynamicstest.RouteToken, attempts: n(2), writes: n(0)},
		{name: "check: token endpoint redirects to another host: the secret is not posted there", args: check,
			faults: []string{"token:redirect=https://{other}/" + dynamicstest.DefaultTenantID + "/oauth2/v2.0/token"},
			exit:   1, code: "invalidResponse", route: dynamicstest.RouteToken, attempts: n(1), writes: n(0),
			after: noWebAPICall},
		{name: "check: malformed token answer", args: check, faults: []string{"token:malformed"},
			exit: 1, code: "invalidResponse", route: dynamicstest.RouteToken, attempts: n(1), writes: n(0),
			after: noWebAPICall},
		// A connection that breaks mid-answer is a network failure, retried,
		// as it is for the Web API ("listing: truncated body" above).
		{name: "check: truncated token answer, then a token", args: check, faults: []string{"token:truncate"},
			exit: 0, route: dynamicstest.RouteToken, attempts: n(2), writes: n(0)},
		{name: "check: HTML token answer", args: check, faults: []string{"token:html"},
			exit: 1, code: "invalidResponse", route: dynamicstest.RouteToken, attempts: n(1), writes: n(0),
			after: noWebAPICall},

		// Tokens and credentials that change during a pass.
		{name: "sync: tokens revoked between pages", args: syncPass, faults: secondPageLate,
			during: afterFirstPage(func(f *fixture) { f.emu.RevokeTokens() }),
			exit:   1, code: "authFailure", route: dynamicstest.RouteCertifications, attempts: n(2), writes: firstPageNeeds,
			after: resumes},
		{name: "sync: token expires between pages (portal clock)", args: syncPass, faults: secondPageLate,
			opts:   func(f *fixture, o *dynamicstest.Options) { o.Now = f.clock.now },
			during: afterFirstPage(func(f *fixture) { f.clock.advance(2 * time.Hour) }),
			exit:   1, code: "authFailure", route: dynamicstest.RouteCertifications, attempts: n(2), writes: firstPageNeeds,
			after: resumes},
		{name: "sync: secret rotated between pages", args: syncPass, faults: secondPageLate,
			during: afterFirstPage(func(f *fixture) {
				f.rotated = append(f.rotated, f.emu.ClientSecret())
				f.emu.SetClientSecret(newSecret())
				f.emu.RevokeTokens()
			}),
			exit: 1, code: "authFailure", route: dynamicstest.RouteCertifications, attempts: n(2), writes: firstPageNeeds,
			after: rotatedSecret},
		{name: "sync: tokens shorter-lived than the refresh margin", args: syncPass,
			opts: func(_ *fixture, o *dynamicstest.Options) { o.TokenLifetime = 30 * time.Second },
			exit: 0, route: dynamicstest.RouteToken, attempts: n(2), atLeast: true, writes: needsPlus(0),
			after: func(f *fixture, _ result) {
				if s := f.emu.Stats(); s.Unauthorized != 0 {
					f.t.Errorf("%d answers 401 with short-lived tokens", s.Unauthorized)
				}
			}},

		// Throttling and records that change under the pass.
		{name: "sync: throttled by the service protection limits", args: syncPass,
			// One request at a time, and writes that take a while: the
			// two writes of a page overlap, so one of them is throttled.
			opts:  func(_ *fixture, o *dynamicstest.Options) { o.Limits = dynamicstest.Limits{Concurrent: 1} },
			setup: func(f *fixture) { f.emu.SetLatency(dynamicstest.RoutePatch, 50*time.Millisecond) },
			exit:  0, route: dynamicstest.RoutePatch, attempts: writesThrottledOneAtATime, writes: needsPlus(0),
			after: func(f *fixture, _ result) {
				if s := f.emu.Stats(); s.Throttled == 0 {
					f.t.Error("the limits never throttled the pass")
				} else {
					f.t.Logf("%d answers 429 from the limits", s.Throttled)
				}
			}},
		{name: "sync: record deleted between read and write", args: syncPass,
			setup:  func(f *fixture) { f.emu.SetLatency(dynamicstest.RoutePatch, 300*time.Millisecond) },
			during: deleteDuringWrite,
			exit:   0, route: dynamicstest.RoutePatch, attempts: needsPlus(0), writes: needsPlus(-1)},

		// Writes in $batch requests: one per page, a part per write.
		{name: "sync, batched: 404 on a part counts it deleted", args: batchPass, faults: []string{"patch:404"},
			exit: 0, route: dynamicstest.RouteBatch, attempts: pagesPlus(0), writes: needsPlus(-1)},
		{name: "sync, batched: 412 on a part counts it failed", args: batchPass, faults: []string{"patch:412"},
			exit: 1, code: "writesFailed", route: dynamicstest.RouteBatch, attempts: pagesPlus(0), writes: needsPlus(-1)},
		{name: "sync, batched: the whole batch 429 with Retry-After is sent again", args: batchPass,
			faults: []string{"batch:429,retry-after=0.2,code=0x80072321"},
			exit:   0, route: dynamicstest.RouteBatch, attempts: pagesPlus(1), writes: needsPlus(0)},
		{name: "sync, batched: a part 429 is sent again, alone", args: batchPass, faults: []string{"patch:429,retry-after=0.2"},
			exit: 0, route: dynamicstest.RouteBatch, attempts: pagesPlus(1), writes: needsPlus(0),
			after: func(f *fixture, _ result) {
				if got, want := f.emu.Stats().BatchParts, len(f.x.needs)+1; got != want {
					f.t.Errorf("%d parts sent, want %d: the throttled one again, alone", got, want)
				}
			}},
		{name: "sync, batched: an answer cut short mid-body is sent again", args: batchPass, faults: []string{"batch:truncate"},
			resent: true, exit: 0, route: dynamicstest.RouteBatch, attempts: pagesPlus(1),
			writes: func(x expectation) int { return len(x.needs) + x.pageNeeds[0] }},
		{name: "sync, batched: fewer parts than sent is invalidResponse; nothing counted", args: batchPass,
			faults: []string{"batch:fewer-parts"},
			exit:   1, code: "invalidResponse", route: dynamicstest.RouteBatch, attempts: n(1), writes: firstPageNeeds,
			after: func(f *fixture, r result) {
				// The portal applied the first page's writes, but did not
				// confirm them: the report counts none.
				if rep := parseReport(f.t, r.stdout); rep.Writes.Done != 0 || rep.Pages != 0 {
					f.t.Errorf("report counts %d writes on %d pages, want none", rep.Writes.Done, rep.Pages)
				}
				rerun(f)
			}},
		{name: "sync, batched: a malformed multipart answer is invalidResponse", args: batchPass,
			faults: []string{"batch:malformed"},
			exit:   1, code: "invalidResponse", route: dynamicstest.RouteBatch, attempts: n(1), writes: firstPageNeeds, after: completes},
		{name: "sync, batched: a portal without $batch gets single requests", args: batchPass,
			faults: []string{"batch:404,times=always"},
			exit:   0, route: dynamicstest.RoutePatch, attempts: needsPlus(0), writes: needsPlus(0),
			after: func(f *fixture, _ result) {
				if n := f.emu.Stats().Requests[dynamicstest.RouteBatch]; n != 1 {
					f.t.Errorf("%d $batch requests, want 1, then single requests", n)
				}
			}},
	}

	var summaries []summary
	for i, rw := range rows {
		t.Run(rw.name, func(t *testing.T) {
			s := runRow(t, i, rw)
			summaries = append(summaries, s)
		})
	}

	width := 0
	for _, s := range summaries {
		width = max(width, len(s.name))
	}
	t.Logf("%-*s %4s  %-16s %-15s %8s %6s %6s", width, "row", "exit", "code", "route", "attempts", "writes", "failed")
	for _, s := range summaries {
		t.Logf("%-*s %4d  %-16s %-15s %8d %6d %6d", width, s.name, s.exit, s.code, s.route, s.attempts, s.writes, s.failed)
	}
	t.Logf("%d rows; secret scan: %d bytes, %d hits", len(summaries), matrixScan.bytes, len(matrixScan.hits))
	if len(matrixScan.hits) != 0 {
		t.Errorf("secret hits: %q", matrixScan.hits)
	}
}

// runRow runs one row and checks everything a row checks.
func runRow(t *testing.T, i int, rw row) summary {
	f := &fixture{t: t, dir: t.TempDir(), outputs: map[string]string{}, clock: &clock{}}
	e := startEmulator(t, func(o *dynamicstest.Options) {
		if rw.opts != nil {
			rw.opts(f, o)
		}
	})
	f.emu = e
	// The command's "today" is in PORTALSYNC_TIMEZONE, UTC when unset.
	f.x = expect(e.Certifications(), time.UTC, pageSize)
	f.env = clientEnv(e)
	if !*matrixBinary {
		setProcessEnv(t, f.env)
	}
	for _, spec := range rw.faults {
		if strings.Contains(spec, "{other}") {
			if f.other == nil {
				f.other = startEmulator(t, nil)
			}
			host := strings.Replace(f.other.BaseURL(), "https://127.0.0.1", "localhost", 1)
			spec = strings.ReplaceAll(spec, "{other}", host)
		}
		route, fault, err := dynamicstest.ParseFault(spec)
		if err != nil {
			t.Fatal(err)
		}
		e.Inject(route, fault)
	}
	if rw.setup != nil {
		rw.setup(f)
	}
	format := "text"
	if i%2 == 1 {
		format = "json"
	}
	var args []string
	for _, a := range rw.args {
		args = append(args, strings.ReplaceAll(a, "{dir}", f.dir))
	}
	args = append(args, "--log-level", "debug", "--log-format", format)

	r := f.run(args, rw.during)
	if r.code != 0 {
		t.Logf("last stderr line: %s", lastLine(r.stderr))
	}
	s := summary{name: rw.name, exit: r.code, code: r.errorCode(), route: rw.route}
	stats := e.Stats()
	s.attempts = stats.Requests[rw.route]
	s.writes = checkWrites(t, e, f.x, rw.resent)
	r.exitIs(t, rw.exit, rw.code)

	if want := rw.attempts(f.x); s.attempts != want && !(rw.atLeast && s.attempts > want) {
		t.Errorf("%d requests on %s, want %d", s.attempts, rw.route, want)
	}
	if want := rw.writes(f.x); s.writes != want {
		t.Errorf("%d writes applied, want %d", s.writes, want)
	}
	switch rw.args[0] {
	case "check":
		if r.code == 0 && r.stdout != mustJSONLine(t, liveIdentity{"live", e.Identity()}) {
			t.Errorf("stdout %q, want the identity", r.stdout)
		}
		if r.code != 0 && r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	case "certifications":
		if r.code == 0 {
			if got, want := listedIDs(t, r.stdout), ids(f.x.certs); !slices.Equal(got, want) {
				t.Errorf("listed ids %v, want %v", got, want)
			}
		}
	case "sync":
		rep := parseReport(t, r.stdout)
		s.failed = rep.Writes.Failed + rep.Writes.Deleted
		switch {
		case r.code == 0 && rep.Writes.Deleted > 0:
			checkCompleteDeleted(t, rep, f.x, len(f.x.needs)-s.writes)
		case r.code == 0:
			checkComplete(t, rep, f.x, 0)
		case s.code == "writesFailed":
			// The pass completed; the refused writes make it exit 1, and
			// the report names them.
			failed := len(f.x.needs) - s.writes
			checkComplete(t, rep, f.x, failed)
			if len(rep.FailedIDs) != min(failed, core.MaxFailedIDs) {
				t.Errorf("report lists %d failed ids, want %d", len(rep.FailedIDs), failed)
			}
			if want := fmt.Sprintf("portalsync: writesFailed: %d of %d writes failed", failed, len(f.x.needs)); lastLine(r.stderr) != want {
				t.Errorf("last stderr line %q, want %q", lastLine(r.stderr), want)
			}
		case rep.Complete:
			t.Error("a failed pass reports complete")
		}
	}
	if f.other != nil {
		if n := f.other.Stats().Connections; n != 0 {
			t.Errorf("the other host saw %d connections", n)
		}
	}
	if rw.after != nil {
		rw.after(f, r)
	}

	for k, v := range filesIn(t, f.dir) {
		f.outputs[k] = v
	}
	emus := []*dynamicstest.Emulator{e}
	if f.other != nil {
		emus = append(emus, f.other)
	}
	matrixScan.scan(t, emus, f.rotated, f.outputs)
	for _, em := range emus {
		if err := em.Close(); err != nil {
			t.Errorf("close emulator: %v", err)
		}
	}
	goleak.VerifyNone(t, pgtest.IgnoreCluster())
	return s
}

// liveIdentity is check's output with the live portal.
type liveIdentity struct {
	Portal string `json:"portal"`
	ports.Identity
}

func mustJSONLine(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// secondPageLate delays the second page request (before it is
// authenticated), so a change made once the first page is checkpointed
// reaches it.
var secondPageLate = []string{"certifications:latency=1ms", "certifications:latency=400ms"}

// afterFirstPage runs change once the first page is checkpointed.
func afterFirstPage(change func(f *fixture)) func(f *fixture) {
	return func(f *fixture) {
		if f.wait(func() bool { return pageCheckpointed(f.checkpoint()) }) {
			change(f)
		}
	}
}

// noWebAPICall checks that a run that failed to get a token made no Web
// API request.
func noWebAPICall(f *fixture, _ result) {
	for route, n := range f.emu.Stats().Requests {
		if route != dynamicstest.RouteToken && n != 0 {
			f.t.Errorf("%d requests on %s without a token", n, route)
		}
	}
}

// resumes checks that a pass that stopped after its first page kept its
// checkpoint, and that the next run, without faults, resumes it and
// completes it with no record skipped or written twice.
func resumes(f *fixture, _ result) {
	f.t.Helper()
	if !fileExists(f.checkpoint()) {
		f.t.Fatal("the stopped pass kept no checkpoint")
	}
	if rep := rerun(f); !rep.Resumed {
		f.t.Error("the next run did not resume")
	}
}

// completes checks that the next run, without faults, completes the pass
// that stopped: its report counts the data exactly (the writes of the run
// that stopped included), and no record is written twice over both runs.
func completes(f *fixture, _ result) { rerun(f) }

// rerun runs the pass again without faults, checks that it completes as
// completes says, and returns its report.
func rerun(f *fixture) report {
	t := f.t
	t.Helper()
	f.emu.ClearFaults()
	r := f.run(f.rerunArgs(), nil)
	r.wantExit(t, 0, "")
	rep := parseReport(t, r.stdout)
	checkComplete(t, rep, f.x, 0)
	if got := checkWrites(t, f.emu, f.x, false); got != len(f.x.needs) {
		t.Errorf("%d writes over both runs, want %d", got, len(f.x.needs))
	}
	if fileExists(f.checkpoint()) {
		t.Error("the completed pass left its checkpoint")
	}
	return rep
}

// rerunArgs are the arguments of the sync runs that follow a row's first.
func (f *fixture) rerunArgs() []string {
	return []string{"sync", "--page-size", "3", "--checkpoint", f.checkpoint(), "--out", filepath.Join(f.dir, "records.jsonl"),
		"--log-level", "debug"}
}

// rotatedSecret checks the runs after the secret was rotated mid-pass: with
// the old secret the token fetch fails (authFailure, one token request,
// no Web API call); with the new one the pass resumes and completes.
func rotatedSecret(f *fixture, _ result) {
	t := f.t
	before := f.emu.Stats()
	r := f.run(f.rerunArgs(), nil)
	r.wantExit(t, 1, "authFailure")
	if !strings.Contains(lastLine(r.stderr), "token") {
		t.Errorf("the failure does not name the token fetch: %q", lastLine(r.stderr))
	}
	s := f.emu.Stats()
	if s.TokenRequests-before.TokenRequests != 1 || s.TokensIssued != before.TokensIssued {
		t.Errorf("with the old secret: %d token requests, %d tokens; want 1 and 0",
			s.TokenRequests-before.TokenRequests, s.TokensIssued-before.TokensIssued)
	}
	for route, n := range s.Requests {
		if route != dynamicstest.RouteToken && n != before.Requests[route] {
			t.Errorf("%d requests on %s without a token", n-before.Requests[route], route)
		}
	}
	f.setEnv("AZURE_CLIENT_SECRET", f.emu.ClientSecret())
	resumes(f, r)
}

// deleteDuringWrite deletes the last record of the first page that needs a
// write while the first write of the pass waits in the portal.
func deleteDuringWrite(f *fixture) {
	if f.x.pageNeeds[0] == 0 {
		f.t.Error("the first page needs no write")
		return
	}
	var target string
	for _, c := range f.x.certs[:pageSize] {
		if _, ok := f.x.needs[c.ID]; ok {
			target = c.ID
		}
	}
	if f.wait(func() bool { return f.emu.Stats().Requests[dynamicstest.RoutePatch] > 0 }) {
		if !f.emu.DeleteCertification(target) {
			f.t.Errorf("record %s was not there to delete", target)
		}
		f.emu.SetLatency(dynamicstest.RoutePatch, 0)
	}
}

// clock is an emulator clock that a row moves forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
