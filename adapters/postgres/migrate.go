package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/hlf/dynamicsportal/ports"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var embedded embed.FS

// PrivateSchema is the schema of the module's own bookkeeping: goose's
// history of the store's migrations here, River's tables and functions in
// package schedule. Migrate creates it with no privilege for anyone but its
// owner, so that neither anon nor authenticated (nor Supabase's Data API,
// which serves public) can reach what it holds.
const PrivateSchema = "portal_private"

// migrationsTable is goose's version table, in the private schema and named
// so it does not clash with a host's own goose migrations.
const migrationsTable = PrivateSchema + ".portal_migrations"

// MigrationLock is the key of the transaction-level advisory lock that
// keeps replicas starting together from migrating at once: the store's
// migrations and River's (package schedule) take the same, since both
// change the private schema.
const MigrationLock = 0x706f7274616c00 // "portal\0"

// secondConnTimeout bounds the wait for a second connection while the
// migration lock is held.
const secondConnTimeout = 5 * time.Second

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
// of those it applied (none when the database is current).
//
// It first creates PrivateSchema and moves goose's history table there
// from public, where releases before it kept it. Replicas that start
// together wait for each other on an advisory lock held by a transaction
// of its own, so Migrate works through a pooler in transaction mode too.
// The pool needs room for two connections.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	var names []string
	err := WithMigrationLock(ctx, pool, MigrationLock, func() error {
		if err := EnsurePrivateSchema(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `do $$
begin
  if pg_catalog.to_regclass('public.portal_migrations') is not null
     and pg_catalog.to_regclass('portal_private.portal_migrations') is null then
    alter table public.portal_migrations set schema portal_private;
  end if;
end
$$`)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, RevokeMoved)
			return err
		}); err != nil {
			return err
		}
		p, err := provider(pool)
		if err != nil {
			return err
		}
		defer p.Close()
		results, err := p.Up(ctx)
		for _, r := range results {
			names = append(names, r.Source.Path)
		}
		return err
	})
	if err != nil {
		return names, dbError("migrate", err, "")
	}
	return names, nil
}

// provider returns goose's provider of the store's migrations on pool;
// closing it leaves the pool open.
func provider(pool *pgxpool.Pool) (*goose.Provider, error) {
	db := stdlib.OpenDBFromPool(pool)
	return goose.NewProvider(goose.DialectPostgres, db, Migrations(),
		goose.WithTableName(migrationsTable), goose.WithDisableGlobalRegistry(true))
}

// WithMigrationLock runs fn while a transaction of its own, on a connection
// of pool, holds the transaction-level advisory lock key: fn runs alone
// among the callers that use the same key, on a direct connection or
// through a pooler in transaction mode (which keeps a transaction on one
// server connection). fn uses other connections of the pool.
func WithMigrationLock(ctx context.Context, pool *pgxpool.Pool, key int64, fn func() error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, "select pg_catalog.pg_advisory_xact_lock($1)", key); err != nil {
		return err
	}
	// fn needs a second server connection while the lock's is held. A
	// pooler that has only one for this client would hang it.
	pctx, cancel := context.WithTimeout(ctx, secondConnTimeout)
	_, err = pool.Exec(pctx, "select 1")
	cancel()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("no second database connection within %s while the migration lock is held (a pooler in transaction mode "+
			"with one server connection?): run migrate on a session connection, such as Supabase's direct connection (port 5432): %w",
			secondConnTimeout, err)
	}
	if err := fn(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// EnsurePrivateSchema creates PrivateSchema when it is missing, closed to
// everyone but its owner, and runs move in the same transaction: Migrate
// moves goose's history into it there, package schedule River's tables.
func EnsurePrivateSchema(ctx context.Context, pool *pgxpool.Pool, move func(context.Context, pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "create schema if not exists "+PrivateSchema+"; revoke all on schema "+PrivateSchema+" from public"); err != nil {
			return err
		}
		return move(ctx, tx)
	})
}

