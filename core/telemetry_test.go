package core_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/mock/gomock"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/oteltest"
	"github.com/hlf/dynamicsportal/ports"
)

// spansSeen records the span in the context of each portal call.
type spansSeen struct {
	mu     sync.Mutex
	reads  []trace.SpanID
	writes []trace.SpanID
}

// installSeeing installs p on the mock, noting the span each call runs in.
func (s *spansSeen) installSeeing(e *env, p *portal) {
	e.mocks.portal.EXPECT().ListCertifications(gomock.Any(), gomock.Any()).DoAndReturn(
		func(ctx context.Context, q ports.PageQuery) (ports.Page[ports.Certification], error) {
			s.mu.Lock()
			s.reads = append(s.reads, trace.SpanContextFromContext(ctx).SpanID())
			s.mu.Unlock()
			return p.list(ctx, q)
		}).AnyTimes()
	e.mocks.portal.EXPECT().WriteSyncMetadata(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(ctx context.Context, id string, m ports.SyncMetadata) (ports.SyncResponse, error) {
			s.mu.Lock()
			s.writes = append(s.writes, trace.SpanContextFromContext(ctx).SpanID())
			s.mu.Unlock()
			return p.write(ctx, id, m)
		}).AnyTimes()
	e.mocks.portal.EXPECT().WriteSyncMetadataBatch(gomock.Any(), gomock.Any()).DoAndReturn(
		func(ctx context.Context, writes []ports.SyncWrite) ([]ports.SyncWriteResult, error) {
			s.mu.Lock()
			for range writes {
				s.writes = append(s.writes, trace.SpanContextFromContext(ctx).SpanID())
			}
			s.mu.Unlock()
			return p.writeBatch(ctx, writes)
		}).AnyTimes()
}

func intAttr(t *testing.T, s tracetest.SpanStub, key string) int64 {
	t.Helper()
	v, ok := oteltest.Attr(s.Attributes, key)
	if !ok {
		t.Errorf("span %s has no attribute %s", s.Name, key)
	}
	return v.AsInt64()
}

