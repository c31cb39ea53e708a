package core_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/mocks"
	"github.com/hlf/dynamicsportal/ports"
)

// t0 is the test clock's start: 2026-11-28 10:20:30.5 UTC.
var t0 = time.Date(2026, 11, 28, 10, 20, 30, 500_000_000, time.UTC)

// today is the date of t0.
var today = ports.Date{Year: 2026, Month: time.November, Day: 28}

// clock is a test clock; Sleep advances it without waiting.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	c.Advance(d)
	return ctx.Err()
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// id returns a GUID-shaped id that sorts by n.
func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// portal is a portal held in memory behind the gomock mock: it pages the
// certifications in key order ("from-N" continuations), applies writes, and
// fails calls on demand.
type portal struct {
	mu       sync.Mutex
	certs    []ports.Certification
	pageSize int
	queries  []ports.PageQuery
	writes   []ports.SyncMetadata // in call order, successful only
	written  []string             // ids of the successful writes
	calls    map[string]int       // write calls per id, failed ones too
	writeErr map[string][]error   // errors the next write calls of an id return
	pageErr  map[int][]error      // errors the next reads of the page at an offset return
	onList   func()               // runs at each page read
	onWrite  func(id string)      // runs at each write call, outside the lock
	batches  []int                // sizes of the batched write calls
	batchErr []error              // errors the next batched write calls return (nil: none)
}

func newPortal(pageSize int, certs ...ports.Certification) *portal {
	return &portal{
		certs:    certs,
		pageSize: pageSize,
		calls:    map[string]int{},
		writeErr: map[string][]error{},
		pageErr:  map[int][]error{},
	}
}

func (p *portal) install(m *mocks.MockDynamicsPortal) {
	m.EXPECT().ListCertifications(gomock.Any(), gomock.Any()).DoAndReturn(p.list).AnyTimes()
	m.EXPECT().WriteSyncMetadata(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(p.write).AnyTimes()
	m.EXPECT().WriteSyncMetadataBatch(gomock.Any(), gomock.Any()).DoAndReturn(p.writeBatch).AnyTimes()
}

// writeBatch applies the writes as write does, each with its own result,
// unless a batch error is queued.
func (p *portal) writeBatch(ctx context.Context, writes []ports.SyncWrite) ([]ports.SyncWriteResult, error) {
	p.mu.Lock()
	p.batches = append(p.batches, len(writes))
	var err error
	if len(p.batchErr) > 0 {
		err, p.batchErr = p.batchErr[0], p.batchErr[1:]
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	results := make([]ports.SyncWriteResult, len(writes))
	for i, w := range writes {
		results[i].Response, results[i].Err = p.write(ctx, w.ID, w.Metadata)
	}
	return results, nil
}

// Batches returns the sizes of the batched write calls, in call order.
func (p *portal) Batches() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.batches)
}

func (p *portal) list(_ context.Context, q ports.PageQuery) (ports.Page[ports.Certification], error) {
	if p.onList != nil {
		p.onList()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queries = append(p.queries, q)
	start := 0
	if q.Continuation != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(q.Continuation, "from-"))
	}
	if errs := p.pageErr[start]; len(errs) > 0 {
		p.pageErr[start] = errs[1:]
		return ports.Page[ports.Certification]{}, errs[0]
	}
	end := min(start+p.pageSize, len(p.certs))
	page := ports.Page[ports.Certification]{Items: slices.Clone(p.certs[start:end])}
	if end < len(p.certs) {
		page.Next = "from-" + strconv.Itoa(end)
	}
	return page, nil
}

