package dynamicstest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

const syncBody = `{"hlf_syncstatus":2,"hlf_lastsyncedon":"2026-11-28T01:00:07.123Z"}`

func TestPatchIfMatchAny(t *testing.T) {
	clk := newClock()
	ts := newTester(t, Options{Certifications: 10, Now: clk.Now})
	before := ts.e.Certifications()[3]
	clk.Advance(30 * time.Minute)
	r := ts.api(http.MethodPatch, "hlf_certifications("+before.ID+")", syncBody, "If-Match", "*", "x-correlation-id", "c0ffee00-0000-4000-8000-000000000001")
	wantStatus(t, r, http.StatusNoContent)
	if got := r.header.Get("OData-EntityId"); got != ts.e.BaseURL()+APIPath+"hlf_certifications("+before.ID+")" {
		t.Errorf("OData-EntityId %q", got)
	}
	after := ts.e.Certifications()[3]
	synced := time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC)
	if after.SyncStatus != ports.SyncStatusExpiring || !after.LastSyncedOn.Equal(synced) || !after.ModifiedOn.Equal(clk.Now()) {
		t.Errorf("after write: %+v", after)
	}
	if after.ETag == before.ETag || r.header.Get("ETag") != after.ETag {
		t.Errorf("etag before %s, after %s, header %s", before.ETag, after.ETag, r.header.Get("ETag"))
	}
	if after.Name != before.Name || after.ExpiresOn != before.ExpiresOn {
		t.Error("the write changed other columns")
	}
	want := []Write{{ID: before.ID, Status: ports.SyncStatusExpiring, LastSyncedOn: synced, ETag: after.ETag,
		At: clk.Now(), CorrelationID: "c0ffee00-0000-4000-8000-000000000001"}}
	if got := ts.e.Writes(); !slices.Equal(got, want) {
		t.Errorf("Writes() = %+v\nwant %+v", got, want)
	}
	if n := ts.e.Stats().Writes[before.ID]; n != 1 {
		t.Errorf("Stats.Writes[id] = %d", n)
	}

	// A second write bumps the version again.
	wantStatus(t, ts.api(http.MethodPatch, "hlf_certifications("+before.ID+")", `{"hlf_syncstatus":null}`, "If-Match", "*"), http.StatusNoContent)
	again := ts.e.Certifications()[3]
	if again.ETag == after.ETag || again.SyncStatus != ports.SyncStatusNone || !again.LastSyncedOn.Equal(synced) {
		t.Errorf("second write: %+v", again)
	}
}

func TestPatchReturnRepresentation(t *testing.T) {
	ts := newTester(t, Options{Certifications: 10})
	id := ts.e.Certifications()[0].ID
	r := ts.api(http.MethodPatch, "hlf_certifications("+id+")?$select=hlf_lastsyncedon,hlf_syncstatus", syncBody,
		"If-Match", "*", "Prefer", "return=representation")
	wantStatus(t, r, http.StatusOK)
	var b map[string]any
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@odata.context":      ts.e.BaseURL() + APIPath + "$metadata#hlf_certifications(hlf_lastsyncedon,hlf_syncstatus)/$entity",
		"@odata.etag":         ts.e.Certifications()[0].ETag,
		"hlf_certificationid": id,
		"hlf_lastsyncedon":    "2026-11-28T01:00:07Z",
		"hlf_syncstatus":      float64(2),
	}
	if len(b) != len(want) {
		t.Errorf("representation %s", r.body)
	}
	for k, v := range want {
		if b[k] != v {
			t.Errorf("%s = %v, want %v", k, b[k], v)
		}
	}
	if r.header.Get("Preference-Applied") != "return=representation" {
		t.Errorf("Preference-Applied %q", r.header.Get("Preference-Applied"))
	}
	// An unknown $select is refused before anything is written.
	r = ts.api(http.MethodPatch, "hlf_certifications("+id+")?$select=nope", syncBody, "If-Match", "*", "Prefer", "return=representation")
	wantStatus(t, r, http.StatusBadRequest)
	if n := len(ts.e.Writes()); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
}

