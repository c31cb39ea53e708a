package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

// buildCommand builds the portalsync command into a temporary directory.
func buildCommand(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; the test builds portalsync with it")
	}
	bin := filepath.Join(t.TempDir(), "portalsync")
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/hlf/dynamicsportal/cmd/portalsync").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncReport is the part of the sync command's JSON report checked here.
type syncReport struct {
	ports.SyncCounts
	Resumed  bool `json:"resumed"`
	Complete bool `json:"complete"`
}

// TestChaosSyncKilledProcess runs `portalsync sync` on 2,000 records under
// faults, kills the process with SIGKILL five times at random points (after
// a random number of writes, from a fixed seed), and runs it again until a
// run completes. The kills land in the middle of a page; the resumed run
// reads that page again, finds the records written before the kill already
// carrying their status, and so writes none of them again.
//
// It runs with one request per write, and with the writes in $batch
// requests. In batches, a batch whose answer is lost (a reset after some
// of its parts were applied) is sent again whole, so a record of the page
// in flight may be written twice; a page completed before a kill is never
// written again.
func TestChaosSyncKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds portalsync and runs it a dozen times")
	}
	bin := buildCommand(t)
	t.Run("write-batch=1", func(t *testing.T) { killedProcess(t, bin, 1) })
	t.Run("write-batch=50", func(t *testing.T) { killedProcess(t, bin, 50) })
}

