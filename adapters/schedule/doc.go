// Package schedule runs the certification sync as a River job, so that the
// replicas of a backend share one nightly pass: River (a PostgreSQL job
// queue) elects the replica that enqueues the periodic job, keeps at most
// one sync job pending or running cluster-wide, hands a pass whose process
// died to another replica, and snoozes a pass that ran out of budget.
//
// It is a driving adapter: a thin shell that calls core.SyncService, whose
// pass, checkpoint and resumption are the core's. It owns River's side of
// the database: River's migrations, in the module's private schema, and the
// SQL function that inserts its job. Everything here is plain
// constructors; riverfx.Module wires them into an fx app.
//
// Triggers all insert the same job, uniquely (see SyncArgs): the periodic
// job from a cron schedule (ParseSchedule), Enqueue (the command line's
// "run it now"), and the SQL function portal.enqueue_sync(), which Migrate
// creates from the job's definition beside River's migrations, so that
// pg_cron can be the trigger.
package schedule
