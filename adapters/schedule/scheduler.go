package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// Defaults of Options.
const (
	// DefaultRetryBackoff is the wait before a failed job's second
	// attempt; each further wait is twice the one before.
	DefaultRetryBackoff = time.Minute
	// rescueMargin is how much longer than a job's timeout the default
	// rescue time is.
	rescueMargin = time.Minute
	// cancelTimeout bounds the wait for a cancelled pass to return and its
	// job to be recorded, after the grace period of Stop.
	cancelTimeout = 10 * time.Second
)

// Options configure a Scheduler. The zero value of each field means its
// default, and a nil *Options every default; a negative one is refused.
type Options struct {
	// Schedule is when the elected leader enqueues the sync job (see
	// ParseSchedule); nil enqueues nothing periodically, so only Enqueue
	// and portal.enqueue_sync() start passes.
	Schedule river.PeriodicSchedule
	// Budget is the time budget of one run of the pass, the same as the
	// sync service's (core.SyncOptions.Budget, default core.DefaultBudget).
	// A job's timeout is Budget plus CallGuard.
	Budget time.Duration
	// RescueAfter is how long a job may stay running before River's
	// rescuer takes it for dead and makes it available to another
	// replica. It must be longer than Budget plus CallGuard, or a live
	// pass would be run twice at once; default Budget + CallGuard + 1 min.
	// The rescuer runs every 30 s on the leader, so a takeover happens
	// between RescueAfter and RescueAfter + 30 s after the job started.
	RescueAfter time.Duration
	// RetryBackoff is the wait before a failed job's second attempt,
	// doubled for each further one (default DefaultRetryBackoff).
	RetryBackoff time.Duration
	// PollOnly makes River poll for jobs (every second) instead of
	// listening for notifications, and find a new leader within about 5 s
	// of a resignation: needed behind a pooler in transaction mode
	// (PgBouncer, Supabase's pooler on port 6543), where LISTEN does not
	// work.
	PollOnly bool
	// Logger receives the scheduler's and River's logs; nil logs nothing.
	Logger *slog.Logger
}

// JobTimeout is the longest a sync job may run: the budget plus CallGuard.
func (c Options) JobTimeout() time.Duration { return c.Budget + CallGuard }

// withDefaults validates c and fills in its defaults. Errors wrap
// ports.ErrInvalidConfig.
func (c Options) withDefaults() (Options, error) {
	if c.Budget == 0 {
		c.Budget = core.DefaultBudget
	}
	switch {
	case c.Budget < 0:
		return c, fmt.Errorf("%w: scheduler: negative budget", ports.ErrInvalidConfig)
	case c.RescueAfter < 0 || c.RetryBackoff < 0:
		return c, fmt.Errorf("%w: scheduler: negative rescue time or retry backoff", ports.ErrInvalidConfig)
	case c.RescueAfter == 0:
		c.RescueAfter = c.JobTimeout() + rescueMargin
	case c.RescueAfter <= c.JobTimeout():
		return c, fmt.Errorf("%w: scheduler: the rescue time %s must be longer than the budget plus the %s call guard (%s), or a live pass could be run twice",
			ports.ErrInvalidConfig, c.RescueAfter, CallGuard, c.JobTimeout())
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// CheckOptions validates opts without building anything and returns the
// rescue time that applies. Errors wrap ports.ErrInvalidConfig.
func CheckOptions(opts *Options) (time.Duration, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o, err := o.withDefaults()
	return o.RescueAfter, err
}

// Scheduler runs sync jobs on River: one worker on the portal_sync queue,
// and the periodic job when the process is River's leader.
type Scheduler struct {
	client   *river.Client[pgx.Tx]
	logger   *slog.Logger
	stop     chan struct{}
	stopOnce sync.Once
}

// New builds a scheduler that runs sync's passes, on pool. Start starts it;
// River's tables must exist (Migrate).
func New(pool *pgxpool.Pool, sync *core.SyncService, opts *Options) (*Scheduler, error) {
	if pool == nil || sync == nil {
		return nil, fmt.Errorf("%w: scheduler: no database pool or no sync service", ports.ErrInvalidConfig)
	}
	var cfg Options
	if opts != nil {
		cfg = *opts
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Scheduler{logger: cfg.Logger, stop: make(chan struct{})}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &Worker{sync: sync, backoff: cfg.RetryBackoff, stop: s.stop, logger: cfg.Logger}); err != nil {
		return nil, err
	}
	rc := &river.Config{
		Schema:               Schema,
		PollOnly:             cfg.PollOnly,
		Queues:               map[string]river.QueueConfig{Queue: {MaxWorkers: 1}},
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout(),
		RescueStuckJobsAfter: cfg.RescueAfter,
		Logger:               cfg.Logger,
	}
	if cfg.Schedule != nil {
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(cfg.Schedule,
			func() (river.JobArgs, *river.InsertOpts) { return SyncArgs{}, nil },
			&river.PeriodicJobOpts{ID: Kind})}
	}
	s.client, err = river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("%w: scheduler: %w", ports.ErrInvalidConfig, err)
	}
	return s, nil
}

