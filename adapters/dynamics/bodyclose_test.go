package dynamics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// bodyTracker is a RoundTripper that hands out response bodies it watches:
// it counts the bodies it gave and those closed, and remembers which
// requests' bodies are still open.
type bodyTracker struct {
	next http.RoundTripper

	mu     sync.Mutex
	given  int
	closed int
	open   map[*trackedBody]string
}

type trackedBody struct {
	io.ReadCloser
	t    *bodyTracker
	once sync.Once
}

func (b *trackedBody) Close() error {
	b.once.Do(func() {
		b.t.mu.Lock()
		defer b.t.mu.Unlock()
		b.t.closed++
		delete(b.t.open, b)
	})
	return b.ReadCloser.Close()
}

func (t *bodyTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b := &trackedBody{ReadCloser: resp.Body, t: t}
	resp.Body = b
	t.mu.Lock()
	defer t.mu.Unlock()
	t.given++
	t.open[b] = r.Method + " " + r.URL.Path
	return resp, nil
}

// check fails the test unless every body given was closed, and at least
// want were given.
func (t *bodyTracker) check(tb testing.TB, want int) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, req := range t.open {
		tb.Errorf("the response body of %s was never closed", req)
	}
	if t.given < want || t.closed != t.given {
		tb.Errorf("%d bodies given, %d closed; want at least %d, all closed", t.given, t.closed, want)
	}
}

// Every response body is closed: of a success, of each retried answer, of
// the last answer once the retries run out, of answers refused for their
// size or shape, and of the token endpoint's answers, good or bad.
func TestEveryResponseBodyIsClosed(t *testing.T) {
	busy := status(http.StatusServiceUnavailable, `{"error":{"code":"","message":"busy"}}`)
	whoami := okJSON(fixture(t, "whoami.json"))
	big := `{"value":[` + strings.Repeat(`{"hlf_certificationid":"`+certID+`"},`, 40) + `{}]}`
	tokenBusy := status(http.StatusServiceUnavailable, `{"error":"temporarily_unavailable","error_description":"AADSTS90033: busy"}`)
	for _, tt := range []struct {
		name     string
		token    http.HandlerFunc
		api      http.HandlerFunc
		code     ports.ErrorCode // CodeUnknown: the call succeeds
		bodies   int             // at least this many responses
		pageBody int64
	}{
		{name: "success", api: whoami, bodies: 2},
		{name: "retried, then success", api: sequence(busy, busy, whoami), bodies: 4},
		{name: "retries run out", api: busy, code: ports.CodeServerError, bodies: 5},
		{name: "throttled past the cap", api: throttled("60"), code: ports.CodeRateLimited, bodies: 2},
		{name: "retried throttling", api: sequence(throttled("1"), throttled("0.5"), whoami), bodies: 4},
		{name: "page over the cap, with a length", api: okJSON(big), code: ports.CodeInvalidResponse, bodies: 2, pageBody: 512},
		{name: "page over the cap, no length", api: rawAnswer(200, "application/json", big), code: ports.CodeInvalidResponse, bodies: 2, pageBody: 512},
		{name: "error body over the cap", api: rawAnswer(503, "application/json", strings.Repeat("x", MaxErrorBody+1)), code: ports.CodeInvalidResponse, bodies: 2},
		{name: "redirect", api: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusFound)
		}, code: ports.CodeInvalidResponse, bodies: 2},
		{name: "sign-in page", api: rawAnswer(200, "text/html", fixture(t, "signin-page.html")), code: ports.CodeInvalidResponse, bodies: 2},
		{name: "token endpoint retried, then success", token: sequence(tokenBusy, tokenBusy, goodToken), api: whoami, bodies: 4},
		{name: "token endpoint down", token: tokenBusy, code: ports.CodeServerError, bodies: 4},
		{name: "token refused", token: status(http.StatusUnauthorized, fixture(t, "token-error-invalid-client.json")), code: ports.CodeAuthFailure, bodies: 1},
		{name: "token answer without a token", token: okJSON(`{"token_type":"Bearer"}`), code: ports.CodeInvalidResponse, bodies: 1},
		{name: "token redirect", token: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/token", http.StatusTemporaryRedirect)
		}, code: ports.CodeInvalidResponse, bodies: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := &bodyTracker{next: &fakeNet{token: tt.token, api: tt.api}, open: map[*trackedBody]string{}}
				c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: tr}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if tt.pageBody > 0 {
					c.maxPageBody = tt.pageBody
				}
				err = callOnce(t.Context(), c, tt.pageBody > 0)
				if tt.code == ports.CodeUnknown && err != nil {
					t.Fatalf("call failed: %v", err)
				}
				if tt.code != ports.CodeUnknown {
					wantCode(t, err, tt.code)
				}
				time.Sleep(time.Minute) // let a detached token fetch finish
				tr.check(t, tt.bodies)
			})
		})
	}
}

// callOnce makes a WhoAmI call, or a page read when page is true.
func callOnce(ctx context.Context, c *Client, page bool) error {
	if page {
		_, err := c.ListCertifications(ctx, ports.PageQuery{})
		return err
	}
	_, err := c.WhoAmI(ctx)
	return err
}
