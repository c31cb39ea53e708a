package flags

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"go.uber.org/goleak"
)

// The SDK starts goroutines (the event executor, the multi-provider's event
// forwarder); every test closes its clients, and nothing may be left running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// lookup returns an environment lookup over vars.
func lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// writeFile writes content to a fresh file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTestClient builds a client over p and closes it when the test ends.
func newTestClient(t *testing.T, p openfeature.FeatureProvider) *Client {
	t.Helper()
	c, err := NewClient(t.Context(), p)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// evaluate builds the module's provider from opts and evaluates the portal
// flag through a client over it.
func evaluate(t *testing.T, opts ProviderOptions) (bool, string) {
	t.Helper()
	p, err := NewProvider(&opts)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	enabled, reason, err := newTestClient(t, p).PortalEnabled(t.Context())
	if err != nil {
		t.Fatalf("PortalEnabled: %v (reason %s)", err, reason)
	}
	return enabled, reason
}

// portalFile is a flags file defining the portal flag with the given state
// and default variant.
func portalFile(state, defaultVariant string) string {
	return `{"flags": {"dynamics-portal-enabled": {"state": "` + state +
		`", "variants": {"on": true, "off": false}, "defaultVariant": "` + defaultVariant + `"}}}`
}
