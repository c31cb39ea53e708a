package dynamics

// Tests over real TLS servers on loopback (httptest): the contract suite,
// redirects, TLS failures and the one test that waits the real default
// delays.

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
	"github.com/hlf/dynamicsportal/test/contract"
)

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
	contract.Run(t, contract.Harness{New: func(t *testing.T) (ports.DynamicsPortal, contract.Data) {
		p := newFakePortal()
		c := newTLSClient(t, startTLS(t, p), nil)
		return c, contract.Data{
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
