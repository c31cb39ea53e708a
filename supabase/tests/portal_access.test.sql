-- The access contract of the status store (github.com/hlf/dynamicsportal,
-- README "The status store" and "Running on Supabase"), checked from
-- inside the database with pgTAP, after the team's own migrations:
--   supabase test db
--   pg_prove -d "$DATABASE_URL" supabase/tests/portal_access.test.sql
-- It assumes only what Supabase provides (the roles anon, authenticated and
-- service_role, auth.uid(), the pgTAP extension) and the module's
-- migrations. Its fixtures live in its own transaction, rolled back at the
-- end: it leaves nothing behind.
begin;
create extension if not exists pgtap;
select plan(14);

-- What the module created: its schemas, their relations and functions,
-- and the one function in public.
create temporary table module_objects as
  select 'schema' as kind, n.nspname::text as name, n.oid as oid, n.oid as schema_oid
    from pg_catalog.pg_namespace n where n.nspname in ('portal', 'portal_private')
  union all
  select case c.relkind when 'S' then 'sequence' else 'table' end, n.nspname || '.' || c.relname, c.oid, n.oid
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where n.nspname in ('portal', 'portal_private') and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
  union all
  select 'function', n.nspname || '.' || p.proname, p.oid, n.oid
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('portal', 'portal_private')
      or p.oid = 'public.portal_certification_statuses(text, uuid)'::regprocedure;

