package dynamicstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert is one client certificate for the test binary: making an RSA
// key is slow.
var testCert = sync.OnceValue(func() *ClientCertificate {
	c, err := NewClientCertificate()
	if err != nil {
		panic(err)
	}
	return c
})

// privateKeyOf returns the private key of a ClientCertificate's PEM.
func privateKeyOf(t *testing.T, c *ClientCertificate) *rsa.PrivateKey {
	t.Helper()
	rest := c.PEM()
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			t.Fatal("no key in the PEM")
		}
		if b.Type == "PRIVATE KEY" {
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return k.(*rsa.PrivateKey)
		}
	}
}

// signJWT signs header and claims with key (PS256 or RS256 as header's
// alg says).
func signJWT(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	var err error
	if header["alg"] == "RS256" {
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	} else {
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + enc.EncodeToString(sig)
}

func assertionForm(ts *tester, assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {ts.e.ClientID()},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
		"scope":                 {ts.e.Scope()},
	}
}

func TestCertificateAssertions(t *testing.T) {
	clk := newClock()
	cc := testCert()
	ts := newTester(t, Options{Certifications: 5, Now: clk.Now, ClientCertificates: []*ClientCertificate{cc}})
	key := privateKeyOf(t, cc)
	s256 := sha256.Sum256(cc.cert.Raw)
	s1 := sha1.Sum(cc.cert.Raw)
	enc := base64.RawURLEncoding
	now := clk.Now().Unix()
	header := func(mod func(map[string]any)) map[string]any {
		h := map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": enc.EncodeToString(s256[:])}
		if mod != nil {
			mod(h)
		}
		return h
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"aud": ts.e.TokenURL(), "iss": ts.e.ClientID(), "sub": ts.e.ClientID(), "jti": "j1", "nbf": now, "exp": now + 300}
		if mod != nil {
			mod(c)
		}
		return c
	}
	other, err := NewClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	otherS256 := sha256.Sum256(other.cert.Raw)
	good := signJWT(t, key, header(nil), claims(nil))
	for _, tc := range []struct {
		name      string
		assertion string
		code      int // 0: a token
	}{
		{"PS256 with x5t#S256", good, 0},
		{"RS256 with x5t", signJWT(t, key, header(func(h map[string]any) {
			h["alg"] = "RS256"
			delete(h, "x5t#S256")
			h["x5t"] = enc.EncodeToString(s1[:])
		}), claims(nil)), 0},
		{"audience on localhost", signJWT(t, key, header(nil), claims(func(c map[string]any) {
			c["aud"] = strings.Replace(ts.e.TokenURL(), "127.0.0.1", "localhost", 1)
		})), 0},
		{"audience as an array", signJWT(t, key, header(nil), claims(func(c map[string]any) { c["aud"] = []string{ts.e.TokenURL()} })), 0},
		{"unknown certificate", signJWT(t, privateKeyOf(t, other), header(func(h map[string]any) { h["x5t#S256"] = enc.EncodeToString(otherS256[:]) }), claims(nil)), 700027},
		{"signed by another key", signJWT(t, privateKeyOf(t, other), header(nil), claims(nil)), 700027},
		{"alg none", strings.Join(strings.Split(signJWT(t, key, header(func(h map[string]any) { h["alg"] = "none" }), claims(nil)), ".")[:2], ".") + ".AA", 700027},
		{"wrong audience", signJWT(t, key, header(nil), claims(func(c map[string]any) { c["aud"] = "https://login.microsoftonline.com/x/oauth2/v2.0/token" })), 700023},
		{"audience of another tenant", signJWT(t, key, header(nil), claims(func(c map[string]any) {
			c["aud"] = strings.Replace(ts.e.TokenURL(), ts.e.TenantID(), "contoso.example", 1)
		})), 700023},
		{"issuer is another client", signJWT(t, key, header(nil), claims(func(c map[string]any) { c["iss"] = "11111111-2222-4333-8444-555555555555" })), 700021},
		{"subject is another client", signJWT(t, key, header(nil), claims(func(c map[string]any) { c["sub"] = "x" })), 700021},
		{"expired", signJWT(t, key, header(nil), claims(func(c map[string]any) { c["exp"] = now })), 700024},
		{"not yet valid", signJWT(t, key, header(nil), claims(func(c map[string]any) { c["nbf"] = now + 60 })), 700024},
		{"no exp", signJWT(t, key, header(nil), claims(func(c map[string]any) { delete(c, "exp") })), 50027},
		{"not a JWT", "not-a-jwt", 50027},
		{"tampered claims", func() string {
			p := strings.Split(good, ".")
			c, _ := json.Marshal(claims(func(c map[string]any) { c["exp"] = now + 86400 }))
			return p[0] + "." + enc.EncodeToString(c) + "." + p[2]
		}(), 700027},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.postToken(assertionForm(ts, tc.assertion))
			if tc.code == 0 {
				wantStatus(t, r, http.StatusOK)
				return
			}
			checkTokenError(t, r, http.StatusUnauthorized, "invalid_client", tc.code)
			if strings.Contains(string(r.body), tc.assertion) {
				t.Error("the error body holds the assertion")
			}
		})
	}
	// The assertion expires on the emulator's clock.
	clk.Advance(5 * time.Minute)
	checkTokenError(t, ts.postToken(assertionForm(ts, good)), http.StatusUnauthorized, "invalid_client", 700024)
	if got := ts.e.ReceivedAssertions(); len(got) != 17 || got[0] != good {
		t.Errorf("%d assertions recorded, want 17 starting with the first", len(got))
	}
}

