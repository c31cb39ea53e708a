package dynamics

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
	"github.com/hlf/dynamicsportal/ports/portaltest"
)

func TestNewRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		nilCred bool
		opts    *Options
		want    string // in the error message
	}{
		{"http base URL", "http://hlf.crm4.dynamics.com", false, &Options{Tenant: testTenant}, "base URL: must use https"},
		{"no scheme", "hlf.crm4.dynamics.com", false, &Options{Tenant: testTenant}, "base URL: must use https"},
		{"empty base URL", "", false, &Options{Tenant: testTenant}, "base URL"},
		{"unparsable base URL", "https://hlf.crm4.dynamics.com:port/", false, &Options{Tenant: testTenant}, "base URL: not a URL"},
		{"opaque base URL", "https:hlf.crm4.dynamics.com", false, &Options{Tenant: testTenant}, "base URL: not a URL"},
		{"user info", "https://admin:" + secretMarker + "@hlf.crm4.dynamics.com", false, &Options{Tenant: testTenant}, "base URL: must not hold user info"},
		{"query", "https://hlf.crm4.dynamics.com/?x=" + secretMarker, false, &Options{Tenant: testTenant}, "base URL: must not have a query"},
		{"empty query", "https://hlf.crm4.dynamics.com/?", false, &Options{Tenant: testTenant}, "base URL: must not have a query"},
		{"fragment", "https://hlf.crm4.dynamics.com/#" + secretMarker, false, &Options{Tenant: testTenant}, "base URL: must not have a fragment"},
		{"empty fragment", "https://hlf.crm4.dynamics.com/#", false, &Options{Tenant: testTenant}, "base URL: must not have a fragment"},
		{"no host", "https:///api", false, &Options{Tenant: testTenant}, "base URL: has no host"},
		{"port only", "https://:443", false, &Options{Tenant: testTenant}, "base URL: has no host"},
		{"escaped path", "https://hlf.crm4.dynamics.com/a%2Fb", false, &Options{Tenant: testTenant}, "base URL: path must be plain"},
		{"nil provider", testBase, true, &Options{Tenant: testTenant}, "credential provider is nil"},
		{"nil provider func", testBase, false, &Options{Tenant: testTenant}, "credential provider is nil"},
		{"no tenant", testBase, false, nil, "tenant is required"},
		{"empty tenant", testBase, false, &Options{}, "tenant"},
		{"tenant with a slash", testBase, false, &Options{Tenant: "a/../b"}, "tenant"},
		{"http authority", testBase, false, &Options{Tenant: testTenant, AuthorityHost: "http://login.microsoftonline.com"}, "authority host: must use https"},
		{"authority with user info", testBase, false, &Options{Tenant: testTenant, AuthorityHost: "https://u:" + secretMarker + "@login.microsoftonline.com"}, "authority host: must not hold user info"},
		{"authority with query", testBase, false, &Options{Tenant: testTenant, AuthorityHost: "https://login.microsoftonline.com?x=1"}, "authority host: must not have a query"},
		{"authority without host", testBase, false, &Options{Tenant: testTenant, AuthorityHost: "https://"}, "authority host: has no host"},
		{"correlation header with a space", testBase, false, &Options{Tenant: testTenant, CorrelationHeader: "x id"}, "correlation header"},
		{"correlation header CallerObjectId", testBase, false, &Options{Tenant: testTenant, CorrelationHeader: "CallerObjectId"}, "correlation header"},
		{"max in flight -1", testBase, false, &Options{Tenant: testTenant, MaxInFlight: -1}, "max in flight"},
		{"correlation header Authorization", testBase, false, &Options{Tenant: testTenant, CorrelationHeader: "authorization"}, "correlation header"},
		{"page size -1", testBase, false, &Options{Tenant: testTenant, PageSize: -1}, "page size"},
		{"page size 5001", testBase, false, &Options{Tenant: testTenant, PageSize: 5001}, "page size"},
		{"entity set with a slash", testBase, false, &Options{Tenant: testTenant, EntitySets: EntitySets{Certifications: "hlf_certifications/../x", Assignments: "hlf_assignments"}}, "entity sets"},
		{"negative timeout", testBase, false, &Options{Tenant: testTenant, Timeouts: Timeouts{Token: -time.Second}}, "timeouts"},
		{"negative retries", testBase, false, &Options{Tenant: testTenant, Retry: RetrySettings{MaxRetries: -1}}, "MaxRetries"},
		{"factor under 1", testBase, false, &Options{Tenant: testTenant, Retry: RetrySettings{Factor: 0.5}}, "Factor"},
		{"base delay over cap", testBase, false, &Options{Tenant: testTenant, Retry: RetrySettings{BaseDelay: time.Minute}}, "BaseDelay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := goodCreds()
			if tt.nilCred {
				creds = nil
			}
			if tt.name == "nil provider func" {
				creds = ports.CredentialProviderFunc(nil)
			}
			c, err := New(tt.base, creds, tt.opts)
			if err == nil {
				t.Fatalf("New succeeded, want an error")
			}
			if c != nil {
				t.Errorf("New returned a client with its error")
			}
			if !errors.Is(err, ports.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secretMarker) {
				t.Errorf("error %q echoes a secret", err)
			}
		})
	}
}

