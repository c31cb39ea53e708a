package dynamicstest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokenSuccess(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5, TokenLifetime: 10 * time.Minute})
	r := ts.postToken(ts.tokenForm())
	wantStatus(t, r, http.StatusOK)
	var body struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    *int   `json:"expires_in"`
		ExtExpiresIn *int   `json:"ext_expires_in"`
		AccessToken  string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.TokenType != "Bearer" || body.ExpiresIn == nil || *body.ExpiresIn != 600 || body.ExtExpiresIn == nil || len(body.AccessToken) < 40 {
		t.Errorf("token response %s", r.body)
	}
	if body.AccessToken == ts.token {
		t.Error("two token requests got the same token")
	}
	if got := r.header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("Cache-Control %q", got)
	}
	ts.token = body.AccessToken
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	if s := ts.e.Stats(); s.TokenRequests != 2 || s.TokensIssued != 2 {
		t.Errorf("token requests %d, issued %d; want 2, 2", s.TokenRequests, s.TokensIssued)
	}
}

func TestTokenBasicAuth(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	// A secret with characters that form encoding changes, as a rotated
	// Entra secret can hold.
	ts.e.SetClientSecret("a+b/c=d~e f")
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {ts.e.Scope()}}
	for _, tc := range []struct {
		name   string
		secret string
		want   int
	}{
		{"right", "a+b/c=d~e f", http.StatusOK},
		{"wrong", "a+b/c=d~e", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, ts.e.TokenURL(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(ts.e.ClientID()), url.QueryEscape(tc.secret))
			resp, err := ts.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestTokenFailures(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	base := ts.tokenForm()
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range base {
			f[key] = vals
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	for _, tc := range []struct {
		name   string
		url    string
		form   url.Values
		status int
		err    string
		code   int
	}{
		{"wrong secret", "", with("client_secret", "nope"), 401, "invalid_client", 7000215},
		{"missing secret", "", with("client_secret", ""), 401, "invalid_client", 7000216},
		{"unknown client", "", with("client_id", "11111111-2222-4333-8444-555555555555"), 400, "unauthorized_client", 700016},
		{"wrong tenant", strings.Replace(ts.e.TokenURL(), ts.e.TenantID(), "contoso.example", 1), base, 400, "invalid_request", 90002},
		{"scope without .default", "", with("scope", ts.e.BaseURL()), 400, "invalid_scope", 1002012},
		{"scope of another resource", "", with("scope", "https://hlf.crm4.dynamics.com/.default"), 400, "invalid_scope", 500011},
		{"scope over http", "", with("scope", strings.Replace(ts.e.Scope(), "https", "http", 1)), 400, "invalid_scope", 500011},
		{"two scopes", "", with("scope", ts.e.Scope()+" offline_access"), 400, "invalid_scope", 1002012},
		{"missing scope", "", with("scope", ""), 400, "invalid_request", 900144},
		{"missing grant", "", with("grant_type", ""), 400, "invalid_request", 900144},
		{"password grant", "", with("grant_type", "password"), 400, "unsupported_grant_type", 70003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url
			if u == "" {
				u = ts.e.TokenURL()
			}
			r := ts.send(http.MethodPost, u, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "client-request-id": "0b1f6d7e-5a1c-4b37-9a1e-2f9c3d8e7a10"}, tc.form.Encode())
			checkTokenError(t, r, tc.status, tc.err, tc.code)
			if strings.Contains(string(r.body), ts.e.ClientSecret()) {
				t.Error("error body holds the client secret")
			}
			var b struct {
				CorrelationID string `json:"correlation_id"`
			}
			_ = json.Unmarshal(r.body, &b)
			if b.CorrelationID != "0b1f6d7e-5a1c-4b37-9a1e-2f9c3d8e7a10" {
				t.Errorf("correlation_id %q, want the client-request-id sent", b.CorrelationID)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		r := ts.send(http.MethodGet, ts.e.TokenURL(), nil, "")
		checkTokenError(t, r, http.StatusMethodNotAllowed, "invalid_request", 900561)
	})
	t.Run("JSON body", func(t *testing.T) {
		r := ts.send(http.MethodPost, ts.e.TokenURL(), map[string]string{"Content-Type": "application/json"}, `{"grant_type":"client_credentials"}`)
		checkTokenError(t, r, http.StatusBadRequest, "invalid_request", 900144)
	})
	if s := ts.e.Stats(); s.TokensIssued != 1 {
		t.Errorf("tokens issued %d, want only the tester's", s.TokensIssued)
	}
}

// checkTokenError checks an Entra ID error answer.
func checkTokenError(t *testing.T, r *response, status int, errName string, code int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var b struct {
		Error         string `json:"error"`
		Description   string `json:"error_description"`
		Codes         []int  `json:"error_codes"`
		Timestamp     string `json:"timestamp"`
		TraceID       string `json:"trace_id"`
		CorrelationID string `json:"correlation_id"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("body: %v: %s", err, r.body)
	}
	if b.Error != errName || len(b.Codes) != 1 || b.Codes[0] != code ||
		!strings.HasPrefix(b.Description, "AADSTS"+strconv.Itoa(code)+": ") ||
		b.Timestamp == "" || b.CorrelationID == "" || b.TraceID != r.header.Get("x-ms-request-id") {
		t.Errorf("want %s AADSTS%d, got %s", errName, code, r.body)
	}
}

func TestTokenExpiry(t *testing.T) {
	clk := newClock()
	ts := newTester(t, Options{Certifications: 5, Now: clk.Now, TokenLifetime: time.Hour})
	clk.Advance(time.Hour - time.Second)
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	clk.Advance(time.Second)
	r := ts.get("WhoAmI")
	wantStatus(t, r, http.StatusUnauthorized)
	if code := r.errorCode(t); code != codeUnauthorized {
		t.Errorf("code %s", code)
	}
	ts.token = ts.fetchToken()
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
}

func TestSecretRotation(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	old := ts.e.ClientSecret()
	ts.e.SetClientSecret("rotated-secret")
	form := ts.tokenForm()
	form.Set("client_secret", old)
	checkTokenError(t, ts.postToken(form), http.StatusUnauthorized, "invalid_client", 7000215)
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK) // the token issued before stays valid
	form.Set("client_secret", "rotated-secret")
	wantStatus(t, ts.postToken(form), http.StatusOK)
	if got := ts.e.ClientSecret(); got != "rotated-secret" {
		t.Errorf("ClientSecret() = %q", got)
	}
}

func TestUnauthorized(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	good := ts.token
	for _, tc := range []struct{ name, auth string }{
		{"missing", ""},
		{"basic", "Basic dXNlcjpwYXNz"},
		{"empty bearer", "Bearer "},
		{"unknown", "Bearer not-a-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.send(http.MethodGet, ts.url("WhoAmI"), map[string]string{"Authorization": tc.auth}, "")
			wantStatus(t, r, http.StatusUnauthorized)
			if code := r.errorCode(t); code != codeUnauthorized {
				t.Errorf("code %s", code)
			}
			if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer authorization_uri=") {
				t.Errorf("WWW-Authenticate %q", h)
			}
		})
	}
	t.Run("revoked", func(t *testing.T) {
		ts.token = good
		ts.e.RevokeTokens()
		wantStatus(t, ts.get("WhoAmI"), http.StatusUnauthorized)
		ts.token = ts.fetchToken()
		wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	})
	if s := ts.e.Stats(); s.Unauthorized != 5 {
		t.Errorf("Stats.Unauthorized = %d, want 5", s.Unauthorized)
	}
}
