package riverfx_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/app/riverfx"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

var riverOnly = pgtest.Template{Name: "app_river_private", Prepare: func(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = schedule.Migrate(ctx, pool)
	return err
}}

// TestSchedulingModuleRunsWithTheLifecycle starts an app with the module on
// a real database, runs a pass from Enqueue on the stub portal, and stops.
func TestSchedulingModuleRunsWithTheLifecycle(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), pgtest.Database(t, riverOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fxApp := fxtest.New(t,
		fx.Supply(app.Config{}, slog.New(slog.DiscardHandler), pool),
		fx.Supply(riverfx.Settings{Schedule: "off", ShutdownGrace: time.Second}),
		app.Module,
		riverfx.Module,
	)
	fxApp.RequireStart()
	res, err := schedule.Enqueue(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var state string
	for state != "completed" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if err := pool.QueryRow(t.Context(), "select state::text from portal_private.river_job where id = $1", res.JobID).Scan(&state); err != nil {
			t.Fatal(err)
		}
	}
	if state != "completed" {
		t.Errorf("job %d is %s, want completed by the app's scheduler", res.JobID, state)
	}
	fxApp.RequireStop()
}

// TestSchedulingModuleRefusesAnUnmigratedDatabase: the app does not start
// on a database without River's tables.
func TestSchedulingModuleRefusesAnUnmigratedDatabase(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), pgtest.Database(t, pgtest.Template{Name: "app_empty", Prepare: func(context.Context, string) error { return nil }}))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fxApp := fx.New(fx.Supply(app.Config{}, slog.New(slog.DiscardHandler), pool), app.Module, riverfx.Module, fx.NopLogger)
	if err := fxApp.Start(t.Context()); !errors.Is(err, ports.ErrNotMigrated) {
		t.Errorf("start on an empty database: %v, want ErrNotMigrated", err)
		_ = fxApp.Stop(context.Background())
	}
}

func TestSchedulingSettingsCheck(t *testing.T) {
	for _, s := range []riverfx.Settings{
		{Schedule: "nightly"},
		{Schedule: "@every 100ms"},
		{RescueAfter: time.Minute}, // not longer than the default budget (1h) + 45s
		{ShutdownGrace: -time.Second},
	} {
		if err := s.Check(0); !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want a config error", s, err)
		}
	}
	for _, s := range []riverfx.Settings{{}, {Schedule: "off"}, {Schedule: "@every 2s", RescueAfter: 50 * time.Second}} {
		budget := time.Duration(0)
		if s.RescueAfter != 0 {
			budget = 4 * time.Second
		}
		if err := s.Check(budget); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
}
