package scheduling

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
)

// TestThrottledPastTheBudgetSnoozesAndFinishesLater: the portal answers
// the first read with 429 and a Retry-After longer than the adapter may
// wait and longer than the pass's budget; the job snoozes for that long,
// then the pass runs again and completes.
func TestThrottledPastTheBudgetSnoozesAndFinishesLater(t *testing.T) {
	const retryAfter = 17 * time.Second
	w := newWorld(t, dynamicstest.Options{Certifications: 100, Seed: 14})
	w.emu.Inject(dynamicstest.RouteCertifications, dynamicstest.Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
	r := w.serve("replica", "--schedule", "off", "--page-size", "20", "--budget", "3s", "--shutdown-grace", "5s")
	job := enqueue(t, w)
	_, snoozed := waitLog(t, 20*time.Second, "sync job snoozed", r)
	if time.Duration(snoozed.For) != retryAfter || snoozed.Code != "rateLimited" {
		t.Errorf("snoozed for %v with code %q, want the portal's Retry-After %v and rateLimited", time.Duration(snoozed.For), snoozed.Code, retryAfter)
	}
	w.waitJobs(5*time.Second, "the job scheduled after its snooze", func(j map[string]int) bool { return j["scheduled"] == 1 })
	_, done := waitLog(t, retryAfter+20*time.Second, "sync job complete", r)
	if done.JobID != job.JobID || done.Time.Sub(snoozed.Time) < retryAfter {
		t.Errorf("job %d completed %v after its snooze; want job %d, at least %v later", done.JobID, done.Time.Sub(snoozed.Time), job.JobID, retryAfter)
	}
	if f := passes(w.requests(), 5); f.complete != 1 {
		t.Errorf("the portal saw %+v, want one complete pass after the throttled read", f)
	}
	var attempt int
	if err := w.pool.QueryRow(t.Context(), "select attempt from portal_private.river_job where id = $1", job.JobID).Scan(&attempt); err != nil || attempt != 1 {
		t.Errorf("attempt %d (%v), want 1: a snooze counts no attempt", attempt, err)
	}
	t.Logf("throttled past the budget: snoozed %v, completed %v after the snooze", time.Duration(snoozed.For), done.Time.Sub(snoozed.Time).Round(100*time.Millisecond))
	r.signal(t, syscall.SIGTERM)
	if code := r.exited(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	r.stoppedLast(t)
}

// TestAuthFailureIsRetriedThenDiscarded: with the client secret refused,
// each attempt fails with authFailure; after the last one River discards
// the job, each attempt's error kept on the job row.
func TestAuthFailureIsRetriedThenDiscarded(t *testing.T) {
	w := newWorld(t, dynamicstest.Options{Certifications: 20, Seed: 15})
	w.emu.Inject(dynamicstest.RouteToken, dynamicstest.Fault{Status: http.StatusUnauthorized, Code: "invalid_client", Times: -1})
	r := w.serve("replica", "--schedule", "off", "--budget", "3s", "--retry-backoff", "200ms", "--shutdown-grace", "5s")
	job := enqueue(t, w)
	w.waitJobs(30*time.Second, "the job discarded", func(j map[string]int) bool { return j["discarded"] == 1 })
	var errs []string
	var attempt int
	err := w.pool.QueryRow(t.Context(),
		"select attempt, array(select e->>'error' from unnest(errors) e) from portal_private.river_job where id = $1", job.JobID).Scan(&attempt, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if attempt != 5 || len(errs) != 5 {
		t.Errorf("attempt %d with %d errors, want 5 of each", attempt, len(errs))
	}
	for _, e := range errs {
		if !strings.Contains(e, "authFailure") || strings.Contains(e, w.emu.ClientSecret()) {
			t.Errorf("job error %q: want the authFailure code, never the secret", e)
		}
	}
	if len(errs) > 0 {
		t.Logf("auth failure: discarded after %d attempts; last error on the job row: %s", attempt, errs[len(errs)-1])
	}
	w.scanForSecrets(false, r)
	r.signal(t, syscall.SIGTERM)
	if code := r.exited(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	r.stoppedLast(t)
}

// TestSQLEnqueueSyncStartsAPass: calling portal.enqueue_sync() from SQL,
// as pg_cron would, starts a pass on a replica that has no schedule of its
// own.
func TestSQLEnqueueSyncStartsAPass(t *testing.T) {
	w := newWorld(t, dynamicstest.Options{Certifications: 60, Seed: 18})
	r := w.serve("replica", "--schedule", "off", "--page-size", "20", "--budget", "10s", "--shutdown-grace", "5s")
	waitLog(t, 20*time.Second, "serving the sync schedule", r)
	var id int64
	var enqueued bool
	if err := w.pool.QueryRow(t.Context(), "select * from portal.enqueue_sync()").Scan(&id, &enqueued); err != nil || !enqueued {
		t.Fatalf("portal.enqueue_sync() = %d, %v, %v; want a new job", id, enqueued, err)
	}
	_, done := waitLog(t, 20*time.Second, "sync job complete", r)
	if done.JobID != id {
		t.Errorf("completed job %d, want %d", done.JobID, id)
	}
	if f := passes(w.requests(), 3); f.passes != 1 || f.complete != 1 {
		t.Errorf("the portal saw %+v, want one complete pass", f)
	}
	// The pass stored what it read in the status store.
	var certs, assignments int
	if err := w.pool.QueryRow(t.Context(), "select (select count(*) from portal.certifications), (select count(*) from portal.assignments)").Scan(&certs, &assignments); err != nil ||
		certs != len(w.emu.Certifications()) || assignments != len(w.emu.Assignments()) {
		t.Errorf("the status store holds %d certifications and %d assignments (%v), want the portal's %d and %d",
			certs, assignments, err, len(w.emu.Certifications()), len(w.emu.Assignments()))
	}
	r.signal(t, syscall.SIGTERM)
	if code := r.exited(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	r.stoppedLast(t)
}