func TestPatchConditions(t *testing.T) {
	const missing = "00000000-0000-4000-8000-000000000000"
	ts := newTester(t, Options{Certifications: 10})
	c := ts.e.Certifications()[5]
	path := "hlf_certifications(" + c.ID + ")"

	t.Run("current etag", func(t *testing.T) {
		wantStatus(t, ts.api(http.MethodPatch, path, syncBody, "If-Match", c.ETag), http.StatusNoContent)
	})
	t.Run("stale etag", func(t *testing.T) {
		r := ts.api(http.MethodPatch, path, syncBody, "If-Match", c.ETag)
		wantStatus(t, r, http.StatusPreconditionFailed)
		if code := r.errorCode(t); code != codeVersionMismatch {
			t.Errorf("code %s", code)
		}
	})
	t.Run("if-match on missing", func(t *testing.T) {
		r := ts.api(http.MethodPatch, "hlf_certifications("+missing+")", syncBody, "If-Match", "*")
		wantStatus(t, r, http.StatusNotFound)
		if code := r.errorCode(t); code != codeNotFound {
			t.Errorf("code %s", code)
		}
	})
	t.Run("if-none-match on existing", func(t *testing.T) {
		r := ts.api(http.MethodPatch, path, syncBody, "If-None-Match", "*")
		wantStatus(t, r, http.StatusPreconditionFailed)
		if code := r.errorCode(t); code != codeDuplicate {
			t.Errorf("code %s", code)
		}
	})
	if n := len(ts.e.Writes()); n != 1 {
		t.Fatalf("%d writes after the refused ones, want 1", n)
	}
	t.Run("if-none-match creates", func(t *testing.T) {
		r := ts.api(http.MethodPatch, "hlf_certifications("+missing+")", syncBody, "If-None-Match", "*", "Prefer", "return=representation")
		wantStatus(t, r, http.StatusCreated)
	})
	t.Run("upsert creates", func(t *testing.T) {
		id := "00000000-0000-4000-8000-0000000000ff"
		wantStatus(t, ts.api(http.MethodPatch, "hlf_certifications("+id+")", `{"hlf_syncstatus":1}`), http.StatusNoContent)
		all := ts.e.Certifications()
		if len(all) != 12 || !slices.IsSortedFunc(all, func(a, b ports.Certification) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatalf("%d certifications after two creates, sorted %v", len(all), slices.IsSorted(certIDs(all)))
		}
		wantStatus(t, ts.get("hlf_certifications("+id+")"), http.StatusOK)
	})
	ws := ts.e.Writes()
	if len(ws) != 3 || ws[0].Created || !ws[1].Created || !ws[2].Created {
		t.Errorf("writes %+v", ws)
	}
}

func TestPatchRefusedBodies(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	path := "hlf_certifications(" + ts.e.Certifications()[0].ID + ")"
	for _, tc := range []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"read-only column", `{"hlf_name":"x"}`, "", 400, codeBadPayload},
		{"unknown column", `{"hlf_colour":"red"}`, "", 400, codeNoSegment},
		{"status 0", `{"hlf_syncstatus":0}`, "", 400, codeOutOfRange},
		{"status 5", `{"hlf_syncstatus":5}`, "", 400, codeOutOfRange},
		{"status string", `{"hlf_syncstatus":"2"}`, "", 400, codeBadPayload},
		{"bad time", `{"hlf_lastsyncedon":"yesterday"}`, "", 400, codeBadPayload},
		{"not JSON", `hlf_syncstatus=2`, "", 400, codeBadPayload},
		{"array", `[1]`, "", 400, codeBadPayload},
		{"form", `{"hlf_syncstatus":2}`, "application/x-www-form-urlencoded", 415, codeBadPayload},
		{"too large", `{"hlf_name":"` + strings.Repeat("x", maxPatchBody) + `"}`, "", 413, codeBadPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.api(http.MethodPatch, path, tc.body, "If-Match", "*", "Content-Type", tc.ctype)
			wantStatus(t, r, tc.status)
			if code := r.errorCode(t); code != tc.code {
				t.Errorf("code %s, want %s", code, tc.code)
			}
		})
	}
	for _, bad := range []string{"not-a-guid", "1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d3e)?$x=1"} {
		if r := ts.api(http.MethodPatch, "hlf_certifications("+bad+")", syncBody, "If-Match", "*"); r.status != http.StatusBadRequest {
			t.Errorf("id %q: %d", bad, r.status)
		}
	}
	if n := len(ts.e.Writes()); n != 0 {
		t.Errorf("%d writes from refused requests", n)
	}
}

func TestDeleteCertification(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	id := ts.e.Certifications()[2].ID
	if !ts.e.DeleteCertification(strings.ToUpper(id)) || ts.e.DeleteCertification(id) {
		t.Fatal("DeleteCertification: want true, then false")
	}
	wantStatus(t, ts.get("hlf_certifications("+id+")"), http.StatusNotFound)
	wantStatus(t, ts.api(http.MethodPatch, "hlf_certifications("+id+")", syncBody, "If-Match", "*"), http.StatusNotFound)
	if slices.Contains(certIDs(ts.e.Certifications()), id) || len(ts.e.Certifications()) != 4 {
		t.Error("the record is still listed")
	}
}
