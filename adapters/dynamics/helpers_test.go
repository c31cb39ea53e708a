package dynamics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

const (
	testBase     = "https://hlf.crm4.dynamics.com"
	testTenant   = "8d1b6f2e-4c3a-4e5f-9a7b-1c2d3e4f5a6b"
	testClientID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	// Markers searched for in every log byte and error string.
	secretMarker = "SECRET-MARKER-q7Zx"
	tokenMarker  = "TOKEN-MARKER-k3Wv"
	certID       = "1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d3e"
)

var fixedTime = time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC)

// seen is one request as the in-memory transport received it.
type seen struct {
	method, host, path, rawQuery, url string
	header                            http.Header
	body                              []byte
}

// fakeNet is an in-memory http.RoundTripper: token endpoint requests go to
// token (goodToken when nil), everything else to api. It records every request. It works inside
// a synctest bubble.
type fakeNet struct {
	token http.HandlerFunc
	api   http.HandlerFunc

	mu       sync.Mutex
	requests []seen
	tokens   atomic.Int64
	calls    atomic.Int64
}

func (f *fakeNet) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	f.mu.Lock()
	f.requests = append(f.requests, seen{method: req.Method, host: req.URL.Host, path: req.URL.Path,
		rawQuery: req.URL.RawQuery, url: req.URL.String(), header: req.Header.Clone(), body: body})
	f.mu.Unlock()
	h := f.api
	if strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token") {
		f.tokens.Add(1)
		h = f.token
		if h == nil {
			h = goodToken
		}
	} else {
		f.calls.Add(1)
	}
	rec := httptest.NewRecorder()
	h(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = req
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		resp.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	return resp, nil
}

func (f *fakeNet) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

// apiSeen returns the Web API requests, token requests left out.
func (f *fakeNet) apiSeen() []seen {
	var out []seen
	for _, s := range f.seen() {
		if !strings.HasSuffix(s.path, "/oauth2/v2.0/token") {
			out = append(out, s)
		}
	}
	return out
}

// goodToken answers every token request with a token carrying the marker.
func goodToken(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, `{"token_type":"Bearer","expires_in":3599,"access_token":"`+tokenMarker+`"}`)
}

// certPage and assignPage return the link of a later page of the
// collection's listing as the client sends it, with the paging token tok;
// filter, when not empty, is the $filter of a listing of the records
// modified since a time.
func certPage(tok string) string {
	return testBase + "/api/data/v9.2/hlf_certifications?$select=" + certificationColumns +
		"&$orderby=hlf_certificationid%20asc&$skiptoken=" + tok
}

func assignPage(tok string) string {
	return testBase + "/api/data/v9.2/hlf_assignments?$select=" + assignmentColumns +
		"&$orderby=hlf_assignmentid%20asc&$skiptoken=" + tok
}

func okJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, body) }
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, code, body) }
}

// sequence answers with the handlers in turn, repeating the last one.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(hs)-1)
		hs[i](w, r)
	}
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func goodCreds() ports.CredentialProvider {
	return ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials(testClientID, secretMarker), nil
	})
}

// newNetClient returns a client over f with a discarding logger.
// newNetClient returns a client over f with the test tenant and the
// settings of opts, if given.
func newNetClient(t testing.TB, f *fakeNet, opts ...Options) *Client {
	t.Helper()
	return newLoggedClient(t, f, nil, opts...)
}

