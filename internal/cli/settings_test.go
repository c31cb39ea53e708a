package cli

import (
	"strings"
	"testing"
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
