-- public.portal_certification_statuses: the certification statuses the
-- caller may see, the one way people read the status store (the app through
-- Supabase, the Go backend through the same function).
--
-- Who may call it: authenticated and service_role; anon and public may not.
-- Who the caller is: only auth.uid(), the subject of the request's JWT
-- claims. Other claims (a "role": "service_role" claim, say) grant nothing.
--
-- Why security definer: the tables have no grant and no policy for the
-- caller's role, so the function reads them as its owner; search_path is
-- empty and every name is schema-qualified, so a caller cannot substitute
-- an object of its own.
--
-- A caller U whose contact is C (portal.people) sees a certification of
-- mentor M when M = C, or a current assignment links M to coordinator C, or
-- a current assignment of M is in a chapter U administers. An assignment
-- is current when active and today lies within starts_on..ends_on (either
-- end may be open). Each certification appears once. p_status keeps one
-- status (an unknown one is error 22023); p_chapter keeps mentors with a
-- current assignment in that chapter, within what the caller may see.
--
-- auth.uid() is read once per call (into v_uid), not once per row.

-- +goose Up
-- +goose StatementBegin
create function public.portal_certification_statuses(p_status text default null, p_chapter uuid default null)
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

revoke all on function public.portal_certification_statuses(text, uuid) from public, anon;
grant execute on function public.portal_certification_statuses(text, uuid) to authenticated, service_role;

-- +goose Down
drop function public.portal_certification_statuses(text, uuid);
