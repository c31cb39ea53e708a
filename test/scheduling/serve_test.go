package scheduling

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// TestThreeReplicasOnePassPerTick runs three replicas on one database with
// a pass every 2 s for 22 s: the portal sees passes one after the other,
// never two at once, at most one per tick, and each completes.
func TestThreeReplicasOnePassPerTick(t *testing.T) {
	const (
		records  = 300
		pageSize = 50
		pages    = records / pageSize
		tick     = 2 * time.Second
		window   = 22 * time.Second
	)
	w := newWorld(t, dynamicstest.Options{Certifications: records, Seed: 12})
	// Slow reads make a pass last about a second, so that passes started
	// by different replicas would overlap if the scheduler let them.
	w.emu.SetLatency(dynamicstest.RouteCertifications, 120*time.Millisecond)
	args := []string{"--schedule", "@every 2s", "--page-size", "50", "--budget", "20s", "--shutdown-grace", "5s"}
	var rs []*replica
	for _, name := range []string{"replica-a", "replica-b", "replica-c"} {
		rs = append(rs, w.serve(name, append(args, "--listen", "127.0.0.1:0")...))
	}
	start := time.Now()

	// Each replica answers /healthz while the database does.
	for _, r := range rs {
		_, rec := waitLog(t, 20*time.Second, "healthz listening", r)
		resp, err := http.Get("http://" + rec.Addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /healthz: %d, want 200", r.name, resp.StatusCode)
		}
	}

	time.Sleep(window - time.Since(start))
	for _, r := range rs {
		r.signal(t, syscall.SIGTERM)
	}
	for _, r := range rs {
		if code := r.exited(15 * time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0", r.name, code)
		}
	}
	elapsed := time.Since(start)

	f := passes(w.requests(), pages)
	ticks := int(elapsed / tick)
	jobs := w.jobs()
	inserted := 0
	for _, n := range jobs {
		inserted += n
	}
	ran := map[string]int{}
	for _, r := range rs {
		ran[r.name] = len(r.logs("sync job complete"))
	}
	t.Logf("three replicas, @every 2s for %v: %d ticks, %d jobs inserted %v, %d passes seen by the portal, %d complete, %d overlaps; completed jobs per replica %v; writes %d, records written twice %d",
		elapsed.Round(100*time.Millisecond), ticks, inserted, jobs, f.passes, f.complete, f.overlaps, ran, w.emu.Stats().TotalWrites(), w.writtenTwice())
	if f.overlaps != 0 {
		t.Errorf("%d passes overlapped, want 0", f.overlaps)
	}
	if f.passes < 5 || f.passes > ticks || inserted > ticks {
		t.Errorf("%d passes and %d jobs in %d ticks; want at least 5 passes and at most one pass and one job per tick", f.passes, inserted, ticks)
	}
	// Only the pass a SIGTERM interrupted may be left incomplete; its job
	// snoozed for another replica (none was left to take it).
	if f.complete < f.passes-1 || jobs["completed"] != f.complete {
		t.Errorf("%d of %d passes complete, %d jobs completed; want every pass but one interrupted by the shutdown complete", f.complete, f.passes, jobs["completed"])
	}
	if w.writtenTwice() != 0 {
		t.Errorf("%d records written twice, want 0", w.writtenTwice())
	}
	w.scanForSecrets(true, rs...)
}

// enqueueLine is the enqueue command's output.
type enqueueLine = schedule.EnqueueResult

func enqueue(t *testing.T, w *world) enqueueLine {
	t.Helper()
	stdout, stderr, code := w.run("enqueue")
	var res enqueueLine
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("enqueue: exit %d, stdout %q, stderr %s; want 0 and one JSON line", code, stdout, stderr)
	}
	return res
}

