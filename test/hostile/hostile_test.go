package hostile

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

const (
	tenant   = "contoso.onmicrosoft.com"
	clientID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	secret   = "hostile-SECRET-2b7d"
	certID   = "1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d3e"
	// tokenPrefix starts every access token the hostile portal issues.
	tokenPrefix = "hostile-TOKEN-"
	apiPath     = "/api/data/v9.2/"
	setPath     = apiPath + "hlf_certifications"
)

func creds() ports.CredentialProvider {
	return ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials(clientID, secret), nil
	})
}

// portal is a hostile portal: one TLS server for the token endpoint and
// the Web API.
type portal struct {
	srv    *httptest.Server
	tokens atomic.Int64 // token requests
	calls  atomic.Int64 // Web API requests
}

// startPortal serves token on the token endpoint (a good token with a
// lifetime of an hour when nil) and api on everything else.
func startPortal(t *testing.T, token, api http.HandlerFunc) *portal {
	t.Helper()
	p := &portal{}
	if token == nil {
		token = goodToken(`"expires_in":3599,`)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			p.tokens.Add(1)
			token(w, r)
			return
		}
		p.calls.Add(1)
		api(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.srv = srv
	return p
}

var issued atomic.Int64

// goodToken answers a token with a fresh value; lifetime is the
// expires_in member with its comma, or "" for none.
func goodToken(lifetime string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := tokenPrefix + strconv.FormatInt(issued.Add(1), 10)
		writeJSON(w, http.StatusOK, `{"token_type":"Bearer",`+lifetime+`"access_token":"`+tok+`"}`)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// newClient returns the real adapter for p, trusting p's certificate.
// newClient returns the real adapter for p, trusting p's certificate, with
// the settings of opts, if given.
func newClient(t *testing.T, p *portal, opts ...dynamics.Options) *dynamics.Client {
	t.Helper()
	return newClientAt(t, p.srv.URL, p.srv.URL, p.srv.Client(), opts...)
}

func newClientAt(t *testing.T, base, authority string, hc *http.Client, opts ...dynamics.Options) *dynamics.Client {
	t.Helper()
	var o dynamics.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Tenant, o.AuthorityHost, o.HTTPClient = tenant, authority, hc
	c, err := dynamics.New(base, creds(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// witness is a server that must never be reached: it counts the requests
// it gets and the ones that carried an Authorization header.
type witness struct {
	srv      *httptest.Server
	requests atomic.Int64
	withAuth atomic.Int64
}

func startWitness(t *testing.T, overTLS bool) *witness {
	t.Helper()
	w := &witness{}
	w.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			w.withAuth.Add(1)
		}
		writeJSON(rw, http.StatusOK, `{"value":[]}`)
	}))
	w.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if overTLS {
		w.srv.StartTLS()
	} else {
		w.srv.Start()
	}
	t.Cleanup(w.srv.Close)
	return w
}

func (w *witness) check(t *testing.T) {
	t.Helper()
	if n, a := w.requests.Load(), w.withAuth.Load(); n != 0 || a != 0 {
		t.Errorf("the server at %s got %d requests, %d with an Authorization header; want none", w.srv.URL, n, a)
	}
}

func wantCode(t *testing.T, err error, code ports.ErrorCode) *ports.PortalError {
	t.Helper()
	pe, ok := errors.AsType[*ports.PortalError](err)
	if !ok || pe.Code != code {
		t.Fatalf("error %v; want code %v", err, code)
	}
	if strings.Contains(err.Error(), tokenPrefix) || strings.Contains(err.Error(), secret) {
		t.Errorf("error %q holds a token or the secret", err)
	}
	return pe
}

// heapUse runs f and returns how far the live heap rose above its level
// before f, sampled every millisecond, and the bytes f allocated in all.
func heapUse(f func()) (peak, total uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var (
		wg   sync.WaitGroup
		done = make(chan struct{})
		high = before.HeapAlloc
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				high = max(high, m.HeapAlloc)
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	high = max(high, after.HeapAlloc)
	return high - before.HeapAlloc, after.TotalAlloc - before.TotalAlloc
}

const mib = 1 << 20

// heapSlack is the heap growth allowed above a body cap. The sampled heap
// holds garbage not yet collected, the server's included (it runs in this
// process), and more of it when the machine is busy; reading a body twice
// over, as io.ReadAll does, would still exceed it by far at the 64 MiB
// cap.
const heapSlack = 16 * mib

// stream writes chunks of b until the client goes away or limit bytes are
// written (limit < 0: without end).
func stream(w http.ResponseWriter, r *http.Request, b []byte, limit int) {
	rc := http.NewResponseController(w)
	for n := 0; limit < 0 || n < limit; n += len(b) {
		if r.Context().Err() != nil {
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

// jsonChunk is 64 KiB of records, so a streamed page stays valid JSON up
// to where it is cut.
var jsonChunk = []byte(strings.Repeat(`{"hlf_certificationid":"`+certID+`","hlf_name":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},`, 64<<10/96))

// A body over the size cap, announced or streamed, and a body that never
// ends are refused as invalidResponse after at most the cap is read, with
// the live heap bounded by the cap plus a little, and without a retry.
func TestBodyOverTheCap(t *testing.T) {
	if testing.Short() {
		t.Skip("streams some 64 MiB bodies over loopback TLS")
	}
	page := func(limit int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"value":[`)
			stream(w, r, jsonChunk, limit)
		}
	}
	for _, tt := range []struct {
		name  string
		api   http.HandlerFunc
		token http.HandlerFunc
		op    string
		cap   uint64 // the cap that applies
	}{
		{name: "page announced over the cap", api: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(dynamics.MaxPageBody+1))
			_, _ = io.WriteString(w, `{"value":[`)
		}, op: "ListCertifications", cap: 0},
		{name: "page streamed over the cap", api: page(dynamics.MaxPageBody + 4*mib), op: "ListCertifications", cap: dynamics.MaxPageBody},
		{name: "endless page", api: page(-1), op: "ListCertifications", cap: dynamics.MaxPageBody},
		{name: "endless error body", api: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			stream(w, r, jsonChunk, -1)
		}, op: "ListCertifications", cap: dynamics.MaxErrorBody},
		{name: "endless token answer", token: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token_type":"Bearer","access_token":"`)
			stream(w, r, []byte(strings.Repeat("a", 64<<10)), -1)
		}, op: "token", cap: mib},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startPortal(t, tt.token, tt.api)
			c := newClient(t, p)
			var err error
			start := time.Now()
			peak, total := heapUse(func() {
				_, err = c.ListCertifications(t.Context(), ports.PageQuery{})
			})
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if pe.Op != tt.op {
				t.Errorf("error %v; want it from %s", err, tt.op)
			}
			if n := p.calls.Load() + p.tokens.Load(); n > 2 {
				t.Errorf("%d requests; want no retry", n)
			}
			t.Logf("%s: refused after %v; live heap rose %.1f MiB at most, %.1f MiB allocated (cap %.1f MiB)",
				tt.name, time.Since(start).Round(time.Millisecond), float64(peak)/mib, float64(total)/mib, float64(tt.cap)/mib)
			if peak > tt.cap+heapSlack {
				t.Errorf("the live heap rose by %d bytes; want at most the cap %d plus %d", peak, tt.cap, heapSlack)
			}
		})
	}
}

// A body that trickles without end is cut by the attempt time limit and
// the call by its total limit: networkError, in bounded time.
func TestBodyThatNeverEnds(t *testing.T) {
	p := startPortal(t, nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		rc := http.NewResponseController(w)
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, " "); err != nil {
				return
			}
			_ = rc.Flush()
			time.Sleep(5 * time.Millisecond)
		}
	})
	c := newClient(t, p, dynamics.Options{Timeouts: dynamics.Timeouts{Attempt: 200 * time.Millisecond, Total: 600 * time.Millisecond}})
	start := time.Now()
	_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
	wantCode(t, err, ports.CodeNetworkError)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v; want about the 600 ms total limit", d)
	}
}