func newLoggedClient(t testing.TB, f *fakeNet, log *slog.Logger, opts ...Options) *Client {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Tenant, o.HTTPClient, o.Logger = testTenant, &http.Client{Transport: f}, log
	c, err := New(testBase, goodCreds(), &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// portalErr returns err as a *ports.PortalError or fails the test.
func portalErr(t testing.TB, err error) *ports.PortalError {
	t.Helper()
	pe, ok := errors.AsType[*ports.PortalError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *ports.PortalError", err, err)
	}
	return pe
}

func wantCode(t testing.TB, err error, code ports.ErrorCode) *ports.PortalError {
	t.Helper()
	pe := portalErr(t, err)
	if pe.Code != code {
		t.Fatalf("code = %v, want %v (error: %v)", pe.Code, code, err)
	}
	return pe
}

// fakePortal is a small Dataverse look-alike holding a few records: a token
// endpoint and the Web API calls the adapter makes, checked strictly.
type fakePortal struct {
	clientID, secret, token string

	mu     sync.Mutex
	certs  []ports.Certification // in key order
	assign []ports.Assignment
	etag   int
}

const (
	fakeClientID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	fakeSecret   = "fake-portal-secret"
	fakeToken    = "fake-portal-token"
)

func newFakePortal() *fakePortal {
	d := func(s string) ports.Date { v, _ := ports.ParseDate(s); return v }
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	return &fakePortal{
		clientID: fakeClientID, secret: fakeSecret, token: fakeToken, etag: 50000,
		certs: []ports.Certification{
			{ID: "0a4b8c1e-2d3f-4a5b-8c6d-7e8f9a0b1c2d", Name: "Peer mentor basic course", ContactID: "a3c1e2d4-7b6f-4e21-8c90-1f2e3d4c5b6a",
				Type: 1, IssuedOn: d("2025-03-01"), ExpiresOn: d("2027-03-01"), ModifiedOn: ts("2026-11-20T08:15:00Z"), ETag: `W/"48213"`},
			{ID: "1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d3e", Name: "Peer mentor refresher", ContactID: "b4d2f3e5-8c7a-4f32-9da1-2a3b4c5d6e7f",
				Type: 2, IssuedOn: d("2023-12-10"), ExpiresOn: d("2026-12-10"), ModifiedOn: ts("2026-10-02T11:40:12Z"),
				LastSyncedOn: ts("2026-11-27T01:00:05Z"), SyncStatus: ports.SyncStatusValid, ETag: `W/"48377"`},
			{ID: "2c6d0e3a-4f5b-4c7d-8e8f-9a0b1c2d3e4f", Name: "Coordinator course", ContactID: "c5e3a4f6-9d8b-4a43-8eb2-3b4c5d6e7f80",
				Type: 3, IssuedOn: d("2021-05-15"), State: ports.StateInactive, ModifiedOn: ts("2025-01-09T14:02:33Z"),
				LastSyncedOn: ts("2026-11-27T01:00:05Z"), SyncStatus: ports.SyncStatusInactive, ETag: `W/"49002"`},
			{ID: "3d7e1f4b-5a6c-4d8e-9f0a-1b2c3d4e5f60", Name: "First aid", ContactID: "a3c1e2d4-7b6f-4e21-8c90-1f2e3d4c5b6a",
				Type: 4, IssuedOn: d("2024-06-01"), ExpiresOn: d("2026-12-01"), ModifiedOn: ts("2026-06-01T09:00:00Z"), ETag: `W/"49100"`},
			{ID: "4e8f2a5c-6b7d-4e9f-8a1b-2c3d4e5f6071", Name: "Listening skills", ContactID: "b4d2f3e5-8c7a-4f32-9da1-2a3b4c5d6e7f",
				Type: 1, IssuedOn: d("2022-02-02"), ExpiresOn: d("2025-02-02"), ModifiedOn: ts("2026-03-03T10:00:00Z"), ETag: `W/"49200"`},
		},
		assign: []ports.Assignment{
			{ID: "3d7e1f4b-5a6c-4d8e-9f0a-1b2c3d4e5f60", MentorID: "a3c1e2d4-7b6f-4e21-8c90-1f2e3d4c5b6a", CoordinatorID: "d6f4b5a7-0e9c-4b54-9fc3-4c5d6e7f8091",
				ChapterID: "e7a5c6b8-1f0d-4c65-8ad4-5d6e7f809102", Status: 1, StartDate: d("2026-01-15"), ModifiedOn: ts("2026-09-30T07:12:45Z"), ETag: `W/"51020"`},
			{ID: "5f9a3b6d-7c8e-4f0a-9b2c-3d4e5f607182", MentorID: "b4d2f3e5-8c7a-4f32-9da1-2a3b4c5d6e7f", CoordinatorID: "d6f4b5a7-0e9c-4b54-9fc3-4c5d6e7f8091",
				ChapterID: "e7a5c6b8-1f0d-4c65-8ad4-5d6e7f809102", Status: 2, StartDate: d("2025-04-01"), EndDate: d("2026-04-01"), State: ports.StateInactive,
				ModifiedOn: ts("2026-04-02T07:00:00Z"), ETag: `W/"51030"`},
			{ID: "6a0b4c7e-8d9f-4a1b-8c3d-4e5f60718293", MentorID: "c5e3a4f6-9d8b-4a43-8eb2-3b4c5d6e7f80", CoordinatorID: "d6f4b5a7-0e9c-4b54-9fc3-4c5d6e7f8091",
				ChapterID: "e7a5c6b8-1f0d-4c65-8ad4-5d6e7f809102", Status: 1, StartDate: d("2026-08-01"), ModifiedOn: ts("2026-08-01T07:00:00Z"), ETag: `W/"51040"`},
		},
	}
}

const apiPrefix = "/api/data/v9.2/"

func (p *fakePortal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		p.serveToken(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+p.token {
		writeJSON(w, http.StatusUnauthorized, `{"error":{"code":"0x80072560","message":"The user is not a member of the organization."}}`)
		return
	}
	for _, h := range []string{"Odata-Version", "Odata-Maxversion"} {
		if r.Header.Get(h) != "4.0" {
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":"0x80048d19","message":"missing `+h+`"}}`)
			return
		}
	}
	path, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, `{"error":{"code":"","message":"no such resource"}}`)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case path == "WhoAmI" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, `{"BusinessUnitId":"6f202e6c-e471-ec11-8943-000d3a3a3c3d","UserId":"88057198-a9b1-ec11-9840-00224829f2b7","OrganizationId":"e34c95a5-f34c-430c-a05e-a23437e5b9fa"}`)
	case path == "hlf_certifications" && r.Method == http.MethodGet:
		serveList(w, r, p.certs, func(c ports.Certification) map[string]any { return certJSON(c) })
	case path == "hlf_assignments" && r.Method == http.MethodGet:
		serveList(w, r, p.assign, assignJSON)
	case strings.HasPrefix(path, "hlf_certifications(") && strings.HasSuffix(path, ")"):
		p.serveCertification(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "hlf_certifications("), ")"))
	default:
		writeJSON(w, http.StatusMethodNotAllowed, `{"error":{"code":"0x80060888","message":"not supported"}}`)
	}
}

