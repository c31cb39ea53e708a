package dynamics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hlf/dynamicsportal/ports"
)

func TestSuccessReturnsTypedModels(t *testing.T) {
	page1 := fixture(t, "certifications-page1.json")
	var raw struct {
		Next string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal([]byte(page1), &raw); err != nil {
		t.Fatal(err)
	}
	f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/data/v9.2/WhoAmI":
			writeJSON(w, 200, fixture(t, "whoami.json"))
		case r.URL.Path == "/api/data/v9.2/hlf_certifications" && r.URL.Query().Get("$skiptoken") == "":
			writeJSON(w, 200, page1)
		case r.URL.Path == "/api/data/v9.2/hlf_certifications":
			writeJSON(w, 200, fixture(t, "certifications-page2.json"))
		case r.URL.Path == "/api/data/v9.2/hlf_assignments":
			writeJSON(w, 200, fixture(t, "assignments-page.json"))
		case r.Method == http.MethodPatch:
			writeJSON(w, 200, fixture(t, "patch-representation.json"))
		default:
			writeJSON(w, 200, `{"@odata.etag":"W/\"48377\"","hlf_certificationid":"`+certID+`","hlf_name":"Peer mentor refresher",`+
				`"_hlf_contact_value":null,"hlf_certificationtype":2,"hlf_issuedon":"2023-12-10","hlf_expireson":null,`+
				`"statecode":1,"modifiedon":"2026-10-02T13:40:12+02:00","hlf_lastsyncedon":null,"hlf_syncstatus":null}`)
		}
	}}
	c := newNetClient(t, f)
	ctx := t.Context()

	id, err := c.WhoAmI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := ports.Identity{UserID: "88057198-a9b1-ec11-9840-00224829f2b7", BusinessUnitID: "6f202e6c-e471-ec11-8943-000d3a3a3c3d", OrganizationID: "e34c95a5-f34c-430c-a05e-a23437e5b9fa"}
	if id != want {
		t.Errorf("WhoAmI = %+v, want %+v", id, want)
	}

	p1, err := c.ListCertifications(ctx, ports.PageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Items) != 2 || p1.Next != raw.Next {
		t.Fatalf("page 1: %d items, next %q", len(p1.Items), p1.Next)
	}
	got := p1.Items[1]
	wantCert := ports.Certification{
		ID: certID, Name: "Peer mentor refresher", ContactID: "b4d2f3e5-8c7a-4f32-9da1-2a3b4c5d6e7f", Type: 2,
		IssuedOn: ports.Date{Year: 2023, Month: 12, Day: 10}, ExpiresOn: ports.Date{Year: 2026, Month: 12, Day: 10},
		State: ports.StateActive, ModifiedOn: time.Date(2026, 10, 2, 11, 40, 12, 0, time.UTC),
		LastSyncedOn: time.Date(2026, 11, 27, 1, 0, 5, 0, time.UTC), SyncStatus: ports.SyncStatusValid, ETag: `W/"48377"`,
	}
	if got != wantCert {
		t.Errorf("certification:\n got %+v\nwant %+v", got, wantCert)
	}
	if !p1.Items[0].LastSyncedOn.IsZero() || p1.Items[0].SyncStatus != ports.SyncStatusNone {
		t.Errorf("null sync columns not zero: %+v", p1.Items[0])
	}

	p2, err := c.ListCertifications(ctx, ports.PageQuery{Continuation: p1.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Items) != 1 || p2.Next != "" || !p2.Items[0].ExpiresOn.IsZero() || p2.Items[0].State != ports.StateInactive {
		t.Errorf("page 2 = %+v", p2)
	}
	if s := f.apiSeen(); s[len(s)-1].url != p1.Next {
		t.Errorf("continuation not followed unchanged:\n got %s\nwant %s", s[len(s)-1].url, p1.Next)
	}

	as, err := c.ListAssignments(ctx, ports.PageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	wantA := ports.Assignment{ID: "3d7e1f4b-5a6c-4d8e-9f0a-1b2c3d4e5f60", MentorID: "a3c1e2d4-7b6f-4e21-8c90-1f2e3d4c5b6a",
		CoordinatorID: "d6f4b5a7-0e9c-4b54-9fc3-4c5d6e7f8091", ChapterID: "e7a5c6b8-1f0d-4c65-8ad4-5d6e7f809102", Status: 1,
		StartDate: ports.Date{Year: 2026, Month: 1, Day: 15}, ModifiedOn: time.Date(2026, 9, 30, 7, 12, 45, 0, time.UTC), ETag: `W/"51020"`}
	if len(as.Items) != 1 || as.Items[0] != wantA || as.Next != "" {
		t.Errorf("assignments = %+v", as)
	}

	one, err := c.GetCertification(ctx, certID)
	if err != nil {
		t.Fatal(err)
	}
	if one.ID != certID || one.ContactID != "" || one.State != ports.StateInactive || !one.ModifiedOn.Equal(wantCert.ModifiedOn) || one.ModifiedOn.Location() != time.UTC {
		t.Errorf("GetCertification = %+v", one)
	}

	resp, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: ports.SyncStatusExpiring, LastSyncedOn: time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	wantR := ports.SyncResponse{ID: certID, Status: ports.SyncStatusExpiring, LastSyncedOn: time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC), ETag: `W/"52118"`}
	if resp != wantR {
		t.Errorf("WriteSyncMetadata = %+v, want %+v", resp, wantR)
	}
}

