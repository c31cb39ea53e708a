package scheduling

import (
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// serve works behind a pooler in transaction mode (PgBouncer, as
// Supabase's pooler on port 6543) with --poll-only and the query mode the
// pooler needs: a job enqueued from SQL is picked up within River's poll
// interval and its pass completes. The pickup delay is logged: the
// README's figure.
func TestServeThroughAPoolerPollsForJobs(t *testing.T) {
	w := newWorldOn(t, pgtest.Supabase, dynamicstest.Options{Certifications: 60, Seed: 21})
	pooled := pgtest.PgBouncer(t, w.dbURL, 4) + "&default_query_exec_mode=exec"
	w.env = append(w.env, "DATABASE_URL="+pooled) // the last one wins
	r := w.serve("pooled", "--schedule", "off", "--poll-only", "--page-size", "20", "--budget", "10s", "--shutdown-grace", "5s")
	waitLog(t, 20*time.Second, "serving the sync schedule", r)
	var delays []time.Duration
	for i := range 3 {
		var id int64
		if err := w.pool.QueryRow(t.Context(), "select job_id from portal.enqueue_sync()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			var state string
			var delay time.Duration
			if err := w.pool.QueryRow(t.Context(), `select state::text, coalesce(attempted_at - created_at, interval '0')
				from portal_private.river_job where id = $1`, id).Scan(&state, &delay); err != nil {
				t.Fatal(err)
			}
			if state == "completed" {
				delays = append(delays, delay)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d (pass %d) is %s after 20s through the pooler", id, i+1, state)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	slices.Sort(delays)
	t.Logf("job pickup delay through the pooler with --poll-only: %v (sorted, 3 jobs)", delays)
	if delays[len(delays)-1] > 5*time.Second {
		t.Errorf("pickup delays %v: want each within River's poll interval (1 s) plus scheduling", delays)
	}
	if f := passes(w.requests(), 3); f.complete != 3 || f.overlaps != 0 {
		t.Errorf("the portal saw %+v, want three complete passes", f)
	}
	r.signal(t, syscall.SIGTERM)
	if code := r.exited(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	r.stoppedLast(t)
}

// pg_cron, for real, on the Supabase shape: a job scheduled with
// cron.schedule_in_database(…, 'select portal.enqueue_sync()') by the role
// that ran migrate (postgres, as Supabase's dashboard schedules) makes a
// running serve complete a pass. The same job scheduled by a role without
// rights on portal fails on its tick, and says so where an operator can
// see it: cron.job_run_details. pg_cron 1.4's schedules are by the minute,
// so this test waits for the next minute.
func TestPgCronStartsAPass(t *testing.T) {
	pgtest.NeedCron(t)
	w := newWorldOn(t, pgtest.Supabase, dynamicstest.Options{Certifications: 40, Seed: 22})
	r := w.serve("replica", "--schedule", "off", "--page-size", "20", "--budget", "10s", "--shutdown-grace", "5s")
	waitLog(t, 20*time.Second, "serving the sync schedule", r)

	u, err := url.Parse(w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	cronDB := pgtest.WithDatabase(w.dbURL, "postgres") // pg_cron's database, as the owner
	owner, err := pgx.Connect(t.Context(), cronDB)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(t.Context())
	admin, err := pgx.Connect(t.Context(), pgtest.Superuser(pgtest.Supabase, cronDB))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(t.Context())
	intruder := "cron_intruder_" + db[len(db)-8:]
	for _, sql := range []string{
		"create role " + intruder + " login",
		"grant usage on schema cron to " + intruder,
		"grant execute on all functions in schema cron to " + intruder,
	} {
		if _, err := admin.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(t.Context(), "delete from cron.job where username = $1", intruder)
		_, _ = admin.Exec(t.Context(), "drop owned by "+intruder+"; drop role "+intruder)
	})
	var ownerJob, intruderJob int64
	if err := owner.QueryRow(t.Context(), "select cron.schedule_in_database($1, '* * * * *', 'select portal.enqueue_sync()', $2)",
		"portal-sync-"+db, db).Scan(&ownerJob); err != nil {
		t.Fatalf("cron.schedule_in_database as the owner: %v", err)
	}
	tx, err := admin.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "set local role "+intruder); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(t.Context(), "select cron.schedule_in_database($1, '* * * * *', 'select portal.enqueue_sync()', $2)",
		"intruder-"+db, db).Scan(&intruderJob); err != nil {
		t.Fatalf("cron.schedule_in_database as a role without rights: %v", err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}

	_, done := waitLog(t, 90*time.Second, "sync job complete", r)
	if done.JobID == 0 {
		t.Error("no job id on the completed pass")
	}
	// Both jobs ran on the same tick; their outcomes are recorded.
	outcome := func(job int64) (status, message string) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := admin.QueryRow(t.Context(), `select status, coalesce(return_message, '') from cron.job_run_details
				where jobid = $1 and status in ('succeeded', 'failed') order by runid limit 1`, job).Scan(&status, &message)
			if err == nil || err != pgx.ErrNoRows || time.Now().After(deadline) {
				return status, message
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if status, msg := outcome(ownerJob); status != "succeeded" {
		t.Errorf("the owner's cron job: %q %q, want succeeded", status, msg)
	}
	if status, msg := outcome(intruderJob); status != "failed" || !strings.Contains(msg, "permission denied") {
		t.Errorf("the job of a role without rights: %q %q; want failed with a permission error in cron.job_run_details", status, msg)
	}
	if _, err := owner.Exec(t.Context(), "select cron.unschedule($1::bigint)", ownerJob); err != nil {
		t.Error(err)
	}
	r.signal(t, syscall.SIGTERM)
	if code := r.exited(15 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	r.stoppedLast(t)
}
