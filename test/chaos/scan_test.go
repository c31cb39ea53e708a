package chaos

import (
	"encoding/base64"
	"net/url"
	"testing"
)

// The scan finds each kind of leak it looks for, so that its zero hits in
// the chaos tests mean something.
func TestSecretScanFindsLeaks(t *testing.T) {
	const id, secret, token = "client-id", secretMarker + " x&y", "tok-ABC123"
	for name, out := range map[string]string{
		"secret":        "error: " + secret,
		"form secret":   "client_secret=" + url.QueryEscape(secret),
		"basic":         "Authorization-less " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret)),
		"token":         `{"t":"` + token + `"}`,
		"header name":   "Authorization: x",
		"bearer prefix": "Bearer abc",
	} {
		s := newSecretScan(id, secret, []string{token})
		s.add(name, []byte(out))
		if len(s.hits) == 0 {
			t.Errorf("%s: no hit in %q", name, out)
		}
	}
	s := newSecretScan(id, secret, []string{token})
	s.add("clean", []byte(`{"level":"DEBUG","msg":"portal request","url":"https://h/x?$skiptoken=[REDACTED]"}`))
	if len(s.hits) != 0 || s.bytes == 0 || s.outputs != 1 {
		t.Errorf("clean output: %d hits, %d bytes, %d outputs", len(s.hits), s.bytes, s.outputs)
	}
}