// Deeply nested JSON, in a page, an error body or a token answer, is
// refused with a clear code and no stack or heap blow-up.
func TestDeeplyNestedJSON(t *testing.T) {
	deep := strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20)
	for _, tt := range []struct {
		name  string
		token http.HandlerFunc
		api   http.HandlerFunc
		code  ports.ErrorCode
		op    string
	}{
		{"page", nil, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `{"value":[],"x":`+deep+`}`)
		}, ports.CodeInvalidResponse, "ListCertifications"},
		{"record", nil, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `{"value":[{"hlf_certificationid":"`+certID+`","hlf_name":`+deep+`}]}`)
		}, ports.CodeInvalidResponse, "ListCertifications"},
		{"error body", nil, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":`+deep[:30000]+deep[len(deep)-30000:]+`}}`)
		}, ports.CodeInvalidRequest, "ListCertifications"},
		{"token answer", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `{"token_type":"Bearer","access_token":"a","x":`+deep[:400000]+deep[len(deep)-400000:]+`}`)
		}, nil, ports.CodeInvalidResponse, "token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := tt.api
			if api == nil {
				api = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, `{"value":[]}`) }
			}
			p := startPortal(t, tt.token, api)
			c := newClient(t, p)
			var err error
			peak, _ := heapUse(func() { _, err = c.ListCertifications(t.Context(), ports.PageQuery{}) })
			pe := wantCode(t, err, tt.code)
			if pe.Op != tt.op {
				t.Errorf("error %v; want it from %s", err, tt.op)
			}
			if peak > 64*mib {
				t.Errorf("the live heap rose by %.1f MiB for a 2 MiB body", float64(peak)/mib)
			}
		})
	}
}

