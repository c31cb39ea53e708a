-- Supabase's shape, done right (see the README's "Running on Supabase").
--
-- River's tables and goose's history now live in schema portal_private,
-- which anon, authenticated and service_role may not use (Migrate moves
-- them there from public, where Supabase's Data API would serve them), so
-- portal.enqueue_sync() inserts into portal_private.river_job and wakes the
-- replicas on River's channel of that schema.
--
-- auth.uid(), where this module created it (plain PostgreSQL), reads the
-- claims exactly as Supabase's does: an empty request.jwt.claim.sub, which
-- a session keeps once any transaction set it, falls through to
-- request.jwt.claims. A Supabase auth.uid() (not owned by the migrating
-- role) is left alone.
--
-- "Today" in public.portal_certification_statuses is the date in UTC, not
-- in the caller's session time zone, so every caller sees the same
-- assignments as current. The rest of the function is migration 00005's.

-- +goose Up
-- +goose StatementBegin
create or replace function portal.enqueue_sync(out job_id bigint, out enqueued boolean)
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into portal_private.river_job (args, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, unique_key, unique_states)
  values ('{}', 'portal_sync', 5, '{}', 1, 'portal_sync', 'available', pg_catalog.now(), '{}',
          pg_catalog.sha256(pg_catalog.convert_to('&kind=portal_sync', 'UTF8')), B'11110001')
  on conflict (unique_key)
    where unique_key is not null and unique_states is not null
      and portal_private.river_job_state_in_bitmask(unique_states, state)
    do update set kind = excluded.kind
  returning id, xmax = 0 into job_id, enqueued;
  if enqueued then
    perform pg_catalog.pg_notify('portal_private.river_insert', '{"queue": "portal_sync"}');
  end if;
end;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
do $$
begin
  -- Only the definition migration 00001 created: a Supabase auth.uid(),
  -- or any other, is not this module's to change.
  if exists (select
               from pg_catalog.pg_proc p
              where p.oid = pg_catalog.to_regprocedure('auth.uid()')
                and p.prosrc like '%select nullif(%coalesce(%pg\_catalog.current\_setting(''request.jwt.claim.sub'', true),%') then
    create or replace function auth.uid() returns uuid
      language sql stable
      set search_path = ''
      as $f$
        select coalesce(
          nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
          (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
      $f$;
    comment on function auth.uid() is 'Created by portalsync migrate, as Supabase defines it: the subject of the request''s JWT claims';
  end if;
end
$$;
-- +goose StatementEnd

-- +goose StatementBegin
create or replace function public.portal_certification_statuses(p_status text default null, p_chapter uuid default null)
returns table (
  certification_id uuid,
  mentor_id        uuid,
  name             text,
  expires_on       date,
  status           text,
  synced_at        timestamptz
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid   uuid := auth.uid();
  v_today date := (pg_catalog.now() at time zone 'UTC')::date;
begin
  if p_status is not null and p_status not in ('valid', 'expiring', 'expired', 'inactive') then
    raise exception 'unknown certification status %', pg_catalog.quote_literal(p_status)
      using errcode = '22023', hint = 'use valid, expiring, expired or inactive';
  end if;
  if v_uid is null then
    return;
  end if;
  return query
    with visible (mentor_id) as (
      -- own
      select p.contact_id
        from portal.people p
       where p.user_id = v_uid
      union
      -- coordinator
      select a.mentor_id
        from portal.people p
        join portal.assignments a on a.coordinator_id = p.contact_id
       where p.user_id = v_uid
         and a.active
         and (a.starts_on is null or a.starts_on <= v_today)
         and (a.ends_on is null or a.ends_on >= v_today)
      union
      -- chapter
      select a.mentor_id
        from portal.chapter_admins ca
        join portal.assignments a on a.chapter_id = ca.chapter_id
       where ca.user_id = v_uid
         and a.active
         and (a.starts_on is null or a.starts_on <= v_today)
         and (a.ends_on is null or a.ends_on >= v_today)
    )
    select c.id, c.mentor_id, c.name, c.expires_on, c.status, c.synced_at
      from portal.certifications c
     where c.mentor_id = any (array(select v.mentor_id from visible v))
       and (p_status is null or c.status = p_status)
       and (p_chapter is null or exists (
             select
               from portal.assignments a
              where a.chapter_id = p_chapter
                and a.mentor_id = c.mentor_id
                and a.active
                and (a.starts_on is null or a.starts_on <= v_today)
                and (a.ends_on is null or a.ends_on >= v_today)))
     order by c.expires_on nulls last, c.id;
end
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
create or replace function portal.enqueue_sync(out job_id bigint, out enqueued boolean)
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.river_job (args, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, unique_key, unique_states)
  values ('{}', 'portal_sync', 5, '{}', 1, 'portal_sync', 'available', now(), '{}',
          sha256(convert_to('&kind=portal_sync', 'UTF8')), B'11110001')
  on conflict (unique_key)
    where unique_key is not null and unique_states is not null
      and public.river_job_state_in_bitmask(unique_states, state)
    do update set kind = excluded.kind
  returning id, xmax = 0 into job_id, enqueued;
  if enqueued then
    perform pg_notify('public.river_insert', '{"queue": "portal_sync"}');
  end if;
end;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
create or replace function public.portal_certification_statuses(p_status text default null, p_chapter uuid default null)
returns table (
  certification_id uuid,
  mentor_id        uuid,
  name             text,
  expires_on       date,
  status           text,
  synced_at        timestamptz
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid   uuid := auth.uid();
  v_today date := current_date;
begin
  if p_status is not null and p_status not in ('valid', 'expiring', 'expired', 'inactive') then
    raise exception 'unknown certification status %', pg_catalog.quote_literal(p_status)
      using errcode = '22023', hint = 'use valid, expiring, expired or inactive';
  end if;
  if v_uid is null then
    return;
  end if;
  return query
    with visible (mentor_id) as (
      -- own
      select p.contact_id
        from portal.people p
       where p.user_id = v_uid
      union
      -- coordinator
      select a.mentor_id
        from portal.people p
        join portal.assignments a on a.coordinator_id = p.contact_id
       where p.user_id = v_uid
         and a.active
         and (a.starts_on is null or a.starts_on <= v_today)
         and (a.ends_on is null or a.ends_on >= v_today)
      union
      -- chapter
      select a.mentor_id
        from portal.chapter_admins ca
        join portal.assignments a on a.chapter_id = ca.chapter_id
       where ca.user_id = v_uid
         and a.active
         and (a.starts_on is null or a.starts_on <= v_today)
         and (a.ends_on is null or a.ends_on >= v_today)
    )
    select c.id, c.mentor_id, c.name, c.expires_on, c.status, c.synced_at
      from portal.certifications c
     where c.mentor_id = any (array(select v.mentor_id from visible v))
       and (p_status is null or c.status = p_status)
       and (p_chapter is null or exists (
             select
               from portal.assignments a
              where a.chapter_id = p_chapter
                and a.mentor_id = c.mentor_id
                and a.active
                and (a.starts_on is null or a.starts_on <= v_today)
                and (a.ends_on is null or a.ends_on >= v_today)))
     order by c.expires_on nulls last, c.id;
end
$$;
-- +goose StatementEnd