func killedProcess(t *testing.T, bin string, writeBatch int) {
	const (
		records  = 2000
		pageSize = 250
		seed     = 5150
		kills    = 5
	)
	start := time.Now()
	day := today()
	secret := secretMarker + "-process"
	var emuLog bytes.Buffer
	emu, err := dynamicstest.Start(&dynamicstest.Options{
		Certifications: records,
		Seed:           seed,
		ClientSecret:   secret,
		TokenLifetime:  62 * time.Second,
		Logger:         slog.New(slog.NewJSONHandler(&emuLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	exp := expect(emu.Certifications(), day)
	// Without a way to shorten the command's backoff (1 s, 2 s, 4 s), the
	// faults ask for short waits with Retry-After, which the adapter
	// honours instead; resets (no answer, so no Retry-After) are rarer.
	emu.SetFaultRate(dynamicstest.RouteAll, dynamicstest.FaultPlan{Rate: 0.1, Seed: seed, Faults: []dynamicstest.Fault{
		{Status: http.StatusServiceUnavailable, RetryAfter: 30 * time.Millisecond},
		{Status: http.StatusServiceUnavailable, RetryAfter: 20 * time.Millisecond},
		{Status: http.StatusTooManyRequests, RetryAfter: 50 * time.Millisecond},
		{Status: http.StatusTooManyRequests, RetryAfter: 40 * time.Millisecond},
		{Kind: dynamicstest.FaultReset},
		{Latency: 40 * time.Millisecond},
		{Latency: 20 * time.Millisecond},
	}})
	emu.SetFaultRate(dynamicstest.RouteToken, dynamicstest.FaultPlan{Rate: 0.2, Seed: seed + 1, Faults: tokenFaults()})

	dir := t.TempDir()
	outFile, cpFile := filepath.Join(dir, "records.jsonl"), filepath.Join(dir, "checkpoint.json")
	env := append(emu.Env(), "LOG_LEVEL=debug", "LOG_FORMAT=json", "TZ=UTC")
	args := []string{"sync", "--page-size", strconv.Itoa(pageSize), "--write-batch", strconv.Itoa(writeBatch),
		"--checkpoint", cpFile, "--out", outFile, "--budget", "2m"}
	page := map[string]int{} // the page of each record
	for i, id := range exp.ids {
		page[id] = i / pageSize
	}

	rng := rand.New(rand.NewPCG(seed, 1))
	scan := map[string][]byte{}
	var (
		killed, failed int
		final          syncReport
		runs           int
	)
	for done := false; !done; {
		runs++
		if runs > 30 {
			t.Fatalf("no run completed the pass in %d runs", runs-1)
		}
		if runs == 2 {
			// The token endpoint goes down for longer than one call's
			// retries: the run fails at its first token fetch.
			emu.Inject(dynamicstest.RouteToken, tokenOutage(6))
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
		before := emu.Stats().TotalWrites()
		// No page completed by the runs before may be written by this one.
		var cp ports.Checkpoint
		if b := readIfExists(t, cpFile); len(b) > 0 {
			if err := json.Unmarshal(b, &cp); err != nil {
				t.Fatalf("checkpoint before run %d: %v", runs, err)
			}
		}
		firstWrite := len(emu.Writes())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var waitErr error
		if killed < kills {
			// Kill after a random share of what is left to write, so each
			// kill lands in the middle of the pass.
			left := len(exp.write) - before
			at := before + 1 + rng.IntN(max(1, left/(kills-killed+1)))
			waitErr = killAt(t, cmd, exited, emu, at)
		} else {
			waitErr = <-exited
		}
		for _, w := range emu.Writes()[firstWrite:] {
			if page[w.ID] < cp.Counts.Pages {
				t.Errorf("run %d wrote %s, of page %d, which a run before completed (%d pages)", runs, w.ID, page[w.ID]+1, cp.Counts.Pages)
			}
		}
		name := fmt.Sprintf("run %d", runs)
		scan[name+" stdout"] = stdout.Bytes()
		scan[name+" stderr"] = stderr.Bytes()
		scan[name+" checkpoint"] = readIfExists(t, cpFile)
		scan[name+" record file"] = readIfExists(t, outFile)
		status := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case status.Signaled() && status.Signal() == syscall.SIGKILL:
			killed++
			t.Logf("run %d killed after %d writes (%d in this run)", runs, emu.Stats().TotalWrites(), emu.Stats().TotalWrites()-before)
		case waitErr == nil:
			if err := json.Unmarshal(stdout.Bytes(), &final); err != nil {
				t.Fatalf("run %d: report %q: %v", runs, stdout.String(), err)
			}
			done = true
		case cmd.ProcessState.ExitCode() == 1:
			failed++
			t.Logf("run %d stopped: %s", runs, lastLine(stderr.String()))
		default:
			t.Fatalf("run %d: %v\n%s", runs, waitErr, lastLine(stderr.String()))
		}
	}
	skipIfDayChanged(t, day)

	if killed != kills || failed == 0 || !final.Complete || !final.Resumed {
		t.Errorf("%d kills, %d failed runs, final report complete %v resumed %v; want %d kills, the token outage failing a run, and a complete resumed pass",
			killed, failed, final.Complete, final.Resumed, kills)
	}
	checkCounts(t, final.SyncCounts, exp, pageSize)
	w := checkWrites(t, emu, exp, pageSize, writeBatch == 1)
	checkRecordFile(t, outFile, exp)
	if _, err := os.Stat(cpFile); !os.IsNotExist(err) {
		t.Errorf("the checkpoint is left after the complete pass: %v", err)
	}

	st := emu.Stats()
	requests := 0
	for _, n := range st.Requests {
		requests += n
	}
	t.Logf("chaos with kills: %d records, %d pages of %d, %d runs (%d killed, %d stopped by a failure), %d requests, %d faults injected (%.1f%%; by route %v), token requests %d",
		records, final.Pages, pageSize, runs, killed, failed, requests, st.TotalFaults(), 100*float64(st.TotalFaults())/float64(requests), st.Faults, st.TokenRequests)
	t.Logf("faults by the emulator's log: %s", faultKinds(answersByStatus(t, emuLog.Bytes())))
	t.Logf("writes: %d records needed one; writes per such record min %d max %d; records written twice %d (pages %d); unneeded writes %d; took %v",
		len(exp.write), w.min, w.max, w.twice, w.pagesTwice, w.unneeded, time.Since(start).Round(time.Millisecond))

	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	scan["emulator log"] = emuLog.Bytes()
	scanForSecrets(t, emu.ClientID(), secret, emu.IssuedTokens(), scan)
}

// killAt kills cmd with SIGKILL once the emulator has applied at least at
// writes in all, and returns cmd's Wait error. A command that exits first
// is not killed.
func killAt(t *testing.T, cmd *exec.Cmd, exited <-chan error, emu *dynamicstest.Emulator, at int) error {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return err
		case <-tick.C:
			if emu.Stats().TotalWrites() >= at {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				return <-exited
			}
		}
	}
}

// answersByStatus counts the emulator's faulty answers in its JSON log:
// 429s and 503s (only faults send them here) and connections dropped
// without an answer (resets).
func answersByStatus(t *testing.T, log []byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(log))
	for dec.More() {
		var rec struct {
			Route  string `json:"route"`
			Status int    `json:"status"`
		}
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("emulator log: %v", err)
		}
		switch rec.Status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			out[rec.Route+" "+strconv.Itoa(rec.Status)]++
		case -1:
			out[rec.Route+" dropped"]++
		}
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
