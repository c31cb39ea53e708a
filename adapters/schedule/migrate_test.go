package schedule_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/adapters/schedule"
	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// empty is a database before any migration: on the Supabase shape, what a
// new project has.
var empty = pgtest.Template{Name: "sched_empty", Prepare: func(context.Context, string) error { return nil }}

// rightsQuery lists, for anon, authenticated and service_role, every
// right each has on every schema, relation, sequence and function outside
// PostgreSQL's own schemas: "role kind name privilege". A right on an
// object counts only with USAGE on its schema, as it does for a caller.
const rightsQuery = `
with objects (kind, name, schema_oid, oid) as (
  select 'schema', n.nspname::text, n.oid, n.oid from pg_namespace n
  union all
  select case c.relkind when 'S' then 'sequence' else 'table' end, format('%I.%I', n.nspname, c.relname), n.oid, c.oid
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
  union all
  select 'function', p.oid::regprocedure::text, p.pronamespace, p.oid from pg_proc p
), mine as (
  select * from objects o
   where (select nspname from pg_namespace where oid = o.schema_oid) not in ('pg_catalog', 'information_schema')
     and (select nspname from pg_namespace where oid = o.schema_oid) not like 'pg\_toast%'
     and (select nspname from pg_namespace where oid = o.schema_oid) not like 'pg\_temp%'
), privileges (kind, privilege) as (
  values ('schema', 'USAGE'), ('schema', 'CREATE'),
         ('table', 'SELECT'), ('table', 'INSERT'), ('table', 'UPDATE'), ('table', 'DELETE'),
         ('table', 'TRUNCATE'), ('table', 'REFERENCES'), ('table', 'TRIGGER'),
         ('sequence', 'USAGE'), ('sequence', 'SELECT'), ('sequence', 'UPDATE'),
         ('function', 'EXECUTE')
)
select r.role || ' ' || m.kind || ' ' || m.name || ' ' || p.privilege
  from mine m
  join privileges p using (kind)
  cross join (values ('anon'), ('authenticated'), ('service_role')) r (role)
 where case m.kind
         when 'schema' then has_schema_privilege(r.role, m.oid, p.privilege)
         else has_schema_privilege(r.role, m.schema_oid, 'USAGE') and case m.kind
           when 'table' then has_table_privilege(r.role, m.oid, p.privilege)
           when 'sequence' then has_sequence_privilege(r.role, m.oid, p.privilege)
           else has_function_privilege(r.role, m.oid, p.privilege) end
       end`

// objectsQuery names every schema, relation, sequence and function outside
// PostgreSQL's own schemas.
const objectsQuery = `
select 'schema ' || nspname from pg_namespace where nspname not in ('pg_catalog', 'information_schema') and nspname not like 'pg\_%'
union all
select 'relation ' || format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\_%'
union all
select 'function ' || p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\_%'`

func lines(t *testing.T, url, sql string) map[string]bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Every name qualified by its schema.
	if _, err := conn.Exec(t.Context(), "set search_path = ''"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range got {
		out[l] = true
	}
	return out
}

// minus returns the keys of a that b lacks, sorted.
func minus(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// The access contract of status-store.md, checked on everything the
// module's migrations create, read from the catalog: what a migrated
// database has that a new one of the same shape lacks. anon gets nothing,
// authenticated only the status function, service_role what the design
// page says; River's tables and goose's history are no one's. The schema
// auth and its auth.uid(), which the migrations make on plain PostgreSQL
// as Supabase has them, are Supabase's, not the module's, and left out.
func TestMigrationsGrantExactlyTheDesignedRights(t *testing.T) {
	before, after := pgtest.Database(t, empty), pgtest.Database(t, riverTemplate)
	created := minus(lines(t, after, objectsQuery), lines(t, before, objectsQuery))
	var mine []string
	for _, o := range created {
		if !strings.HasPrefix(o, "schema auth") && !strings.HasPrefix(o, "function auth.") {
			mine = append(mine, o)
		}
	}
	// The catalog read is the list: a sanity check that it found the
	// module's parts, River's among them.
	for _, want := range []string{"schema portal", "schema portal_private", "relation portal.certifications",
		"relation portal_private.river_job", "relation portal_private.portal_migrations",
		"function public.portal_certification_statuses(text,uuid)", "function portal.enqueue_sync()"} {
		if !slices.Contains(mine, want) {
			t.Errorf("the module's objects lack %q: %q", want, mine)
		}
	}
	isMine := map[string]bool{}
	for _, o := range mine {
		kind, name, _ := strings.Cut(o, " ")
		isMine[kind+" "+name] = true
	}
	var got []string
	for r := range lines(t, after, rightsQuery) {
		f := strings.Fields(r) // role kind name privilege
		kind := f[1]
		if kind == "table" || kind == "sequence" {
			kind = "relation"
		}
		if isMine[kind+" "+f[2]] {
			got = append(got, r)
		}
	}
	slices.Sort(got)
	want := []string{
		"authenticated function public.portal_certification_statuses(text,uuid) EXECUTE",
		"service_role function portal.enqueue_sync() EXECUTE",
		"service_role function public.portal_certification_statuses(text,uuid) EXECUTE",
		"service_role schema portal USAGE",
		"service_role table portal.assignments SELECT",
		"service_role table portal.certifications SELECT",
		"service_role table portal.chapter_admins DELETE",
		"service_role table portal.chapter_admins INSERT",
		"service_role table portal.chapter_admins SELECT",
		"service_role table portal.chapter_admins UPDATE",
		"service_role table portal.people DELETE",
		"service_role table portal.people INSERT",
		"service_role table portal.people SELECT",
		"service_role table portal.people UPDATE",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rights on the module's objects (%s):\n%s\nwant\n%s\nextra: %q\nmissing: %q", pgtest.Current(),
			strings.Join(got, "\n"), strings.Join(want, "\n"), minus(set(got), set(want)), minus(set(want), set(got)))
	}
}

