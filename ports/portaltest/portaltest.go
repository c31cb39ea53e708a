// Package portaltest is the one test suite every ports.DynamicsPortal
// implementation runs, so the real adapter and the stub keep the same
// promises. An implementation's test calls Run with a Harness that builds a
// fresh portal and says what data it holds.
package portaltest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// Harness builds the portal under test.
type Harness struct {
	// New returns a fresh portal and the data it holds. Each subtest calls
	// it once, so writes in one subtest do not leak into another.
	New func(t *testing.T) (ports.DynamicsPortal, Data)
}

// Data is what a fresh portal from the harness holds.
type Data struct {
	// Certifications in key order (empty for the stub).
	Certifications []ports.Certification
	// Assignments, in the order the portal lists them.
	Assignments []ports.Assignment
	// WritesApplied is false for a portal that acknowledges writes without
	// applying them (the stub).
	WritesApplied bool
	// Stub is true for the no-op stub.
	Stub bool
}

// A well-formed id that no portal holds.
const missingID = "00000000-0000-4000-8000-000000000000"

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("WhoAmI", func(t *testing.T) {
		p, d := h.New(t)
		id, err := p.WhoAmI(t.Context())
		if err != nil {
			t.Fatalf("WhoAmI: %v", err)
		}
		if id.Stub != d.Stub {
			t.Errorf("Identity.Stub = %v, want %v", id.Stub, d.Stub)
		}
		if !d.Stub && (id.UserID == "" || id.OrganizationID == "" || id.BusinessUnitID == "") {
			t.Errorf("identity has empty ids: %+v", id)
		}
	})

	t.Run("CertificationsPageByPageInKeyOrder", func(t *testing.T) {
		p, d := h.New(t)
		const size = 3
		var got []string
		pages := 0
		q := ports.PageQuery{PageSize: size}
		for {
			page, err := p.ListCertifications(t.Context(), q)
			if err != nil {
				t.Fatalf("page %d: %v", pages+1, err)
			}
			pages++
			if len(page.Items) > size {
				t.Fatalf("page %d has %d items, page size %d", pages, len(page.Items), size)
			}
			for _, c := range page.Items {
				got = append(got, c.ID)
			}
			if page.Next == "" {
				break
			}
			if page.Next == q.Continuation {
				t.Fatalf("page %d returned its own continuation", pages)
			}
			if pages > len(d.Certifications)+1 {
				t.Fatalf("more pages (%d) than records (%d)", pages, len(d.Certifications))
			}
			q.Continuation = page.Next
		}
		want := ids(d.Certifications)
		if !slices.Equal(got, want) {
			t.Errorf("listed ids:\n got %v\nwant %v", got, want)
		}
		if !slices.IsSorted(got) {
			t.Errorf("ids not in key order: %v", got)
		}
	})

	t.Run("CertificationFieldsMatchListing", func(t *testing.T) {
		p, d := h.New(t)
		if len(d.Certifications) == 0 {
			t.Skip("the portal holds no certifications")
		}
		want := d.Certifications[0]
		got, err := p.GetCertification(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("GetCertification(%s): %v", want.ID, err)
		}
		if !sameCertification(got, want) {
			t.Errorf("GetCertification:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("MissingCertificationIsNotFound", func(t *testing.T) {
		p, _ := h.New(t)
		_, err := p.GetCertification(t.Context(), missingID)
		if !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("GetCertification(missing) = %v, want notFound", err)
		}
	})

	t.Run("MalformedIDIsInvalidRequest", func(t *testing.T) {
		p, _ := h.New(t)
		for _, id := range []string{"", "not-a-guid", "1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d3e)?$x=1"} {
			if _, err := p.GetCertification(t.Context(), id); !errors.Is(err, ports.ErrInvalidRequest) {
				t.Errorf("GetCertification(%q) = %v, want invalidRequest", id, err)
			}
			m := ports.SyncMetadata{Status: ports.SyncStatusValid, LastSyncedOn: time.Now()}
			if _, err := p.WriteSyncMetadata(t.Context(), id, m); !errors.Is(err, ports.ErrInvalidRequest) {
				t.Errorf("WriteSyncMetadata(%q) = %v, want invalidRequest", id, err)
			}
		}
	})

	t.Run("ForeignContinuationIsRefused", func(t *testing.T) {
		p, _ := h.New(t)
		q := ports.PageQuery{Continuation: "https://elsewhere.example/api/data/v9.2/hlf_certifications?$skiptoken=x"}
		if _, err := p.ListCertifications(t.Context(), q); !errors.Is(err, ports.ErrInvalidRequest) {
			t.Errorf("ListCertifications(foreign continuation) = %v, want invalidRequest", err)
		}
	})

	t.Run("Assignments", func(t *testing.T) {
		p, d := h.New(t)
		var got []string
		q := ports.PageQuery{PageSize: 2}
		for range len(d.Assignments) + 2 {
			page, err := p.ListAssignments(t.Context(), q)
			if err != nil {
				t.Fatalf("ListAssignments: %v", err)
			}
			for _, a := range page.Items {
				got = append(got, a.ID)
			}
			if page.Next == "" {
				break
			}
			q.Continuation = page.Next
		}
		want := make([]string, 0, len(d.Assignments))
		for _, a := range d.Assignments {
			want = append(want, a.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("assignment ids:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("WriteSyncMetadata", func(t *testing.T) {
		p, d := h.New(t)
		id := missingID
		if len(d.Certifications) > 0 {
			id = d.Certifications[len(d.Certifications)-1].ID
		}
		at := time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC)
		resp, err := p.WriteSyncMetadata(t.Context(), id, ports.SyncMetadata{Status: ports.SyncStatusExpiring, LastSyncedOn: at})
		if err != nil {
			t.Fatalf("WriteSyncMetadata: %v", err)
		}
		if !d.WritesApplied {
			if !resp.Skipped {
				t.Errorf("response %+v: want Skipped from a portal that does not apply writes", resp)
			}
			return
		}
		if resp.Skipped || resp.ID != id || resp.Status != ports.SyncStatusExpiring || !resp.LastSyncedOn.Equal(at) {
			t.Errorf("response %+v: want the written values for %s", resp, id)
		}
		got, err := p.GetCertification(t.Context(), id)
		if err != nil {
			t.Fatalf("GetCertification after write: %v", err)
		}
		if got.SyncStatus != ports.SyncStatusExpiring || !got.LastSyncedOn.Equal(at) {
			t.Errorf("after write: status %v, last synced %v", got.SyncStatus, got.LastSyncedOn)
		}
		if resp.ETag != "" && got.ETag != resp.ETag {
			t.Errorf("etag after write %q, response said %q", got.ETag, resp.ETag)
		}
	})

	t.Run("WriteToMissingRecord", func(t *testing.T) {
		p, d := h.New(t)
		resp, err := p.WriteSyncMetadata(t.Context(), missingID, ports.SyncMetadata{Status: ports.SyncStatusValid, LastSyncedOn: time.Now()})
		if d.WritesApplied {
			if !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("write to missing record = %+v, %v; want notFound", resp, err)
			}
			return
		}
		if err != nil || !resp.Skipped {
			t.Errorf("write to missing record = %+v, %v; want skipped", resp, err)
		}
	})

	t.Run("InvalidSyncStatusIsRefused", func(t *testing.T) {
		p, d := h.New(t)
		id := missingID
		if len(d.Certifications) > 0 {
			id = d.Certifications[0].ID
		}
		for _, s := range []ports.SyncStatus{ports.SyncStatusNone, 9, -1} {
			_, err := p.WriteSyncMetadata(t.Context(), id, ports.SyncMetadata{Status: s, LastSyncedOn: time.Now()})
			if !errors.Is(err, ports.ErrInvalidRequest) {
				t.Errorf("WriteSyncMetadata(status %d) = %v, want invalidRequest", s, err)
			}
		}
	})

	t.Run("WriteSyncMetadataBatch", func(t *testing.T) {
		p, d := h.New(t)
		first, last := missingID, missingID
		if n := len(d.Certifications); n > 0 {
			first, last = d.Certifications[0].ID, d.Certifications[n-1].ID
		}
		at := time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC)
		writes := []ports.SyncWrite{
			{ID: last, Metadata: ports.SyncMetadata{Status: ports.SyncStatusExpired, LastSyncedOn: at}},
			{ID: missingID, Metadata: ports.SyncMetadata{Status: ports.SyncStatusValid, LastSyncedOn: at}},
			{ID: "not-a-guid", Metadata: ports.SyncMetadata{Status: ports.SyncStatusValid, LastSyncedOn: at}},
			{ID: first, Metadata: ports.SyncMetadata{Status: ports.SyncStatusInactive, LastSyncedOn: at}},
		}
		results, err := p.WriteSyncMetadataBatch(t.Context(), writes)
		if err != nil {
			t.Fatalf("WriteSyncMetadataBatch: %v", err)
		}
		if len(results) != len(writes) {
			t.Fatalf("%d results for %d writes", len(results), len(writes))
		}
		if !errors.Is(results[2].Err, ports.ErrInvalidRequest) {
			t.Errorf("malformed id: %+v, want invalidRequest", results[2])
		}
		if !d.WritesApplied {
			for _, i := range []int{0, 1, 3} {
				if results[i].Err != nil || !results[i].Response.Skipped || results[i].Response.ID != writes[i].ID {
					t.Errorf("write %d: %+v, want skipped", i, results[i])
				}
			}
			return
		}
		if !errors.Is(results[1].Err, ports.ErrNotFound) {
			t.Errorf("missing record: %+v, want notFound", results[1])
		}
		for _, i := range []int{0, 3} {
			r, w := results[i], writes[i]
			if r.Err != nil || r.Response.Skipped || r.Response.ID != w.ID || r.Response.Status != w.Metadata.Status || !r.Response.LastSyncedOn.Equal(at) {
				t.Errorf("write %d: %+v, want the written values for %s", i, r, w.ID)
				continue
			}
			got, err := p.GetCertification(t.Context(), w.ID)
			if err != nil {
				t.Fatalf("GetCertification after write: %v", err)
			}
			if got.SyncStatus != w.Metadata.Status || !got.LastSyncedOn.Equal(at) {
				t.Errorf("after write %d: status %v, last synced %v", i, got.SyncStatus, got.LastSyncedOn)
			}
		}
	})

	t.Run("WriteSyncMetadataBatchLimits", func(t *testing.T) {
		p, _ := h.New(t)
		results, err := p.WriteSyncMetadataBatch(t.Context(), nil)
		if err != nil || len(results) != 0 {
			t.Errorf("empty batch = %v, %v; want no results and no error", results, err)
		}
		writes := make([]ports.SyncWrite, ports.MaxBatchWrites+1)
		for i := range writes {
			writes[i] = ports.SyncWrite{ID: missingID, Metadata: ports.SyncMetadata{Status: ports.SyncStatusValid, LastSyncedOn: time.Now()}}
		}
		if _, err := p.WriteSyncMetadataBatch(t.Context(), writes); !errors.Is(err, ports.ErrInvalidRequest) {
			t.Errorf("%d writes = %v, want invalidRequest", len(writes), err)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		p, _ := h.New(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := p.WhoAmI(ctx); !errors.Is(err, ports.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Errorf("WhoAmI(canceled) = %v, want canceled wrapping context.Canceled", err)
		}
		if _, err := p.ListCertifications(ctx, ports.PageQuery{}); !errors.Is(err, ports.ErrCanceled) {
			t.Errorf("ListCertifications(canceled) = %v, want canceled", err)
		}
	})
}

func ids(cs []ports.Certification) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func sameCertification(a, b ports.Certification) bool {
	return a.ID == b.ID && a.Name == b.Name && a.ContactID == b.ContactID && a.Type == b.Type &&
		a.IssuedOn == b.IssuedOn && a.ExpiresOn == b.ExpiresOn && a.State == b.State &&
		a.ModifiedOn.Equal(b.ModifiedOn) && a.LastSyncedOn.Equal(b.LastSyncedOn) &&
		a.SyncStatus == b.SyncStatus && a.ETag == b.ETag
}
