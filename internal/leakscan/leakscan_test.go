package leakscan

import (
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"
)

// The scanner finds each kind of leak it looks for, so that zero hits in
// the tests that use it mean something.
func TestFindsEachLeak(t *testing.T) {
	const id, secret, token = "client-id", "SECRETMARKER x&y/z+", "tok-ABC123"
	for name, out := range map[string]string{
		"secret":        "error: " + secret,
		"form secret":   "client_secret=" + url.QueryEscape(secret),
		"basic":         "basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret)),
		"basic, form":   "basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))),
		"basic, url":    "basic " + base64.RawURLEncoding.EncodeToString([]byte(id+":"+secret)),
		"token":         `{"t":"` + token + `"}`,
		"header name":   "Authorization: x",
		"bearer prefix": "Bearer abc",
		"marker":        "SECRETMARKER",
	} {
		s := New()
		s.Credentials(id, secret)
		s.Tokens(token)
		s.Text("SECRETMARKER", "the secret marker")
		hits := s.Scan(name, []byte(out))
		if len(hits) == 0 {
			t.Errorf("%s: no hit in %q", name, out)
		}
		for _, h := range hits {
			if strings.Contains(h, secret) || strings.Contains(h, token) {
				t.Errorf("%s: the hit %q quotes what it found", name, h)
			}
		}
	}
}

func TestCleanOutput(t *testing.T) {
	s := New()
	s.Credentials("client-id", "s3cret")
	s.Tokens("tok-1", "tok-2")
	hits := s.Scan("log", []byte(`{"level":"DEBUG","msg":"portal request","url":"https://h/x?$skiptoken=[REDACTED]"}`))
	if len(hits) != 0 || len(s.Hits()) != 0 || s.Bytes() == 0 || s.TokenCount() != 2 {
		t.Errorf("clean output: hits %q, %d bytes, %d tokens", hits, s.Bytes(), s.TokenCount())
	}
	if !strings.Contains(s.Summary(), "0 hits") {
		t.Errorf("summary %q", s.Summary())
	}
	s.Credentials("client-id", "") // an empty secret adds no needle that matches everything
	if hits := s.Scan("log", []byte("anything")); len(hits) != 0 {
		t.Errorf("an empty secret matched: %q", hits)
	}
}

// Assertions and private keys are found whole and in the pieces they can
// travel in.
func TestFindsAssertionsAndKeys(t *testing.T) {
	const assertion = "eyJhbGciOiJQUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJlLW9mLXRoZS1hc3NlcnRpb24"
	keyDER := []byte(strings.Repeat("private-key-bytes-", 20))
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	lines := strings.Split(string(keyPEM), "\n")
	for name, out := range map[string]string{
		"assertion":           "assertion " + assertion,
		"form assertion":      "client_assertion=" + url.QueryEscape(assertion),
		"signature":           "sig c2lnbmF0dXJlLW9mLXRoZS1hc3NlcnRpb24 cut",
		"whole key":           string(keyPEM),
		"one line of the key": "oops " + lines[2],
		"key on one line":     base64.StdEncoding.EncodeToString(keyDER),
		"key, URL-safe":       base64.RawURLEncoding.EncodeToString(keyDER),
	} {
		s := New()
		s.Assertions(assertion)
		s.PrivateKeys(append([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM...))
		if hits := s.Scan(name, []byte(out)); len(hits) == 0 {
			t.Errorf("%s: no hit in %q", name, out)
		}
	}
	s := New()
	s.PrivateKeys([]byte("-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n"))
	if hits := s.Scan("certificate", []byte("AAAAAAAAAAAAAAAAAAAAAAAA")); len(hits) != 0 {
		t.Errorf("a certificate, which is public, counted as a key: %q", hits)
	}
}
