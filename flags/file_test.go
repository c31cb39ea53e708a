package flags

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readWithin runs readFlagsFile and fails the test when it has not returned
// within a few seconds (a FIFO would block it for good).
func readWithin(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := readFlagsFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("reading %s has not returned after 5 s", path)
		return nil
	}
}

// Only a regular file is read: not a FIFO, which would block startup (and
// hold off SIGTERM), nor a device such as /dev/zero, which never ends.
func TestFlagsFileMustBeARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "flags.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Unblock a reader left waiting by a broken implementation.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, path := range []string{fifo, "/dev/zero", t.TempDir()} {
		err := readWithin(t, path)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), path) {
			t.Errorf("read %s: %v, want a not-a-regular-file error naming it", path, err)
		}
	}
}

// A regular file is read under a 1 MiB cap.
func TestFlagsFileIsReadUnderACap(t *testing.T) {
	dir := t.TempDir()
	doc := `{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`
	fits := filepath.Join(dir, "fits.json")
	// Padded with spaces to exactly the cap: still read and parsed.
	if err := os.WriteFile(fits, []byte(doc+strings.Repeat(" ", maxFlagsFile-len(doc))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := readWithin(t, fits); err != nil {
		t.Errorf("a file of exactly %d bytes: %v", maxFlagsFile, err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(doc+strings.Repeat(" ", maxFlagsFile+1-len(doc))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := readWithin(t, big); err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Errorf("a file one byte over the cap: %v, want it refused", err)
	}
}

// The example flags files shipped for each environment must stay valid and
// say what their names promise.
func TestShippedExampleFiles(t *testing.T) {
	for file, want := range map[string]bool{"development.json": false, "staging.json": true, "production.json": true} {
		t.Run(file, func(t *testing.T) {
			p, err := NewProvider(&ProviderOptions{File: filepath.Join("..", "examples", "flags", file), LookupEnv: lookup(nil)})
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(t.Context())
			if on, reason, err := c.PortalEnabled(t.Context()); on != want || err != nil {
				t.Errorf("PortalEnabled = %v (%s, %v), want %v", on, reason, err, want)
			}
		})
	}
}
