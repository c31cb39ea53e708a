package core

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hlf/dynamicsportal/ports"
)

// Defaults of SyncOptions.
const (
	DefaultExpiringWithin = 30 * 24 * time.Hour
	DefaultBudget         = time.Hour
	// DefaultConcurrency is the number of write requests in flight within
	// a page. The README's Performance section gives the measurements it
	// comes from; beyond it a pass against the real portal gains little,
	// since the portal's limits, not the pass, then bound the pace.
	DefaultConcurrency = 16
	// DefaultWriteBatch is the number of writes per $batch request: about
	// where Dataverse's two limits (requests, and execution time per 5
	// minutes) meet for writes of some 20 ms each, with room for cheaper
	// ones. The README's Performance section gives the sweep behind it.
	DefaultWriteBatch = 20
)

// SyncOptions tune a SyncService. The zero value of each field means its
// default; a nil *SyncOptions means every default.
type SyncOptions struct {
	// PageSize is the most records per page; 0 leaves it to the portal
	// adapter's default.
	PageSize int
	// ExpiringWithin is the window in which a certificate counts as
	// expiring (default 30 days). Classification works on dates, so it is
	// rounded up to whole days: 36h means 2 days.
	ExpiringWithin time.Duration
	// Budget is the time one Run may take (default 1h). It is checked
	// before each page and before each wait the portal asks for; a page in
	// progress is finished.
	Budget time.Duration
	// Concurrency is the number of sync-metadata write requests in flight
	// within a page (default 16); a batch is one request. The portal
	// adapter may hold them back further.
	Concurrency int
	// WriteBatch is the number of writes sent in one batched request
	// (default DefaultWriteBatch, at most ports.MaxBatchWrites); 1 sends
	// each write as a request of its own.
	WriteBatch int
	// Location gives "today" its date (default UTC).
	Location *time.Location
	// Logger receives the pass's log records (default: none).
	Logger *slog.Logger
	// TracerProvider makes the spans of each pass and page (see the
	// README's Observability section); nil means none.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the pass's metrics; nil means none.
	MeterProvider metric.MeterProvider
	// Assignments, when set, receives every assignment of the portal, in
	// key order, page by page, during each run of a pass, beside the
	// certification pages (a resumed pass reads them again: they are reads
	// only). Its calls come from their own goroutine, possibly while the
	// pass store commits a page. Without it assignments are not read.
	Assignments ports.AssignmentSink
	// OnPage, if set, receives the pass's totals after each stored page,
	// for progress display. Calls come one at a time, in page order, and
	// all before Run returns, but not all from the goroutine that called
	// Run.
	OnPage func(ports.SyncCounts)
	// Stub says the portal is the no-op stub: a pass then reads and writes
	// nothing real, so it never counts as a real one: its span and metrics
	// say portalsync.portal=stub, and it records no last_completed.
	Stub bool

	// now is the clock (time.Now), called from several goroutines; sleep
	// waits d or until ctx is done and then returns ctx.Err() (a timer).
	// Only the package's tests set them (export_test.go).
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// SyncService runs certification sync passes. A SyncService may run one pass
// at a time.
type SyncService struct {
	portal     ports.DynamicsPortal
	store      ports.PassStore
	logger     *slog.Logger
	opts       SyncOptions
	windowDays int
	tel        telemetry
}

// NewSyncService returns a sync service that reads and writes through
// portal and keeps each pass's records and progress in store. Invalid
// options (a negative value, a nil port) are refused with an error
// wrapping ports.ErrInvalidConfig.
func NewSyncService(portal ports.DynamicsPortal, store ports.PassStore, opts *SyncOptions) (*SyncService, error) {
	var o SyncOptions
	if opts != nil {
		o = *opts
	}
	invalid := func(msg string) (*SyncService, error) {
		return nil, fmt.Errorf("%w: sync: %s", ports.ErrInvalidConfig, msg)
	}
	switch {
	case portal == nil:
		return invalid("no portal")
	case store == nil:
		return invalid("no pass store")
	case o.PageSize < 0:
		return invalid("negative page size")
	case o.ExpiringWithin < 0:
		return invalid("negative expiring-within window")
	case o.Budget < 0:
		return invalid("negative time budget")
	case o.Concurrency < 0:
		return invalid("negative concurrency")
	case o.WriteBatch < 0 || o.WriteBatch > ports.MaxBatchWrites:
		return invalid(fmt.Sprintf("write batch %d: want 1 to %d", o.WriteBatch, ports.MaxBatchWrites))
	}
	if o.ExpiringWithin == 0 {
		o.ExpiringWithin = DefaultExpiringWithin
	}
	if o.Budget == 0 {
		o.Budget = DefaultBudget
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.WriteBatch == 0 {
		o.WriteBatch = DefaultWriteBatch
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.sleep == nil {
		o.sleep = sleep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	tel, err := newTelemetry(o.TracerProvider, o.MeterProvider)
	if err != nil {
		return nil, err
	}
	const day = 24 * time.Hour
	return &SyncService{
		tel:        tel,
		portal:     portal,
		store:      store,
		logger:     o.Logger,
		opts:       o,
		windowDays: int((o.ExpiringWithin + day - 1) / day),
	}, nil
}

func (s *SyncService) settings() []slog.Attr {
	return []slog.Attr{
		slog.Int("page_size", s.opts.PageSize),
		slog.Int("expiring_within_days", s.windowDays),
		slog.Int("concurrency", s.opts.Concurrency),
		slog.Int("write_batch", s.opts.WriteBatch),
		slog.Duration("budget", s.opts.Budget),
	}
}