func TestFederatedTokens(t *testing.T) {
	clk := newClock()
	ts := newTester(t, Options{Certifications: 5, Now: clk.Now})
	good := ts.e.FederatedToken(FederatedTokenOptions{})
	other := start(t, Options{Certifications: -1, Now: clk.Now})
	for _, tc := range []struct {
		name      string
		assertion string
		code      int
	}{
		{"valid", good, 0},
		{"expired", ts.e.FederatedToken(FederatedTokenOptions{Lifetime: -time.Second}), 700024},
		{"wrong audience", ts.e.FederatedToken(FederatedTokenOptions{Audience: "api://other"}), 700212},
		{"wrong subject", ts.e.FederatedToken(FederatedTokenOptions{Subject: "system:serviceaccount:other:app"}), 70021},
		{"another issuer", other.FederatedToken(FederatedTokenOptions{}), 700211},
		{"issuer's name, another key", func() string {
			// other's token with this emulator's issuer in its claims.
			p := strings.Split(other.FederatedToken(FederatedTokenOptions{}), ".")
			q := strings.Split(good, ".")
			return q[0] + "." + q[1] + "." + p[2]
		}(), 50013},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.postToken(assertionForm(ts, tc.assertion))
			if tc.code == 0 {
				wantStatus(t, r, http.StatusOK)
				return
			}
			checkTokenError(t, r, http.StatusUnauthorized, "invalid_client", tc.code)
		})
	}
	t.Run("rotated", func(t *testing.T) {
		clk.Advance(2 * time.Hour)
		checkTokenError(t, ts.postToken(assertionForm(ts, good)), http.StatusUnauthorized, "invalid_client", 700024)
		wantStatus(t, ts.postToken(assertionForm(ts, ts.e.FederatedToken(FederatedTokenOptions{}))), http.StatusOK)
	})
}

func TestAssertionRequestErrors(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	tok := ts.e.FederatedToken(FederatedTokenOptions{})
	both := assertionForm(ts, tok)
	both.Set("client_secret", ts.e.ClientSecret())
	noType := assertionForm(ts, tok)
	noType.Del("client_assertion_type")
	wrongType := assertionForm(ts, tok)
	wrongType.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
	typeOnly := assertionForm(ts, tok)
	typeOnly.Del("client_assertion")
	for _, tc := range []struct {
		name string
		form url.Values
		code int
	}{
		{"secret and assertion", both, 700025},
		{"no assertion type", noType, 900144},
		{"other assertion type", wrongType, 900144},
		{"type without assertion", typeOnly, 900144},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkTokenError(t, ts.postToken(tc.form), http.StatusBadRequest, "invalid_request", tc.code)
		})
	}
	if s := ts.e.Stats(); s.TokensIssued != 1 {
		t.Errorf("tokens issued %d, want only the tester's", s.TokensIssued)
	}
}

// The assertion parser takes any string without panicking; what it
// accepts has three parts, a signature and an exp claim, and its errors
// never quote the input.
func FuzzParseAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJQUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDAsImF1ZCI6WyJhIiwiYiJdfQ.c2ln")
	f.Add("eyJhbGciOiJQUzI1NiJ9.eyJleHAiOjEuNX0.c2ln")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAssertion(s)
		if err != nil {
			if a != nil {
				t.Fatal("an error with a result")
			}
			if len(s) > 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q quotes the input", err)
			}
			return
		}
		if a.claims.Expiry == nil || len(a.sig) == 0 || strings.Count(s, ".") != 2 || !strings.HasPrefix(s, a.signed+".") {
			t.Fatalf("accepted %q as %+v", s, a)
		}
		_ = slices.Clone(a.claims.Audience)
	})
}
