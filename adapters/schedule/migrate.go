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

	"github.com/hlf/dynamicsportal/adapters/postgres"
)

// Schema is the schema of River's tables and functions: the module's
// private schema, which anon and authenticated may not use, never public
// (which Supabase's Data API serves, with default grants to anon).
const Schema = postgres.PrivateSchema

// Migrate applies River's migrations that the database lacks, in Schema,
// each in its own transaction (as River requires), while a transaction of
// its own holds an advisory lock, and returns a line per migration applied
// ("river 006 bulk_unique"). Then, when the status store's schema portal
// exists, it creates portal.enqueue_sync() (see SQLFiles) or replaces it
// with the current definition. It is safe to call from every replica at
// startup, and through a pooler in transaction mode. The pool needs room
// for two connections.
//
// A database migrated by a release that kept River's tables in public has
// them moved into Schema first, jobs and history included, in one
// transaction. Moving is refused when public's river_job holds jobs of
// other kinds: that River is not this module's alone.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	m, err := migrator(pool)
	if err != nil {
		return nil, err
	}
	var lines []string
	err = postgres.WithMigrationLock(ctx, pool, postgres.MigrationLock, func() error {
		if err := postgres.EnsurePrivateSchema(ctx, pool, moveFromPublic); err != nil {
			return err
		}
		res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err != nil {
			return err
		}
		for _, v := range res.Versions {
			lines = append(lines, fmt.Sprintf("river %03d %s", v.Version, v.Name))
		}
		if _, err := pool.Exec(ctx, fixups); err != nil {
			return err
		}
		// The function lives in the status store's schema: a database
		// with River's tables alone has no portal schema to put it in.
		var store bool
		if err := pool.QueryRow(ctx, "select pg_catalog.to_regnamespace('portal') is not null").Scan(&store); err != nil || !store {
			return err
		}
		_, err = pool.Exec(ctx, enqueueFunction())
		return err
	})
	if err != nil {
		return lines, postgres.DatabaseError("river migrations", err)
	}
	return lines, nil
}

// fixups is what follows River's migrations: functions are executable by
// PUBLIC when created, and nobody but the owner needs River's; and a fixed
// search_path on each, as on every function of the module (Supabase's
// advisor lints it).
const fixups = `revoke all on all functions in schema ` + Schema + ` from public;
do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid from pg_catalog.pg_proc p
     where p.pronamespace = '` + Schema + `'::regnamespace
       and not exists (select from unnest(coalesce(p.proconfig, '{}')) c where c like 'search\_path=%')
  loop
    execute pg_catalog.format('alter function %s set search_path = ''''', f);
  end loop;
end
$$;
`

// SQLFiles returns River's migrations as plain SQL in Schema, in order,
// each recording its version as River's migrator does and followed by what
// Migrate does after them, so that CheckMigrated and Migrate find the
// database current afterwards. Each refuses to run, before changing
// anything, when its version was applied already. The last file creates
// portal.enqueue_sync() (or replaces it with the same definition).
func SQLFiles() ([]postgres.SQLFile, error) {
	m, err := migrator(nil)
	if err != nil {
		return nil, err
	}
	var files []postgres.SQLFile
	for _, v := range m.AllVersions() {
		// The first creates River's version table; the others find it.
		applied := fmt.Sprintf("exists (select from %s.river_migration where version = %d)", Schema, v.Version)
		if v.Version == 1 {
			applied = fmt.Sprintf("pg_catalog.to_regclass('%s.river_migration') is not null", Schema)
		}
		// River records versions without a line before its version 5.
		record := fmt.Sprintf("insert into %s.river_migration (line, version) values ('main', %d);", Schema, v.Version)
		if v.Version < 5 {
			record = fmt.Sprintf("insert into %s.river_migration (version) values (%d);", Schema, v.Version)
		}
		files = append(files, postgres.SQLFile{
			Name: fmt.Sprintf("river_%03d_%s", v.Version, strings.ReplaceAll(v.Name, " ", "_")),
			SQL: fmt.Sprintf(`-- River's migration %03d (%s), in schema %s.
do $guard$
begin
  if %s then
    raise exception 'river migration %03d is applied already' using errcode = '42710';
  end if;
end
$guard$;

%s

%s

%s`, v.Version, v.Name, Schema, applied, v.Version,
				strings.TrimSpace(strings.ReplaceAll(v.SQLUp, "/* TEMPLATE: schema */", Schema+".")), record, fixups),
		})
	}
	files = append(files, postgres.SQLFile{
		Name: "river_enqueue_sync",
		SQL: fmt.Sprintf(`-- portal.enqueue_sync(): one sync job for River, from SQL (pg_cron).
do $guard$
begin
  if pg_catalog.obj_description(pg_catalog.to_regprocedure('portal.enqueue_sync()'), 'pg_proc') = '%s' then
    raise exception 'portal.enqueue_sync() is the scheduler''s already' using errcode = '42710';
  end if;
end
$guard$;

%s`, enqueueComment, enqueueFunction()),
	})
	return files, nil
}

// moveFromPublic moves River's tables (their indexes, constraints and
// sequences go with them), types and functions from public into Schema,
// when public has River's migration table and Schema has none.
func moveFromPublic(ctx context.Context, tx pgx.Tx) error {
	var inPublic, foreign bool
	err := tx.QueryRow(ctx, `select pg_catalog.to_regclass('public.river_migration') is not null
	   and pg_catalog.to_regclass('`+Schema+`.river_migration') is null`).Scan(&inPublic)
	if err != nil || !inPublic {
		return err
	}
	if err := tx.QueryRow(ctx, `select pg_catalog.to_regclass('public.river_job') is not null
	   and exists (select from public.river_job where kind <> $1)`, Kind).Scan(&foreign); err != nil {
		return err
	}
	if foreign {
		return fmt.Errorf("the River tables in schema public hold jobs of kinds other than %s, so they are not this module's alone "+
			"and are left in place; move this module's %s jobs yourself, or run it on another database", Kind, Kind)
	}
	_, err = tx.Exec(ctx, `do $$
declare
  o record;
begin
  -- Functions first: their signatures name River's type by where it is.
  for o in
    select * from (
      select 1 as ord, 'function' as what, p.oid::pg_catalog.regprocedure::text as name
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'public' and p.proname like 'river\_%'
      union all
      select 2, 'type', pg_catalog.format('%I.%I', n.nspname, t.typname)
        from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
       where n.nspname = 'public' and t.typtype = 'e' and t.typname like 'river\_%'
      union all
      select 3, 'table', pg_catalog.format('%I.%I', n.nspname, c.relname)
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname like 'river\_%'
      union all
      select 4, 'sequence', pg_catalog.format('%I.%I', n.nspname, c.relname)
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'S' and c.relname like 'river\_%'
         and not exists (select from pg_catalog.pg_depend d
                          where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i'))
    ) objects
    order by ord
  loop
    execute pg_catalog.format('alter %s %s set schema `+Schema+`', o.what, o.name);
  end loop;
end
$$`)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, postgres.RevokeMoved)
	return err
}

// CheckMigrated returns an error wrapping ports.ErrNotMigrated when River's
// migrations are not all applied in Schema.
func CheckMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := migrator(pool)
	if err != nil {
		return err
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return postgres.DatabaseError("river migrations", err)
	}
	if !res.OK {
		return fmt.Errorf("%w (%s)", errNotMigrated, strings.Join(res.Messages, "; "))
	}
	return nil
}

func migrator(pool *pgxpool.Pool) (*rivermigrate.Migrator[pgx.Tx], error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: Schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	return m, nil
}
