package dynamicstest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hlf/dynamicsportal/ports"
)

// wireCert is a certification as the Web API sends it.
type wireCert struct {
	ETag       string  `json:"@odata.etag"`
	ID         string  `json:"hlf_certificationid"`
	Name       *string `json:"hlf_name"`
	Contact    *string `json:"_hlf_contact_value"`
	Type       *int    `json:"hlf_certificationtype"`
	Issued     *string `json:"hlf_issuedon"`
	Expires    *string `json:"hlf_expireson"`
	State      int     `json:"statecode"`
	Modified   string  `json:"modifiedon"`
	LastSynced *string `json:"hlf_lastsyncedon"`
	Status     *int    `json:"hlf_syncstatus"`
}

func (w wireCert) port(t *testing.T) ports.Certification {
	t.Helper()
	c := ports.Certification{ID: w.ID, State: ports.RecordState(w.State), ETag: w.ETag}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	c.Name, c.ContactID = deref(w.Name), deref(w.Contact)
	if w.Type != nil {
		c.Type = *w.Type
	}
	if w.Status != nil {
		c.SyncStatus = ports.SyncStatus(*w.Status)
	}
	var err error
	for _, d := range []struct {
		s   *string
		out *ports.Date
	}{{w.Issued, &c.IssuedOn}, {w.Expires, &c.ExpiresOn}} {
		if d.s != nil {
			if *d.out, err = ports.ParseDate(*d.s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.ModifiedOn, err = time.Parse(time.RFC3339, w.Modified); err != nil {
		t.Fatal(err)
	}
	if w.LastSynced != nil {
		if c.LastSyncedOn, err = time.Parse(time.RFC3339, *w.LastSynced); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

type certPage struct {
	Context  string     `json:"@odata.context"`
	Value    []wireCert `json:"value"`
	NextLink string     `json:"@odata.nextLink"`
}

func (ts *tester) certPage(path string, hdr ...string) (*certPage, *response) {
	ts.t.Helper()
	r := ts.get(path, hdr...)
	wantStatus(ts.t, r, http.StatusOK)
	var p certPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		ts.t.Fatalf("page: %v", err)
	}
	return &p, r
}

// listIDs follows nextLinks from path with the given page size and returns
// the ids in the order served and the number of pages.
func (ts *tester) listIDs(path string, size int, between func(page int)) ([]string, int) {
	ts.t.Helper()
	var ids []string
	pages := 0
	for path != "" {
		p, r := ts.certPage(path, "Prefer", fmt.Sprintf("odata.maxpagesize=%d", size))
		pages++
		if len(p.Value) > size {
			ts.t.Fatalf("page %d has %d records, size %d", pages, len(p.Value), size)
		}
		if got := r.header.Get("Preference-Applied"); got != fmt.Sprintf("odata.maxpagesize=%d", size) {
			ts.t.Errorf("Preference-Applied %q", got)
		}
		for _, c := range p.Value {
			ids = append(ids, c.ID)
		}
		if p.NextLink != "" && !strings.HasPrefix(p.NextLink, ts.e.BaseURL()+APIPath) {
			ts.t.Fatalf("nextLink %q not on the base URL", p.NextLink)
		}
		if p.NextLink == path {
			ts.t.Fatalf("nextLink repeats the request")
		}
		if between != nil {
			between(pages)
		}
		path = p.NextLink
	}
	return ids, pages
}

func certIDs(cs []ports.Certification) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestWhoAmI(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5, Seed: 3})
	r := ts.get("WhoAmI")
	wantStatus(t, r, http.StatusOK)
	var b struct {
		Context        string `json:"@odata.context"`
		BusinessUnitID string `json:"BusinessUnitId"`
		UserID         string `json:"UserId"`
		OrganizationID string `json:"OrganizationId"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	id := ts.e.Identity()
	if b.UserID != id.UserID || b.BusinessUnitID != id.BusinessUnitID || b.OrganizationID != id.OrganizationID || id.UserID == "" {
		t.Errorf("WhoAmI %s, identity %+v", r.body, id)
	}
	if b.Context != ts.e.BaseURL()+APIPath+"$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse" {
		t.Errorf("context %q", b.Context)
	}
	if got := r.header.Get("Content-Type"); got != "application/json; odata.metadata=minimal" {
		t.Errorf("Content-Type %q", got)
	}
	if got := r.header.Get("OData-Version"); got != "4.0" {
		t.Errorf("OData-Version %q", got)
	}
	if _, err := uuid.Parse(r.header.Get("x-ms-service-request-id")); err != nil {
		t.Errorf("x-ms-service-request-id: %v", err)
	}
	if r2 := ts.get("WhoAmI()"); r2.header.Get("x-ms-service-request-id") == r.header.Get("x-ms-service-request-id") {
		t.Error("service request id reused")
	}
}

func TestPagingEveryRecordOnceInKeyOrder(t *testing.T) {
	ts := newTester(t, Options{Certifications: 1000, Seed: 7})
	want := certIDs(ts.e.Certifications())
	if !slices.IsSorted(want) || len(want) != 1000 {
		t.Fatalf("Certifications() not 1000 in key order")
	}
	sel := "$select=hlf_name,hlf_expireson&$orderby=hlf_certificationid%20asc"
	var links []string
	got, pages := ts.listIDs("hlf_certifications?"+sel, 97, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d ids, want the %d in key order", len(got), len(want))
	}
	if pages != 11 {
		t.Errorf("%d pages, want 11", pages)
	}
	// The nextLink keeps the query as sent.
	p, _ := ts.certPage("hlf_certifications?"+sel, "Prefer", "odata.maxpagesize=10")
	links = append(links, p.NextLink)
	if !strings.Contains(links[0], "?"+sel+"&$skiptoken=%3Ccookie%20pagenumber=%222%22") {
		t.Errorf("nextLink %s", links[0])
	}
	if p.Context != ts.e.BaseURL()+APIPath+"$metadata#hlf_certifications(hlf_name,hlf_expireson)" {
		t.Errorf("context %q", p.Context)
	}

	desc, _ := ts.listIDs("hlf_certifications?$orderby=hlf_certificationid%20desc", 333, nil)
	slices.Reverse(desc)
	if !slices.Equal(desc, want) {
		t.Error("descending key order is not the reverse of key order")
	}

	assigns := ts.e.Assignments()
	var ids []string
	path := "hlf_assignments?$select=_hlf_mentor_value"
	for path != "" {
		r := ts.get(path, "Prefer", "odata.maxpagesize=50")
		wantStatus(t, r, http.StatusOK)
		var page struct {
			Value []struct {
				ID string `json:"hlf_assignmentid"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Value {
			ids = append(ids, a.ID)
		}
		path = page.NextLink
	}
	if len(ids) != len(assigns) || !slices.IsSorted(ids) {
		t.Errorf("listed %d assignments in order %v, want %d in key order", len(ids), slices.IsSorted(ids), len(assigns))
	}
}

func TestPageSizeDefaultAndCap(t *testing.T) {
	ts := newTester(t, Options{Certifications: MaxPageSize + 1})
	p, r := ts.certPage("hlf_certifications?$select=statecode")
	if len(p.Value) != MaxPageSize || p.NextLink == "" || r.header.Get("Preference-Applied") != "" {
		t.Errorf("default page: %d records, nextLink %v, Preference-Applied %q", len(p.Value), p.NextLink != "", r.header.Get("Preference-Applied"))
	}
	p, r = ts.certPage("hlf_certifications?$select=statecode", "Prefer", "odata.include-annotations=\"*\", odata.maxpagesize=10000")
	if len(p.Value) != MaxPageSize || r.header.Get("Preference-Applied") != "odata.maxpagesize=5000" {
		t.Errorf("capped page: %d records, Preference-Applied %q", len(p.Value), r.header.Get("Preference-Applied"))
	}
	p, _ = ts.certPage(p.NextLink, "Prefer", "odata.maxpagesize=5000")
	if len(p.Value) != 1 || p.NextLink != "" {
		t.Errorf("last page: %d records, nextLink %q", len(p.Value), p.NextLink)
	}
	wantStatus(t, ts.get("hlf_certifications", "Prefer", "odata.maxpagesize=0"), http.StatusBadRequest)
}

func TestRecordsMatchCertifications(t *testing.T) {
	ts := newTester(t, Options{Certifications: 200, Seed: 11})
	want := ts.e.Certifications()
	p, _ := ts.certPage("hlf_certifications")
	if len(p.Value) != len(want) {
		t.Fatalf("%d records, want %d", len(p.Value), len(want))
	}
	for i, w := range p.Value {
		if got := w.port(t); got != want[i] {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	if p.Context != ts.e.BaseURL()+APIPath+"$metadata#hlf_certifications" {
		t.Errorf("context %q", p.Context)
	}
	// Nulls are sent as null, not left out.
	raw := ts.get("hlf_certifications").json(t)["value"].([]any)
	for _, rec := range raw {
		if n := len(rec.(map[string]any)); n != 11 {
			t.Fatalf("record has %d members, want 11: %v", n, rec)
		}
	}
}

func TestSelect(t *testing.T) {
	ts := newTester(t, Options{Certifications: 20})
	m := ts.get("hlf_certifications?$select=hlf_expireson,%20hlf_name").json(t)
	for _, rec := range m["value"].([]any) {
		keys := slices.Sorted(maps.Keys(rec.(map[string]any)))
		if !slices.Equal(keys, []string{"@odata.etag", "hlf_certificationid", "hlf_expireson", "hlf_name"}) {
			t.Fatalf("members %v", keys)
		}
	}
	r := ts.get("hlf_certifications?$select=hlf_name,hlf_nosuchcolumn")
	wantStatus(t, r, http.StatusBadRequest)
	if code := r.errorCode(t); code != codeNoSegment {
		t.Errorf("code %s", code)
	}
}

func TestFilter(t *testing.T) {
	clk := newClock()
	ts := newTester(t, Options{Certifications: 500, Now: clk.Now, Seed: 5})
	all := ts.e.Certifications()
	since := clk.Now().AddDate(0, -6, 0).Truncate(time.Second)
	count := func(keep func(ports.Certification) bool) int {
		n := 0
		for _, c := range all {
			if keep(c) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		filter string
		want   int
	}{
		{"modifiedon gt " + since.Format(time.RFC3339), count(func(c ports.Certification) bool { return c.ModifiedOn.After(since) })},
		{"statecode eq 1", count(func(c ports.Certification) bool { return c.State == 1 })},
		{"statecode eq 0 and modifiedon ge " + since.Format(time.RFC3339), count(func(c ports.Certification) bool { return c.State == 0 && !c.ModifiedOn.Before(since) })},
		{"modifiedon gt " + clk.Now().Format(time.RFC3339), 0},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			if tc.want == 0 && !strings.Contains(tc.filter, clk.Now().Format(time.RFC3339)) {
				t.Fatal("the seeded data do not exercise this filter")
			}
			ids, _ := ts.listIDs("hlf_certifications?$filter="+url.QueryEscape(tc.filter), 40, nil)
			if len(ids) != tc.want {
				t.Errorf("%d records, want %d", len(ids), tc.want)
			}
		})
	}
	for _, bad := range []string{
		"hlf_name eq 'x'",
		"modifiedon lt 2026-01-01T00:00:00Z",
		"modifiedon gt yesterday",
		"statecode eq one",
		"statecode eq 0 or statecode eq 1",
		"statecode eq 0 and",
		"(statecode eq 0)",
	} {
		r := ts.get("hlf_certifications?$filter=" + url.QueryEscape(bad))
		if r.status != http.StatusBadRequest || r.errorCode(t) != codeNoSegment {
			t.Errorf("$filter=%s: %d %s", bad, r.status, r.body)
		}
	}
}

func TestQueryOptionsRefused(t *testing.T) {
	ts := newTester(t, Options{Certifications: 20})
	for _, tc := range []struct {
		path   string
		prefer string
	}{
		{"hlf_certifications?$top=5", "odata.maxpagesize=5"},
		{"hlf_certifications?$top=0", ""},
		{"hlf_certifications?$orderby=hlf_name", ""},
		{"hlf_certifications?$orderby=modifiedon%20asc,hlf_certificationid%20desc", ""},
		{"hlf_certifications?$orderby=hlf_certificationid%20up", ""},
		{"hlf_certifications?$expand=hlf_contact", ""},
		{"hlf_certifications?$select=hlf_name&$select=statecode", ""},
		{"hlf_certifications?$skiptoken=garbage", ""},
		{"hlf_certifications?$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253Ccookie%253E%253C%252Fcookie%253E%22%20/%3E", ""},
		{"hlf_certifications?%zz", ""},
		{"hlf_certifications(" + ts.e.Certifications()[0].ID + ")?$filter=statecode%20eq%200", ""},
	} {
		r := ts.get(tc.path, "Prefer", tc.prefer)
		if r.status != http.StatusBadRequest || r.errorCode(t) != codeNoSegment {
			t.Errorf("%s: %d %s", tc.path, r.status, r.body)
		}
	}
	// $top alone: one short page without a nextLink.
	p, _ := ts.certPage("hlf_certifications?$top=3")
	if len(p.Value) != 3 || p.NextLink != "" {
		t.Errorf("$top=3: %d records, nextLink %q", len(p.Value), p.NextLink)
	}
	// A skiptoken for a key order does not fit a modifiedon order.
	p, _ = ts.certPage("hlf_certifications", "Prefer", "odata.maxpagesize=5")
	u, _ := url.Parse(p.NextLink)
	r := ts.get("hlf_certifications?$orderby=modifiedon&$skiptoken=" + url.QueryEscape(u.Query().Get("$skiptoken")))
	wantStatus(t, r, http.StatusBadRequest)
}

func TestPathsAndMethods(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "contacts", http.StatusNotFound},
		{http.MethodPost, "hlf_certifications", http.StatusMethodNotAllowed},
		{http.MethodDelete, "hlf_certifications(" + ts.e.Certifications()[0].ID + ")", http.StatusMethodNotAllowed},
		{http.MethodPatch, "hlf_assignments", http.StatusMethodNotAllowed},
	} {
		r := ts.api(tc.method, tc.path, "")
		if r.status != tc.status || r.errorCode(t) != codeNoSegment {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
	}
	r := ts.send(http.MethodGet, ts.e.BaseURL()+"/api/data/v9.1/WhoAmI", nil, "")
	wantStatus(t, r, http.StatusNotFound)
	if got := ts.e.Stats().Requests; len(got) != 1 || got[RouteToken] != 1 {
		t.Errorf("requests to no route were counted: %v", ts.e.Stats().Requests)
	}
}

// A record written while a listing ordered by modifiedon is under way
// moves to the end and is listed twice; ordered by key it is listed once.
// This is why the sync pages in key order.
func TestWriteDuringListing(t *testing.T) {
	for _, tc := range []struct {
		order string
		twice bool
	}{
		{"modifiedon%20asc", true},
		{"hlf_certificationid%20asc", false},
	} {
		t.Run(tc.order, func(t *testing.T) {
			clk := newClock()
			ts := newTester(t, Options{Certifications: 60, Now: clk.Now})
			path := "hlf_certifications?$select=hlf_syncstatus&$orderby=" + tc.order
			first, _ := ts.certPage(path, "Prefer", "odata.maxpagesize=10")
			ids, _ := ts.listIDs(path, 10, func(page int) {
				if page == 1 {
					clk.Advance(time.Minute)
					r := ts.api(http.MethodPatch, "hlf_certifications("+first.Value[0].ID+")", `{"hlf_syncstatus":2}`, "If-Match", "*")
					wantStatus(t, r, http.StatusNoContent)
				}
			})
			seen := map[string]int{}
			for _, id := range ids {
				seen[id]++
			}
			if len(seen) != 60 {
				t.Fatalf("%d distinct records, want 60", len(seen))
			}
			if got := seen[first.Value[0].ID]; (got == 2) != tc.twice {
				t.Errorf("written record listed %d times", got)
			}
			if !tc.twice && len(ids) != 60 {
				t.Errorf("%d records listed, want 60", len(ids))
			}
		})
	}
}

func TestGetByID(t *testing.T) {
	ts := newTester(t, Options{Certifications: 30, Seed: 2})
	want := ts.e.Certifications()[17]
	r := ts.get("hlf_certifications(" + strings.ToUpper(want.ID) + ")")
	wantStatus(t, r, http.StatusOK)
	var w struct {
		Context string `json:"@odata.context"`
		wireCert
	}
	if err := json.Unmarshal(r.body, &w); err != nil {
		t.Fatal(err)
	}
	if got := w.port(t); got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if w.Context != ts.e.BaseURL()+APIPath+"$metadata#hlf_certifications/$entity" || r.header.Get("ETag") != want.ETag {
		t.Errorf("context %q, ETag %q", w.Context, r.header.Get("ETag"))
	}

	m := ts.get("hlf_certifications(" + want.ID + ")?$select=hlf_syncstatus").json(t)
	if len(m) != 4 || m["@odata.context"] != ts.e.BaseURL()+APIPath+"$metadata#hlf_certifications(hlf_syncstatus)/$entity" {
		t.Errorf("selected entity %v", m)
	}

	missing := "00000000-0000-4000-8000-000000000000"
	r = ts.get("hlf_certifications(" + missing + ")")
	wantStatus(t, r, http.StatusNotFound)
	if code := r.errorCode(t); code != codeNotFound || !strings.Contains(string(r.body), "hlf_certification With Id = "+missing+" Does Not Exist") {
		t.Errorf("404 body %s", r.body)
	}
	for _, bad := range []string{"not-a-guid", "1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d3", "'" + missing + "'", ""} {
		r := ts.get("hlf_certifications(" + url.PathEscape(bad) + ")")
		if r.status != http.StatusBadRequest {
			t.Errorf("id %q: %d %s", bad, r.status, r.body)
		}
	}
}

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
