package storefx_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/app/storefx"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/apptest"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

var migrated = pgtest.Template{Name: "portal_" + pgtest.HashFS(postgres.Migrations()), Prepare: func(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = postgres.Migrate(ctx, pool)
	return err
}}

func count(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "select count(*) from portal."+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStoreModuleOnTheHostsPoolStoresThePass(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), pgtest.Database(t, migrated))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), storefx.Module, fx.Supply(pool), apptest.LivePortal(t))
	var svc *core.SyncService
	fxtest.New(t, opts, fx.Populate(&svc)).RequireStart().RequireStop()
	rep, err := svc.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != 1 || rep.Assignments != 1 || !rep.Complete {
		t.Errorf("report %+v", rep)
	}
	if c, a, cp := count(t, pool, "certifications"), count(t, pool, "assignments"), count(t, pool, "sync_checkpoint"); c != 1 || a != 1 || cp != 0 {
		t.Errorf("the store holds %d certifications, %d assignments, %d checkpoints; want 1, 1, 0", c, a, cp)
	}
	if err := pool.Ping(t.Context()); err != nil {
		t.Errorf("the host's pool was closed by the app: %v", err)
	}
}

func TestStoreModuleFromSettingsClosesItsPool(t *testing.T) {
	url := pgtest.Database(t, migrated)
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), storefx.Module, fx.Supply(storefx.Settings{DatabaseURL: url}))
	var store *postgres.Store
	fxtest.New(t, opts, fx.Populate(&store)).RequireStart().RequireStop()
	if err := store.Pool().Ping(t.Context()); err == nil {
		t.Error("the store's own pool is open after the app stopped")
	}
}

func TestStoreModuleNeedsADatabase(t *testing.T) {
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), storefx.Module, fx.Invoke(func(*postgres.Store) {}))
	err := fx.New(opts).Err()
	if !errors.Is(err, ports.ErrInvalidConfig) {
		t.Errorf("fx.New = %v, want ErrInvalidConfig", err)
	}
	opts, _ = apptest.Options(t, app.Config{}, apptest.FlagProvider(false), storefx.Module, fx.Invoke(func(*postgres.Store) {}),
		fx.Supply(storefx.Settings{DatabaseURL: "postgres://portal:S3cret@127.0.0.1:1/portal?connect_timeout=2"}))
	err = fx.New(opts).Err()
	if !errors.Is(err, ports.ErrDatabase) || app.ErrorName(err) != "databaseError" {
		t.Errorf("fx.New with an unreachable database = %v, want a databaseError", err)
	}
}

func TestStoreRefusesFilesAlongside(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), pgtest.Database(t, migrated))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), storefx.Module, fx.Supply(pool),
		fx.Supply(app.SyncSettings{OutFile: t.TempDir() + "/records.jsonl"}), fx.Invoke(func(*core.SyncService) {}))
	if err := fx.New(opts).Err(); !errors.Is(err, ports.ErrInvalidConfig) {
		t.Errorf("fx.New = %v, want ErrInvalidConfig", err)
	}
}

// The stub's pass is empty: it must not sweep the mirror.
func TestTheStubLeavesTheStoreAlone(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), pgtest.Database(t, migrated))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(t.Context(), `insert into portal.certifications (id, mentor_id, name, active, status, synced_at)
		values ($1, $2, 'x', true, 'valid', now())`, apptest.CertID, apptest.MentorID); err != nil {
		t.Fatal(err)
	}
	opts, logs := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), storefx.Module, fx.Supply(pool))
	var svc *core.SyncService
	fxtest.New(t, opts, fx.Populate(&svc)).RequireStart().RequireStop()
	if _, err := svc.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "certifications"); n != 1 {
		t.Errorf("the stub's pass left %d certifications, want the 1 stored before", n)
	}
	if !bytes.Contains(logs.Bytes(), []byte("leaves the store and its outputs alone")) {
		t.Errorf("logs do not say the store was left alone:\n%s", logs)
	}
}
