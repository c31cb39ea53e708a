package credentials

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

// A token of the shape a platform writes; its content is not checked here.
const (
	federatedA = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnLWE"
	federatedB = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnLWI"
)

func TestFederatedTokenReadAtEachCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(federatedA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := FromFederatedTokenFile(lookupOf(map[string]string{EnvClientID: testClientID}), path)
	c, err := p.Credentials(t.Context())
	if err != nil || !c.IsAssertion() || c.Assertion() != federatedA || c.ClientID() != testClientID {
		t.Fatalf("Credentials = %v (assertion %v), %v", c, c.IsAssertion(), err)
	}
	// The platform rotates the token by replacing the file.
	if err := os.WriteFile(path, []byte(federatedB), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := p.Credentials(t.Context()); err != nil || c.Assertion() != federatedB {
		t.Errorf("after rotation: %v; want the new token", err)
	}
}

func TestFederatedTokenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	id := lookupOf(map[string]string{EnvClientID: testClientID})
	for _, tt := range []struct {
		name   string
		lookup func(string) (string, bool)
		path   string
		want   string
	}{
		{"no client id", lookupOf(nil), write("ok", federatedA), "AZURE_CLIENT_ID is not set"},
		{"no file named", id, "", "no file named for the federated token"},
		{"missing file", id, filepath.Join(dir, "missing"), "federated token file"},
		{"empty file", id, write("empty", "\n"), "is empty"},
		{"two parts", id, write("two", "eyJh.eyJz"), "does not hold a JWT"},
		{"empty signature", id, write("nosig", "eyJh.eyJz."), "does not hold a JWT"},
		{"spaces", id, write("space", "eyJh.ey Jz.c2ln"), "does not hold a JWT"},
		{"padding", id, write("pad", "eyJh.eyJz.c2ln=="), "does not hold a JWT"},
		{"two tokens", id, write("lines", federatedA+"\n"+federatedB+"\n"), "does not hold a JWT"},
	} {
		_, err := FromFederatedTokenFile(tt.lookup, tt.path).Credentials(t.Context())
		if !errors.Is(err, ports.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig saying %q", tt.name, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "eyJ") {
			t.Errorf("%s: error %q quotes the token", tt.name, err)
		}
	}
}

// jwtShaped takes any string without panicking, and accepts exactly three
// non-empty parts that decode as unpadded base64url.
func FuzzJWTShaped(f *testing.F) {
	for _, s := range []string{federatedA, "a.b.c", "ab.cd.ef", "a..c", "ab.cd.ef.gh", "", "ab.cd.ef=", "ä.b.c", "ab.c\nd.ef"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := strings.Split(s, ".")
		want := len(parts) == 3
		for _, p := range parts {
			// The decoder skips line breaks; a token holds none.
			if _, err := base64.RawURLEncoding.DecodeString(p); p == "" || err != nil || strings.ContainsAny(p, "\r\n") {
				want = false
			}
		}
		if got := jwtShaped(s); got != want {
			t.Fatalf("jwtShaped(%q) = %v, want %v", s, got, want)
		}
	})
}

// A token file reached through a symbolic link is read, as Kubernetes
// (AKS workload identity) mounts it; and when the link is swapped to a new
// target, as a rotation does, the new token is read.
func TestFederatedTokenThroughASymlinkAndItsSwap(t *testing.T) {
	dir := t.TempDir()
	for name, token := range map[string]string{"a": federatedA, "b": federatedB} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "token")
	if err := os.Symlink("a", link); err != nil {
		t.Fatal(err)
	}
	p := FromFederatedTokenFile(lookupOf(map[string]string{EnvClientID: testClientID}), link)
	if c, err := p.Credentials(t.Context()); err != nil || c.Assertion() != federatedA {
		t.Fatalf("through the link: %v; want the first token", err)
	}
	// Swap the link atomically, as the kubelet does.
	if err := os.Symlink("b", link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
	if c, err := p.Credentials(t.Context()); err != nil || c.Assertion() != federatedB {
		t.Errorf("after the swap: %v; want the new token", err)
	}
}
