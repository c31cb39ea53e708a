package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/credentials"
	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/flags"
	"github.com/hlf/dynamicsportal/ports"
)

// A host backend without fx chooses the portal with SelectPortal. Here the
// flag is off, so the stub is chosen and nothing else is needed.
func ExampleSelectPortal() {
	provider, err := flags.NewProvider(&flags.ProviderOptions{
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

// A host backend without fx wires the sync with the same functions as the
// command line and the fx modules: SelectPortal chooses the portal, and
// NewSync builds the service with the store the pass keeps its records and
// progress in (here files; a *postgres.Store the same way). The choice
// carries the rule that the stub never touches a store or an output: with
// the flag off, the pass runs on a memory store of its own and the files
// stay as they were.
func ExampleNewSync() {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	provider, err := flags.NewProvider(&flags.ProviderOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		panic(err)
	}
	portal, choice, err := app.SelectPortal(ctx, app.Config{}, provider, credentials.FromEnv(), nil, logger)
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "sync")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "records.jsonl")
	files, err := jsonl.Open(out, filepath.Join(dir, "checkpoint.json"))
	if err != nil {
		panic(err)
	}
	defer files.Close()
	svc, err := app.NewSync(portal, choice, files, &core.SyncOptions{Logger: logger, Budget: time.Hour})
	if err != nil {
		panic(err)
	}
	report, err := svc.Run(ctx)
	_, statErr := os.Stat(out)
	fmt.Println("live:", choice.Live, "complete:", report.Complete, "error:", err, "output written:", statErr == nil)
	// Output: live: false complete: true error: <nil> output written: false
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
