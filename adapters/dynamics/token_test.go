package dynamics

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/adapters/credentials"
	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

func TestTokenRequest(t *testing.T) {
	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	c := newNetClient(t, f)
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	req := f.seen()[0]
	if req.method != http.MethodPost || req.host != "login.microsoftonline.com" || req.path != "/"+testTenant+"/oauth2/v2.0/token" {
		t.Fatalf("token request %s %s%s", req.method, req.host, req.path)
	}
	if req.header.Get("Authorization") != "" {
		t.Errorf("credentials sent in a header (want AuthStyleInParams)")
	}
	form := string(req.body)
	for _, p := range []string{"grant_type=client_credentials", "client_id=" + testClientID, "client_secret=" + secretMarker,
		"scope=https%3A%2F%2Fhlf.crm4.dynamics.com%2F.default"} {
		if !strings.Contains(form, p) {
			t.Errorf("token form %q lacks %q", form, p)
		}
	}
}

// assertionMarker stands for a client assertion in tests: a JWT's shape,
// searched for in every log byte and error string.
const assertionMarker = "eyJhbGciOiJQUzI1NiJ9.eyJhdWQiOiJ4In0.ASSERTION-MARKER-r8Tn"

func assertionCreds() ports.CredentialProvider {
	return ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewAssertionCredentials(testClientID, assertionMarker), nil
	})
}

// An assertion goes in client_assertion with the jwt-bearer type, and no
// client_secret is sent.
func TestTokenRequestWithAssertion(t *testing.T) {
	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	c, err := New(testBase, assertionCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: f}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	req := f.seen()[0]
	if req.header.Get("Authorization") != "" {
		t.Errorf("credentials sent in a header")
	}
	form, err := url.ParseQuery(string(req.body))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {testClientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertionMarker},
		"scope":                 {testBase + "/.default"},
	}
	if !maps.EqualFunc(form, want, slices.Equal) {
		t.Errorf("token form %v, want %v", form, want)
	}
}

// An assertion the token endpoint refuses (expired, for another audience)
// is an authFailure after one request: another attempt would send the same
// assertion.
func TestRefusedAssertionIsNotRetried(t *testing.T) {
	for code, body := range map[string]string{
		"expired":        `{"error":"invalid_client","error_description":"AADSTS700024: Client assertion is not within its valid time range.","error_codes":[700024],"trace_id":"t"}`,
		"wrong audience": `{"error":"invalid_client","error_description":"AADSTS700023: Client assertion audience claim does not match Realm issuer.","error_codes":[700023],"trace_id":"t"}`,
		"federated":      `{"error":"invalid_client","error_description":"AADSTS700212: No matching federated identity record found for presented assertion audience.","error_codes":[700212],"trace_id":"t"}`,
	} {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeNet{token: status(400, body), api: okJSON(fixture(t, "whoami.json"))}
			c, err := New(testBase, assertionCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: f}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.WhoAmI(t.Context())
			pe := wantCode(t, err, ports.CodeAuthFailure)
			if pe.ServiceCode != "invalid_client" || !strings.HasPrefix(pe.Message, "AADSTS700") || f.tokens.Load() != 1 {
				t.Errorf("%s: error %+v after %d token requests, want 1", code, pe, f.tokens.Load())
			}
			if strings.Contains(err.Error(), assertionMarker) {
				t.Errorf("%s: the error holds the assertion", code)
			}
		})
	}
}

func TestTokenURL(t *testing.T) {
	for _, tt := range []struct{ authority, want string }{
		{"", "https://login.microsoftonline.com/" + testTenant + "/oauth2/v2.0/token"},
		{"https://login.microsoftonline.us/", "https://login.microsoftonline.us/" + testTenant + "/oauth2/v2.0/token"},
	} {
		if got := TokenURL(tt.authority, testTenant); got != tt.want {
			t.Errorf("TokenURL(%q) = %q, want %q", tt.authority, got, tt.want)
		}
	}
	// The client posts to the same URL.
	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	c := newNetClient(t, f, Options{AuthorityHost: "https://login.microsoftonline.us/"})
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := "https://" + f.seen()[0].host + f.seen()[0].path; got != TokenURL("https://login.microsoftonline.us", testTenant) {
		t.Errorf("token request to %s", got)
	}
}

