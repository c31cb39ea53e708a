package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlf/dynamicsportal/ports"
)

// Each sync pass gets a number from portal.sync_pass_seq when it commits
// its start; the checkpoint row keeps it (as sinkPosition), and every row
// the pass stores carries it in sync_pass. A resumed pass goes on storing
// under the number of the pass it resumes, and the rows a complete pass did
// not store are those of records that no longer exist in the portal.

// upsertCertifications stores one page in one statement: the columns come
// as arrays, one element per record.
const upsertCertifications = `
insert into portal.certifications as c
  (id, mentor_id, name, type, issued_on, expires_on, active, status, modified_on, synced_at, sync_pass)
select t.id::uuid, t.mentor_id::uuid, t.name, t.type, t.issued_on::date, t.expires_on::date, t.active,
       t.status, t.modified_on, now(), $10
  from unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::timestamptz[])
       as t(id, mentor_id, name, type, issued_on, expires_on, active, status, modified_on)
on conflict (id) do update set
  mentor_id = excluded.mentor_id, name = excluded.name, type = excluded.type,
  issued_on = excluded.issued_on, expires_on = excluded.expires_on, active = excluded.active,
  status = excluded.status, modified_on = excluded.modified_on, synced_at = excluded.synced_at,
  sync_pass = excluded.sync_pass`

const upsertAssignments = `
insert into portal.assignments as a
  (id, mentor_id, coordinator_id, chapter_id, starts_on, ends_on, active, modified_on, synced_at, sync_pass)
select t.id::uuid, t.mentor_id::uuid, t.coordinator_id::uuid, t.chapter_id::uuid, t.starts_on::date,
       t.ends_on::date, t.active, t.modified_on, now(), $9
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::timestamptz[])
       as t(id, mentor_id, coordinator_id, chapter_id, starts_on, ends_on, active, modified_on)
on conflict (id) do update set
  mentor_id = excluded.mentor_id, coordinator_id = excluded.coordinator_id, chapter_id = excluded.chapter_id,
  starts_on = excluded.starts_on, ends_on = excluded.ends_on, active = excluded.active,
  modified_on = excluded.modified_on, synced_at = excluded.synced_at, sync_pass = excluded.sync_pass`

// saved is the checkpoint as the store keeps it: the pass's number beside
// the checkpoint's fields.
type saved struct {
	ports.Checkpoint
	Pass string `json:"sinkPosition,omitempty"`
}

// Resume returns the checkpoint of the unfinished pass, or an error
// wrapping ports.ErrNoCheckpoint. Every commit is whole, so nothing beyond
// the checkpoint is ever stored.
func (s *Store) Resume(ctx context.Context) (_ ports.Checkpoint, err error) {
	ctx, span := s.startSpan(ctx, "Resume")
	defer func() { endSpan(span, err) }()
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var raw []byte
	err = s.pool.QueryRow(ctx, "select checkpoint::text from portal.sync_checkpoint").Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return ports.Checkpoint{}, fmt.Errorf("status store: %w", ports.ErrNoCheckpoint)
	}
	if err != nil {
		return ports.Checkpoint{}, s.fail("load checkpoint", err)
	}
	var sv saved
	if err := json.Unmarshal(raw, &sv); err != nil {
		return ports.Checkpoint{}, fmt.Errorf("%w: load checkpoint: damaged: %w", ports.ErrDatabase, err)
	}
	return sv.Checkpoint, nil
}

// Commit stores one page of certifications (upserted by id, in one
// statement) and the checkpoint after it in one transaction. Records
// without a valid id or mentor (contact) are skipped with a warning:
// nobody may see them.
func (s *Store) Commit(ctx context.Context, page []ports.SyncRecord, next ports.Checkpoint) (err error) {
	ctx, span := s.startSpan(ctx, "Commit")
	defer func() { endSpan(span, err) }()
	return s.inTx(ctx, "store page", func(ctx context.Context, tx pgx.Tx) error {
		pass, err := passOf(ctx, tx, true)
		if err != nil {
			return err
		}
		if err := s.upsert(ctx, tx, page, pass); err != nil {
			return err
		}
		raw, err := json.Marshal(saved{Checkpoint: next, Pass: strconv.FormatInt(pass, 10)})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `insert into portal.sync_checkpoint (checkpoint) values ($1::text::jsonb)
			on conflict (id) do update set checkpoint = excluded.checkpoint, saved_at = now()`, string(raw))
		return err
	})
}

// Finish stores the last page, removes the certifications this pass did
// not store (deleted in the portal) and the checkpoint, in one
// transaction. A sweep of more rows than the threshold is held: the rows
// stay, and Finish returns a *ports.DeletionsHeldError after committing
// the rest.
func (s *Store) Finish(ctx context.Context, last []ports.SyncRecord) (err error) {
	ctx, span := s.startSpan(ctx, "Finish")
	defer func() { endSpan(span, err) }()
	var held *ports.DeletionsHeldError
	err = s.inTx(ctx, "finish pass", func(ctx context.Context, tx pgx.Tx) error {
		pass, err := passOf(ctx, tx, true)
		if err != nil {
			return err
		}
		if err := s.upsert(ctx, tx, last, pass); err != nil {
			return err
		}
		if held, err = s.sweep(ctx, tx, "certifications", pass); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "delete from portal.sync_checkpoint")
		return err
	})
	if err == nil && held != nil {
		return held
	}
	return err
}

