package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/ports"
)

// storeOptions are the flags of statuses.
type storeOptions struct {
	as, status, chapter string
	sqlDir              string // migrate --sql
}

// databaseURL returns --database-url or DATABASE_URL, or "".
func (e *env) databaseURL() string {
	if e.serve.databaseURL != "" {
		return e.serve.databaseURL
	}
	return strings.TrimSpace(os.Getenv(envDatabaseURL))
}

// openStatusStore opens the status store named by --database-url or
// DATABASE_URL; its errors never hold the URL's password.
func (e *env) openStatusStore(ctx context.Context, cmd string) (*postgres.Store, error) {
	url := e.databaseURL()
	if url == "" {
		return nil, usageError{cmd + " needs the database: set " + envDatabaseURL + " or --database-url"}
	}
	cfg, err := e.settings.config()
	if err != nil {
		return nil, err
	}
	return e.openStore(ctx, url, app.NewLogger(cfg, e.stderr))
}

// migrateAll applies the status store's migrations, then River's, and
// reports each one applied.
func migrateAll(ctx context.Context, pool *pgxpool.Pool, applied func(string)) error {
	names, err := postgres.Migrate(ctx, pool)
	for _, n := range names {
		applied("portal " + strings.TrimSuffix(n, ".sql"))
	}
	if err != nil {
		return err
	}
	lines, err := schedule.Migrate(ctx, pool)
	for _, l := range lines {
		applied(l)
	}
	return err
}

func runMigrate(ctx context.Context, e *env, _ []string) error {
	if e.store.sqlDir != "" {
		return e.writeMigrationSQL(e.store.sqlDir)
	}
	s, err := e.openStatusStore(ctx, "migrate")
	if err != nil {
		return err
	}
	defer s.Close()
	return migrateAll(ctx, s.Pool(), func(m string) { fmt.Fprintln(e.stdout, m) })
}

func statusesFlags(fs *flag.FlagSet, e *env) {
	databaseFlags(fs, e)
	fs.StringVar(&e.store.as, "as", "", "the backend user (GUID, Supabase auth.users.id) whose view to print; required")
	fs.StringVar(&e.store.status, "status", "", "only certifications of this status: valid, expiring, expired or inactive")
	fs.StringVar(&e.store.chapter, "chapter", "", "only mentors with a current assignment in this chapter (GUID)")
}

// runStatuses prints what one backend user may see of the status store,
// as the database's access rules decide, one JSON object per line.
func runStatuses(ctx context.Context, e *env, _ []string) error {
	if e.store.as == "" {
		return usageError{"statuses needs --as USER_ID"}
	}
	if !ports.IsID(e.store.as) {
		return usageError{fmt.Sprintf("--as %q: want the user's GUID", e.store.as)}
	}
	f := postgres.Filter{Status: e.store.status, ChapterID: e.store.chapter}
	if err := f.Validate(); err != nil {
		return err
	}
	s, err := e.openStatusStore(ctx, "statuses")
	if err != nil {
		return err
	}
	defer s.Close()
	if err := postgres.CheckMigrated(ctx, s.Pool()); err != nil {
		return err
	}
	rows, err := s.StatusesFor(ctx, e.store.as, f)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(e.stdout)
	enc := json.NewEncoder(out)
	for i := range rows {
		if err := enc.Encode(&rows[i]); err != nil {
			return err
		}
	}
	return out.Flush()
}