func TestCachedTokenIsReused(t *testing.T) {
	f := &fakeNet{token: okJSON(fixture(t, "token-success.json")), api: okJSON(fixture(t, "whoami.json"))}
	c := newNetClient(t, f)
	for range 3 {
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokens.Load(); n != 1 {
		t.Errorf("%d token requests for 3 calls, want 1", n)
	}
	const want = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2hsZi5jcm00LmR5bmFtaWNzLmNvbSJ9.c2lnbmF0dXJl"
	for _, s := range f.apiSeen() {
		if got := s.header.Get("Authorization"); got != want {
			t.Errorf("Authorization %q", got)
		}
	}
}

// clock is a settable clock for Options.now.
type clock struct{ now atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC))
	return c
}
func (c *clock) Now() time.Time          { return *c.now.Load() }
func (c *clock) set(t time.Time)         { c.now.Store(&t) }
func (c *clock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

func TestTokenReplacedNearExpiry(t *testing.T) {
	// The token lives 3599 s; it is replaced once less than 60 s remain.
	for _, tt := range []struct {
		after time.Duration
		want  int64
	}{
		{3599*time.Second - 61*time.Second, 1},
		{3599*time.Second - 59*time.Second, 2},
		{3599 * time.Second, 2},
		{2 * time.Hour, 2},
	} {
		f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
		clk := newClock()
		c := newNetClient(t, f, Options{now: clk.Now})
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.advance(tt.after)
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := f.tokens.Load(); n != tt.want {
			t.Errorf("after %v: %d token requests, want %d", tt.after, n, tt.want)
		}
	}
}

func TestTokenWithoutUsableLifetimeIsNotCached(t *testing.T) {
	for name, body := range map[string]string{
		"no expires_in":       `{"token_type":"Bearer","access_token":"` + tokenMarker + `"}`,
		"zero expires_in":     `{"token_type":"Bearer","expires_in":0,"access_token":"` + tokenMarker + `"}`,
		"negative expires_in": `{"token_type":"Bearer","expires_in":-30,"access_token":"` + tokenMarker + `"}`,
		"under the margin":    `{"token_type":"Bearer","expires_in":"45","access_token":"` + tokenMarker + `"}`,
	} {
		f := &fakeNet{token: okJSON(body), api: okJSON(fixture(t, "whoami.json"))}
		c := newNetClient(t, f)
		for range 2 {
			if _, err := c.WhoAmI(t.Context()); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if n := f.tokens.Load(); n != 2 {
			t.Errorf("%s: %d token requests for 2 calls, want 2", name, n)
		}
		if got := f.apiSeen()[1].header.Get("Authorization"); got != "Bearer "+tokenMarker {
			t.Errorf("%s: Authorization %q", name, got)
		}
	}
}

func Test401DropsTokenAndFailsAtOnce(t *testing.T) {
	f := &fakeNet{api: sequence(status(401, `{"error":{"code":"0x80072560","message":"The user is not a member of the organization."}}`),
		okJSON(fixture(t, "whoami.json")))}
	c := newNetClient(t, f)
	_, err := c.WhoAmI(t.Context())
	pe := wantCode(t, err, ports.CodeAuthFailure)
	if pe.StatusCode != 401 || pe.ServiceCode != "0x80072560" || len(f.apiSeen()) != 1 {
		t.Errorf("error %+v after %d requests", pe, len(f.apiSeen()))
	}
	if c.tokens.cur.Load() != nil {
		t.Errorf("the token is still cached after a 401")
	}
	if _, err := c.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := f.tokens.Load(); n != 2 {
		t.Errorf("%d token requests, want 2 (a new token after the 401)", n)
	}
}

func TestTokenFailureReadsAsItsPortalError(t *testing.T) {
	var err error = &tokenFailure{pe: &ports.PortalError{Code: ports.CodeAuthFailure, Op: "token", StatusCode: 401}}
	if err.Error() != "authFailure: token: HTTP 401" {
		t.Errorf("Error() = %q", err)
	}
}

func TestInvalidateKeepsANewerToken(t *testing.T) {
	tc := &tokenCache{now: time.Now}
	old := &token{expiry: time.Now().Add(time.Hour)}
	newer := &token{expiry: time.Now().Add(time.Hour)}
	tc.cur.Store(newer)
	tc.invalidate(old)
	if tc.cur.Load() != newer {
		t.Errorf("a 401 for an old token dropped the newer one")
	}
}

func TestThousandColdCallersShareOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		f := &fakeNet{
			token: func(w http.ResponseWriter, r *http.Request) { <-gate; goodToken(w, r) },
			api:   okJSON(fixture(t, "whoami.json")),
		}
		c := newNetClient(t, f)
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range 1000 {
			wg.Go(func() {
				if _, err := c.WhoAmI(t.Context()); err != nil {
					failed.Add(1)
				}
			})
		}
		synctest.Wait() // every caller waits for the one fetch
		close(gate)
		wg.Wait()
		if n := f.tokens.Load(); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
		if failed.Load() != 0 || f.calls.Load() != 1000 {
			t.Errorf("%d calls failed, %d made", failed.Load(), f.calls.Load())
		}
	})
}