// TestEnqueueDuringAPassIsANoOp starts a pass with `portalsync enqueue`
// on a replica without a schedule, then enqueues again while it runs.
func TestEnqueueDuringAPassIsANoOp(t *testing.T) {
	w := newWorld(t, dynamicstest.Options{Certifications: 200, Seed: 13})
	w.emu.SetLatency(dynamicstest.RouteCertifications, 300*time.Millisecond)
	r := w.serve("replica", "--schedule", "off", "--page-size", "20", "--budget", "30s", "--shutdown-grace", "5s")
	first := enqueue(t, w)
	if !first.Enqueued || first.JobID == 0 {
		t.Fatalf("first enqueue %+v, want a new job", first)
	}
	waitLog(t, 20*time.Second, "sync job started", r)
	again := enqueue(t, w)
	if again.Enqueued || again.JobID != first.JobID || again.State != "running" || !strings.Contains(again.Message, "already running") {
		t.Errorf("enqueue during the pass: %+v, want a no-op naming running job %d", again, first.JobID)
	}
	w.waitJobs(30*time.Second, "the one job completed", func(j map[string]int) bool { return j["completed"] == 1 && len(j) == 1 })
	if f := passes(w.requests(), 10); f.passes != 1 || f.complete != 1 {
		t.Errorf("the portal saw %+v, want one complete pass", f)
	}
	r.signal(t, syscall.SIGTERM)
	if code := r.exited(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
}

// TestServeNeedsTheDatabase: without DATABASE_URL, serve and enqueue are
// configuration errors (exit 2) found before anything starts.
func TestServeNeedsTheDatabase(t *testing.T) {
	w := &world{t: t, bin: portalsync(t), env: []string{"PATH=/usr/bin:/bin"}}
	for _, cmd := range []string{"serve", "enqueue"} {
		_, stderr, code := w.run(cmd)
		if code != 2 || !strings.Contains(stderr, "portalsync: config: "+cmd+" needs the database: set DATABASE_URL") {
			t.Errorf("%s without DATABASE_URL: exit %d, stderr %q; want 2 and a config error naming DATABASE_URL", cmd, code, stderr)
		}
	}
	// --no-migrate on a database without the migrations refuses to start.
	empty := pgtest.Database(t, pgtest.Template{Name: "sched_empty", Prepare: func(context.Context, string) error { return nil }})
	_, stderr, code := w.run("serve", "--database-url", empty, "--no-migrate", "--schedule", "off")
	if code != 1 || !strings.Contains(lastLine(stderr), "migrate") {
		t.Errorf("serve --no-migrate on an empty database: exit %d, stderr %q; want 1 and an error saying to migrate", code, stderr)
	}
	_, stderr, code = w.run("serve", "--database-url", "postgres://u@127.0.0.1:1/db", "--schedule", "every night")
	if code != 2 || !strings.Contains(stderr, "portalsync: config: ") || !strings.Contains(stderr, "every night") {
		t.Errorf("serve with a bad schedule: exit %d, stderr %q; want 2 and a config error", code, stderr)
	}
}

// TestServeMetrics reads /metrics of a replica after a scheduled pass: the
// pass's metrics in the Prometheus format, through OpenTelemetry's
// exporter.
func TestServeMetrics(t *testing.T) {
	w := newWorld(t, dynamicstest.Options{Certifications: 120, Seed: 5})
	start := time.Now()
	r := w.serve("replica", "--schedule", "@every 1s", "--page-size", "50", "--budget", "20s", "--listen", "127.0.0.1:0")
	_, rec := waitLog(t, 20*time.Second, "healthz listening", r)
	waitLog(t, 20*time.Second, "sync job complete", r)

	resp, err := http.Get("http://" + rec.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d, %v", resp.StatusCode, err)
	}
	r.signal(t, syscall.SIGTERM)
	r.exited(15 * time.Second)

	// value returns the sum of the samples of name that hold every label.
	value := func(name string, labels ...string) (sum float64, found bool) {
	lines:
		for line := range strings.Lines(string(body)) {
			if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
				continue
			}
			for _, l := range labels {
				if !strings.Contains(line, l) {
					continue lines
				}
			}
			fields := strings.Fields(line)
			v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
			if err != nil {
				t.Fatalf("/metrics line %q: %v", line, err)
			}
			sum, found = sum+v, true
		}
		return sum, found
	}
	if v, ok := value("portalsync_sync_passes_total", `portalsync_outcome="complete"`); !ok || v < 1 {
		t.Errorf("portalsync_sync_passes_total{portalsync_outcome=\"complete\"} = %v (found %v), want at least 1", v, ok)
	}
	if v, ok := value("portalsync_sync_records_total"); !ok || v < 120 {
		t.Errorf("portalsync_sync_records_total = %v (found %v), want at least the 120 records", v, ok)
	}
	last, ok := value("portalsync_sync_last_completed_seconds")
	if !ok || last < float64(start.Unix()) || last > float64(time.Now().Unix()+1) {
		t.Errorf("portalsync_sync_last_completed_seconds = %v (found %v), want a time since the test started", last, ok)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
