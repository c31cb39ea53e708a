package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hlf/dynamicsportal/ports"
)

// Filter narrows StatusesFor. The zero Filter keeps everything the caller
// may see.
type Filter struct {
	// Status keeps certifications of this status: valid, expiring, expired
	// or inactive.
	Status string
	// ChapterID keeps mentors with a current assignment in this chapter
	// (still only those the caller may see).
	ChapterID string
}

// Validate checks the filter before any query; an error wraps
// ports.ErrInvalidConfig.
func (f Filter) Validate() error {
	switch f.Status {
	case "", "valid", "expiring", "expired", "inactive":
	default:
		return fmt.Errorf("%w: status %q: want valid, expiring, expired or inactive", ports.ErrInvalidConfig, f.Status)
	}
	if f.ChapterID != "" && !ports.IsID(f.ChapterID) {
		return fmt.Errorf("%w: chapter %q: want a GUID", ports.ErrInvalidConfig, f.ChapterID)
	}
	return nil
}

// StatusesFor returns the certification statuses the backend user userID
// (Supabase's auth.users.id) may see, ordered by expiry date (no expiry
// last), then id. It calls public.portal_certification_statuses as that
// user would from the app: in a read-only transaction, as the role
// authenticated, with JWT claims whose subject is userID, in both settings
// auth.uid() reads (request.jwt.claims and request.jwt.claim.sub), all set
// with set_config(…, true): they end with the transaction and never stay
// on a pooled connection, and a session-level setting that other code left
// on the connection cannot choose the user. The database's access rules alone decide what the
// user sees.
func (s *Store) StatusesFor(ctx context.Context, userID string, f Filter) (_ []CertificationStatus, err error) {
	ctx, span := s.startSpan(ctx, "StatusesFor")
	defer func() { endSpan(span, err) }()
	if !ports.IsID(userID) {
		return nil, fmt.Errorf("%w: user id %q: want a GUID", ports.ErrInvalidConfig, userID)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	claims, err := json.Marshal(map[string]string{"sub": userID, "role": "authenticated"})
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var out []CertificationStatus
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true)",
			string(claims), userID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "select certification_id::text, mentor_id::text, name, expires_on, status, synced_at from public.portal_certification_statuses($1, $2::uuid)",
			nullable(f.Status), nullable(f.ChapterID))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (CertificationStatus, error) {
			var (
				c       CertificationStatus
				expires pgtype.Date
				synced  time.Time
			)
			if err := row.Scan(&c.CertificationID, &c.MentorID, &c.Name, &expires, &c.Status, &synced); err != nil {
				return c, err
			}
			if expires.Valid {
				c.ExpiresOn = ports.DateOf(expires.Time)
			}
			c.SyncedAt = synced.UTC()
			return c, nil
		})
		return err
	})
	if err != nil {
		return nil, s.fail("statuses", err)
	}
	return out, nil
}

// nullable returns nil for "", so the function gets SQL null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CertificationStatus is one certification as the status store shows it to
// a person allowed to see it.
type CertificationStatus struct {
	CertificationID string `json:"certificationId"`
	MentorID        string `json:"mentorId"`
	Name            string `json:"name"`
	// ExpiresOn is zero when the certificate does not expire.
	ExpiresOn ports.Date `json:"expiresOn"`
	// Status is the status the last sync computed: valid, expiring,
	// expired or inactive.
	Status string `json:"status"`
	// SyncedAt is when the sync last stored the certification.
	SyncedAt time.Time `json:"syncedAt"`
}
