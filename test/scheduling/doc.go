// Package scheduling tests `portalsync serve` and `portalsync enqueue` as
// operators run them: built binaries, several replicas on one real
// PostgreSQL (started by internal/pgtest), and the portal emulator. What
// the portal saw (passes, overlaps, writes sent twice) is read from the
// emulator's request log and write log; what River did, from the job rows.
package scheduling