func TestRequestURLsAndHeaders(t *testing.T) {
	f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPatch:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, ")"):
			writeJSON(w, 200, `{"hlf_certificationid":"`+certID+`"}`)
		case strings.HasSuffix(r.URL.Path, "WhoAmI"):
			writeJSON(w, 200, fixture(t, "whoami.json"))
		default:
			writeJSON(w, 200, `{"value":[]}`)
		}
	}}
	c := newNetClient(t, f)
	ctx := t.Context()
	since := time.Date(2026, 11, 1, 1, 0, 0, 500, time.FixedZone("CET", 3600))
	at := time.Date(2026, 11, 28, 2, 0, 7, 999, time.FixedZone("CET", 3600))
	steps := []struct {
		name, url, prefer string
		run               func() error
	}{
		{"WhoAmI", testBase + "/api/data/v9.2/WhoAmI", "", func() error { _, err := c.WhoAmI(ctx); return err }},
		{"certifications", testBase + "/api/data/v9.2/hlf_certifications?$select=" + certificationColumns + "&$orderby=hlf_certificationid%20asc",
			"odata.maxpagesize=5000", func() error { _, err := c.ListCertifications(ctx, ports.PageQuery{}); return err }},
		{"certifications since", testBase + "/api/data/v9.2/hlf_certifications?$select=" + certificationColumns +
			"&$orderby=hlf_certificationid%20asc&$filter=modifiedon%20gt%202026-11-01T00:00:00Z",
			"odata.maxpagesize=10", func() error {
				_, err := c.ListCertifications(ctx, ports.PageQuery{ModifiedSince: since, PageSize: 10})
				return err
			}},
		{"assignments", testBase + "/api/data/v9.2/hlf_assignments?$select=" + assignmentColumns + "&$orderby=hlf_assignmentid%20asc",
			"odata.maxpagesize=5000", func() error { _, err := c.ListAssignments(ctx, ports.PageQuery{PageSize: 9000}); return err }},
		{"continuation", assignPage("%3Ccookie%20page=%222%22/%3E"),
			"odata.maxpagesize=7", func() error {
				_, err := c.ListAssignments(ctx, ports.PageQuery{PageSize: 7, Continuation: assignPage("%3Ccookie%20page=%222%22/%3E")})
				return err
			}},
		{"one certification", testBase + "/api/data/v9.2/hlf_certifications(" + certID + ")?$select=" + certificationColumns,
			"", func() error { _, err := c.GetCertification(ctx, certID); return err }},
		{"write", testBase + "/api/data/v9.2/hlf_certifications(" + certID + ")?$select=hlf_certificationid,hlf_lastsyncedon,hlf_syncstatus",
			"return=representation", func() error {
				r, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: ports.SyncStatusExpired, LastSyncedOn: at})
				if err == nil && (r.ID != certID || r.Status != ports.SyncStatusExpired || !r.LastSyncedOn.Equal(time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC))) {
					t.Errorf("write answered by 204 = %+v", r)
				}
				return err
			}},
	}
	for i, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		req := f.apiSeen()[i]
		if req.url != s.url {
			t.Errorf("%s URL:\n got %s\nwant %s", s.name, req.url, s.url)
		}
		h := req.header
		for k, v := range map[string]string{"Authorization": "Bearer " + tokenMarker, "Accept": "application/json",
			"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Prefer": s.prefer} {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", s.name, k, got, v)
			}
		}
		id := h.Get("X-Correlation-Id")
		if u, err := uuid.Parse(id); err != nil || u.Version() != 4 || u.String() != id {
			t.Errorf("%s: correlation id %q is not a UUID v4", s.name, id)
		}
		if h.Get("X-Ms-Client-Request-Id") != id {
			t.Errorf("%s: x-ms-client-request-id %q differs from %q", s.name, h.Get("X-Ms-Client-Request-Id"), id)
		}
		if req.method == http.MethodPatch {
			if h.Get("Content-Type") != "application/json" || h.Get("If-Match") != "*" {
				t.Errorf("write headers: %v", h)
			}
			if got := string(req.body); got != `{"hlf_syncstatus":3,"hlf_lastsyncedon":"2026-11-28T01:00:07Z"}` {
				t.Errorf("write body = %s", got)
			}
		} else if h.Get("Content-Type") != "" || h.Get("If-Match") != "" || len(req.body) != 0 {
			t.Errorf("%s: a GET with body headers or a body", s.name)
		}
	}
	ids := map[string]bool{}
	for _, s := range f.apiSeen() {
		ids[s.header.Get("X-Correlation-Id")] = true
	}
	if len(ids) != len(steps) {
		t.Errorf("%d distinct correlation ids for %d calls", len(ids), len(steps))
	}
}

