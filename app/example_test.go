package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/credentials"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/flags"
	"github.com/hlf/dynamicsportal/ports"
)

// A host backend without fx chooses the portal with SelectPortal. Here the
// flag is off, so the stub is chosen and nothing else is needed.
func ExampleSelectPortal() {
	provider, err := flags.NewProvider(flags.ProviderOptions{
		LookupEnv: func(string) (string, bool) { return "", false }, // no overrides
	})
	if err != nil {
		panic(err)
	}
	logger := slog.New(slog.DiscardHandler)
	portal, choice, err := app.SelectPortal(context.Background(), app.Config{}, provider, credentials.FromEnv(), nil, logger)
	if err != nil {
		panic(err)
	}
	id, _ := portal.WhoAmI(context.Background())
	fmt.Println("live:", choice.Live, "reason:", choice.Reason, "stub:", id.Stub)
	// Output: live: false reason: STATIC variant=off source=defaults stub: true
}

// A host backend adds app.Module to its own fx application and supplies the
// configuration and its logger.
func ExampleModule() {
	var portal ports.DynamicsPortal
	var sync *core.SyncService
	fxApp := fx.New(
		fx.Supply(app.Config{}, slog.New(slog.DiscardHandler)),
		app.WithSlogEvents(),
		app.Module,
		fx.Populate(&portal, &sync),
	)
	if err := fxApp.Start(context.Background()); err != nil {
		panic(err)
	}
	defer fxApp.Stop(context.Background())

	report, err := sync.Run(context.Background())
	fmt.Printf("%T complete=%v read=%d err=%v\n", portal, report.Complete, report.Read, err)
	// Output: *stub.Portal complete=true read=0 err=<nil>
}

// A host backend whose replicas should share one nightly pass adds
// SchedulingModule with its own pool. (Not run here: it needs a database
// with River's tables, see schedule.Migrate.)
func ExampleSchedulingModule() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://backend@db.internal/hlf")
	if err != nil {
		panic(err)
	}
	fxApp := fx.New(
		fx.Supply(app.Config{}, slog.Default(), pool),
		fx.Supply(app.SchedulingSettings{Schedule: "CRON_TZ=Europe/Oslo 0 2 * * *", ShutdownGrace: 20 * time.Second}),
		fx.StopTimeout(time.Minute), // longer than the grace period plus 10 s
		app.Module,
		app.StoreModule, // the status store on the same pool: records and checkpoint
		app.SchedulingModule,
	)
	fxApp.Run()
}
