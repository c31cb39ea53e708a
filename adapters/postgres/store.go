package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hlf/dynamicsportal/ports"
)

var (
	_ ports.PassStore      = (*Store)(nil)
	_ ports.AssignmentSink = (*Store)(nil)
)

// Defaults of Options.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultStatementTimeout = 30 * time.Second
)

// Options tune a Store. The zero value of each field means its default; a
// negative one is refused.
type Options struct {
	// ConnectTimeout bounds each new connection (default 10s; a
	// connect_timeout in the URL wins). It applies to Open only: a pool
	// handed to New keeps its own settings.
	ConnectTimeout time.Duration
	// StatementTimeout bounds each operation of the store: a statement
	// still running then is cancelled (default 30s).
	StatementTimeout time.Duration
	// Logger receives warnings, such as a record skipped because it has no
	// mentor (default: none).
	Logger *slog.Logger
	// TracerProvider gets a span for each operation of the store (nil:
	// none), a child of the caller's: during a sync pass, of the page's.
	TracerProvider trace.TracerProvider
	// AllowInsecure lets Open connect to a host over the network without
	// verifying its certificate, with a warning. Without it, such a URL is
	// a config error.
	AllowInsecure bool
	// DeletionThreshold is the most rows a complete pass's sweep may
	// remove from a table (certifications, assignments) unconfirmed; a
	// larger sweep is held: the rows are kept and the pass ends with a
	// *ports.DeletionsHeldError. Zero means the default: 500, or 10% of the
	// table's rows when that is more.
	DeletionThreshold int
	// AllowDeletions confirms a sweep of at most this many rows per table,
	// whatever the threshold (portalsync --allow-deletions N).
	AllowDeletions int
}

// Store is the status store on a pgx pool. Its methods are safe for
// concurrent use, but one sync pass at a time may use it as its pass store.
// Each of its calls is one transaction: none outlives the call.
type Store struct {
	pool     *pgxpool.Pool
	owned    bool // Close closes the pool
	opts     Options
	password string // of the URL Open was given, kept out of errors
}

// Open connects to the database at url (postgres://… or key=value form)
// and checks that it answers. A host reached over the network (not a Unix
// socket or loopback) must have its certificate verified (sslmode=
// verify-full, or verify-ca with sslrootcert) unless opts.AllowInsecure, and
// gets its password exchange pinned to SCRAM unless the URL sets
// require_auth. A failure wraps ports.ErrDatabase (or ports.ErrInvalidConfig for a
// malformed or unverified URL, before any connection) and never holds the
// URL's password. A nil opts means every default; a negative setting is a
// config error.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	pw := passwordOf(url)
	cfg, warning, err := parseConfig(url, o)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		o.Logger.LogAttrs(ctx, slog.LevelWarn, warning+"; allowed by the explicit opt-out")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, dbError("connect", err, pw)
	}
	s := &Store{pool: pool, owned: true, opts: o, password: pw}
	pctx, cancel := s.timeout(ctx)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, dbError("connect", err, pw)
	}
	return s, nil
}

// New returns a store on the host's own pool, which Close leaves open. A
// nil opts means every default; a negative setting is a config error.
func New(pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: status store: no pool", ports.ErrInvalidConfig)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool, opts: o}, nil
}

// DefaultDeletionThreshold is the least threshold of a held sweep; 10% of
// a table's rows is the threshold when that is more.
const DefaultDeletionThreshold = 500

// withDefaults returns the options with the defaults filled in, refusing
// a negative setting.
func (opts *Options) withDefaults() (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"connect timeout", int64(o.ConnectTimeout)}, {"statement timeout", int64(o.StatementTimeout)},
		{"deletion threshold", int64(o.DeletionThreshold)}, {"allowed deletions", int64(o.AllowDeletions)},
	} {
		if n.v < 0 {
			return o, fmt.Errorf("%w: status store: negative %s", ports.ErrInvalidConfig, n.name)
		}
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.StatementTimeout == 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	return o, nil
}

// Pool returns the store's pool, for a host that runs more on the same
// database (River, say).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool if Open made it.
func (s *Store) Close() {
	if s.owned {
		s.pool.Close()
	}
}

// timeout returns ctx bounded by the statement timeout.
func (s *Store) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.StatementTimeout)
}

// fail wraps a database failure of op.
func (s *Store) fail(op string, err error) error { return dbError(op, err, s.password) }

func dbError(op string, err error, password string) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, scrub(err, password)) // canceled, not the database's failure
	}
	err = scrub(err, password)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P05" || pgErr.Code == "26000") && strings.Contains(pgErr.Message, "stmtcache_") {
		// pgx's cached prepared statements, on a server connection that
		// other clients share.
		return fmt.Errorf("%w: %s: the database answers through a pooler in transaction mode (Supabase's on port 6543, PgBouncer), "+
			"which keeps no prepared statement for a client: add default_query_exec_mode=exec to the database URL (%w)", ports.ErrDatabase, op, err)
	}
	return fmt.Errorf("%w: %s: %w", ports.ErrDatabase, op, err)
}

// DatabaseError wraps a failure of the database during op as ports.ErrDatabase,
// saying what to change when it is the known failure of a pooler in
// transaction mode, for callers that run their own statements on the
// store's pool (River's migrations, say).
func DatabaseError(op string, err error) error { return dbError(op, err, "") }

// scrub returns err, or an error with the same text minus the password
// when the text holds it.
func scrub(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "xxxxx"))
}

// passwordOf returns the password a database URL or key=value string
// carries, or "".
func passwordOf(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	// A URL that does not parse: userinfo between "://" and the last "@".
	if _, rest, ok := strings.Cut(s, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				return pw
			}
		}
	}
	// key=value form.
	for _, f := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// Redact returns a database URL with its password replaced by xxxxx, for
// messages that name the database.
func Redact(s string) string {
	pw := passwordOf(s)
	if pw == "" {
		return s
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return strings.ReplaceAll(s, pw, "xxxxx")
}
