package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var embedded embed.FS

// migrationsTable is goose's version table, named so it does not clash with
// a host's own goose migrations in the same database.
const migrationsTable = "portal_migrations"

// Migrations returns the embedded SQL migrations, in goose's format.
func Migrations() fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Migrate applies the status store's migrations that the database does not
// have yet, in order, each in its own transaction, and returns the names
// of those it applied (none when the database is current). A session-level
// advisory lock keeps replicas that start together from migrating at once,
// so run it on a direct (session) connection, not through a pooler in
// transaction mode.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, Migrations(),
		goose.WithTableName(migrationsTable), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: migrate: %w", ErrDatabase, err)
	}
	names := make([]string, len(results))
	for i, r := range results {
		names[i] = r.Source.Path
	}
	return names, nil
}

// ErrNotMigrated marks a database that lacks some of the store's
// migrations. It wraps ErrDatabase.
var ErrNotMigrated = fmt.Errorf("%w: the status store's migrations are not all applied (run portalsync migrate, or postgres.Migrate)", ErrDatabase)

// CheckMigrated returns an error wrapping ErrNotMigrated when the database
// lacks some of the store's migrations, so a pass does not start on a
// database it cannot write.
func CheckMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, Migrations(),
		goose.WithTableName(migrationsTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("%w: check migrations: %w", ErrDatabase, err)
	}
	if pending {
		return ErrNotMigrated
	}
	return nil
}