func TestOneCallerGivingUpDoesNotFailTheSharedFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{
			token: func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Second); goodToken(w, r) },
			api:   okJSON(fixture(t, "whoami.json")),
		}
		c := newNetClient(t, f)
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		var first error
		var firstAfter time.Duration
		start := time.Now()
		wg.Go(func() { _, first = c.WhoAmI(ctx); firstAfter = time.Since(start) })
		synctest.Wait()
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatalf("the second caller failed: %v", err)
		}
		wg.Wait()
		wantCode(t, first, ports.CodeCanceled)
		// The caller that gave up returned when its context ended, not
		// when the shared fetch did (1 s).
		if firstAfter != 500*time.Millisecond {
			t.Errorf("the caller that gave up returned after %v, want 500ms", firstAfter)
		}
		if n := f.tokens.Load(); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
	})
}

// A credential provider that ignores its context (blocked on a file read,
// say) does not hold the callers past the token limit: they fail at the
// limit, and the next call starts a new fetch.
func TestTokenLimitHoldsWhenTheProviderIgnoresItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var asked atomic.Int64
		stuck := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
			if asked.Add(1) == 1 {
				<-release // ignores its context
			}
			return ports.NewCredentials(testClientID, secretMarker), nil
		})
		f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
		c, err := New(testBase, stuck, &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: f}, Retry: RetrySettings{MaxRetries: 1}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { _, errs[i] = c.WhoAmI(t.Context()) })
		}
		wg.Wait()
		// Each caller: a 2 s fetch that hangs, 1 s of backoff, and a new
		// fetch that succeeds.
		for _, err := range errs {
			if err != nil {
				t.Errorf("call failed: %v", err)
			}
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("callers held %v, want 3s (the 2s limit, 1s backoff)", d)
		}
		close(release)
		synctest.Wait()
	})
}

func TestTokenFetchTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{
			token: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			api:   okJSON(fixture(t, "whoami.json")),
		}
		c := newNetClient(t, f)
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if pe.Op != "token" || pe.Message != "no token within 2s" || pe.CorrelationID == "" {
			t.Errorf("error %+v", pe)
		}
		// Four fetches of 2 s, with 1, 2 and 4 s between them.
		if d := time.Since(start); d != 15*time.Second || f.tokens.Load() != 4 || f.calls.Load() != 0 {
			t.Errorf("after %v: %d token requests, %d calls", d, f.tokens.Load(), f.calls.Load())
		}
	})
	synctest.Test(t, func(t *testing.T) {
		slow := ports.CredentialProviderFunc(func(ctx context.Context) (ports.Credentials, error) {
			<-ctx.Done()
			return ports.Credentials{}, ctx.Err()
		})
		f := &fakeNet{}
		c, err := New(testBase, slow, &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: f}, Retry: RetrySettings{MaxRetries: 1}, Timeouts: Timeouts{Token: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if pe.Message != "no token within 500ms" || len(f.seen()) != 0 {
			t.Errorf("error %+v after %d requests", pe, len(f.seen()))
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	withRA := func(code int, ra, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", ra)
			writeJSON(w, code, body)
		}
	}
	raw := func(code int, ctype, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}
	}
	aad := func(code string) string {
		return `{"error":"` + code + `","error_description":"AADSTS700016: something","error_codes":[700016],"trace_id":"trace-1","correlation_id":"c"}`
	}
	tests := []struct {
		name       string
		h          http.HandlerFunc
		code       ports.ErrorCode
		service    string
		attempts   int64
		status     int
		retryAfter time.Duration
	}{
		{"invalid_client", status(401, fixture(t, "token-error-invalid-client.json")), ports.CodeAuthFailure, "invalid_client", 1, 401, 0},
		{"unauthorized_client", status(400, aad("unauthorized_client")), ports.CodeAuthFailure, "unauthorized_client", 1, 400, 0},
		{"invalid_scope", status(400, aad("invalid_scope")), ports.CodeAuthFailure, "invalid_scope", 1, 400, 0},
		{"invalid_request", status(400, aad("invalid_request")), ports.CodeAuthFailure, "invalid_request", 1, 400, 0},
		{"403 without a body", status(403, ``), ports.CodeAuthFailure, "", 1, 403, 0},
		{"429", withRA(429, "2", aad("")), ports.CodeRateLimited, "", 4, 429, 2 * time.Second},
		{"429 asking too much", withRA(429, "60", aad("")), ports.CodeRateLimited, "", 1, 429, time.Minute},
		{"503", status(503, aad("server_error")), ports.CodeServerError, "server_error", 4, 503, 0},
		{"temporarily_unavailable", status(400, aad("temporarily_unavailable")), ports.CodeServerError, "temporarily_unavailable", 4, 400, 0},
		{"500 raw body", raw(500, "text/plain", "RAW-BODY-MARKER"), ports.CodeServerError, "", 4, 500, 0},
		{"302", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/token", http.StatusFound)
		}, ports.CodeInvalidResponse, "", 1, 302, 0},
		{"sign-in page", raw(200, "text/html", fixture(t, "signin-page.html")), ports.CodeInvalidResponse, "", 1, 200, 0},
		{"no access token", okJSON(`{"token_type":"Bearer","expires_in":3599}`), ports.CodeInvalidResponse, "", 1, 200, 0},
		{"token with a space", okJSON(`{"token_type":"Bearer","expires_in":3599,"access_token":"a b"}`), ports.CodeInvalidResponse, "", 1, 200, 0},
		{"error with 200", okJSON(aad("invalid_grant")), ports.CodeAuthFailure, "invalid_grant", 1, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeNet{token: tt.h, api: okJSON(fixture(t, "whoami.json"))}
				c := newNetClient(t, f)
				_, err := c.WhoAmI(t.Context())
				pe := wantCode(t, err, tt.code)
				if pe.Op != "token" || pe.ServiceCode != tt.service || pe.StatusCode != tt.status || pe.RetryAfter != tt.retryAfter {
					t.Errorf("error %+v", pe)
				}
				if n := f.tokens.Load(); n != tt.attempts {
					t.Errorf("%d token requests, want %d", n, tt.attempts)
				}
				if f.calls.Load() != 0 {
					t.Errorf("a Web API call was made without a token")
				}
				msg := err.Error()
				for _, leak := range []string{"RAW-BODY-MARKER", "error_codes", "correlation_id", "<html", "oauth2:", secretMarker} {
					if strings.Contains(msg, leak) {
						t.Errorf("error %q holds %q", msg, leak)
					}
				}
			})
		})
	}
	t.Run("fixture details", func(t *testing.T) {
		f := &fakeNet{token: status(401, fixture(t, "token-error-invalid-client.json"))}
		c := newNetClient(t, f)
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeAuthFailure)
		if pe.ServiceRequestID != "0b1f6d7e-5a1c-4b37-9a1e-2f9c3d8e7a10" || !strings.HasPrefix(pe.Message, "AADSTS7000215: Invalid client secret provided.") {
			t.Errorf("error %+v", pe)
		}
	})
}

func TestTokenEndpointNetworkErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
		fn := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
		token := &failing{n: 1, err: reset, next: fn}
		c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: &apiOnly{api: fn, token: token}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatalf("a reset token request was not retried: %v", err)
		}
		if token.seen != 2 {
			t.Errorf("%d token requests, want 2", token.seen)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		permanent := errors.New("unsupported protocol")
		fn := &fakeNet{}
		token := &failing{n: 9, err: permanent, next: fn}
		c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: &apiOnly{api: fn, token: token}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if !errors.Is(err, permanent) || token.seen != 1 || pe.Op != "token" {
			t.Errorf("%+v after %d token requests", pe, token.seen)
		}
	})
}