func (p *portal) write(_ context.Context, id string, m ports.SyncMetadata) (ports.SyncResponse, error) {
	if p.onWrite != nil {
		p.onWrite(id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[id]++
	if errs := p.writeErr[id]; len(errs) > 0 {
		p.writeErr[id] = errs[1:]
		return ports.SyncResponse{}, errs[0]
	}
	i := slices.IndexFunc(p.certs, func(c ports.Certification) bool { return c.ID == id })
	if i < 0 {
		return ports.SyncResponse{}, &ports.PortalError{Code: ports.CodeNotFound, Op: "WriteSyncMetadata", StatusCode: 404}
	}
	c := &p.certs[i]
	c.SyncStatus, c.LastSyncedOn = m.Status, m.LastSyncedOn
	c.ETag = fmt.Sprintf(`W/"%d"`, len(p.writes)+1)
	p.writes = append(p.writes, m)
	p.written = append(p.written, id)
	return ports.SyncResponse{ID: id, Status: m.Status, LastSyncedOn: m.LastSyncedOn, ETag: c.ETag}, nil
}

func (p *portal) Written() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.written)
	slices.Sort(out)
	return out
}

func (p *portal) Queries() []ports.PageQuery {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.queries)
}

// store is a pass store behind the gomock mock. It keeps the pages of the
// pass it holds, and every committed checkpoint: those of a pass's start
// (no continuation) in starts, those of pages in saves.
type store struct {
	cp        *ports.Checkpoint
	pages     [][]ports.SyncRecord
	starts    []ports.Checkpoint
	saves     []ports.Checkpoint
	finishes  int
	commitErr error // returned by the commits of pages
	finishErr error // returned by Finish, after storing the page
}

func (s *store) install(m *mocks.MockPassStore) {
	m.EXPECT().Resume(gomock.Any()).DoAndReturn(func(context.Context) (ports.Checkpoint, error) {
		if s.cp == nil {
			return ports.Checkpoint{}, fmt.Errorf("test store: %w", ports.ErrNoCheckpoint)
		}
		return *s.cp, nil
	}).AnyTimes()
	m.EXPECT().Commit(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, page []ports.SyncRecord, c ports.Checkpoint) error {
		if c.Next == "" {
			s.starts = append(s.starts, c)
			s.cp, s.pages = &c, nil
			return nil
		}
		if s.commitErr != nil {
			return s.commitErr
		}
		s.pages = append(s.pages, slices.Clone(page))
		s.saves = append(s.saves, c)
		s.cp = &c
		return nil
	}).AnyTimes()
	m.EXPECT().Finish(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, page []ports.SyncRecord) error {
		s.pages = append(s.pages, slices.Clone(page))
		s.finishes++
		s.cp = nil
		return s.finishErr
	}).AnyTimes()
}

func (s *store) records() []ports.SyncRecord {
	var out []ports.SyncRecord
	for _, p := range s.pages {
		out = append(out, p...)
	}
	return out
}

// actions returns "id:action" for every record the store holds.
func (s *store) actions() []string {
	var out []string
	for _, r := range s.records() {
		out = append(out, fmt.Sprintf("%s:%s", r.ID[len(r.ID)-2:], r.Action))
	}
	return out
}

// env is one service under test with its doubles.
type env struct {
	portal *portal
	store  *store
	clock  *clock
	sleep  func(context.Context, time.Duration) error // instead of the clock's
	logs   *syncBuffer
	mocks  struct {
		portal *mocks.MockDynamicsPortal
		store  *mocks.MockPassStore
	}
}

// newEnv builds the doubles; the portal and store fakes are
// installed on the mocks unless the test sets up the mock itself.
func newEnv(t *testing.T, p *portal) *env {
	t.Helper()
	ctrl := gomock.NewController(t)
	e := &env{portal: p, store: &store{}, clock: newClock(), logs: &syncBuffer{}}
	e.mocks.portal = mocks.NewMockDynamicsPortal(ctrl)
	e.mocks.store = mocks.NewMockPassStore(ctrl)
	if p != nil {
		p.install(e.mocks.portal)
	}
	return e
}

// service installs the store fake and returns the service. The
// test clock is used unless opts sets its own Now and Sleep, or the test
// set e.clock to nil to use the defaults.
func (e *env) service(t *testing.T, opts core.SyncOptions) *core.SyncService {
	t.Helper()
	e.store.install(e.mocks.store)
	return e.serviceOnly(t, opts)
}

