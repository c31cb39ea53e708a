package riverfx_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/app/riverfx"
	"github.com/hlf/dynamicsportal/app/storefx"
)

// A host backend whose replicas should share one nightly pass adds
// riverfx.Module with its own pool, and storefx.Module so that the pass
// keeps its records and checkpoint in the status store on the same pool,
// where any replica resumes it. (Not run here: it needs a database with
// the migrations, see portalsync migrate.)
func ExampleModule() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://backend@db.internal/hlf")
	if err != nil {
		panic(err)
	}
	fxApp := fx.New(
		fx.Supply(app.Config{}, slog.Default(), pool),
		fx.Supply(riverfx.Settings{Schedule: "CRON_TZ=Europe/Oslo 0 2 * * *", ShutdownGrace: 20 * time.Second}),
		fx.StopTimeout(time.Minute), // longer than the grace period plus 10 s
		app.Module,
		storefx.Module,
		riverfx.Module,
	)
	fxApp.Run()
}