// A redirect, to plain http or anywhere, is never followed, by the Web API
// calls or by the token fetch, even when the caller's own client would
// follow it: the target never gets a request, let alone the token.
func TestRedirectToPlainHTTP(t *testing.T) {
	for _, tt := range []struct {
		name       string
		onToken    bool
		callersOwn bool
	}{
		{"Web API", false, false},
		{"Web API, a client that follows redirects", false, true},
		{"token endpoint", true, false},
		{"token endpoint, a client that follows redirects", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := startWitness(t, false)
			redirect := func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.srv.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			}
			var p *portal
			if tt.onToken {
				p = startPortal(t, redirect, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"value":[]}`) })
			} else {
				p = startPortal(t, nil, redirect)
			}
			hc := p.srv.Client()
			if tt.callersOwn {
				hc.CheckRedirect = func(*http.Request, []*http.Request) error { return nil }
			}
			c := newClientAt(t, p.srv.URL, p.srv.URL, hc)
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if pe.StatusCode != http.StatusTemporaryRedirect {
				t.Errorf("error %v; want the 307 named", err)
			}
			target.check(t)
		})
	}
}

// A nextLink to another host, to plain http or to the portal under
// another name is refused; so is a caller's continuation that points
// there. The other server never gets a request.
func TestNextLinkElsewhere(t *testing.T) {
	foreign := startWitness(t, true)
	plain := startWitness(t, false)
	var next atomic.Value
	p := startPortal(t, nil, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"value":[{"hlf_certificationid":"`+certID+`"}],"@odata.nextLink":"`+next.Load().(string)+`"}`)
	})
	_, port, _ := strings.Cut(strings.TrimPrefix(p.srv.URL, "https://"), ":")
	query := setPath + "?$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E"
	for name, link := range map[string]string{
		"another host":             foreign.srv.URL + query,
		"plain http, another host": plain.srv.URL + query,
		"plain http, same host":    "http://127.0.0.1:" + port + query,
		"same server, other name":  "https://localhost:" + port + query,
		"user info":                "https://" + strings.TrimPrefix(foreign.srv.URL, "https://") + "@127.0.0.1:" + port + query,
		"another collection":       p.srv.URL + apiPath + "hlf_assignments?$skiptoken=2",
	} {
		t.Run(name, func(t *testing.T) {
			next.Store(link)
			c := newClient(t, p)
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if !strings.Contains(pe.Message, "nextLink") || strings.Contains(err.Error(), link) {
				t.Errorf("error %v; want it to name the nextLink, not quote it", err)
			}
			before := p.calls.Load()
			_, err = c.ListCertifications(t.Context(), ports.PageQuery{Continuation: link})
			wantCode(t, err, ports.CodeInvalidRequest)
			if p.calls.Load() != before {
				t.Errorf("a refused continuation was sent")
			}
			foreign.check(t)
			plain.check(t)
		})
	}
}

