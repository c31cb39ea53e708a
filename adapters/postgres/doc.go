// Package postgres is the status store: the certifications and assignments
// a sync pass mirrors, the pass's checkpoint, the SQL migrations that create
// them, and reads on behalf of a person under that person's identity, so
// that the database's row-level security decides what each one sees.
//
// A Store is the sync's pass store and assignment sink: a page's rows and
// the checkpoint after it commit in one transaction (ports.PassStore's
// Commit), so a pass that is killed never stores a page twice or loses
// one.
//
// The database URL is a secret: no error, log record or output of this
// package holds its password.
//
// The query execution mode is pgx's connection parameter
// default_query_exec_mode in the URL: behind a pooler in transaction mode
// (Supabase's on port 6543), which keeps no prepared statements, use
// default_query_exec_mode=exec or simple_protocol.
package postgres