func set(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

// What Supabase's Security Advisor (splinter) lints, checked on a migrated
// database: no table without row-level security in an exposed schema
// (public, graphql_public), a fixed search_path on every function outside
// auth (Supabase's), no security-definer function anon may execute, no
// security-definer view, no extension in public.
func TestMigrationsPassTheSecurityAdvisorsLints(t *testing.T) {
	u := pgtest.Database(t, riverTemplate)
	for name, sql := range map[string]string{
		"tables without RLS in an exposed schema": `select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
			where n.nspname in ('public', 'graphql_public') and c.relkind in ('r', 'p') and not c.relrowsecurity`,
		"functions with a mutable search_path": `select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
			where n.nspname not in ('pg_catalog', 'information_schema', 'auth', 'cron') and n.nspname not like 'pg\_%'
			  and not exists (select from unnest(coalesce(p.proconfig, '{}')) c where c like 'search\_path=%')`,
		"security-definer functions anon may execute": `select p.oid::regprocedure::text from pg_proc p
			where p.prosecdef and has_function_privilege('anon', p.oid, 'EXECUTE') and has_schema_privilege('anon', p.pronamespace, 'USAGE')`,
		"security-definer views": `select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
			where c.relkind = 'v' and n.nspname in ('public', 'graphql_public')
			  and not coalesce(c.reloptions @> array['security_invoker=true'], false)`,
		"extensions in public": `select extname::text from pg_extension where extnamespace = 'public'::regnamespace`,
	} {
		if found := slices.Sorted(maps.Keys(lines(t, u, sql))); len(found) != 0 {
			t.Errorf("%s (%s): %q", name, pgtest.Current(), found)
		}
	}
}

// Replicas that start together migrate one at a time: the store's
// migrations and River's, run at once from four replicas on a new
// database, all succeed, and each migration is applied once.
func TestReplicasMigrateTogether(t *testing.T) {
	url := pgtest.Database(t, empty)
	errs := make(chan error, 4)
	applied := make(chan int, 4)
	for range 4 {
		go func() {
			pool, err := pgxpool.New(context.Background(), url)
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			store, err := postgres.Migrate(context.Background(), pool)
			if err != nil {
				errs <- err
				return
			}
			river, err := schedule.Migrate(context.Background(), pool)
			applied <- len(store) + len(river)
			errs <- err
		}()
	}
	total := 0
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("a replica's migrate: %v", err)
		}
	}
	close(applied)
	for n := range applied {
		total += n
	}
	files, err := schedule.SQLFiles()
	if err != nil {
		t.Fatal(err)
	}
	store, err := postgres.SQLFiles()
	if err != nil {
		t.Fatal(err)
	}
	// Less the private schema's file and the enqueue function's, which
	// migrate applies without a line of its own.
	if want := len(files) + len(store) - 2; total != want {
		t.Errorf("the replicas applied %d migrations in all, want each of the %d once", total, want)
	}
}

// The grants, exercised as each role on the migrated database (on the
// Supabase shape, where default privileges would grant anon everything in
// public): anon may execute neither the status function nor
// portal.enqueue_sync(); service_role may execute enqueue_sync, as its
// comment promises; authenticated may not.
func TestTheFunctionsGrants(t *testing.T) {
	pool := riverPool(t)
	for _, tc := range []struct {
		role, call string
		allowed    bool
	}{
		{"anon", "select * from public.portal_certification_statuses()", false},
		{"anon", "select * from portal.enqueue_sync()", false},
		{"authenticated", "select * from portal.enqueue_sync()", false},
		{"authenticated", "select * from public.portal_certification_statuses()", true},
		{"service_role", "select * from portal.enqueue_sync()", true},
		{"service_role", "select * from public.portal_certification_statuses()", true},
	} {
		t.Run(tc.role+" "+tc.call, func(t *testing.T) {
			tx, err := pool.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(t.Context(), "select set_config('role', $1, true)", tc.role); err != nil {
				t.Fatal(err)
			}
			_, err = tx.Exec(t.Context(), tc.call)
			var pgErr *pgconn.PgError
			denied := errors.As(err, &pgErr) && pgErr.Code == "42501"
			if tc.allowed && err != nil || !tc.allowed && !denied {
				t.Errorf("as %s: %v; want allowed=%v (denied is 42501)", tc.role, err, tc.allowed)
			}
		})
	}
}
