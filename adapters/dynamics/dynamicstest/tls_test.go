package dynamicstest

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"slices"
	"testing"
)

// Two emulators started with one CA are trusted by a client that trusts
// only that CA, and hand out its PEM; an emulator without one has its own.
func TestSharedCA(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, Options{Certifications: -1, CA: ca})
	b := start(t, Options{Certifications: -1, CA: ca})
	own := start(t, Options{Certifications: -1})

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, e := range []*Emulator{a, b} {
		if !bytes.Equal(e.CAPEM(), ca.PEM()) {
			t.Errorf("%s: CAPEM differs from the shared CA", e.BaseURL())
		}
		file, err := os.ReadFile(e.CAFile())
		if err != nil || !bytes.Equal(file, ca.PEM()) {
			t.Errorf("%s: CA file %v does not hold the shared CA", e.BaseURL(), err)
		}
		resp, err := c.Get(e.BaseURL() + APIPath + "WhoAmI")
		if err != nil {
			t.Fatalf("%s: %v", e.BaseURL(), err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401 (no token)", e.BaseURL(), resp.StatusCode)
		}
	}
	if bytes.Equal(own.CAPEM(), ca.PEM()) {
		t.Fatal("an emulator without Options.CA uses the shared CA")
	}
	if _, err := c.Get(own.BaseURL() + APIPath + "WhoAmI"); err == nil {
		t.Error("a client trusting the shared CA trusts an emulator with its own CA")
	}
}

func TestIssuedTokens(t *testing.T) {
	ts := newTester(t, Options{Certifications: -1})
	second := ts.fetchToken()
	ts.e.RevokeTokens()
	third := ts.fetchToken()
	got := ts.e.IssuedTokens()
	if len(got) != 3 || got[0] != ts.token || got[1] != second || got[2] != third {
		t.Fatalf("IssuedTokens = %d tokens, want the 3 issued in order (revoked ones included)", len(got))
	}
	got[0] = "changed"
	if slices.Contains(ts.e.IssuedTokens(), "changed") {
		t.Error("IssuedTokens shares its slice with the emulator")
	}
}
