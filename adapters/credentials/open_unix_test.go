//go:build unix

package credentials

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// A credential file that would block on open (a FIFO with no writer) is
// refused at once as not a regular file, instead of holding the fetch.
func TestCredentialFileThatBlocksIsRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	p := FromFederatedTokenFile(lookupOf(map[string]string{EnvClientID: testClientID}), fifo)
	done := make(chan error, 1)
	go func() { _, err := p.Credentials(t.Context()); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ports.ErrInvalidConfig) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("a FIFO: %v, want a config error saying it is not a regular file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
}