// withSleep makes the service's waits call sleep instead of the clock's.
func (e *env) withSleep(sleep func(context.Context, time.Duration) error) *env {
	e.sleep = sleep
	return e
}

// serviceOnly returns the service without installing the fake.
func (e *env) serviceOnly(t *testing.T, opts core.SyncOptions) *core.SyncService {
	t.Helper()
	if e.clock != nil {
		sleep := e.clock.Sleep
		if e.sleep != nil {
			sleep = e.sleep
		}
		core.WithClock(&opts, e.clock.Now, sleep)
	}
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := core.NewSyncService(e.mocks.portal, e.mocks.store, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// cert returns an active certification that expires in days days from
// today (none when days is nil), with the given sync status and last
// synced time.
func cert(n int, expiresIn *int, status ports.SyncStatus, lastSynced time.Time) ports.Certification {
	c := ports.Certification{
		ID:           id(n),
		Name:         "Peer mentor basic course",
		ContactID:    "a3c1e2d4-7b6f-4e21-8c90-1f2e3d4c5b6a",
		IssuedOn:     ports.Date{Year: 2025, Month: 3, Day: 1},
		ModifiedOn:   time.Date(2026, 11, 20, 8, 15, 0, 0, time.UTC),
		SyncStatus:   status,
		LastSyncedOn: lastSynced,
	}
	if expiresIn != nil {
		c.ExpiresOn = today.AddDays(*expiresIn)
	}
	return c
}

func days(n int) *int { return &n }

// synced is a LastSyncedOn before the test passes.
var synced = t0.Add(-72 * time.Hour).Truncate(time.Second)

// throttled is a 429 answer asking to wait d.
func throttled(d time.Duration) error {
	return &ports.PortalError{Code: ports.CodeRateLimited, Op: "WriteSyncMetadata", StatusCode: 429, ServiceCode: "0x80072322", RetryAfter: d}
}

// assignments is a portal's assignments listing behind the mock, paged
// like the certifications, and an assignment sink that records its pages.
type assignments struct {
	items    []ports.Assignment
	pageSize int
	errs     []error // returned by the next reads
	reads    int
	pages    [][]string // ids per page the sink got
	lasts    []bool
	lastErr  error // returned by the sink for the last page
}

func (a *assignments) install(e *env, t *testing.T) ports.AssignmentSink {
	e.mocks.portal.EXPECT().ListAssignments(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, q ports.PageQuery) (ports.Page[ports.Assignment], error) {
		a.reads++
		if len(a.errs) > 0 {
			err := a.errs[0]
			a.errs = a.errs[1:]
			return ports.Page[ports.Assignment]{}, err
		}
		start, _ := strconv.Atoi(strings.TrimPrefix(q.Continuation, "a-"))
		end := min(start+a.pageSize, len(a.items))
		page := ports.Page[ports.Assignment]{Items: slices.Clone(a.items[start:end])}
		if end < len(a.items) {
			page.Next = "a-" + strconv.Itoa(end)
		}
		return page, nil
	}).AnyTimes()
	sink := mocks.NewMockAssignmentSink(gomock.NewController(t))
	sink.EXPECT().WriteAssignments(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, page []ports.Assignment, last bool) error {
		var ids []string
		for _, x := range page {
			ids = append(ids, x.ID[len(x.ID)-2:])
		}
		a.pages = append(a.pages, ids)
		a.lasts = append(a.lasts, last)
		if last {
			return a.lastErr
		}
		return nil
	}).AnyTimes()
	return sink
}

func newAssignments(n, pageSize int) *assignments {
	a := &assignments{pageSize: pageSize}
	for i := 1; i <= n; i++ {
		a.items = append(a.items, ports.Assignment{ID: id(50 + i), MentorID: id(i), CoordinatorID: id(90)})
	}
	return a
}
