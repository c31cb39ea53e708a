package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/hlf/dynamicsportal/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

// portalsync runs the command in process with a clean portal environment
// and returns its exit status, stdout and stderr.
func portalsync(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	clearEnv(t)
	return runIn(t, args...)
}

// clearEnv empties every variable the command reads, for the test.
func clearEnv(t *testing.T) {
	for _, k := range []string{"DYNAMICS_BASE_URL", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
		"AZURE_AUTHORITY_HOST", "PORTALSYNC_FLAGS_FILE", "PORTALSYNC_CORRELATION_HEADER", "LOG_LEVEL", "LOG_FORMAT",
		"FEATURE_DYNAMICS_PORTAL_ENABLED", "DYNAMICS_CERTIFICATION_SET", "DYNAMICS_ASSIGNMENT_SET", "PORTALSYNC_TIMEZONE", "DATABASE_URL", "DYNAMICS_CALL_TIMEOUT", "DYNAMICS_CERTIFICATION_ENTITY", "DYNAMICS_ASSIGNMENT_ENTITY", "DYNAMICS_DATE_BEHAVIORS"} {
		t.Setenv(k, "")
	}
}

// portalsyncEnv is portalsync with the environment's NAME=value entries
// set after the clean-up.
func portalsyncEnv(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	clearEnv(t)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return runIn(t, args...)
}

// runIn runs the command in process in the environment as it is.
func runIn(t *testing.T, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"sync", "--page-size", "9000"},
		{"sync", "--budget", "0s"},
		{"sync", "--write-batch", "0"},
		{"sync", "--write-batch", "1001"},
		{"sync", "--expiring-within", "soon"},
		{"sync", "extra"},
		{"certifications", "--modified-since", "yesterday"},
		{"check", "--log-level", "loud"},
		{"check", "--no-such-flag"},
		{"emulator", "--fault", "nowhere:503"},
	} {
		code, stdout, stderr := portalsync(t, args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if !strings.HasPrefix(lastLine(stderr), "portalsync: config: ") {
			t.Errorf("%q: last stderr line %q", args, lastLine(stderr))
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", args, stdout)
		}
	}
}

func TestHelpExits0(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"sync", "--help"}, {"emulator", "-h"}} {
		code, _, stderr := portalsync(t, args...)
		if code != 0 || !strings.Contains(stderr, "usage: portalsync") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := portalsync(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "portalsync ") {
		t.Errorf("version: exit %d, stdout %q", code, stdout)
	}
}

// With the flag off (the default), sync runs on the stub: no base URL, no
// credentials, no network.
func TestSyncWithFlagOffNeedsNothing(t *testing.T) {
	code, stdout, stderr := portalsync(t, "sync", "--log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var report struct {
		Read     int  `json:"read"`
		Complete bool `json:"complete"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || !report.Complete || report.Read != 0 {
		t.Errorf("report %q (%v): want an empty complete pass", stdout, err)
	}
	if !strings.Contains(stderr, `"msg":"dynamics portal: flag off, using the stub"`) {
		t.Errorf("stderr does not say the stub was chosen:\n%s", stderr)
	}
}

func TestHTTPBaseURLRefusedBeforeAnyCall(t *testing.T) {
	t.Setenv("FEATURE_DYNAMICS_PORTAL_ENABLED", "true")
	var stdout, stderr bytes.Buffer
	t.Setenv("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
	code := Run(t.Context(), []string{"check", "--base-url", "http://hlf.crm4.dynamics.com"}, &stdout, &stderr)
	if code != 2 || !strings.HasPrefix(lastLine(stderr.String()), "portalsync: config: ") || !strings.Contains(stderr.String(), "https") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
