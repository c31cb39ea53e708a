package flags

import (
	"path/filepath"
	"testing"
)

// The example flags files shipped for each environment must stay valid and
// say what their names promise.
func TestShippedExampleFiles(t *testing.T) {
	for file, want := range map[string]bool{"development.json": false, "staging.json": true, "production.json": true} {
		t.Run(file, func(t *testing.T) {
			p, err := NewProvider(ProviderOptions{File: filepath.Join("..", "examples", "flags", file), LookupEnv: lookup(nil)})
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