func TestCallerCorrelationID(t *testing.T) {
	f := &fakeNet{api: status(404, fixture(t, "error-not-found.json"))}
	c := newNetClient(t, f)
	for _, tt := range []struct{ given, want string }{
		{"6f9619ff-8b86-4011-b42d-00c04fc964ff", "6f9619ff-8b86-4011-b42d-00c04fc964ff"},
		{"6F9619FF-8B86-4011-B42D-00C04FC964FF", "6f9619ff-8b86-4011-b42d-00c04fc964ff"},
		{"mentor@example.org", ""},
		{"6f9619ff-8b86-4011-b42d-00c04fc964ff\r\nX-Evil: 1", ""},
	} {
		_, err := c.GetCertification(ports.WithCorrelationID(t.Context(), tt.given), certID)
		pe := wantCode(t, err, ports.CodeNotFound)
		s := f.apiSeen()
		sent := s[len(s)-1].header.Get("X-Correlation-Id")
		if tt.want != "" && sent != tt.want {
			t.Errorf("given %q: sent %q, want %q", tt.given, sent, tt.want)
		}
		if tt.want == "" {
			if _, err := uuid.Parse(sent); err != nil || strings.Contains(sent, "example") {
				t.Errorf("given %q: sent %q, want a random UUID", tt.given, sent)
			}
		}
		if pe.CorrelationID != sent {
			t.Errorf("error correlation id %q, sent %q", pe.CorrelationID, sent)
		}
	}
}