func (p *fakePortal) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" ||
		r.PostForm.Get("client_id") != p.clientID || r.PostForm.Get("client_secret") != p.secret ||
		!strings.HasSuffix(r.PostForm.Get("scope"), "/.default") {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","trace_id":"0b1f6d7e-5a1c-4b37-9a1e-2f9c3d8e7a10"}`)
		return
	}
	writeJSON(w, http.StatusOK, `{"token_type":"Bearer","expires_in":3599,"access_token":"`+p.token+`"}`)
}

func serveList[T any](w http.ResponseWriter, r *http.Request, all []T, render func(T) map[string]any) {
	q := r.URL.Query()
	size := 5000
	if v, ok := strings.CutPrefix(r.Header.Get("Prefer"), "odata.maxpagesize="); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":"0x80040203","message":"bad Prefer"}}`)
			return
		}
		size = n
	}
	offset := 0
	if v := q.Get("$skiptoken"); v != "" {
		offset, _ = strconv.Atoi(v)
	}
	end := min(offset+size, len(all))
	value := make([]map[string]any, 0, end-offset)
	for _, v := range all[min(offset, end):end] {
		value = append(value, render(v))
	}
	body := map[string]any{"@odata.context": "https://" + r.Host + apiPrefix + "$metadata#x", "value": value}
	if end < len(all) {
		q.Set("$skiptoken", strconv.Itoa(end))
		next := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		body["@odata.nextLink"] = next.String()
	}
	b, _ := json.Marshal(body)
	writeJSON(w, http.StatusOK, string(b))
}

