package dynamics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