func TestNewAcceptsAndNormalises(t *testing.T) {
	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	for _, base := range []string{"https://hlf.crm4.dynamics.com/", "https://HLF.crm4.dynamics.com//", "https://hlf.crm4.dynamics.com"} {
		c, err := New(base, goodCreds(), &Options{Tenant: "contoso.onmicrosoft.com", HTTPClient: &http.Client{Transport: f}, AuthorityHost: "https://login.microsoftonline.us/", CorrelationHeader: "X-Request-Id", PageSize: 100, EntitySets: EntitySets{Certifications: "new_certs", Assignments: "new_assignments"}, Timeouts: Timeouts{Attempt: time.Second}, Retry: RetrySettings{MaxRetries: 1}, now: time.Now})
		if err != nil {
			t.Fatalf("New(%q): %v", base, err)
		}
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatalf("WhoAmI: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	for _, s := range f.seen() {
		if strings.Contains(s.path, "//") {
			t.Errorf("path %q has a double slash", s.path)
		}
		if strings.HasSuffix(s.path, "/token") && (s.host != "login.microsoftonline.us" || s.path != "/contoso.onmicrosoft.com/oauth2/v2.0/token") {
			t.Errorf("token request to %s%s", s.host, s.path)
		}
	}
	if got := f.apiSeen()[0].header.Get("X-Request-Id"); got == "" {
		t.Errorf("custom correlation header not sent")
	}
}

func TestDefaultHTTPClient(t *testing.T) {
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.hc.Transport)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLS minimum is not 1.2")
	}
	// The pool keeps as many idle connections per host as the client may
	// have requests in flight, and opens no more.
	if tr.DisableKeepAlives || tr.MaxIdleConnsPerHost != DefaultMaxInFlight || tr.MaxConnsPerHost != DefaultMaxInFlight {
		t.Errorf("keep-alives %v, idle per host %d, per host %d", !tr.DisableKeepAlives, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost)
	}
	small, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, MaxInFlight: 8})
	if err != nil {
		t.Fatal(err)
	}
	if tr := small.hc.Transport.(*http.Transport); tr.MaxIdleConnsPerHost != 8 || tr.MaxConnsPerHost != 8 {
		t.Errorf("MaxInFlight 8: idle per host %d, per host %d", tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost)
	}
	if c.hc.CheckRedirect == nil || c.hc.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Errorf("the default client follows redirects")
	}
	if rt, ok := c.tokens.hc.Transport.(readingTransport); !ok || rt.next != c.hc.Transport {
		t.Errorf("the token endpoint does not share the Web API's connection pool")
	}
}

func TestCallerClientIsCopiedNotChanged(t *testing.T) {
	follow := func(*http.Request, []*http.Request) error { return nil }
	hc := &http.Client{Transport: &fakeNet{}, CheckRedirect: follow, Timeout: time.Minute}
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect(nil, nil) != nil {
		t.Errorf("the caller's client was changed")
	}
	if c.hc == hc || c.hc.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Errorf("the adapter would follow redirects with the caller's client")
	}
	if c.hc.Transport != hc.Transport || c.hc.Timeout != time.Minute {
		t.Errorf("the copy lost the caller's transport or timeout")
	}
}

