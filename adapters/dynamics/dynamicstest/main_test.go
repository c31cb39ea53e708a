package dynamicstest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is an emulator clock a test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start starts an emulator that the test's cleanup closes.
func start(t *testing.T, o Options) *Emulator {
	t.Helper()
	e, err := Start(&o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// tester talks to one emulator with one client and one token.
type tester struct {
	t     *testing.T
	e     *Emulator
	c     *http.Client
	token string
}

func newTester(t *testing.T, o Options) *tester {
	t.Helper()
	e := start(t, o)
	ts := &tester{t: t, e: e, c: e.HTTPClient()}
	ts.token = ts.fetchToken()
	return ts
}

// response is a read answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// errorCode returns error.code of a Dataverse error body.
func (r *response) errorCode(t *testing.T) string {
	t.Helper()
	var b struct {
		Error struct {
			Code    *string `json:"code"`
			Message string  `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Code == nil || b.Error.Message == "" {
		t.Fatalf("not a Dataverse error body (%v): %s", err, r.body)
	}
	return *b.Error.Code
}

func (ts *tester) tokenForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {ts.e.ClientID()},
		"client_secret": {ts.e.ClientSecret()},
		"scope":         {ts.e.Scope()},
	}
}

func (ts *tester) postToken(form url.Values) *response {
	ts.t.Helper()
	return ts.send(http.MethodPost, ts.e.TokenURL(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
}

func (ts *tester) fetchToken() string {
	ts.t.Helper()
	r := ts.postToken(ts.tokenForm())
	if r.status != http.StatusOK {
		ts.t.Fatalf("token: %d %s", r.status, r.body)
	}
	return r.json(ts.t)["access_token"].(string)
}

// get sends an authorized GET of path under the Web API (or of an absolute
// URL), with extra headers as name/value pairs.
func (ts *tester) get(path string, hdr ...string) *response {
	ts.t.Helper()
	return ts.api(http.MethodGet, path, "", hdr...)
}

func (ts *tester) api(method, path, body string, hdr ...string) *response {
	ts.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + ts.token, "Accept": "application/json"}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			h[hdr[i]] = hdr[i+1]
		}
	}
	return ts.send(method, ts.url(path), h, body)
}

func (ts *tester) url(path string) string {
	if strings.HasPrefix(path, "https://") {
		return path
	}
	return ts.e.BaseURL() + APIPath + path
}

func (ts *tester) send(method, u string, hdr map[string]string, body string) *response {
	ts.t.Helper()
	r, err := ts.do(context.Background(), method, u, hdr, body)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

func (ts *tester) do(ctx context.Context, method, u string, hdr map[string]string, body string) (*response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := ts.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// wantStatus fails the test when r's status is not want.
func wantStatus(t *testing.T, r *response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
}