// Start starts taking sync jobs (and, on the leader, enqueueing the
// periodic one). Cancelling ctx later does not stop the scheduler: Stop
// does.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start the scheduler: %w", err)
	}
	return nil
}

// Stop shuts the scheduler down gracefully: it takes no new job, asks a
// running pass to stop after the page in progress (its job then snoozes
// for 0, so another replica carries it on at once, with no attempt
// counted), and waits for it until ctx is done: the grace period. Then it
// cancels the pass, which keeps the checkpoint of its last complete page,
// and waits up to 10 s more for its job to be recorded. It returns nil when
// the scheduler stopped, whether or not the grace period was enough.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	err := s.client.Stop(ctx)
	if err == nil || ctx.Err() == nil {
		return err
	}
	s.logger.LogAttrs(ctx, slog.LevelWarn, "shutdown grace period over; cancelling the running sync pass")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if err := s.client.StopAndCancel(cctx); err != nil {
		return fmt.Errorf("stop the scheduler: %w", err)
	}
	return nil
}

// EnqueueResult is what Enqueue did; its JSON form is the enqueue command's
// output line.
type EnqueueResult struct {
	// JobID is the new job's id, or that of the job already there.
	JobID int64 `json:"jobId"`
	// Enqueued is false when a sync job was already pending or running,
	// and nothing was inserted.
	Enqueued bool `json:"enqueued"`
	// State is the job's River state (available, running, scheduled, …).
	State string `json:"state"`
	// Message says what happened, for people.
	Message string `json:"message"`
}

// Enqueue inserts one sync job to run now, unless one is already pending,
// scheduled, running or waiting for a retry: then it inserts nothing and
// reports that job.
func Enqueue(ctx context.Context, pool *pgxpool.Pool) (EnqueueResult, error) {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: Schema})
	if err != nil {
		return EnqueueResult{}, err
	}
	res, err := client.Insert(ctx, SyncArgs{}, nil)
	if err != nil {
		return EnqueueResult{}, postgres.DatabaseError("enqueue the sync job", err)
	}
	r := EnqueueResult{JobID: res.Job.ID, Enqueued: !res.UniqueSkippedAsDuplicate, State: string(res.Job.State)}
	if r.Enqueued {
		r.Message = "sync job enqueued"
	} else {
		r.Message = "a sync job is already " + r.State + "; nothing enqueued"
	}
	return r, nil
}

// errNotMigrated is CheckMigrated's error when River's tables are missing
// or older than this module needs.
var errNotMigrated = fmt.Errorf("%w: the database lacks River's migrations in schema %s; run portalsync migrate", ports.ErrNotMigrated, Schema)
