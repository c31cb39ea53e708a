package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/hlf/dynamicsportal/internal/oteltest"
	"github.com/hlf/dynamicsportal/ports"
)

// The store's work runs under the caller's span: during a sync pass, the
// page's.
func TestStoreSpansAreChildrenOfTheCaller(t *testing.T) {
	tel := oteltest.New(t)
	u := database(t)
	s, err := Open(t.Context(), u, &Options{TracerProvider: tel.TracerProvider})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ctx, page := tel.TracerProvider.Tracer("core").Start(t.Context(), "portalsync.sync.page")
	if _, err := s.Resume(ctx); err == nil {
		t.Fatal("Resume found a checkpoint in a fresh database")
	}
	if err := s.Commit(ctx, nil, ports.Checkpoint{StartedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Commit(cancelled, nil, ports.Checkpoint{Next: "page-2"}); err == nil {
		t.Fatal("Commit on a cancelled context succeeded")
	}
	if err := s.Finish(ctx, []ports.SyncRecord{cert(id('c', 1), id('a', 1), ports.SyncStatusValid, "2030-01-01")}); err != nil {
		t.Fatal(err)
	}
	page.End()

	var names []string
	for _, sp := range oteltest.Children(tel.Spans(), page.SpanContext()) {
		names = append(names, sp.Name)
		if v, _ := oteltest.Attr(sp.Attributes, "db.system.name"); v.AsString() != "postgresql" {
			t.Errorf("%s: db.system.name %q, want postgresql", sp.Name, v.AsString())
		}
		failed := sp.Status.Code == codes.Error
		if wantFailed := len(names) == 3; failed != wantFailed {
			t.Errorf("%s (#%d): status %v, want an error only on the cancelled commit", sp.Name, len(names), sp.Status)
		}
	}
	want := "portalsync.store.Resume portalsync.store.Commit portalsync.store.Commit portalsync.store.Finish"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("children of the page span: %s, want %s", got, want)
	}
	if dump := tel.Dump(t); strings.Contains(dump, "select") || strings.Contains(dump, "password") || strings.Contains(dump, u) {
		t.Errorf("the spans hold statements or connection settings:\n%s", dump)
	}
}