func (p *fakePortal) serveCertification(w http.ResponseWriter, r *http.Request, id string) {
	i := slices.IndexFunc(p.certs, func(c ports.Certification) bool { return strings.EqualFold(c.ID, id) })
	if i < 0 {
		writeJSON(w, http.StatusNotFound, `{"error":{"code":"0x80040217","message":"hlf_certification With Id = `+id+` Does Not Exist"}}`)
		return
	}
	switch r.Method {
	case http.MethodGet:
		b, _ := json.Marshal(certJSON(p.certs[i]))
		writeJSON(w, http.StatusOK, string(b))
	case http.MethodPatch:
		if r.Header.Get("If-Match") != "*" {
			writeJSON(w, http.StatusPreconditionFailed, `{"error":{"code":"0x80060882","message":"If-Match missing"}}`)
			return
		}
		var body struct {
			Status       *int       `json:"hlf_syncstatus"`
			LastSyncedOn *time.Time `json:"hlf_lastsyncedon"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.Status == nil || body.LastSyncedOn == nil {
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":"0x80048d19","message":"bad body"}}`)
			return
		}
		p.etag++
		c := &p.certs[i]
		c.SyncStatus, c.LastSyncedOn, c.ETag = ports.SyncStatus(*body.Status), body.LastSyncedOn.UTC(), fmt.Sprintf(`W/"%d"`, p.etag)
		b, _ := json.Marshal(map[string]any{"@odata.etag": c.ETag, "hlf_certificationid": c.ID,
			"hlf_lastsyncedon": c.LastSyncedOn.Format(time.RFC3339), "hlf_syncstatus": int(c.SyncStatus)})
		writeJSON(w, http.StatusOK, string(b))
	default:
		writeJSON(w, http.StatusMethodNotAllowed, `{"error":{"code":"0x80060888","message":"not supported"}}`)
	}
}

func certJSON(c ports.Certification) map[string]any {
	m := map[string]any{
		"@odata.etag": c.ETag, "hlf_certificationid": c.ID, "hlf_name": c.Name, "_hlf_contact_value": c.ContactID,
		"hlf_certificationtype": c.Type, "hlf_issuedon": c.IssuedOn, "hlf_expireson": c.ExpiresOn,
		"statecode": int(c.State), "modifiedon": c.ModifiedOn.Format(time.RFC3339), "hlf_lastsyncedon": nil, "hlf_syncstatus": nil,
	}
	if !c.LastSyncedOn.IsZero() {
		m["hlf_lastsyncedon"] = c.LastSyncedOn.Format(time.RFC3339)
	}
	if c.SyncStatus != ports.SyncStatusNone {
		m["hlf_syncstatus"] = int(c.SyncStatus)
	}
	return m
}

func assignJSON(a ports.Assignment) map[string]any {
	return map[string]any{
		"@odata.etag": a.ETag, "hlf_assignmentid": a.ID, "_hlf_mentor_value": a.MentorID, "_hlf_coordinator_value": a.CoordinatorID,
		"_hlf_chapter_value": a.ChapterID, "hlf_status": a.Status, "hlf_startdate": a.StartDate, "hlf_enddate": a.EndDate,
		"statecode": int(a.State), "modifiedon": a.ModifiedOn.Format(time.RFC3339),
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
