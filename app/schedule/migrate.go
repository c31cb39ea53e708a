package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// migrateLock is the key of the advisory lock that keeps replicas starting
// at once from applying River's migrations together.
const migrateLock = 0x706f7274616c // "portal"

// Migrate applies River's migrations that the database lacks, each in its
// own transaction (as River requires), under a session advisory lock held
// on a connection of the pool, and returns a line per migration applied
// ("river 006 bulk_unique"). It is safe to call from every replica at
// startup. The pool needs room for two connections.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	m, err := migrator(pool)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", int64(migrateLock)) //nolint:errcheck // the session ends the lock anyway
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	lines := make([]string, 0, len(res.Versions))
	for _, v := range res.Versions {
		lines = append(lines, fmt.Sprintf("river %03d %s", v.Version, v.Name))
	}
	return lines, nil
}

// CheckMigrated returns an error wrapping ErrNotMigrated when River's
// migrations are not all applied.
func CheckMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := migrator(pool)
	if err != nil {
		return err
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if !res.OK {
		return fmt.Errorf("%w (%s)", ErrNotMigrated, strings.Join(res.Messages, "; "))
	}
	return nil
}

func migrator(pool *pgxpool.Pool) (*rivermigrate.Migrator[pgx.Tx], error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	return m, nil
}
