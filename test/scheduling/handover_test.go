package scheduling

import (
	"syscall"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
)

// reads counts the emulator's certification listing reads so far.
func (w *world) reads() int { return w.emu.Stats().Requests[dynamicstest.RouteCertifications] }

// waitReads waits until the portal has served at least n listing reads.
func (w *world) waitReads(n int, d time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for w.reads() < n {
		if time.Now().After(deadline) {
			w.t.Fatalf("%d listing reads after %v, want %d", w.reads(), d, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func others(rs []*replica, not *replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r != not {
			out = append(out, r)
		}
	}
	return out
}

// TestKilledReplicaIsTakenOver kills (SIGKILL) the replica running a pass
// in the middle of it: after the rescue time another replica runs the job
// to completion, and no record's write reaches the portal twice.
func TestKilledReplicaIsTakenOver(t *testing.T) {
	const (
		records  = 400
		pageSize = 25
		rescue   = 51 * time.Second // > budget 5s + the 45s call guard
	)
	w := newWorld(t, dynamicstest.Options{Certifications: records, Seed: 16})
	w.emu.SetLatency(dynamicstest.RouteCertifications, 200*time.Millisecond)
	args := []string{"--schedule", "off", "--page-size", "25", "--budget", "5s", "--rescue-after", rescue.String(), "--retry-backoff", "1s", "--shutdown-grace", "5s"}
	rs := []*replica{w.serve("replica-a", args...), w.serve("replica-b", args...), w.serve("replica-c", args...)}
	for _, r := range rs {
		waitLog(t, 20*time.Second, "serving the sync schedule", r)
	}
	job := enqueue(t, w)
	victim, _ := waitLog(t, 20*time.Second, "sync job started", rs...)
	w.waitReads(5, 20*time.Second) // mid-pass: 5 of 16 pages read
	victim.signal(t, syscall.SIGKILL)
	killed := time.Now()
	writesAtKill := w.emu.Stats().TotalWrites()
	if code := victim.exited(5 * time.Second); code != -1 {
		t.Fatalf("the killed replica exited %d, want death by signal", code)
	}

	heir, started := waitLog(t, rescue+60*time.Second, "sync job started", others(rs, victim)...)
	takeover := started.Time.Sub(killed)
	_, done := waitLog(t, 30*time.Second, "sync job complete", heir)
	if done.JobID != job.JobID || started.JobID != job.JobID {
		t.Errorf("%s ran job %d, want job %d", heir.name, done.JobID, job.JobID)
	}
	twice := w.writtenTwice()
	resumed := heir.logs("sync pass resumed")
	t.Logf("kill: %s killed after %d listing reads and %d writes; %s took the job over %v after the kill (rescue time %v, rescuer every 30s), resumed from a checkpoint: %v; writes %d in all, records written twice %d",
		victim.name, 5, writesAtKill, heir.name, takeover.Round(100*time.Millisecond), rescue, len(resumed) == 1, w.emu.Stats().TotalWrites(), twice)
	if len(resumed) != 1 {
		t.Errorf("%s started the pass over; want it resumed from the checkpoint in the status store", heir.name)
	}
	if takeover < rescue-5*time.Second {
		t.Errorf("taken over %v after the kill, before the rescue time %v: a live pass could run twice", takeover, rescue)
	}
	if twice != 0 {
		t.Errorf("%d records written twice, want 0", twice)
	}
	var attempt int
	var rescued bool
	if err := w.pool.QueryRow(t.Context(), "select attempt, exists(select from unnest(errors) e where e->>'error' like '%rescued%') from portal_private.river_job where id = $1",
		job.JobID).Scan(&attempt, &rescued); err != nil || attempt != 2 || !rescued {
		t.Errorf("job attempt %d, rescued %v (%v); want the second attempt after River's rescue", attempt, rescued, err)
	}
	for _, r := range others(rs, victim) {
		r.signal(t, syscall.SIGTERM)
		if code := r.exited(15 * time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0", r.name, code)
		}
	}
	w.scanForSecrets(true, rs...)
}

// TestSigtermHandsThePassOver sends SIGTERM to the replica running a pass:
// it finishes its page, exits 0 within the grace period, and another
// replica takes the job at once and completes the pass.
func TestSigtermHandsThePassOver(t *testing.T) {
	const grace = 5 * time.Second
	w := newWorld(t, dynamicstest.Options{Certifications: 300, Seed: 17})
	w.emu.SetLatency(dynamicstest.RouteCertifications, 200*time.Millisecond)
	args := []string{"--schedule", "off", "--page-size", "25", "--budget", "30s", "--shutdown-grace", grace.String()}
	rs := []*replica{w.serve("replica-a", args...), w.serve("replica-b", args...)}
	for _, r := range rs {
		waitLog(t, 20*time.Second, "serving the sync schedule", r)
	}
	job := enqueue(t, w)
	first, _ := waitLog(t, 20*time.Second, "sync job started", rs...)
	w.waitReads(4, 20*time.Second)
	first.signal(t, syscall.SIGTERM)
	termed := time.Now()
	code := first.exited(grace + 12*time.Second)
	exitedAfter := time.Since(termed)
	if code != 0 || exitedAfter > grace+2*time.Second {
		t.Errorf("%s exited %d, %v after SIGTERM; want 0 within the %v grace period", first.name, code, exitedAfter, grace)
	}
	if snoozed := first.logs("sync job snoozed"); len(snoozed) != 1 || snoozed[0].For != 0 || snoozed[0].Code != "canceled" {
		t.Errorf("%s snooze records %+v, want one snooze for 0 after the pass stopped", first.name, snoozed)
	}
	second := others(rs, first)[0]
	_, started := waitLog(t, 15*time.Second, "sync job started", second)
	_, done := waitLog(t, 30*time.Second, "sync job complete", second)
	if started.JobID != job.JobID || done.JobID != job.JobID {
		t.Errorf("%s ran job %d, want job %d", second.name, done.JobID, job.JobID)
	}
	resumed := len(second.logs("sync pass resumed")) == 1
	t.Logf("SIGTERM: %s exited %v after it, %s started the job %v after it (resumed from a checkpoint: %v); records written twice %d",
		first.name, exitedAfter.Round(10*time.Millisecond), second.name, started.Time.Sub(termed).Round(10*time.Millisecond), resumed, w.writtenTwice())
	if w.writtenTwice() != 0 {
		t.Errorf("%d records written twice, want 0", w.writtenTwice())
	}
	if !resumed {
		t.Errorf("%s started the pass over; want it resumed from the checkpoint the first replica left in the status store", second.name)
	}
	var attempt int
	if err := w.pool.QueryRow(t.Context(), "select attempt from portal_private.river_job where id = $1", job.JobID).Scan(&attempt); err != nil || attempt != 1 {
		t.Errorf("attempt %d (%v), want 1: a shutdown counts no attempt", attempt, err)
	}
	second.signal(t, syscall.SIGTERM)
	if code := second.exited(15 * time.Second); code != 0 {
		t.Errorf("%s exited %d after SIGTERM, want 0", second.name, code)
	}
	w.scanForSecrets(true, rs...)
}
