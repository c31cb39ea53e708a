package leakscan

import (
	"encoding/base64"
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
