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

// Each sync pass gets a number from portal.sync_pass_seq; every row it
// stores carries it in sync_pass. The sink's position is that number, so a
// resumed pass goes on storing under the number of the pass it resumes, and
// the rows a complete pass did not store are those of records that no
// longer exist in the portal.

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

// Rewind makes the store match a checkpoint: a page still waiting for its
// checkpoint is rolled back (it was never committed), and the pass the
// position names goes on. An empty position starts a new pass.
func (s *Store) Rewind(ctx context.Context, position string) (err error) {
	ctx, span := s.startSpan(ctx, "Rewind")
	defer func() { endSpan(span, err) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollbackPending()
	if position == "" {
		s.heldAssignments.Store(nil) // a new pass: nothing held yet
	}
	if position != "" {
		n, err := strconv.ParseInt(position, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%w: rewind: position %q is not a sync pass of this store", ErrDatabase, position)
		}
		s.pass.Store(n)
		return nil
	}
	return s.newPass(ctx)
}

// newPass numbers a new sync pass. The caller holds s.mu.
func (s *Store) newPass(ctx context.Context) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, "select nextval('portal.sync_pass_seq')").Scan(&n); err != nil {
		return s.fail("start sync pass", err)
	}
	s.pass.Store(n)
	return nil
}

// WritePage stores one page of certifications (upserted by id, in one
// statement) in a transaction that the next Save or Clear commits with the
// checkpoint. Records without a mentor (contact) are skipped with a
// warning: nobody may see them. The position is the pass number.
func (s *Store) WritePage(ctx context.Context, records []ports.SyncRecord) (_ string, err error) {
	ctx, span := s.startSpan(ctx, "WritePage")
	defer func() { endSpan(span, err) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pass.Load() == 0 {
		if err := s.newPass(ctx); err != nil {
			return "", err
		}
	}
	pass := s.pass.Load()
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
	tx, err := s.begin(ctx)
	if err != nil {
		return "", err
	}
	qctx, cancel := s.timeout(ctx)
	defer cancel()
	if _, err := tx.Exec(qctx, upsertCertifications, ids, mentors, names, types, issued, expires, active, statuses, modified, pass); err != nil {
		s.rollbackPending()
		return "", s.fail("store certifications", err)
	}
	return strconv.FormatInt(pass, 10), nil
}

// begin returns the pending transaction, beginning it if needed. The
// caller holds s.mu.
func (s *Store) begin(ctx context.Context) (pgx.Tx, error) {
	if s.pending != nil {
		return s.pending, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, s.fail("begin", err)
	}
	s.pending = tx
	return tx, nil
}

// rollbackPending drops the page waiting for its checkpoint. The caller
// holds s.mu.
func (s *Store) rollbackPending() {
	if s.pending == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.StatementTimeout)
	defer cancel()
	_ = s.pending.Rollback(ctx) // a failed rollback closes the connection
	s.pending = nil
}

// commit runs stmt (with args) in the pending transaction, or a new one,
// and commits it. The caller holds s.mu.
func (s *Store) commit(ctx context.Context, op string, stmts ...stmt) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			s.rollbackPending()
			return s.fail(op, err)
		}
	}
	err = tx.Commit(ctx)
	s.pending = nil
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

type stmt struct {
	sql  string
	args []any
}

// Load returns the saved checkpoint, or an error wrapping
// ports.ErrNoCheckpoint.
func (s *Store) Load(ctx context.Context) (_ ports.Checkpoint, err error) {
	ctx, span := s.startSpan(ctx, "Load")
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
	var cp ports.Checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return ports.Checkpoint{}, fmt.Errorf("%w: load checkpoint: damaged: %w", ErrDatabase, err)
	}
	return cp, nil
}

// Save stores the checkpoint, committing it with the page written before
// it, if any: both are stored or neither.
func (s *Store) Save(ctx context.Context, cp ports.Checkpoint) (err error) {
	ctx, span := s.startSpan(ctx, "Save")
	defer func() { endSpan(span, err) }()
	raw, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commit(ctx, "save checkpoint", stmt{
		`insert into portal.sync_checkpoint (checkpoint) values ($1::text::jsonb)
		 on conflict (id) do update set checkpoint = excluded.checkpoint, saved_at = now()`,
		[]any{string(raw)},
	})
}

// Clear ends a pass: with the last page written before it, it removes the
// certifications this pass did not store (deleted in the portal) and the
// checkpoint, in one transaction.
func (s *Store) Clear(ctx context.Context) (err error) {
	ctx, span := s.startSpan(ctx, "Clear")
	defer func() { endSpan(span, err) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	var held *ports.DeletionsHeldError
	if pass := s.pass.Load(); pass != 0 {
		if held, err = s.sweep(ctx, tx, "certifications", pass); err != nil {
			s.rollbackPending()
			return s.fail("clear checkpoint", err)
		}
	}
	if err := s.commit(ctx, "clear checkpoint", stmt{sql: "delete from portal.sync_checkpoint"}); err != nil {
		return err
	}
	// The certifications' held sweep is told first; the assignments' is
	// told when it is the only one (and held again by the next pass if the
	// operator confirmed only the first).
	if heldAssignments := s.heldAssignments.Swap(nil); held == nil {
		held = heldAssignments
	}
	if held != nil {
		return held
	}
	return nil
}

// sweep removes the rows of table that the pass did not store (records
// gone from the portal), unless there are more of them than the threshold
// and the operator allowed: then it keeps them and says so.
func (s *Store) sweep(ctx context.Context, tx pgx.Tx, table string, pass int64) (*ports.DeletionsHeldError, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
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
// statement, committed at once). With the last page it removes the
// assignments this pass did not store.
func (s *Store) WriteAssignments(ctx context.Context, page []ports.Assignment, last bool) (err error) {
	ctx, span := s.startSpan(ctx, "WriteAssignments")
	defer func() { endSpan(span, err) }()
	// Without s.mu, but for numbering the first pass: a page of
	// assignments is stored while a page of certifications is (on another
	// connection).
	pass := s.pass.Load()
	if pass == 0 {
		s.mu.Lock()
		var err error
		if s.pass.Load() == 0 {
			err = s.newPass(ctx)
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		pass = s.pass.Load()
	}
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
	// Assignments are not part of the checkpoint: a page of them commits
	// on its own, outside any page of certifications waiting for its
	// checkpoint.
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fail("store assignments", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, upsertAssignments, ids, mentors, coordinators, chapters, starts, ends, active, modified, pass); err != nil {
		return s.fail("store assignments", err)
	}
	if last {
		held, err := s.sweep(ctx, tx, "assignments", pass)
		if err != nil {
			return s.fail("store assignments", err)
		}
		// Told when the pass completes (Clear): the mirror's last page is
		// stored before the certifications' last page.
		s.heldAssignments.Store(held)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.fail("store assignments", err)
	}
	return nil
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
