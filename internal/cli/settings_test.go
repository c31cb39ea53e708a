package cli

import (
	"flag"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/app"
)

// A correlation header the portal gives a meaning (impersonation,
// authorization, OData), an entity set that is no name, or an unknown time
// zone is a config error (exit 2) before any call, with the flag on or off.
func TestBadPortalSettingsExit2(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"check", "--correlation-header", "CallerObjectId"}, "correlation header"},
		{nil, []string{"sync", "--correlation-header", "MSCRMCallerID"}, "correlation header"},
		{map[string]string{"PORTALSYNC_CORRELATION_HEADER": "Authorization"}, []string{"check"}, "correlation header"},
		{map[string]string{"PORTALSYNC_CORRELATION_HEADER": "x-id"}, []string{"sync", "--correlation-header", "Cookie"}, "correlation header"},
		{nil, []string{"sync", "--correlation-header", "Prefer"}, "correlation header"},
		{nil, []string{"sync", "--correlation-header", "x id"}, "correlation header"},
		{nil, []string{"certifications", "--certification-set", "hlf_certifications?$top=1"}, "entity sets"},
		{map[string]string{"DYNAMICS_ASSIGNMENT_SET": "a/b"}, []string{"assignments"}, "entity sets"},
		{nil, []string{"sync", "--timezone", "Mars/Olympus_Mons"}, "time zone"},
		{map[string]string{"PORTALSYNC_TIMEZONE": "Local"}, []string{"sync"}, "time zone"},
	} {
		clearEnv(t)
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		code, stdout, stderr := runIn(t, tt.args...)
		if code != 2 || !strings.HasPrefix(lastLine(stderr), "portalsync: config: ") || !strings.Contains(lastLine(stderr), tt.want) {
			t.Errorf("%v %q: exit %d, last stderr line %q; want 2 and config: naming %s", tt.env, tt.args, code, lastLine(stderr), tt.want)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", tt.args, stdout)
		}
	}
}

// The settings beat their environment variables and reach the config.
func TestPortalSettingsReachTheConfig(t *testing.T) {
	clearEnv(t)
	t.Setenv("PORTALSYNC_TIMEZONE", "UTC")
	t.Setenv("DYNAMICS_CERTIFICATION_SET", "env_certs")
	s := settings{timeZone: "Europe/Zurich", certificationSet: "new_certs", assignmentSet: "new_assignments"}
	c, err := s.config()
	if err != nil {
		t.Fatal(err)
	}
	if c.TimeZone.String() != "Europe/Zurich" || c.CertificationSet != "new_certs" || c.AssignmentSet != "new_assignments" {
		t.Errorf("config %+v", c)
	}
}

// configWith sets the environment, parses args with the portal settings'
// flags and returns the resulting configuration.
func configWith(t *testing.T, env map[string]string, args ...string) app.Config {
	t.Helper()
	for _, k := range []string{app.EnvBaseURL, app.EnvTenantID, app.EnvAuthorityHost, app.EnvFlagsFile,
		app.EnvCorrelationHeader, app.EnvCertificationSet, app.EnvAssignmentSet, app.EnvTimeZone,
		app.EnvLogLevel, app.EnvLogFormat} {
		t.Setenv(k, env[k])
	}
	var s settings
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.declare(fs, true)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := s.config()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A flag beats its environment variable; a flag not given leaves the
// variable's value.
func TestFlagBeatsItsEnvironmentVariable(t *testing.T) {
	env := map[string]string{
		app.EnvBaseURL: "https://env.crm4.dynamics.com", app.EnvTenantID: "env.onmicrosoft.com",
		app.EnvAuthorityHost: "https://env.login.example", app.EnvFlagsFile: "/env/flags.json",
		app.EnvCorrelationHeader: "x-env-id", app.EnvCertificationSet: "env_certs", app.EnvAssignmentSet: "env_assignments",
		app.EnvTimeZone: "Asia/Tokyo", app.EnvLogLevel: "error", app.EnvLogFormat: "text",
	}
	c := configWith(t, env, "--base-url", "https://flag.crm4.dynamics.com", "--tenant-id", "flag.onmicrosoft.com",
		"--authority-host", "https://flag.login.example", "--flags", "/flag/flags.json",
		"--correlation-header", "x-flag-id", "--certification-set", "flag_certs", "--assignment-set", "flag_assignments",
		"--timezone", "Europe/Zurich", "--log-level", "debug", "--log-format", "json")
	want := app.Config{BaseURL: "https://flag.crm4.dynamics.com", TenantID: "flag.onmicrosoft.com",
		AuthorityHost: "https://flag.login.example", FlagsFile: "/flag/flags.json", CorrelationHeader: "x-flag-id",
		CertificationSet: "flag_certs", AssignmentSet: "flag_assignments", TimeZone: mustZone(t, "Europe/Zurich"),
		LogLevel: slog.LevelDebug, LogFormat: "json"}
	if !sameConfig(c, want) {
		t.Errorf("with flags:\n got %+v\nwant %+v", c, want)
	}

	c = configWith(t, env)
	want = app.Config{BaseURL: "https://env.crm4.dynamics.com", TenantID: "env.onmicrosoft.com",
		AuthorityHost: "https://env.login.example", FlagsFile: "/env/flags.json", CorrelationHeader: "x-env-id",
		CertificationSet: "env_certs", AssignmentSet: "env_assignments", TimeZone: mustZone(t, "Asia/Tokyo"),
		LogLevel: slog.LevelError, LogFormat: "text"}
	if !sameConfig(c, want) {
		t.Errorf("without flags:\n got %+v\nwant %+v", c, want)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// sameConfig compares two configurations, their time zones by name.
func sameConfig(a, b app.Config) bool {
	if a.TimeZone.String() != b.TimeZone.String() {
		return false
	}
	a.TimeZone, b.TimeZone = nil, nil
	return reflect.DeepEqual(a, b)
}