func TestInvalidInputRefusedBeforeAnyRequest(t *testing.T) {
	f := &fakeNet{api: status(500, `{}`)}
	c := newNetClient(t, f)
	ctx := t.Context()
	now := time.Now()
	list := func(q ports.PageQuery) func() error {
		return func() error { _, err := c.ListCertifications(ctx, q); return err }
	}
	cont := func(s string) func() error { return list(ports.PageQuery{Continuation: s}) }
	tests := map[string]func() error{
		"empty id":          func() error { _, err := c.GetCertification(ctx, ""); return err },
		"not a GUID":        func() error { _, err := c.GetCertification(ctx, "not-a-guid"); return err },
		"GUID with a query": func() error { _, err := c.GetCertification(ctx, certID+")?$x=1"); return err },
		"GUID in braces":    func() error { _, err := c.GetCertification(ctx, "{"+certID+"}"); return err },
		"write to a bad id": func() error {
			_, err := c.WriteSyncMetadata(ctx, "x", ports.SyncMetadata{Status: 1, LastSyncedOn: now})
			return err
		},
		"status none": func() error {
			_, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{LastSyncedOn: now})
			return err
		},
		"status 5": func() error {
			_, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: 5, LastSyncedOn: now})
			return err
		},
		"status -1": func() error {
			_, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: -1, LastSyncedOn: now})
			return err
		},
		"zero time":          func() error { _, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: 1}); return err },
		"negative page size": list(ports.PageQuery{PageSize: -1}),
		"foreign host":       cont("https://elsewhere.example/api/data/v9.2/hlf_certifications?$skiptoken=x"),
		"http scheme":        cont("http://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=x"),
		"other port":         cont("https://hlf.crm4.dynamics.com:8443/api/data/v9.2/hlf_certifications?$skiptoken=x"),
		"other collection":   cont(testBase + "/api/data/v9.2/hlf_assignments?$skiptoken=x"),
		"other function":     cont(testBase + "/api/data/v9.2/WhoAmI"),
		"path prefix only":   cont(testBase + "/api/data/v9.2/hlf_certificationsX?$skiptoken=x"),
		"user info":          cont("https://u:p@hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications"),
		"fragment":           cont(testBase + "/api/data/v9.2/hlf_certifications#x"),
		"not a URL":          cont("%zz"),
		"relative":           cont("/api/data/v9.2/hlf_certifications?$skiptoken=x"),
		"assignments elsewhere": func() error {
			_, err := c.ListAssignments(ctx, ports.PageQuery{Continuation: "https://evil.example/"})
			return err
		},
	}
	for name, run := range tests {
		err := run()
		pe := wantCode(t, err, ports.CodeInvalidRequest)
		if !errors.Is(err, ports.ErrInvalidRequest) || pe.Op == "" || pe.Message == "" {
			t.Errorf("%s: %+v", name, pe)
		}
	}
	if len(f.seen()) != 0 {
		t.Errorf("%d requests made for refused input", len(f.seen()))
	}
}

func TestCanceledContextMakesNoRequest(t *testing.T) {
	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	c := newNetClient(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.WhoAmI(ctx)
	wantCode(t, err, ports.CodeCanceled)
	if !errors.Is(err, context.Canceled) || len(f.seen()) != 0 {
		t.Errorf("err %v, %d requests", err, len(f.seen()))
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		testBase + "/api/data/v9.2/WhoAmI": testBase + "/api/data/v9.2/WhoAmI",
		testBase + "/x?$select=a,b&$orderby=k%20asc&$filter=modifiedon%20gt%20x&$skiptoken=%3Ccookie%3E": testBase +
			"/x?$select=a,b&$orderby=k%20asc&$filter=[REDACTED]&$skiptoken=[REDACTED]",
		testBase + "/x?%24select=a&%24skiptoken=s&bare&$count&=v#frag": testBase + "/x?%24select=a&%24skiptoken=[REDACTED]&[REDACTED]&$count&=[REDACTED]",
		testBase + "/x?$top=5&code=abc&$select":                        testBase + "/x?$top=5&code=[REDACTED]&$select",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%s)\n got %s\nwant %s", in, got, want)
		}
	}
	if got := redactURL(testBase + "/x?%zz=1"); got != testBase+"/x?%zz=[REDACTED]" {
		t.Errorf("bad escape: %s", got)
	}
}

// A record whose id is not the one asked for is not an answer to the
// question: invalidResponse, whatever the case of the GUIDs.
func TestGetCertificationChecksTheID(t *testing.T) {
	other := "0a4b8c1e-2d3f-4a5b-8c6d-7e8f9a0b1c2d"
	record := func(id string) string {
		return `{"@odata.context":"https://hlf.crm4.dynamics.com/api/data/v9.2/$metadata#hlf_certifications(hlf_certificationid)/$entity",` +
			`"@odata.etag":"W/\"48377\"","hlf_certificationid":"` + id + `","hlf_name":"Peer mentor refresher","statecode":0}`
	}
	_, err := newNetClient(t, &fakeNet{api: okJSON(record(other))}).GetCertification(t.Context(), certID)
	if pe := wantCode(t, err, ports.CodeInvalidResponse); !strings.Contains(pe.Message, "another id") {
		t.Errorf("message %q", pe.Message)
	}
	got, err := newNetClient(t, &fakeNet{api: okJSON(record(certID))}).GetCertification(t.Context(), strings.ToUpper(certID))
	if err != nil || got.ID != certID {
		t.Errorf("same id in another case: %+v, %v", got, err)
	}
}

