package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/ports"
)

// The small portal of the per-call benchmark: a token endpoint and WhoAmI,
// each answering fixed bytes, so that the three clients differ only in
// what they do themselves.
const (
	callTenant   = "contoso.onmicrosoft.com"
	callClientID = "4c7e9a1b-2d3f-4a5b-8c6d-0e1f2a3b4c5d"
	callSecret   = "bench-secret"
	callToken    = "bench-access-token"
)

var (
	whoAmIBody = []byte(`{"@odata.context":"https://hlf.crm4.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",` +
		`"BusinessUnitId":"5a2f3c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b","UserId":"7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928",` +
		`"OrganizationId":"0f1e2d3c-4b5a-4697-8877-665544332211"}`)
	tokenBody = []byte(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"` + callToken + `"}`)
)

// newCallServer starts the loopback TLS server of the per-call benchmark;
// it closes when b ends.
func newCallServer(b *testing.B) *httptest.Server {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json; odata.metadata=minimal"}
		if r.Method == http.MethodPost && r.URL.Path == "/"+callTenant+"/oauth2/v2.0/token" {
			w.Write(tokenBody)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+callToken || r.URL.Path != "/api/data/v9.2/WhoAmI" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h["Odata-Version"] = []string{"4.0"}
		w.Write(whoAmIBody)
	}))
	ts.StartTLS()
	b.Cleanup(ts.Close)
	return ts
}

// transport returns a new transport with the settings of the adapter's
// default one (keep-alives, TLS 1.2 or later, at most
// dynamics.DefaultMaxInFlight connections per host, all kept when idle)
// that trusts pool. Every client compared gets one of these.
func transport(pool *x509.CertPool) *http.Transport {
	const conns = dynamics.DefaultMaxInFlight
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          2 * conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func serverPool(ts *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return pool
}

// whoAmI is the decoding every client does: the same struct, the same
// encoding/json call.
type whoAmI struct {
	BusinessUnitID string `json:"BusinessUnitId"`
	UserID         string `json:"UserId"`
	OrganizationID string `json:"OrganizationId"`
}

// setHeaders sets what the portal contract asks on every Web API request,
// the bearer token aside: the same request goes on the wire from every
// client compared.
func setHeaders(h http.Header) {
	id := uuid.NewString()
	h.Set("Accept", "application/json")
	h.Set("OData-MaxVersion", "4.0")
	h.Set("OData-Version", "4.0")
	h.Set("x-correlation-id", id)
	h.Set("x-ms-client-request-id", id)
}

func decodeWhoAmI(b *testing.B, resp *http.Response) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	var w whoAmI
	if err := json.Unmarshal(body, &w); err != nil || w.UserID == "" {
		b.Fatalf("decode: %v", err)
	}
}

// BenchmarkCall measures one small read (WhoAmI) on a warm connection with
// a cached token, three ways, against the same in-process TLS server:
//
//   - impl=raw: net/http with a token fetched beforehand, the floor;
//   - impl=adapter: the Dynamics adapter with every feature on (retry
//     policy, time limits, correlation ids, throttle state) and debug
//     logging off;
//   - impl=retryablehttp: go-retryablehttp around oauth2.Transport, the
//     usual Go combination;
//   - impl=adapter-otel: the adapter reporting to OpenTelemetry SDK
//     providers (spans batched to an in-memory exporter, metrics kept for
//     a manual reader): the cost of observability when a host turns it on.
//
// All three send the same request: the headers the portal contract asks
// for, a new correlation id each time. Allocations are counted for the
// whole process, so the server's own allocations for each request are
// included, the same for all three. Run with -count to interleave the
// three, and compare with benchstat -col /impl.
func BenchmarkCall(b *testing.B) {
	ts := newCallServer(b) // one server for the three
	api := ts.URL + "/api/data/v9.2/WhoAmI"
	tokenURL := ts.URL + "/" + callTenant + "/oauth2/v2.0/token"

	b.Run("impl=raw", func(b *testing.B) {
		tr := transport(serverPool(ts))
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		cfg := clientcredentials.Config{ClientID: callClientID, ClientSecret: callSecret, TokenURL: tokenURL,
			Scopes: []string{ts.URL + "/.default"}, AuthStyle: oauth2.AuthStyleInParams}
		tok, err := cfg.Token(context.WithValue(b.Context(), oauth2.HTTPClient, hc))
		if err != nil {
			b.Fatal(err)
		}
		auth := "Bearer " + tok.AccessToken
		ctx := b.Context()
		get := func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, api, nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", auth)
			setHeaders(req.Header)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			decodeWhoAmI(b, resp)
		}
		get() // connection
		b.ReportAllocs()
		for b.Loop() {
			get()
		}
	})

	b.Run("impl=adapter", func(b *testing.B) { benchAdapter(b, ts, nil) })

	b.Run("impl=adapter-otel", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewInMemoryExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		}()
		benchAdapter(b, ts, &dynamics.Options{TracerProvider: tp, MeterProvider: mp})
	})

	b.Run("impl=retryablehttp", func(b *testing.B) {
		tr := transport(serverPool(ts))
		defer tr.CloseIdleConnections()
		base := &http.Client{Transport: tr}
		cfg := clientcredentials.Config{ClientID: callClientID, ClientSecret: callSecret, TokenURL: tokenURL,
			Scopes: []string{ts.URL + "/.default"}, AuthStyle: oauth2.AuthStyleInParams}
		src := cfg.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, base))
		rc := retryablehttp.NewClient()
		rc.HTTPClient = &http.Client{Transport: &oauth2.Transport{Source: src, Base: tr}}
		rc.Logger = nil
		rc.RetryMax, rc.RetryWaitMin, rc.RetryWaitMax = 3, time.Second, 16*time.Second
		ctx := b.Context()
		get := func() {
			req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, api, nil)
			if err != nil {
				b.Fatal(err)
			}
			setHeaders(req.Header)
			resp, err := rc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			decodeWhoAmI(b, resp)
		}
		get() // token and connection
		b.ReportAllocs()
		for b.Loop() {
			get()
		}
	})
}

// benchAdapter measures WhoAmI through the adapter with the settings of
// opts (nil: none) against ts.
func benchAdapter(b *testing.B, ts *httptest.Server, opts *dynamics.Options) {
	var o dynamics.Options
	if opts != nil {
		o = *opts
	}
	o.Tenant, o.AuthorityHost = callTenant, ts.URL
	o.HTTPClient = &http.Client{Transport: transport(serverPool(ts))}
	creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials(callClientID, callSecret), nil
	})
	c, err := dynamics.New(ts.URL, creds, &o)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	if _, err := c.WhoAmI(ctx); err != nil { // token and connection
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.WhoAmI(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
