package schedule_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/adapters/memory"
	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/adapters/stub"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

// riverTemplate is a database with the status store's migrations and
// River's, as `portalsync migrate` leaves it.
var riverTemplate = pgtest.Template{Name: "sched_" + pgtest.HashFS(postgres.Migrations()), Prepare: func(ctx context.Context, url string) error {
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

func riverPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), pgtest.Database(t, riverTemplate))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func jobState(t *testing.T, pool *pgxpool.Pool, id int64) (state string, errs []string) {
	t.Helper()
	err := pool.QueryRow(t.Context(),
		"select state::text, coalesce((select array_agg(e->>'error') from unnest(errors) e), '{}') from portal_private.river_job where id = $1", id).Scan(&state, &errs)
	if err != nil {
		t.Fatal(err)
	}
	return state, errs
}

func TestEnqueueIsUniqueWhilePendingOrRunning(t *testing.T) {
	pool := riverPool(t)
	ctx := t.Context()
	first, err := schedule.Enqueue(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Enqueued || first.State != "available" || first.JobID == 0 {
		t.Fatalf("first enqueue %+v, want a new available job", first)
	}
	for _, state := range []string{"available", "running", "retryable", "scheduled"} {
		if _, err := pool.Exec(ctx, "update portal_private.river_job set state = $1::portal_private.river_job_state, attempted_at = now(), finalized_at = null where id = $2", state, first.JobID); err != nil {
			t.Fatal(err)
		}
		again, err := schedule.Enqueue(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		if again.Enqueued || again.JobID != first.JobID || again.State != state {
			t.Errorf("enqueue with a job %s: %+v, want a no-op naming job %d", state, again, first.JobID)
		}
	}
	// A finished job blocks nothing: the next tick's job is inserted.
	for _, state := range []string{"completed", "discarded", "cancelled"} {
		if _, err := pool.Exec(ctx, "update portal_private.river_job set state = $1::portal_private.river_job_state, finalized_at = now() where state <> 'completed' and state <> 'discarded' and state <> 'cancelled'", state); err != nil {
			t.Fatal(err)
		}
		next, err := schedule.Enqueue(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		if !next.Enqueued || next.JobID == first.JobID {
			t.Errorf("enqueue after a %s job: %+v, want a new job", state, next)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "select count(*) from portal_private.river_job where kind = $1 and queue = $2 and max_attempts = $3", schedule.Kind, schedule.Queue, schedule.MaxAttempts).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d jobs of kind %s on queue %s (%v), want 4", n, schedule.Kind, schedule.Queue, err)
	}
}

func TestMigrateTwiceAndCheck(t *testing.T) {
	pool := riverPool(t)
	lines, err := schedule.Migrate(t.Context(), pool)
	if err != nil || len(lines) != 0 {
		t.Errorf("Migrate on a migrated database = %q, %v; want nothing applied", lines, err)
	}
	if err := schedule.CheckMigrated(t.Context(), pool); err != nil {
		t.Errorf("CheckMigrated: %v", err)
	}
	if _, err := pool.Exec(t.Context(), "drop table portal_private.river_job cascade; delete from portal_private.river_migration where version > 3"); err != nil {
		t.Fatal(err)
	}
	if err := schedule.CheckMigrated(t.Context(), pool); !errors.Is(err, ports.ErrNotMigrated) {
		t.Errorf("CheckMigrated without River's tables = %v, want ports.ErrNotMigrated", err)
	}
}

// failingPortal fails every read with an authFailure.
type failingPortal struct{ ports.DynamicsPortal }

func (failingPortal) ListCertifications(context.Context, ports.PageQuery) (ports.Page[ports.Certification], error) {
	return ports.Page[ports.Certification]{}, &ports.PortalError{Code: ports.CodeAuthFailure, Op: "token", Message: "AADSTS7000215: invalid client secret"}
}

func startScheduler(t *testing.T, pool *pgxpool.Pool, portal ports.DynamicsPortal, cfg schedule.Options) *schedule.Scheduler {
	t.Helper()
	svc, err := core.NewSyncService(portal, memory.New(), &core.SyncOptions{Budget: cfg.Budget})
	if err != nil {
		t.Fatal(err)
	}
	s, err := schedule.New(pool, svc, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func waitState(t *testing.T, pool *pgxpool.Pool, id int64, want string, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		state, errs := jobState(t, pool, id)
		if state == want {
			return errs
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s after %v, want %s (errors %q)", id, state, within, want, errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSchedulerCompletesAnEnqueuedPass(t *testing.T) {
	pool := riverPool(t)
	startScheduler(t, pool, stub.New(&stub.Options{Logger: slog.New(slog.DiscardHandler)}), schedule.Options{Budget: time.Second})
	res, err := schedule.Enqueue(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, pool, res.JobID, "completed", 10*time.Second)
}

func TestSchedulerRetriesAFailureThenDiscardsItWithItsError(t *testing.T) {
	pool := riverPool(t)
	startScheduler(t, pool, failingPortal{}, schedule.Options{Budget: time.Second, RetryBackoff: 10 * time.Millisecond})
	res, err := schedule.Enqueue(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	errs := waitState(t, pool, res.JobID, "discarded", 20*time.Second)
	if len(errs) != schedule.MaxAttempts {
		t.Errorf("%d errors on the job row, want one per attempt, %d: %q", len(errs), schedule.MaxAttempts, errs)
	}
	for _, e := range errs {
		if e != "read page 1: authFailure: token: AADSTS7000215: invalid client secret" {
			t.Errorf("job error %q, want the pass's error with its code", e)
		}
	}
}

// TestSQLEnqueueSyncIsRiversJob calls portal.enqueue_sync() (the status
// store's migration 00004) from SQL, as pg_cron would: the job it inserts is unique together with Enqueue's,
// and a scheduler runs it.
func TestSQLEnqueueSyncIsRiversJob(t *testing.T) {
	pool := riverPool(t)
	ctx := t.Context()
	var id int64
	var enqueued bool
	if err := pool.QueryRow(ctx, "select * from portal.enqueue_sync()").Scan(&id, &enqueued); err != nil || !enqueued {
		t.Fatalf("enqueue_sync() = %d, %v, %v; want a new job", id, enqueued, err)
	}
	// River sees the SQL job as its own duplicate, and the SQL function
	// sees River's.
	res, err := schedule.Enqueue(ctx, pool)
	if err != nil || res.Enqueued || res.JobID != id {
		t.Fatalf("Enqueue after enqueue_sync() = %+v, %v; want a no-op naming job %d", res, err, id)
	}
	var again int64
	if err := pool.QueryRow(ctx, "select * from portal.enqueue_sync()").Scan(&again, &enqueued); err != nil || enqueued || again != id {
		t.Errorf("enqueue_sync() again = %d, %v, %v; want a no-op naming job %d", again, enqueued, err, id)
	}
	if _, err := pool.Exec(ctx, "update portal_private.river_job set state = 'completed', finalized_at = now() where id = $1", id); err != nil {
		t.Fatal(err)
	}
	fromRiver, err := schedule.Enqueue(ctx, pool)
	if err != nil || !fromRiver.Enqueued {
		t.Fatalf("Enqueue after the job completed = %+v, %v", fromRiver, err)
	}
	if err := pool.QueryRow(ctx, "select * from portal.enqueue_sync()").Scan(&again, &enqueued); err != nil || enqueued || again != fromRiver.JobID {
		t.Errorf("enqueue_sync() with River's job pending = %d, %v, %v; want a no-op naming job %d", again, enqueued, err, fromRiver.JobID)
	}
	var same int
	if err := pool.QueryRow(ctx, `select count(distinct (unique_key, unique_states, queue, max_attempts, priority, args::text)) from portal_private.river_job`).Scan(&same); err != nil || same != 1 {
		t.Errorf("the SQL job and River's differ in %d ways (%v), want identical rows", same, err)
	}
	if _, err := pool.Exec(ctx, "update portal_private.river_job set state = 'completed', finalized_at = now()"); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "select * from portal.enqueue_sync()").Scan(&id, &enqueued); err != nil || !enqueued {
		t.Fatalf("enqueue_sync() = %d, %v, %v; want a new job", id, enqueued, err)
	}
	startScheduler(t, pool, stub.New(&stub.Options{Logger: slog.New(slog.DiscardHandler)}), schedule.Options{Budget: time.Second})
	waitState(t, pool, id, "completed", 10*time.Second)
}

// hangingPortal blocks every read until its context ends, like a page
// whose read outlasts the shutdown grace.
type hangingPortal struct {
	ports.DynamicsPortal
	reading chan struct{}
}

func (p hangingPortal) ListCertifications(ctx context.Context, _ ports.PageQuery) (ports.Page[ports.Certification], error) {
	close(p.reading)
	<-ctx.Done()
	return ports.Page[ports.Certification]{}, &ports.PortalError{Code: ports.CodeCanceled, Op: "ListCertifications", Err: ctx.Err()}
}

// TestStopCancelsAPassPastTheGrace: a page that does not finish within the
// grace period is cancelled, and its job is made available again at once,
// with no attempt counted.
func TestStopCancelsAPassPastTheGrace(t *testing.T) {
	pool := riverPool(t)
	portal := hangingPortal{reading: make(chan struct{})}
	svc, err := core.NewSyncService(portal, memory.New(), &core.SyncOptions{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s, err := schedule.New(pool, svc, &schedule.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	res, err := schedule.Enqueue(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-portal.reading:
	case <-time.After(10 * time.Second):
		t.Fatal("the pass did not start")
	}
	grace, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Stop(grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Stop took %v after a grace of 300ms", took)
	}
	var attempt int
	state, errs := jobState(t, pool, res.JobID)
	if err := pool.QueryRow(t.Context(), "select attempt from portal_private.river_job where id = $1", res.JobID).Scan(&attempt); err != nil {
		t.Fatal(err)
	}
	if state != "available" || attempt != 0 || len(errs) != 0 {
		t.Errorf("job %s, attempt %d, errors %q; want it available again at once, no attempt counted", state, attempt, errs)
	}
}

func TestNewRefusesMissingParts(t *testing.T) {
	if _, err := schedule.New(nil, nil, &schedule.Options{Budget: time.Second}); !errors.Is(err, ports.ErrInvalidConfig) {
		t.Errorf("New without a pool: %v, want a config error", err)
	}
	if r, err := schedule.CheckOptions(nil); err != nil || r != time.Hour+schedule.CallGuard+time.Minute {
		t.Errorf("CheckOptions defaults: %v, %v", r, err)
	}
}

// portal.enqueue_sync() wakes the replicas at once: its NOTIFY on River's
// insert channel of the private schema is observed by a listener, as
// River's own notifier listens, not inferred from the next poll.
func TestSQLEnqueueSyncNotifiesTheReplicas(t *testing.T) {
	pool := riverPool(t)
	listener, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(t.Context(), `listen "`+schedule.Schema+`.river_insert"`); err != nil {
		t.Fatal(err)
	}
	var enqueued bool
	if err := pool.QueryRow(t.Context(), "select enqueued from portal.enqueue_sync()").Scan(&enqueued); err != nil || !enqueued {
		t.Fatalf("enqueue_sync: %v, %v", enqueued, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	n, err := listener.Conn().WaitForNotification(ctx)
	if err != nil {
		t.Fatalf("no notification on %s.river_insert: %v", schedule.Schema, err)
	}
	if !strings.Contains(n.Payload, `"queue": "`+schedule.Queue+`"`) {
		t.Errorf("notification payload %q, want the queue %s", n.Payload, schedule.Queue)
	}
}
