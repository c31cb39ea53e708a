package schedule

import (
	"crypto/sha256"
	"fmt"

	"github.com/riverqueue/river/rivershared/uniquestates"
)

// enqueueFunction is the SQL of portal.enqueue_sync(): one sync job
// inserted for the backend's replicas, as `portalsync enqueue` does, so
// that pg_cron (on Supabase, say) can be the trigger:
//
//	select cron.schedule('portal-sync', '0 2 * * *', 'select portal.enqueue_sync()');
//
// It returns the job's id and whether it was inserted: false, with the id
// of the job already there, when a sync job is in one of UniqueStates.
//
// It is built from the job's definition (job.go): the kind, queue and
// attempts, the unique key River gives a job unique by state only (the
// SHA-256 of "&kind=" and the kind) and River's bitmask of UniqueStates, so
// a job inserted here and one inserted by River are each other's
// duplicates (TestSQLEnqueueSyncIsRiversJob). Migrate and SQLFiles create
// it after River's migrations, with its tables, replacing the definition
// the store's migrations 00004 and 00006 gave it before it moved here; the
// comment marks this one. The NOTIFY wakes the replicas at once, as
// River's own insert does. The owner and service_role may call it; public
// and anon may not.
func enqueueFunction() string {
	return fmt.Sprintf(`create or replace function portal.enqueue_sync(out job_id bigint, out enqueued boolean)
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into %[1]s.river_job (args, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, unique_key, unique_states)
  values ('{}', '%[2]s', %[3]d, '{}', 1, '%[4]s', 'available', pg_catalog.now(), '{}', '\x%[5]x'::bytea, B'%08[6]b')
  on conflict (unique_key)
    where unique_key is not null and unique_states is not null
      and %[1]s.river_job_state_in_bitmask(unique_states, state)
    do update set kind = excluded.kind
  returning id, xmax = 0 into job_id, enqueued;
  if enqueued then
    perform pg_catalog.pg_notify('%[1]s.river_insert', '{"queue": "%[4]s"}');
  end if;
end;
$$;
comment on function portal.enqueue_sync() is '%[7]s';
revoke all on function portal.enqueue_sync() from public, anon;
grant execute on function portal.enqueue_sync() to service_role;
`, Schema, Kind, MaxAttempts, Queue, sha256.Sum256([]byte("&kind="+Kind)), uniquestates.UniqueStatesToBitmask(UniqueStates()), enqueueComment)
}

// enqueueComment marks the definition of portal.enqueue_sync() the
// scheduler gives it.
const enqueueComment = "One portal_sync job for River, from SQL (pg_cron): created by the scheduler (portalsync migrate) from the definition of the job"
