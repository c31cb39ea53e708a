// Package riverfx is the fx module of the nightly pass on River (package
// schedule). It lives apart from package app so that a host without it
// links neither River nor goose.
package riverfx

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// Module runs the certification sync on River (see package
// schedule) with the app's lifecycle: it starts taking sync jobs when the
// app starts, enqueues the periodic job on the elected leader, and stops
// gracefully when the app stops. It needs the host's *pgxpool.Pool (River's
// tables migrated: schedule.Migrate), the *core.SyncService (app.Module
// provides it; add storefx.Module so that the status store is its pass
// store and any replica resumes a pass) and, optionally,
// Settings.
//
// The app's stop timeout (fx.StopTimeout, 15 s by default) must exceed the
// shutdown grace plus 10 s, or the app stops waiting before the running
// job is recorded.
var Module = fx.Module("dynamicsportal.scheduling",
	fx.Provide(NewScheduler),
	fx.Invoke(func(*schedule.Scheduler) {}),
)

// DefaultShutdownGrace is how long a stopping app lets a running pass
// finish its page.
const DefaultShutdownGrace = 30 * time.Second

// Settings configure SchedulingModule. The zero value of each
// field means its default.
type Settings struct {
	// Schedule is the cron schedule of the periodic job (see
	// schedule.ParseSchedule; default schedule.DefaultSchedule). "off"
	// enqueues nothing periodically: passes then start only from
	// `portalsync enqueue` or portal.enqueue_sync() (pg_cron).
	Schedule string
	// RescueAfter is when a job whose worker died runs again elsewhere
	// (see schedule.Options.RescueAfter).
	RescueAfter time.Duration
	// RetryBackoff spaces the attempts of a failing job (see
	// schedule.Options.RetryBackoff).
	RetryBackoff time.Duration
	// ShutdownGrace is how long a stopping app lets the running pass
	// finish its page before cancelling it (default DefaultShutdownGrace).
	ShutdownGrace time.Duration
	// PollOnly makes River poll for jobs instead of listening for
	// notifications: set it when the pool goes through a pooler in
	// transaction mode (see schedule.Options.PollOnly).
	PollOnly bool
}

// Params are the inputs of NewScheduler.
type Params struct {
	fx.In
	Pool      *pgxpool.Pool
	Sync      *core.SyncService
	Logger    *slog.Logger
	Lifecycle fx.Lifecycle
	Settings  Settings `optional:"true"`
	// SyncSettings give the pass's budget, from which the job timeout is
	// derived.
	SyncSettings app.SyncSettings `optional:"true"`
}

// NewScheduler builds the scheduler and hooks it to the lifecycle: on
// start it checks River's migrations and starts; on stop it stops taking
// jobs and lets the running pass finish its page for the grace period.
func NewScheduler(p Params) (*schedule.Scheduler, error) {
	cfg, grace, err := p.Settings.config(p.SyncSettings.Options.Budget)
	if err != nil {
		return nil, err
	}
	cfg.Logger = p.Logger
	s, err := schedule.New(p.Pool, p.Sync, &cfg)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := schedule.CheckMigrated(ctx, p.Pool); err != nil {
				return err
			}
			return s.Start(ctx)
		},
		OnStop: func(ctx context.Context) error {
			gctx, cancel := context.WithTimeout(ctx, grace)
			defer cancel()
			return s.Stop(gctx)
		},
	})
	return s, nil
}

// config turns the settings into the scheduler's configuration and the
// shutdown grace. Errors wrap ports.ErrInvalidConfig.
func (s Settings) config(budget time.Duration) (schedule.Options, time.Duration, error) {
	if budget == 0 {
		budget = core.DefaultBudget
	}
	cfg := schedule.Options{Budget: budget, RescueAfter: s.RescueAfter, RetryBackoff: s.RetryBackoff, PollOnly: s.PollOnly}
	spec := s.Schedule
	if spec == "" {
		spec = schedule.DefaultSchedule
	}
	if !strings.EqualFold(strings.TrimSpace(spec), "off") {
		var err error
		if cfg.Schedule, err = schedule.ParseSchedule(spec); err != nil {
			return cfg, 0, err
		}
	}
	grace := s.ShutdownGrace
	switch {
	case grace < 0:
		return cfg, 0, fmt.Errorf("%w: negative shutdown grace", ports.ErrInvalidConfig)
	case grace == 0:
		grace = DefaultShutdownGrace
	}
	return cfg, grace, nil
}

// Check validates the settings for a pass of the given budget (0: the
// default) without building anything. Errors wrap ports.ErrInvalidConfig.
func (s Settings) Check(budget time.Duration) error {
	_, _, err := s.config(budget)
	if err == nil {
		_, err = schedule.CheckOptions(&schedule.Options{Budget: budget, RescueAfter: s.RescueAfter, RetryBackoff: s.RetryBackoff})
	}
	return err
}