func TestTelemetryOfAPassOfTwoPages(t *testing.T) {
	// Page 1: never synced (write valid), unchanged valid, now expiring
	// (write), a write the portal refuses (failed). Page 2: expired,
	// unchanged.
	p := newPortal(4,
		cert(1, days(400), ports.SyncStatusNone, time.Time{}),
		cert(2, days(400), ports.SyncStatusValid, synced),
		cert(3, days(10), ports.SyncStatusValid, synced),
		cert(4, days(400), ports.SyncStatusNone, time.Time{}),
		cert(5, days(-1), ports.SyncStatusExpired, synced),
	)
	p.writeErr[id(4)] = []error{&ports.PortalError{Code: ports.CodeInvalidRequest, Op: "WriteSyncMetadata", StatusCode: 412}}
	e := newEnv(t, nil)
	var seen spansSeen
	seen.installSeeing(e, p)
	// The pass store sees the page's span too (the PostgreSQL store puts
	// its own spans under it). These expectations come before the fake
	// e.service installs, so gomock uses them.
	var stored []trace.SpanID
	note := func(ctx context.Context) { stored = append(stored, trace.SpanContextFromContext(ctx).SpanID()) }
	e.mocks.store.EXPECT().Commit(gomock.Any(), gomock.Any(), gomock.Cond(func(c ports.Checkpoint) bool { return c.Next != "" })).DoAndReturn(
		func(ctx context.Context, _ []ports.SyncRecord, _ ports.Checkpoint) error { note(ctx); return nil }).AnyTimes()
	e.mocks.store.EXPECT().Finish(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, _ []ports.SyncRecord) error { note(ctx); return nil }).AnyTimes()
	tel := oteltest.New(t)
	s := e.service(t, core.SyncOptions{PageSize: 4, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})

	ctx, caller := tel.TracerProvider.Tracer("host").Start(t.Context(), "nightly job")
	rep, err := s.Run(ctx)
	caller.End()
	if !errors.Is(err, ports.ErrWritesFailed) {
		t.Fatalf("Run = %v, want the refused write reported", err)
	}

	passes := tel.Named(core.SpanPass)
	if len(passes) != 1 {
		t.Fatalf("%d pass spans, want 1", len(passes))
	}
	pass := passes[0]
	if pass.Parent.SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("the pass span's parent is %v, want the caller's span %v", pass.Parent.SpanID(), caller.SpanContext().SpanID())
	}
	if pass.Status.Code == codes.Error {
		t.Errorf("pass span status %v, want no error", pass.Status)
	}
	for key, want := range map[string]int64{"portalsync.pages": 2, "portalsync.records": 5,
		"portalsync.writes.done": 2, "portalsync.writes.unchanged": 2, "portalsync.writes.failed": 1} {
		if got := intAttr(t, pass, key); got != want {
			t.Errorf("pass span %s = %d, want %d", key, got, want)
		}
	}
	if v, _ := oteltest.Attr(pass.Attributes, "portalsync.complete"); !v.AsBool() {
		t.Error("pass span: portalsync.complete is not true")
	}

	pages := oteltest.Children(tel.Spans(), pass.SpanContext)
	if len(pages) != 2 || len(tel.Named(core.SpanPage)) != 2 {
		t.Fatalf("the pass span has %d children and there are %d page spans, want 2 and 2", len(pages), len(tel.Named(core.SpanPage)))
	}
	want := []map[string]int64{
		{"portalsync.page": 1, "portalsync.records": 4, "portalsync.writes.done": 2, "portalsync.writes.unchanged": 1, "portalsync.writes.failed": 1},
		{"portalsync.page": 2, "portalsync.records": 1, "portalsync.writes.done": 0, "portalsync.writes.unchanged": 1, "portalsync.writes.failed": 0},
	}
	for i, pg := range pages {
		if pg.Name != core.SpanPage {
			t.Errorf("child %d of the pass is %q, want %q", i, pg.Name, core.SpanPage)
		}
		for key, w := range want[i] {
			if got := intAttr(t, pg, key); got != w {
				t.Errorf("page span %d: %s = %d, want %d", i+1, key, got, w)
			}
		}
	}
	// The portal calls of each page run under the page's span.
	if len(seen.reads) != 2 || seen.reads[0] != pages[0].SpanContext.SpanID() || seen.reads[1] != pages[1].SpanContext.SpanID() {
		t.Errorf("page reads ran in spans %v, want the page spans %v, %v", seen.reads, pages[0].SpanContext.SpanID(), pages[1].SpanContext.SpanID())
	}
	if len(seen.writes) != 3 {
		t.Errorf("%d writes seen, want 3", len(seen.writes))
	}
	for _, w := range seen.writes {
		if w != pages[0].SpanContext.SpanID() {
			t.Errorf("a write ran in span %v, want page 1's span %v", w, pages[0].SpanContext.SpanID())
		}
	}

	// Page 1's commit, and page 2's finish.
	wantStored := []trace.SpanID{pages[0].SpanContext.SpanID(), pages[1].SpanContext.SpanID()}
	if !slices.Equal(stored, wantStored) {
		t.Errorf("the store's work ran in spans %v, want %v", stored, wantStored)
	}

	m := tel.Metrics(t)
	complete := attribute.String("portalsync.outcome", "complete")
	if got := m.Value(core.MetricPasses, complete); got != 1 {
		t.Errorf("%s{complete} = %v, want 1", core.MetricPasses, got)
	}
	for status, want := range map[string]float64{"valid": 3, "expiring": 1, "expired": 1, "inactive": 0} {
		if got := m.Value(core.MetricRecords, attribute.String("portalsync.status", status)); got != want {
			t.Errorf("%s{%s} = %v, want %v", core.MetricRecords, status, got, want)
		}
	}
	for outcome, want := range map[string]float64{"written": 2, "unchanged": 2, "failed": 1} {
		if got := m.Value(core.MetricWrites, attribute.String("portalsync.outcome", outcome)); got != want {
			t.Errorf("%s{%s} = %v, want %v", core.MetricWrites, outcome, got, want)
		}
	}
	if got := m.Count(core.MetricPassDuration, complete); got != 1 {
		t.Errorf("%s count %d, want 1", core.MetricPassDuration, got)
	}
	if got, want := m.Value(core.MetricPassDuration, complete), rep.Duration.Seconds(); got != want {
		t.Errorf("%s sum %v, want the report's %v", core.MetricPassDuration, got, want)
	}
	if got, want := m.Value(core.MetricLastCompleted), float64(e.clock.Now().UnixNano())/1e9; got != want {
		t.Errorf("%s = %v, want the clock's %v", core.MetricLastCompleted, got, want)
	}
}

