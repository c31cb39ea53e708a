package stub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/stub"
	"github.com/hlf/dynamicsportal/ports"
	"github.com/hlf/dynamicsportal/ports/portaltest"
)

func TestContract(t *testing.T) {
	portaltest.Run(t, portaltest.Harness{
		New: func(t *testing.T) (ports.DynamicsPortal, portaltest.Data) {
			return stub.New(nil), portaltest.Data{Stub: true, WritesApplied: false}
		},
	})
}

func TestNewLogsOneInfoLine(t *testing.T) {
	var buf bytes.Buffer
	stub.New(&stub.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=INFO") || !strings.Contains(out, "stub in use") {
		t.Errorf("log = %q, want one info line about the stub", out)
	}
}

const id = "5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b10"

func TestWriteSyncMetadataEchoesAndSkips(t *testing.T) {
	p := stub.New(nil)
	at := time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC)
	for s := ports.SyncStatusValid; s <= ports.SyncStatusInactive; s++ {
		got, err := p.WriteSyncMetadata(t.Context(), strings.ToUpper(id), ports.SyncMetadata{Status: s, LastSyncedOn: at})
		want := ports.SyncResponse{ID: strings.ToUpper(id), Status: s, LastSyncedOn: at, Skipped: true}
		if err != nil || got != want {
			t.Errorf("WriteSyncMetadata(status %v) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	if _, err := p.WriteSyncMetadata(t.Context(), id, ports.SyncMetadata{Status: 5, LastSyncedOn: at}); !errors.Is(err, ports.ErrInvalidRequest) {
		t.Errorf("status 5: %v, want invalidRequest", err)
	}
}

func TestMalformedIDs(t *testing.T) {
	p := stub.New(nil)
	for _, bad := range []string{
		"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b1",   // short
		"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b100", // long
		"5d0f6a8e_2c1b-4f57-9a43-0d8e2f1c7b10",  // wrong separator
		"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b1g",  // not hex
		"{d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b1}",
	} {
		_, err := p.GetCertification(t.Context(), bad)
		var pe *ports.PortalError
		if !errors.As(err, &pe) || pe.Code != ports.CodeInvalidRequest || pe.Op != "GetCertification" {
			t.Errorf("GetCertification(%q) = %v, want invalidRequest", bad, err)
		}
	}
}

func TestListings(t *testing.T) {
	p := stub.New(nil)
	c, err := p.ListCertifications(t.Context(), ports.PageQuery{PageSize: 10, ModifiedSince: time.Now()})
	if err != nil || len(c.Items) != 0 || c.Next != "" {
		t.Errorf("ListCertifications = %+v, %v; want an empty last page", c, err)
	}
	a, err := p.ListAssignments(t.Context(), ports.PageQuery{})
	if err != nil || len(a.Items) != 0 || a.Next != "" {
		t.Errorf("ListAssignments = %+v, %v; want an empty last page", a, err)
	}
	if _, err := p.ListAssignments(t.Context(), ports.PageQuery{Continuation: "x"}); !errors.Is(err, ports.ErrInvalidRequest) {
		t.Errorf("ListAssignments(continuation) = %v, want invalidRequest", err)
	}
}

func TestCanceledContextOnEveryMethod(t *testing.T) {
	p := stub.New(nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err1 := p.WhoAmI(ctx)
	_, err2 := p.ListCertifications(ctx, ports.PageQuery{})
	_, err3 := p.GetCertification(ctx, id)
	_, err4 := p.ListAssignments(ctx, ports.PageQuery{})
	_, err5 := p.WriteSyncMetadata(ctx, id, ports.SyncMetadata{Status: ports.SyncStatusValid})
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if !errors.Is(err, ports.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Errorf("call %d = %v, want canceled wrapping context.Canceled", i+1, err)
		}
	}
}

func ExampleNew() {
	portal := stub.New(&stub.Options{Logger: slog.Default()})
	id, _ := portal.WhoAmI(context.Background())
	page, _ := portal.ListCertifications(context.Background(), ports.PageQuery{})
	fmt.Println(id.Stub, len(page.Items), page.Next == "")
	// Output: true 0 true
}
