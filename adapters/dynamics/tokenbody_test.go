package dynamics

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// cutShort is a token endpoint whose first answer breaks off mid-body.
type cutShort struct {
	tokens atomic.Int32
	api    http.RoundTripper
}

func (c *cutShort) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		return c.api.RoundTrip(r)
	}
	body := `{"token_type":"Bearer","expires_in":3599,"access_token":"` + tokenMarker + `"}`
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Request: r}
	if c.tokens.Add(1) == 1 {
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(body[:20]), errReader{io.ErrUnexpectedEOF}))
	} else {
		resp.Body = io.NopCloser(strings.NewReader(body))
	}
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// A token answer cut short is a broken connection: a transient
// networkError that is retried, like a truncated Web API answer, and not
// an unusable answer.
func TestTruncatedTokenAnswerIsRetried(t *testing.T) {
	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	tr := &cutShort{api: f}
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: tr}, Retry: RetrySettings{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	if n := tr.tokens.Load(); n != 2 {
		t.Errorf("%d token requests, want 2 (the cut answer, then a retry)", n)
	}

	// Cut short every time: the call ends as a networkError, not as an
	// invalidResponse.
	c2, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: alwaysCut{}}, Retry: RetrySettings{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, err = c2.WhoAmI(t.Context())
	wantCode(t, err, ports.CodeNetworkError)
}

type alwaysCut struct{}

func (alwaysCut) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Request: r,
		Body: io.NopCloser(io.MultiReader(strings.NewReader(`{"access`), errReader{io.ErrUnexpectedEOF}))}, nil
}
