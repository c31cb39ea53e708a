package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/internal/pgtest"
)

var (
	// sharedCA signs the certificate of every emulator of the test binary.
	sharedCA *dynamicstest.CA
	// caFile holds sharedCA in PEM form; SSL_CERT_FILE names it.
	caFile string
	// binary is the portalsync command built for the tests.
	binary string
)

// TestMain makes the shared CA and names it in SSL_CERT_FILE before
// anything loads the system roots (Go reads them once per process), builds
// the portalsync binary once, and checks that no goroutine outlives the
// tests.
func TestMain(m *testing.M) {
	dir, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
		os.Exit(1)
	}
	goleak.VerifyTestMain(pgtest.Wrap(m), goleak.Cleanup(func(code int) {
		if testing.Verbose() {
			fmt.Printf("secret scan outside the fault matrix: %d bytes, %d hits\n", otherScan.bytes, len(otherScan.hits))
		}
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

func setup() (string, error) {
	dir, err := os.MkdirTemp("", "portalsync-e2e-")
	if err != nil {
		return "", err
	}
	if sharedCA, err = dynamicstest.NewCA(); err != nil {
		return dir, err
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, sharedCA.PEM(), 0o600); err != nil {
		return dir, err
	}
	if err := os.Setenv("SSL_CERT_FILE", caFile); err != nil {
		return dir, err
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return dir, err
	}
	binary = filepath.Join(dir, "portalsync")
	build := exec.Command("go", "build", "-o", binary, "./cmd/portalsync")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return dir, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return dir, nil
}
