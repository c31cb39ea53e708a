package pgcluster

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The roles of a Supabase project, as Supabase's own init scripts make
// them (github.com/supabase/postgres): supabase_admin is the superuser;
// postgres, the role a project's owner connects as and runs migrations
// with, is not one.
const (
	// SupabaseOwner is the project owner of the Supabase shape.
	SupabaseOwner = "postgres"
	// supabaseSuperuser is the Supabase shape's superuser.
	supabaseSuperuser = "supabase_admin"
)

// superuser is the name of the superuser of a shape's cluster.
func superuser(shape Shape) string {
	if shape == Supabase {
		return supabaseSuperuser
	}
	return "postgres"
}

// OwnerClause is what create database adds to give a database of the
// shape to its owner.
func OwnerClause(shape Shape) string {
	if shape == Supabase {
		return " owner " + SupabaseOwner
	}
	return ""
}

// OwnerURL is the URL of a database of the shape as its owner, from the
// superuser's.
func OwnerURL(shape Shape, u string) string {
	if shape == Supabase {
		return AsRole(u, SupabaseOwner)
	}
	return u
}

// AsRole returns u with its user replaced by role, keeping the password: in
// a throwaway cluster, every role that may log in has the superuser's
// password.
func AsRole(u, role string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	pw, _ := p.User.Password()
	p.User = url.UserPassword(role, pw)
	return p.String()
}

// Superuser returns the URL of the same database as u, a database of the
// given shape, as its server's superuser.
func Superuser(shape Shape, u string) string { return AsRole(u, superuser(shape)) }

// cronLibrary returns the path pg_cron's library would have beside the
// server binaries in bin.
func cronLibrary(bin string) string {
	if real, err := filepath.EvalSymlinks(filepath.Join(bin, "postgres")); err == nil {
		bin = filepath.Dir(real)
	}
	return filepath.Join(bin, "..", "lib", "pg_cron.so")
}

// supabaseServerArgs are the server settings of the Supabase shape: pg_cron
// preloaded when it is installed, running its jobs in background workers
// (no connection, so no password) in the database postgres.
func supabaseServerArgs(bin string) []string {
	if _, err := os.Stat(cronLibrary(bin)); err != nil {
		return nil
	}
	return []string{"-c", "shared_preload_libraries=pg_cron", "-c", "cron.database_name=postgres",
		"-c", "cron.use_background_workers=on", "-c", "max_worker_processes=32", "-c", "cron.max_running_jobs=8"}
}

// setUpSupabaseServer creates the Supabase shape's roles, once per cluster,
// and pg_cron when the server preloads it.
func setUpSupabaseServer(adminURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The cluster's password is hex digits (startCluster), safe in a literal.
	literal := "'" + Password(adminURL) + "'"
	for _, stmt := range []string{
		"create role " + SupabaseOwner + " login createrole createdb replication bypassrls password " + literal,
		"create role anon nologin noinherit",
		"create role authenticated nologin noinherit",
		"create role service_role nologin noinherit bypassrls",
		"create role authenticator login noinherit password " + literal,
		"grant anon, authenticated, service_role to authenticator",
		"grant anon, authenticated, service_role to " + SupabaseOwner,
		"create role supabase_auth_admin nologin noinherit createrole",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(strings.Fields(stmt)[:3], " "), err)
		}
	}
	var preloaded bool
	if err := conn.QueryRow(ctx, "select current_setting('shared_preload_libraries') like '%pg_cron%'").Scan(&preloaded); err != nil {
		return err
	}
	if preloaded {
		// As on Supabase: pg_cron in the database postgres, usable by
		// the project owner.
		if _, err := conn.Exec(ctx, "create extension pg_cron; grant usage on schema cron to "+SupabaseOwner+
			"; grant all on all tables in schema cron to "+SupabaseOwner+
			"; grant all on all functions in schema cron to "+SupabaseOwner); err != nil {
			return fmt.Errorf("create extension pg_cron: %w", err)
		}
	}
	return nil
}

// SetUpDatabase gives a new database of the shape what it needs before
// any migration: nothing for Plain; for Supabase, see setUpSupabaseDatabase.
func SetUpDatabase(ctx context.Context, shape Shape, adminURL string) error {
	if shape != Supabase {
		return nil
	}
	return setUpSupabaseDatabase(ctx, adminURL)
}

// setUpSupabaseDatabase gives a new database, as its superuser, what a
// Supabase project's database has before any migration of its own: the
// schema auth with Supabase's auth.uid(), owned by supabase_auth_admin,
// graphql_public, and the default privileges that expose everything the
// owner creates in public.
func setUpSupabaseDatabase(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
create schema auth authorization supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role, `+SupabaseOwner+`;
create function auth.uid() returns uuid
  language sql stable
  set search_path = ''
  as $$
    select coalesce(
      nullif(current_setting('request.jwt.claim.sub', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
  $$;
alter function auth.uid() owner to supabase_auth_admin;
grant execute on function auth.uid() to anon, authenticated, service_role, `+SupabaseOwner+`;

create schema graphql_public;
grant usage on schema public, graphql_public to anon, authenticated, service_role;

alter default privileges for role `+SupabaseOwner+` in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role `+SupabaseOwner+` in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges for role `+SupabaseOwner+` in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role `+SupabaseOwner+` in schema graphql_public grant all on tables to anon, authenticated, service_role;
alter default privileges for role `+SupabaseOwner+` in schema graphql_public grant all on functions to anon, authenticated, service_role;
`)
	return err
}
