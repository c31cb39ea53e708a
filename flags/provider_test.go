package flags

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvVar(t *testing.T) {
	if got, want := EnvVar(PortalEnabled), "FEATURE_DYNAMICS_PORTAL_ENABLED"; got != want {
		t.Errorf("EnvVar(%q) = %q, want %q", PortalEnabled, got, want)
	}
}

func TestDefaults(t *testing.T) {
	enabled, reason := evaluate(t, ProviderOptions{LookupEnv: lookup(nil)})
	if enabled != PortalEnabledDefault || enabled {
		t.Errorf("enabled = %v, want false", enabled)
	}
	if want := "STATIC variant=off source=defaults"; reason != want {
		t.Errorf("reason = %q, want %q", reason, want)
	}
}

func TestDefaultLookupIsProcessEnvironment(t *testing.T) {
	t.Setenv(EnvVar(PortalEnabled), "true")
	enabled, reason := evaluate(t, ProviderOptions{})
	if !enabled || reason != "STATIC variant=on source=env" {
		t.Errorf("got %v, %q; want true from env", enabled, reason)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		file   string
		wantOn bool
	}{
		{"true beats off", "true", portalFile("ENABLED", "off"), true},
		{"false beats on", "false", portalFile("ENABLED", "on"), false},
		{"TRUE beats disabled", "TRUE", portalFile("DISABLED", "off"), true},
		{"1 beats off", "1", portalFile("ENABLED", "off"), true},
		{"0 beats on", "0", portalFile("ENABLED", "on"), false},
		{"False beats on", "False", portalFile("ENABLED", "on"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enabled, reason := evaluate(t, ProviderOptions{
				File:      writeFile(t, tt.file),
				LookupEnv: lookup(map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": tt.value}),
			})
			if enabled != tt.wantOn || !strings.HasSuffix(reason, "source=env") {
				t.Errorf("got %v, %q; want %v from env", enabled, reason, tt.wantOn)
			}
		})
	}
}

func TestBadEnvValue(t *testing.T) {
	for _, value := range []string{"yes", " true", "2", "on", "t"} {
		t.Run(value, func(t *testing.T) {
			p, err := NewProvider(&ProviderOptions{LookupEnv: lookup(map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": value})})
			if err == nil {
				t.Fatalf("NewProvider accepted %q (provider %v)", value, p)
			}
			for _, want := range []string{"FEATURE_DYNAMICS_PORTAL_ENABLED", `"` + value + `"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %s", err, want)
				}
			}
		})
	}
}

func TestEmptyEnvValueIsNoOverride(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "on.json")
	if err := os.WriteFile(file, []byte(`{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := NewProvider(&ProviderOptions{File: file, LookupEnv: lookup(map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": ""})})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if on, reason, err := c.PortalEnabled(t.Context()); !on || err != nil || !strings.Contains(reason, "source=file") {
		t.Errorf("PortalEnabled = %v, %q, %v; want on from the file", on, reason, err)
	}
}
