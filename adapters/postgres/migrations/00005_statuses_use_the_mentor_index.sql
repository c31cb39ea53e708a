-- public.portal_certification_statuses reads the caller's certifications
-- through the mentor index: the visible mentors are collected first (an
-- array), then looked up with mentor_id = any (…). With "in (select …)"
-- the planner joined a hashed union against a sequential scan of every
-- certification (about 14 ms over 100,000 rows); the contract, the
-- grants and the rest of the body are those of migration 00003.

-- +goose Up
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

-- +goose Down
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
     where c.mentor_id in (select v.mentor_id from visible v)
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