// A continuation (from a checkpoint or a caller) or a nextLink must resume
// exactly the listing the client itself sends: the same collection,
// $select, $orderby and $filter, with only $skiptoken its own. A checkpoint
// whose $select left out the expiry column made a pass write "valid" over
// expired records; one with $filter=statecode eq 99 skipped every record
// and reported a complete pass.
func TestTamperedContinuationIsRefused(t *testing.T) {
	good := certPage("%3Ccookie%20pagenumber=%222%22%20/%3E")
	withoutExpiry := strings.Replace(good, ",hlf_expireson", "", 1)
	for name, link := range map[string]string{
		"$select without the expiry column": withoutExpiry,
		"$select of one column":             strings.Replace(good, certificationColumns, "hlf_certificationid", 1),
		"$filter statecode eq 99":           good + "&$filter=statecode%20eq%2099",
		"$filter widened":                   good + "&$filter=modifiedon%20gt%202026-01-01T00:00:00Z%20or%20statecode%20eq%200",
		"$filter with a zone":               good + "&$filter=modifiedon%20gt%202026-01-01T01:00:00%2B01:00",
		"$orderby descending":               strings.Replace(good, "%20asc", "%20desc", 1),
		"$top":                              good + "&$top=1",
		"$expand":                           good + "&$expand=hlf_contact",
		"no $skiptoken":                     strings.Split(good, "&$skiptoken=")[0],
		"empty $skiptoken":                  strings.Split(good, "&$skiptoken=")[0] + "&$skiptoken=",
		"two $select":                       good + "&$select=hlf_name",
		"two $skiptoken":                    good + "&$skiptoken=3",
		"encoded key":                       strings.Replace(good, "$select", "%24select", 1) + "&%24select=hlf_name",
		"semicolon":                         good + ";$top=1",
		"another collection's columns":      strings.Replace(assignPage("2"), "hlf_assignments?", "hlf_certifications?", 1),
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeNet{api: okJSON(`{"value":[]}`)}
			c := newNetClient(t, f)
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{Continuation: link})
			wantCode(t, err, ports.CodeInvalidRequest)
			if n := len(f.apiSeen()); n != 0 {
				t.Errorf("%d requests sent for a refused continuation", n)
			}
			// The same link as a server's nextLink.
			f = &fakeNet{api: okJSON(`{"value":[{"hlf_certificationid":"` + certID + `"}],"@odata.nextLink":"` + link + `"}`)}
			_, err = newNetClient(t, f).ListCertifications(t.Context(), ports.PageQuery{})
			if pe := wantCode(t, err, ports.CodeInvalidResponse); !strings.Contains(pe.Message, "nextLink") {
				t.Errorf("message %q", pe.Message)
			}
		})
	}
	t.Run("the listing's own links", func(t *testing.T) {
		since := good + "&$filter=modifiedon%20gt%202026-11-01T00:00:00Z"
		for _, link := range []string{good, since, strings.Replace(good, "$select=", "%24select=", 1)} {
			f := &fakeNet{api: okJSON(`{"value":[]}`)}
			if _, err := newNetClient(t, f).ListCertifications(t.Context(), ports.PageQuery{Continuation: link}); err != nil {
				t.Errorf("%s: %v", link, err)
			}
		}
	})
}

