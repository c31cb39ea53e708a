-- portal.enqueue_sync(): insert one sync job for the backend's replicas, as
-- `portalsync enqueue` does, so that pg_cron (on Supabase, say) can be the
-- trigger:
--   select cron.schedule('portal-sync', '0 2 * * *', 'select portal.enqueue_sync()');
-- It returns the job's id and whether it was inserted: false, with the id
-- of the job already there, when a sync job is available, pending,
-- scheduled, running or waiting for a retry.
--
-- The job is River's (github.com/riverqueue/river, tables in schema
-- public, created by `portalsync migrate` or `serve`): the values match
-- package app/schedule (kind and queue portal_sync, 5 attempts) and River
-- v0.51's uniqueness, so a job inserted here and one inserted by River
-- are each other's duplicates: unique_key is the SHA-256 of
-- '&kind=portal_sync' (unique by state only), unique_states the bitmask of
-- the five states (one bit per state, scheduled first: 11110001). The body
-- is PL/pgSQL, checked when called, so this migration may run before
-- River's. The NOTIFY wakes the replicas at once, as River's own insert
-- does.
--
-- Who may call it: the owner, and service_role; not public or anon.

-- +goose Up
-- +goose StatementBegin
create function portal.enqueue_sync(out job_id bigint, out enqueued boolean)
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

revoke all on function portal.enqueue_sync() from public, anon;
grant execute on function portal.enqueue_sync() to service_role;

-- +goose Down
drop function portal.enqueue_sync();