func TestCredentialsAskedAtEachFetchOnly(t *testing.T) {
	var asked atomic.Int64
	creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		asked.Add(1)
		return ports.NewCredentials(testClientID, secretMarker), nil
	})
	f := &fakeNet{api: sequence(status(401, `{}`), okJSON(fixture(t, "whoami.json")))}
	c, err := New(testBase, creds, &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: f}})
	if err != nil {
		t.Fatal(err)
	}
	if asked.Load() != 0 {
		t.Fatalf("New asked for credentials")
	}
	_, _ = c.WhoAmI(t.Context())
	for range 3 {
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if asked.Load() != 2 || f.tokens.Load() != 2 {
		t.Errorf("credentials asked %d times for %d fetches, want 2 and 2", asked.Load(), f.tokens.Load())
	}
}

func TestBadCredentialsAreRefusedWithoutARequest(t *testing.T) {
	provErr := errors.New("vault unreachable")
	for name, tt := range map[string]struct {
		p    ports.CredentialProviderFunc
		want error
	}{
		"empty secret": {func(context.Context) (ports.Credentials, error) { return ports.NewCredentials(testClientID, ""), nil }, ports.ErrInvalidConfig},
		"empty id":     {func(context.Context) (ports.Credentials, error) { return ports.NewCredentials("", secretMarker), nil }, ports.ErrInvalidConfig},
		"zero":         {func(context.Context) (ports.Credentials, error) { return ports.Credentials{}, nil }, ports.ErrInvalidConfig},
		"error":        {func(context.Context) (ports.Credentials, error) { return ports.Credentials{}, provErr }, provErr},
	} {
		f := &fakeNet{}
		c, err := New(testBase, tt.p, &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: f}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeAuthFailure)
		if !errors.Is(err, tt.want) || pe.Op != "token" {
			t.Errorf("%s: %v does not wrap %v", name, err, tt.want)
		}
		if len(f.seen()) != 0 {
			t.Errorf("%s: %d requests made", name, len(f.seen()))
		}
	}
}

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

// The platform rotates the federated token file; the next token fetch
// reads the new token. The old one has expired by then, so the fetch
// succeeds only with the new one, and without a rotation it fails.
func TestFederatedTokenFileRotated(t *testing.T) {
	clk := newClock()
	e, err := dynamicstest.Start(&dynamicstest.Options{Certifications: 5, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	first := e.FederatedToken(dynamicstest.FederatedTokenOptions{})
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(path, []byte(first+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) { return e.ClientID(), k == credentials.EnvClientID }
	p, err := New(e.BaseURL(), credentials.FromFederatedTokenFile(lookup, path),
		&Options{Tenant: e.TenantID(), AuthorityHost: e.AuthorityHost(), HTTPClient: e.HTTPClient(), now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if _, err := p.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Two hours on: the access token and the first federated token have
	// expired, and the platform has written a new one.
	clk.advance(2 * time.Hour)
	second := e.FederatedToken(dynamicstest.FederatedTokenOptions{})
	if err := os.WriteFile(path, []byte(second+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WhoAmI(t.Context()); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	got := e.ReceivedAssertions()
	if len(got) != 2 || got[0] != first || got[1] != second {
		t.Errorf("the token endpoint received %d assertions; want the first token, then the rotated one", len(got))
	}

	// Without a rotation the next fetch sends an expired token.
	clk.advance(2 * time.Hour)
	_, err = p.WhoAmI(t.Context())
	pe, ok := err.(*ports.PortalError)
	if !ok || pe.Code != ports.CodeAuthFailure || !strings.HasPrefix(pe.Message, "AADSTS700024:") {
		t.Errorf("with the token file left as it was: %v, want authFailure AADSTS700024", err)
	}
	if s := e.Stats(); s.TokenRequests != 3 || s.TokensIssued != 2 {
		t.Errorf("token requests %d, issued %d; want 3, 2", s.TokenRequests, s.TokensIssued)
	}
}