// Tests over real TLS servers on loopback (httptest): the contract suite,
// redirects, TLS failures and the one test that waits the real default
// delays.

func fakeCreds(context.Context) (ports.Credentials, error) {
	return ports.NewCredentials(fakeClientID, fakeSecret), nil
}

// startTLS starts h on a TLS server that keeps its handshake errors quiet.
func startTLS(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// newTLSClient returns a client of srv, which serves both the token
// endpoint and the Web API, trusting srv's certificate.
// hc, when not nil, replaces srv's own client.
func newTLSClient(t *testing.T, srv *httptest.Server, hc *http.Client) *Client {
	t.Helper()
	if hc == nil {
		hc = srv.Client()
	}
	c, err := New(srv.URL, ports.CredentialProviderFunc(fakeCreds), &Options{Tenant: "contoso.onmicrosoft.com", AuthorityHost: srv.URL, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestContract(t *testing.T) {
	portaltest.Run(t, portaltest.Harness{New: func(t *testing.T) (ports.DynamicsPortal, portaltest.Data) {
		p := newFakePortal()
		c := newTLSClient(t, startTLS(t, p), nil)
		return c, portaltest.Data{
			Certifications: slices.Clone(p.certs),
			Assignments:    slices.Clone(p.assign),
			WritesApplied:  true,
		}
	}})
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var stolen atomic.Int64
	target := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		writeJSON(w, 200, `{"value":[]}`)
	}))
	p := newFakePortal()
	redirectAPI := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			p.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}
	redirectToken := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}
	// A caller's client that would follow redirects.
	follow := func(srv *httptest.Server) *http.Client {
		hc := srv.Client()
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return nil }
		return hc
	}
	for name, tt := range map[string]struct {
		h      http.HandlerFunc
		op     string
		client func(*httptest.Server) *http.Client
	}{
		"Web API":                         {redirectAPI, "ListCertifications", func(*httptest.Server) *http.Client { return nil }},
		"Web API, caller's client":        {redirectAPI, "ListCertifications", follow},
		"token endpoint":                  {redirectToken, "token", func(*httptest.Server) *http.Client { return nil }},
		"token endpoint, caller's client": {redirectToken, "token", follow},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startTLS(t, tt.h)
			c := newTLSClient(t, srv, tt.client(srv))
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if pe.StatusCode != http.StatusTemporaryRedirect || pe.Op != tt.op {
				t.Errorf("error %+v", pe)
			}
			if stolen.Load() != 0 {
				t.Fatalf("the redirect target got %d requests", stolen.Load())
			}
		})
	}
}

func TestTLSFailureIsNotRetried(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(newFakePortal())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	// The default client does not trust the test server's certificate.
	c, err := New(srv.URL, ports.CredentialProviderFunc(fakeCreds), &Options{Tenant: "contoso.onmicrosoft.com", AuthorityHost: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.WhoAmI(t.Context())
	pe := wantCode(t, err, ports.CodeNetworkError)
	if pe.Op != "token" || time.Since(start) > 900*time.Millisecond {
		t.Errorf("error %+v after %v", pe, time.Since(start))
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (no retry of a TLS failure)", n)
	}
}

func TestRealDefaultDelays(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 3 s of real time (1 s then 2 s)")
	}
	p := newFakePortal()
	var n atomic.Int64
	srv := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && n.Add(1) <= 2 {
			writeJSON(w, http.StatusServiceUnavailable, `{"error":{"code":"","message":"busy"}}`)
			return
		}
		p.ServeHTTP(w, r)
	}))
	c := newTLSClient(t, srv, nil)
	start := time.Now()
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 3*time.Second || d > 4500*time.Millisecond {
		t.Errorf("took %v, want about 3s (1 s then 2 s)", d)
	}
	if n.Load() != 3 {
		t.Errorf("%d attempts, want 3", n.Load())
	}
}
