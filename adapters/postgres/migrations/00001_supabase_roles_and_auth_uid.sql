-- Supabase compatibility: the roles and the auth.uid() function that
-- Supabase provides, created only when missing, so the same migrations run
-- on Supabase and on plain PostgreSQL 15+.
--
-- On plain PostgreSQL the roles cannot log in (nologin); a backend reaches
-- them with set_config('role', …, true) inside a transaction, which needs
-- the migrating role to be a member of them (granted below).

-- +goose Up
-- +goose StatementBegin
do $$
declare
  r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = r) then
      execute pg_catalog.format('create role %I nologin noinherit', r);
    end if;
    if not pg_catalog.pg_has_role(current_user, r, 'member') then
      execute pg_catalog.format('grant %I to %I', r, current_user);
    end if;
  end loop;
end
$$;
-- +goose StatementEnd

-- +goose StatementBegin
do $$
begin
  if not exists (select from pg_catalog.pg_namespace where nspname = 'auth') then
    create schema auth;
  end if;
  -- As Supabase defines it: the subject of the request's JWT claims, or
  -- null when there are none.
  if pg_catalog.to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
      language sql stable
      as $f$
        select nullif(
          coalesce(
            pg_catalog.current_setting('request.jwt.claim.sub', true),
            (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
          ), '')::uuid
      $f$;
    grant usage on schema auth to anon, authenticated, service_role;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;
end
$$;
-- +goose StatementEnd

-- +goose Down
-- Roles and auth.uid() may be Supabase's own or shared with other
-- applications: they are left in place.
select 1;