// RevokeMoved is SQL that takes back, from anon, authenticated and service_role where
// they exist, every privilege on the tables, sequences and functions of
// the private schema: what Supabase's default privileges in public gave
// them before the move.
const RevokeMoved = `do $$
declare
  r text;
begin
  for r in select rolname from pg_catalog.pg_roles where rolname in ('anon', 'authenticated', 'service_role') loop
    execute pg_catalog.format('revoke all on all tables in schema portal_private from %I', r);
    execute pg_catalog.format('revoke all on all sequences in schema portal_private from %I', r);
    execute pg_catalog.format('revoke all on all functions in schema portal_private from %I', r);
  end loop;
end
$$`

// errNotMigrated is CheckMigrated's error for a database that lacks some of
// the store's migrations.
var errNotMigrated = fmt.Errorf("%w: the status store's migrations are not all applied (run portalsync migrate, or postgres.Migrate)", ports.ErrNotMigrated)

// CheckMigrated returns an error wrapping ports.ErrNotMigrated when the database
// lacks some of the store's migrations, so a pass does not start on a
// database it cannot write.
func CheckMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, "select pg_catalog.to_regclass($1) is not null", migrationsTable).Scan(&exists); err != nil {
		return dbError("check migrations", err, "")
	}
	if !exists {
		return errNotMigrated
	}
	p, err := provider(pool)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	defer p.Close()
	pending, err := p.HasPending(ctx)
	if err != nil {
		return dbError("check migrations", err, "")
	}
	if pending {
		return errNotMigrated
	}
	return nil
}

// SQLFile is one migration as plain SQL, for a team that applies its
// schema with its own tool (the Supabase CLI, say): Name is the
// migration's ("portal_00001_supabase_roles_and_auth_uid"), SQL its whole
// up step, ready to run in one transaction.
type SQLFile struct {
	Name string
	SQL  string
}

// SQLFiles returns what Migrate would apply to a new database, as plain
// SQL, in order: first the private schema with goose's history table, then
// each of the store's migrations. Each file records itself in the history
// as goose does, so Migrate and CheckMigrated find the database current
// afterwards; each refuses to run, before changing anything, when it was
// applied already.
func SQLFiles() ([]SQLFile, error) {
	files := []SQLFile{{Name: "portal_private_schema", SQL: `-- The module's private schema, open to its owner only, and the history of
-- the status store's migrations as goose keeps it. Fails when the schema
-- exists: the module is installed already.
create schema ` + PrivateSchema + `;
revoke all on schema ` + PrivateSchema + ` from public;
create table ` + migrationsTable + ` (
  id integer primary key generated by default as identity,
  version_id bigint not null,
  is_applied boolean not null,
  tstamp timestamp not null default now()
);
insert into ` + migrationsTable + ` (version_id, is_applied) values (0, true);
`}}
	entries, err := fs.ReadDir(Migrations(), ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(Migrations(), e.Name())
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(e.Name(), ".sql")
		v, err := strconv.Atoi(name[:strings.IndexByte(name, '_')])
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version: %w", e.Name(), err)
		}
		up, _, ok := strings.Cut(string(b), "-- +goose Down")
		if !ok {
			return nil, fmt.Errorf("migration %s has no down step", e.Name())
		}
		up = strings.Replace(up, "-- +goose Up\n", fmt.Sprintf(`-- Refused when applied already.
do $guard$
begin
  if exists (select from %s where version_id = %d) then
    raise exception 'portal migration %s is applied already' using errcode = '42710';
  end if;
end
$guard$;
`, migrationsTable, v, name), 1)
		files = append(files, SQLFile{Name: "portal_" + name, SQL: strings.TrimRight(up, "\n") + fmt.Sprintf(`

insert into %s (version_id, is_applied) values (%d, true);
`, migrationsTable, v)})
	}
	return files, nil
}
