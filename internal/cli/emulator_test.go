package cli

import (
	"strings"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8443": true, "127.1.2.3:0": true, "[::1]:8443": true, "localhost:8443": true, "LocalHost:1": true,
		":8443": false, "0.0.0.0:8443": false, "[::]:8443": false, "10.0.0.1:8443": false, "portal.example:8443": false,
		"127.0.0.1": false, "": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// The emulator hands out tokens for fixed, published credentials: beyond
// loopback it listens only when asked with --public, and then says so.
func TestEmulatorBeyondLoopbackNeedsPublic(t *testing.T) {
	for _, addr := range []string{":18443", "0.0.0.0:0", "192.0.2.1:0"} {
		code, stdout, stderr := portalsync(t, "emulator", "--addr", addr)
		if code != 2 || stdout != "" || !strings.HasPrefix(lastLine(stderr), "portalsync: config: --addr") ||
			!strings.Contains(lastLine(stderr), "--public") {
			t.Errorf("--addr %s: exit %d, stdout %q, last line %q; want a config error naming --public", addr, code, stdout, lastLine(stderr))
		}
	}
	// 192.0.2.1 (TEST-NET-1) is no address of this machine, so the listen
	// fails after the warning and nothing is served.
	_, _, stderr := portalsync(t, "emulator", "--addr", "192.0.2.1:0", "--public")
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "the emulator listens beyond loopback") {
		t.Errorf("--public: no warning on stderr:\n%s", stderr)
	}
}