// A page with more records than asked is refused: the sync would write to
// each of them, and a portal (or something in between) that sends a
// million records for a page of 100 makes memory follow it.
func TestPageWithMoreRecordsThanAskedIsRefused(t *testing.T) {
	rec := `{"hlf_certificationid":"` + certID + `"}`
	page := func(n int) string { return `{"value":[` + strings.TrimSuffix(strings.Repeat(rec+",", n), ",") + `]}` }
	c := newNetClient(t, &fakeNet{api: okJSON(page(3))})
	_, err := c.ListCertifications(t.Context(), ports.PageQuery{PageSize: 2})
	if pe := wantCode(t, err, ports.CodeInvalidResponse); !strings.Contains(pe.Message, "more records than the 2 asked") {
		t.Errorf("message %q", pe.Message)
	}
	if p, err := c.ListCertifications(t.Context(), ports.PageQuery{PageSize: 3}); err != nil || len(p.Items) != 3 {
		t.Errorf("a full page: %d items, %v", len(p.Items), err)
	}
	small := newNetClient(t, &fakeNet{api: okJSON(page(3))}, Options{PageSize: 2})
	if _, err := small.ListAssignments(t.Context(), ports.PageQuery{}); err == nil {
		t.Errorf("a page over the client's own page size was taken")
	}
}

// A hostile page of a million empty records, or of numbers, is refused
// before decoding, so it costs its body and not gigabytes of records.
func TestHugePageIsRefusedBeforeDecoding(t *testing.T) {
	for name, body := range map[string]string{
		"empty records": `{"value":[` + strings.Repeat(`{},`, 1<<20) + `{}]}`,
		"numbers":       `{"value":[` + strings.Repeat(`1,`, 1<<20) + `1]}`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newNetClient(t, &fakeNet{api: okJSON(body)})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{PageSize: 100})
			runtime.ReadMemStats(&after)
			wantCode(t, err, ports.CodeInvalidResponse)
			// The body itself is held a few times over by the fake
			// network; a million decoded records would be hundreds of MiB.
			if got := after.TotalAlloc - before.TotalAlloc; got > 8*uint64(len(body))+(1<<20) {
				t.Errorf("allocated %d MiB for a %d KiB page", got>>20, len(body)>>10)
			}
		})
	}
}

func TestAtMostElements(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want bool
	}{
		{`{"value":[]}`, 1, true},
		{`{"value":[{"a":1,"b":2}]}`, 1, true},
		{`{"value":[{"a":1},{"b":2}]}`, 1, false},
		{`{"value":[{"a":1},{"b":2}]}`, 2, true},
		{`{"value":[{"name":"a, b, [c], {d}, \"e,\" \\"},{"b":[1,2,3]}],"@odata.nextLink":"x?a=1,2"}`, 2, true},
		{`{"value":[1,2,3]}`, 2, false},
		{`{"value":[1],"other":[1,2,3]}`, 2, false},
		{`{"value":[[1,2,3,4,5]]}`, 1, true},
	} {
		if got := atMostElements([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("atMostElements(%s, %d) = %v", tt.in, tt.n, got)
		}
	}
}

// A write answered 200 with the representation of another record is
// refused as invalidResponse, never reported done with the other record's
// ETag: in a single request and in a $batch part alike.
func TestAWriteAnsweredForAnotherRecordFails(t *testing.T) {
	const other = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	repr := `{"@odata.etag":"W/\"99\"","hlf_certificationid":"` + other + `","hlf_syncstatus":2,"hlf_lastsyncedon":"2026-11-28T01:00:07Z"}`
	c := newNetClient(t, &fakeNet{api: okJSON(repr)})
	r, err := c.WriteSyncMetadata(t.Context(), batchIDs[0], ports.SyncMetadata{Status: ports.SyncStatusExpiring, LastSyncedOn: fixedTime})
	if pe := wantCode(t, err, ports.CodeInvalidResponse); !strings.Contains(pe.Error(), "another record") || r.ETag != "" {
		t.Errorf("single write: %v, response %+v", pe, r)
	}

	part := "HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\nETag: W/\"99\"\r\n\r\n" + repr
	b := newNetClient(t, &fakeNet{api: batchAnswer(part204, part)})
	results, err := b.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[0], batchIDs[1]))
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err != nil {
		t.Errorf("part 1: %v", results[0].Err)
	}
	if pe := wantCode(t, results[1].Err, ports.CodeInvalidResponse); results[1].Response.ETag != "" {
		t.Errorf("part 2: %v, response %+v; want no ETag of the other record", pe, results[1].Response)
	}
}