func TestTelemetryOfAStoppedPass(t *testing.T) {
	p := sevenRecords() // pages of 3
	p.pageErr[3] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "ListCertifications", StatusCode: 503}}
	e := newEnv(t, p)
	tel := oteltest.New(t)
	s := e.service(t, core.SyncOptions{PageSize: 3, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})

	if _, err := s.Run(t.Context()); ports.CodeOf(err) != ports.CodeServerError {
		t.Fatalf("Run: %v, want a serverError", err)
	}

	pass := tel.Named(core.SpanPass)[0]
	if pass.Status.Code != codes.Error || pass.Status.Description != "serverError" {
		t.Errorf("pass span status %+v, want Error serverError", pass.Status)
	}
	pages := tel.Named(core.SpanPage)
	if len(pages) != 2 {
		t.Fatalf("%d page spans, want 2", len(pages))
	}
	// Page 1 is stored beside the reading of page 2, so its span may end
	// last: order them by page.
	slices.SortFunc(pages, func(a, b tracetest.SpanStub) int {
		pa, _ := oteltest.Attr(a.Attributes, "portalsync.page")
		pb, _ := oteltest.Attr(b.Attributes, "portalsync.page")
		return cmp.Compare(pa.AsInt64(), pb.AsInt64())
	})
	if pages[0].Status.Code == codes.Error || pages[1].Status.Code != codes.Error {
		t.Errorf("page span statuses %v, %v: want ok, then Error", pages[0].Status, pages[1].Status)
	}
	if v, _ := oteltest.Attr(pages[1].Attributes, "error.type"); v.AsString() != "serverError" {
		t.Errorf("page 2 error.type %q, want serverError", v.AsString())
	}

	m := tel.Metrics(t)
	stopped := []attribute.KeyValue{attribute.String("portalsync.outcome", "stopped"), attribute.String("error.type", "serverError")}
	if got := m.Value(core.MetricPasses, stopped...); got != 1 {
		t.Errorf("%s{stopped, serverError} = %v, want 1 (all: %v)", core.MetricPasses, got, m.Attributes(core.MetricPasses))
	}
	// Only the completed first page is counted: the second is read again
	// by the run that resumes.
	if got := m.Value(core.MetricRecords); got != 3 {
		t.Errorf("%s = %v, want the 3 records of page 1", core.MetricRecords, got)
	}
	if _, ok := m.Find(core.MetricLastCompleted); ok {
		t.Errorf("%s recorded after a pass that stopped", core.MetricLastCompleted)
	}
}

// A pass over the stub never counts as a real one: its metrics and span
// say portalsync.portal=stub, and it records no last_completed, so a
// staleness alert fires while nothing is synced. A live pass says live.
func TestTelemetryOfAStubPass(t *testing.T) {
	for _, stub := range []bool{false, true} {
		p := sevenRecords()
		e := newEnv(t, p)
		tel := oteltest.New(t)
		s := e.service(t, core.SyncOptions{PageSize: 3, Stub: stub, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})
		if _, err := s.Run(t.Context()); err != nil {
			t.Fatalf("stub %v: Run: %v", stub, err)
		}
		kind := "live"
		if stub {
			kind = "stub"
		}
		m := tel.Metrics(t)
		want := []attribute.KeyValue{attribute.String("portalsync.outcome", "complete"), attribute.String("portalsync.portal", kind)}
		if got := m.Value(core.MetricPasses, want...); got != 1 {
			t.Errorf("%s{complete, %s} = %v, want 1 (all: %v)", core.MetricPasses, kind, got, m.Attributes(core.MetricPasses))
		}
		if _, recorded := m.Find(core.MetricLastCompleted); recorded == stub {
			t.Errorf("stub %v: %s recorded = %v", stub, core.MetricLastCompleted, recorded)
		}
		if v, _ := oteltest.Attr(tel.Named(core.SpanPass)[0].Attributes, "portalsync.portal"); v.AsString() != kind {
			t.Errorf("pass span portalsync.portal = %q, want %q", v.AsString(), kind)
		}
	}
}