// inTx runs fn in one transaction, bounded by the statement timeout, and
// commits it; any failure rolls it back and wraps ports.ErrDatabase.
func (s *Store) inTx(ctx context.Context, op string, fn func(context.Context, pgx.Tx) error) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, tx) }); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// passOf returns the number of the pass the checkpoint names, or numbers a
// new pass when there is none. With lock, it locks the checkpoint row, for
// a transaction that commits the checkpoint.
func passOf(ctx context.Context, tx pgx.Tx, lock bool) (int64, error) {
	q := "select (checkpoint->>'sinkPosition')::bigint from portal.sync_checkpoint"
	if lock {
		q += " for update"
	}
	var pass *int64
	err := tx.QueryRow(ctx, q).Scan(&pass)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if pass != nil {
		return *pass, nil
	}
	var n int64
	err = tx.QueryRow(ctx, "select nextval('portal.sync_pass_seq')").Scan(&n)
	return n, err
}

// upsert stores records under pass in one statement.
func (s *Store) upsert(ctx context.Context, tx pgx.Tx, records []ports.SyncRecord, pass int64) error {
	if len(records) == 0 {
		return nil
	}
	n := len(records)
	var (
		ids, mentors, names, statuses = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		types                         = make([]int32, 0, n)
		issued, expires               = make([]*string, 0, n), make([]*string, 0, n)
		active                        = make([]bool, 0, n)
		modified                      = make([]*time.Time, 0, n)
	)
	for i := range records {
		r := &records[i]
		if !ports.IsID(r.ID) || !ports.IsID(r.ContactID) {
			s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "status store: certification skipped: no valid id or mentor",
				slog.String("id", r.ID))
			continue
		}
		ids = append(ids, r.ID)
		mentors = append(mentors, r.ContactID)
		names = append(names, r.Name)
		types = append(types, int32(r.Type))
		issued = append(issued, date(r.IssuedOn))
		expires = append(expires, date(r.ExpiresOn))
		active = append(active, r.State == ports.StateActive)
		statuses = append(statuses, r.Computed.String())
		modified = append(modified, timestamp(r.ModifiedOn))
	}
	_, err := tx.Exec(ctx, upsertCertifications, ids, mentors, names, types, issued, expires, active, statuses, modified, pass)
	return err
}

// sweep removes the rows of table that the pass did not store (records
// gone from the portal), unless there are more of them than the threshold
// and the operator allowed: then it keeps them and says so.
func (s *Store) sweep(ctx context.Context, tx pgx.Tx, table string, pass int64) (*ports.DeletionsHeldError, error) {
	var doomed, stored int
	if err := tx.QueryRow(ctx, "select count(*) filter (where sync_pass <> $1), count(*) from portal."+table, pass).Scan(&doomed, &stored); err != nil {
		return nil, err
	}
	limit := s.opts.DeletionThreshold
	if limit == 0 {
		limit = max(DefaultDeletionThreshold, stored/10)
	}
	if doomed > limit && doomed > s.opts.AllowDeletions {
		s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "sweep held: a complete pass would remove more rows than the threshold; they are kept",
			slog.String("table", table), slog.Int("rows", doomed), slog.Int("stored", stored), slog.Int("threshold", limit))
		return &ports.DeletionsHeldError{Table: table, Rows: doomed, Stored: stored, Threshold: limit}, nil
	}
	_, err := tx.Exec(ctx, "delete from portal."+table+" where sync_pass <> $1", pass)
	return nil, err
}

// WriteAssignments stores one page of assignments (upserted by id, in one
// statement, committed at once), under the number of the pass the
// checkpoint names. With the last page it removes the assignments this
// pass did not store, or holds that sweep (see Finish) and returns a
// *ports.DeletionsHeldError after committing the page.
func (s *Store) WriteAssignments(ctx context.Context, page []ports.Assignment, last bool) (err error) {
	ctx, span := s.startSpan(ctx, "WriteAssignments")
	defer func() { endSpan(span, err) }()
	n := len(page)
	var (
		ids, mentors, coordinators = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		chapters, starts, ends     = make([]*string, 0, n), make([]*string, 0, n), make([]*string, 0, n)
		active                     = make([]bool, 0, n)
		modified                   = make([]*time.Time, 0, n)
	)
	for i := range page {
		a := &page[i]
		if !ports.IsID(a.ID) || !ports.IsID(a.MentorID) || !ports.IsID(a.CoordinatorID) ||
			a.ChapterID != "" && !ports.IsID(a.ChapterID) {
			s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "status store: assignment skipped: no valid id, mentor or coordinator",
				slog.String("id", a.ID))
			continue
		}
		ids = append(ids, a.ID)
		mentors = append(mentors, a.MentorID)
		coordinators = append(coordinators, a.CoordinatorID)
		var chapter *string
		if a.ChapterID != "" {
			chapter = &a.ChapterID
		}
		chapters = append(chapters, chapter)
		starts = append(starts, date(a.StartDate))
		ends = append(ends, date(a.EndDate))
		active = append(active, a.State == ports.StateActive)
		modified = append(modified, timestamp(a.ModifiedOn))
	}
	var held *ports.DeletionsHeldError
	err = s.inTx(ctx, "store assignments", func(ctx context.Context, tx pgx.Tx) error {
		// Without a lock: the pass commits its certifications, and locks
		// the checkpoint row, on another connection meanwhile.
		pass, err := passOf(ctx, tx, false)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertAssignments, ids, mentors, coordinators, chapters, starts, ends, active, modified, pass); err != nil {
			return err
		}
		if last {
			held, err = s.sweep(ctx, tx, "assignments", pass)
		}
		return err
	})
	if err == nil && held != nil {
		return held
	}
	return err
}

// date returns d as 2006-01-02, or nil for the zero Date.
func date(d ports.Date) *string {
	if d.IsZero() {
		return nil
	}
	s := d.String()
	return &s
}

// timestamp returns &t, or nil for the zero time.
func timestamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