-- rights(role): what role may do with the module's objects, schema USAGE
-- counted as a caller needs it.
create function pg_temp.rights(r text) returns setof text language sql as $$
  select o.kind || ' ' || o.name
    from module_objects o
   where case o.kind
           when 'schema' then pg_catalog.has_schema_privilege(r, o.oid, 'USAGE, CREATE')
           else pg_catalog.has_schema_privilege(r, o.schema_oid, 'USAGE') and case o.kind
             when 'table' then pg_catalog.has_table_privilege(r, o.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
             when 'sequence' then pg_catalog.has_sequence_privilege(r, o.oid, 'USAGE, SELECT, UPDATE')
             else pg_catalog.has_function_privilege(r, o.oid, 'EXECUTE') end
         end
$$;

select ok((select count(*) from module_objects where kind = 'table') >= 6, 'the module''s tables are found');
select is_empty($$ select * from pg_temp.rights('anon') $$,
  'anon reaches nothing of the module: no schema, table, sequence or function');
select set_eq($$ select * from pg_temp.rights('authenticated') $$,
  array['function public.portal_certification_statuses'],
  'authenticated may only execute public.portal_certification_statuses');
select is_empty($$
  select o.name from module_objects o join pg_catalog.pg_proc p on p.oid = o.oid
   where not exists (select from unnest(coalesce(p.proconfig, '{}')) c where c like 'search\_path=%') $$,
  'every function of the module has a fixed search_path');
select ok((select prosecdef from pg_catalog.pg_proc where oid = 'public.portal_certification_statuses(text, uuid)'::regprocedure),
  'the status function is security definer');
select ok((select prosecdef from pg_catalog.pg_proc where oid = 'portal.enqueue_sync()'::regprocedure),
  'portal.enqueue_sync() is security definer');
select is_empty($$
  select p.oid::regprocedure::text from pg_catalog.pg_proc p
   where p.prosecdef and pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE')
     and pg_catalog.has_schema_privilege('anon', p.pronamespace, 'USAGE') $$,
  'no security-definer function is executable by anon');
select is_empty($$
  select c.relname from pg_catalog.pg_class c
   where c.relnamespace = 'portal'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity $$,
  'row-level security is on for every portal table');

-- The visibility rules, on fixtures of this transaction. Today is the
-- date in UTC, as the status function takes it.
create temporary table fixture_day as select (pg_catalog.now() at time zone 'UTC')::date as today;
insert into portal.people (user_id, contact_id) values
  ('a1a1a1a1-0000-4000-8000-000000000001', 'c0c0c0c0-0000-4000-8000-0000000000a1'), -- a mentor, M1
  ('a1a1a1a1-0000-4000-8000-000000000002', 'c0c0c0c0-0000-4000-8000-0000000000c1'), -- a coordinator, C1
  ('a1a1a1a1-0000-4000-8000-000000000004', 'c0c0c0c0-0000-4000-8000-0000000000ff'); -- a stranger
insert into portal.chapter_admins (user_id, chapter_id) values
  ('a1a1a1a1-0000-4000-8000-000000000003', 'b0b0b0b0-0000-4000-8000-0000000000b1'); -- admin of chapter K1
insert into portal.certifications (id, mentor_id, name, active, status, synced_at) values
  ('e0e0e0e0-0000-4000-8000-000000000011', 'c0c0c0c0-0000-4000-8000-0000000000a1', 'm1 first',  true, 'valid', now()),
  ('e0e0e0e0-0000-4000-8000-000000000012', 'c0c0c0c0-0000-4000-8000-0000000000a1', 'm1 second', true, 'expired', now()),
  ('e0e0e0e0-0000-4000-8000-000000000021', 'c0c0c0c0-0000-4000-8000-0000000000a2', 'm2 ends today', true, 'valid', now()),
  ('e0e0e0e0-0000-4000-8000-000000000031', 'c0c0c0c0-0000-4000-8000-0000000000a3', 'm3 ended yesterday', true, 'valid', now()),
  ('e0e0e0e0-0000-4000-8000-000000000041', 'c0c0c0c0-0000-4000-8000-0000000000a4', 'm4 starts today', true, 'valid', now()),
  ('e0e0e0e0-0000-4000-8000-000000000051', 'c0c0c0c0-0000-4000-8000-0000000000a5', 'm5 starts tomorrow', true, 'valid', now()),
  ('e0e0e0e0-0000-4000-8000-000000000061', 'c0c0c0c0-0000-4000-8000-0000000000a6', 'm6 inactive', true, 'valid', now()),
  ('e0e0e0e0-0000-4000-8000-000000000071', 'c0c0c0c0-0000-4000-8000-0000000000a7', 'm7 in K1', true, 'expiring', now()),
  ('e0e0e0e0-0000-4000-8000-000000000081', 'c0c0c0c0-0000-4000-8000-0000000000a8', 'm8 in K2', true, 'valid', now());
insert into portal.assignments (id, mentor_id, coordinator_id, chapter_id, starts_on, ends_on, active, synced_at)
select gen_random_uuid(), m::uuid, c::uuid, k::uuid, s, e, a, now() from fixture_day, (values
  ('c0c0c0c0-0000-4000-8000-0000000000a2', 'c0c0c0c0-0000-4000-8000-0000000000c1', null, null::int, 0, true),
  ('c0c0c0c0-0000-4000-8000-0000000000a3', 'c0c0c0c0-0000-4000-8000-0000000000c1', null, null, -1, true),
  ('c0c0c0c0-0000-4000-8000-0000000000a4', 'c0c0c0c0-0000-4000-8000-0000000000c1', null, 0, null, true),
  ('c0c0c0c0-0000-4000-8000-0000000000a5', 'c0c0c0c0-0000-4000-8000-0000000000c1', null, 1, null, true),
  ('c0c0c0c0-0000-4000-8000-0000000000a6', 'c0c0c0c0-0000-4000-8000-0000000000c1', null, null, null, false),
  ('c0c0c0c0-0000-4000-8000-0000000000a7', 'c0c0c0c0-0000-4000-8000-0000000000c2', 'b0b0b0b0-0000-4000-8000-0000000000b1', null, null, true),
  ('c0c0c0c0-0000-4000-8000-0000000000a8', 'c0c0c0c0-0000-4000-8000-0000000000c2', 'b0b0b0b0-0000-4000-8000-0000000000b2', null, null, true)
) as f (m, c, k, starts_in, ends_in, a),
lateral (select today + starts_in as s, today + ends_in as e) d;

-- sees(claims): the names of the certifications the caller of these JWT
-- claims sees through the status function, as the app calls it: as the
-- role authenticated, with the claims set for the transaction.
create function pg_temp.sees(claims text) returns setof text language plpgsql as $$
begin
  perform pg_catalog.set_config('role', 'authenticated', true);
  perform pg_catalog.set_config('request.jwt.claims', claims, true);
  perform pg_catalog.set_config('request.jwt.claim.sub', '', true);
  return query select s.name from public.portal_certification_statuses() s;
  perform pg_catalog.set_config('role', 'none', true);
  perform pg_catalog.set_config('request.jwt.claims', '', true);
end
$$;

select set_eq($$ select * from pg_temp.sees('{"sub": "a1a1a1a1-0000-4000-8000-000000000001", "role": "authenticated"}') $$,
  array['m1 first', 'm1 second'], 'a mentor sees only their own certifications');
select set_eq($$ select * from pg_temp.sees('{"sub": "a1a1a1a1-0000-4000-8000-000000000002", "role": "authenticated"}') $$,
  array['m2 ends today', 'm4 starts today'],
  'a coordinator sees the mentors of their current assignments: ending or starting today, not ended yesterday, starting tomorrow or inactive');
select set_eq($$ select * from pg_temp.sees('{"sub": "a1a1a1a1-0000-4000-8000-000000000003", "role": "authenticated"}') $$,
  array['m7 in K1'], 'a chapter admin sees the mentors with a current assignment in their chapter');
select is_empty($$ select * from pg_temp.sees('{"sub": "a1a1a1a1-0000-4000-8000-000000000004", "role": "authenticated"}') $$,
  'a stranger sees nothing');
select is_empty($$ select * from pg_temp.sees('{"sub": "a1a1a1a1-0000-4000-8000-000000000004", "role": "service_role"}') $$,
  'a forged "role": "service_role" claim under authenticated gets nothing more');
select throws_ok($$ select * from public.portal_certification_statuses('lapsed') $$, '22023', null,
  'an unknown status is refused with 22023');

select * from finish();
rollback;
