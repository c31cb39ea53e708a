-- portal.enqueue_sync() inserts one sync job for River, as
-- `portalsync enqueue` does, so that pg_cron can be the trigger:
--   select cron.schedule('portal-sync', '0 2 * * *', 'select portal.enqueue_sync()');
-- It returns the job's id and whether it was inserted: false when a sync
-- job is already available, pending, scheduled, running or retryable.
-- The values match package schedule (kind and queue portal_sync, 5
-- attempts) and River v0.51's uniqueness: unique_key is the SHA-256 of
-- '&kind=portal_sync' (unique by state only), unique_states the bitmask of
-- the five states (bit per state, scheduled first: 11110001).
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
    -- Wake the replicas' producers at once, as River's own insert does.
    perform pg_notify('public.river_insert', '{"queue": "portal_sync"}');
  end if;
end;
$$;
revoke all on function portal.enqueue_sync() from public;