// A token answer without expires_in, or with a zero or negative one, has
// no known lifetime: it serves the call that fetched it and is never
// cached, so every call fetches its own.
func TestTokenWithoutUsableLifetime(t *testing.T) {
	for name, lifetime := range map[string]string{
		"no expires_in":       "",
		"negative expires_in": `"expires_in":-3600,`,
		"zero expires_in":     `"expires_in":0,`,
		"under the margin":    `"expires_in":30,`,
	} {
		t.Run(name, func(t *testing.T) {
			p := startPortal(t, goodToken(lifetime), func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "+tokenPrefix) {
					writeJSON(w, http.StatusUnauthorized, `{"error":{"code":"0x80048306","message":"no token"}}`)
					return
				}
				writeJSON(w, http.StatusOK, `{"value":[]}`)
			})
			c := newClient(t, p)
			for range 3 {
				if _, err := c.ListCertifications(t.Context(), ports.PageQuery{}); err != nil {
					t.Fatal(err)
				}
			}
			if n := p.tokens.Load(); n != 3 {
				t.Errorf("%d token requests for 3 calls; want one each (never cached)", n)
			}
		})
	}
}

// A server whose certificate names another host fails the TLS handshake:
// networkError, never retried, and the server gets no HTTP request, so the
// token is never sent. This holds for the token endpoint and for the Web
// API behind a good token endpoint.
func TestCertificateForAnotherName(t *testing.T) {
	emu, err := dynamicstest.Start(&dynamicstest.Options{CertHosts: []string{"portal.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	good := startPortal(t, nil, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"value":[]}`) })
	pool := emu.CertPool()
	pool.AddCert(good.srv.Certificate())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()

	for _, tt := range []struct {
		name, authority, op string
	}{
		{"token endpoint", emu.AuthorityHost(), "token"},
		{"Web API", good.srv.URL, "ListCertifications"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emu.ResetStats()
			c := newClientAt(t, emu.BaseURL(), tt.authority, hc)
			start := time.Now()
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, ports.CodeNetworkError)
			var he x509.HostnameError
			if pe.Op != tt.op || !errors.As(err, &he) {
				t.Errorf("error %v (%T); want a host name failure of %s", err, errors.Unwrap(err), tt.op)
			}
			st := emu.Stats()
			if st.Connections != 1 || len(st.Requests) != 0 {
				t.Errorf("%d connections, requests %v; want one handshake and no request", st.Connections, st.Requests)
			}
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("took %v; a TLS failure is not retried", d)
			}
		})
	}
}

// A service request id that is huge, or holds tabs and bytes that are not
// UTF-8, is cut and cleaned before it reaches an error (and the debug log):
// a portal cannot bloat or forge log lines through it.
func TestHugeServiceRequestIDIsCut(t *testing.T) {
	id := strings.Repeat("req\t\xff\xfe-", 16<<10)
	p := startPortal(t, nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-ms-service-request-id", id)
		writeJSON(w, http.StatusNotFound, `{"error":{"code":"0x80040217","message":"gone"}}`)
	})
	c := newClient(t, p)
	_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
	pe := wantCode(t, err, ports.CodeNotFound)
	if len(pe.ServiceRequestID) == 0 || len(pe.ServiceRequestID) > 128 || !utf8.ValidString(pe.ServiceRequestID) ||
		strings.ContainsAny(pe.ServiceRequestID, "\t") || len(err.Error()) > 1024 {
		t.Errorf("service request id of %d bytes (%q), error of %d bytes", len(pe.ServiceRequestID), pe.ServiceRequestID, len(err.Error()))
	}
}
