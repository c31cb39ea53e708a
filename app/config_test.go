package app_test

import (
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/ports"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestConfigFromLookup(t *testing.T) {
	c, err := app.ConfigFromLookup(lookup(map[string]string{
		"DYNAMICS_BASE_URL":             " https://hlf.crm4.dynamics.com ",
		"AZURE_TENANT_ID":               "contoso.onmicrosoft.com",
		"AZURE_AUTHORITY_HOST":          "https://login.microsoftonline.us",
		"PORTALSYNC_FLAGS_FILE":         "flags.json",
		"PORTALSYNC_CORRELATION_HEADER": "x-request-id",
		"LOG_LEVEL":                     "DEBUG",
		"LOG_FORMAT":                    "json",
		"DYNAMICS_CERTIFICATION_SET":    "new_certifications",
		"DYNAMICS_ASSIGNMENT_SET":       "new_assignments",
		"PORTALSYNC_TIMEZONE":           "Europe/Zurich",
		"DYNAMICS_CERTIFICATION_ENTITY": "new_certification",
		"DYNAMICS_ASSIGNMENT_ENTITY":    "new_assignment",
		"DYNAMICS_DATE_BEHAVIORS":       "hlf_expireson=TimeZoneIndependent,hlf_startdate=UserLocal",
		"DYNAMICS_CALL_TIMEOUT":         "20s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	want := app.Config{
		BaseURL: "https://hlf.crm4.dynamics.com", TenantID: "contoso.onmicrosoft.com",
		AuthorityHost: "https://login.microsoftonline.us", FlagsFile: "flags.json",
		CorrelationHeader: "x-request-id", LogLevel: slog.LevelDebug, LogFormat: "json",
		CertificationSet: "new_certifications", AssignmentSet: "new_assignments",
		CertificationEntity: "new_certification", AssignmentEntity: "new_assignment", CallTimeout: 20 * time.Second,
		DateBehaviors: map[string]dynamics.DateBehavior{"hlf_expireson": dynamics.TimeZoneIndependent, "hlf_startdate": dynamics.UserLocal},
	}
	if c.TimeZone == nil || c.TimeZone.String() != zurich.String() {
		t.Errorf("time zone %v, want Europe/Zurich", c.TimeZone)
	}
	c.TimeZone = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config\n got %+v\nwant %+v", c, want)
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	c, err := app.ConfigFromLookup(lookup(nil))
	if err != nil || c.LogLevel != slog.LevelInfo || c.LogFormat != "text" || c.TimeZone != time.UTC {
		t.Errorf("defaults = %+v, %v", c, err)
	}
	for _, env := range []map[string]string{
		{"LOG_LEVEL": "verbose"}, {"LOG_FORMAT": "xml"},
		{"PORTALSYNC_TIMEZONE": "Mars/Olympus_Mons"}, {"PORTALSYNC_TIMEZONE": "Local"},
		{"DYNAMICS_CERTIFICATION_SET": "hlf_certifications?$top=1"}, {"DYNAMICS_ASSIGNMENT_SET": "a/b"},
		{"PORTALSYNC_CORRELATION_HEADER": "CallerObjectId"}, {"PORTALSYNC_CORRELATION_HEADER": "MSCRMCallerID"},
		{"PORTALSYNC_CORRELATION_HEADER": "Authorization"}, {"PORTALSYNC_CORRELATION_HEADER": "Cookie"},
		{"PORTALSYNC_CORRELATION_HEADER": "Prefer"}, {"PORTALSYNC_CORRELATION_HEADER": "OData-Version"},
		{"PORTALSYNC_CORRELATION_HEADER": "x id"}, {"PORTALSYNC_CORRELATION_HEADER": "x:id"},
		{"DYNAMICS_CERTIFICATION_ENTITY": "hlf_certification')"}, {"DYNAMICS_DATE_BEHAVIORS": "hlf_expireson=Local"},
		{"DYNAMICS_DATE_BEHAVIORS": "hlf_name=DateOnly"}, {"DYNAMICS_CALL_TIMEOUT": "0s"}, {"DYNAMICS_CALL_TIMEOUT": "soon"},
	} {
		_, err := app.ConfigFromLookup(lookup(env))
		if !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("%v: error %v, want a configuration error", env, err)
		}
	}
	for in, want := range map[string]slog.Level{"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError, "info": slog.LevelInfo} {
		if got, err := app.ParseLogLevel(in); err != nil || got != want {
			t.Errorf("ParseLogLevel(%q) = %v, %v", in, got, err)
		}
	}
	t.Setenv("LOG_LEVEL", "error")
	if c, err := app.ConfigFromEnv(); err != nil || c.LogLevel != slog.LevelError {
		t.Errorf("ConfigFromEnv = %+v, %v", c, err)
	}
}

func TestNewLoggerFormats(t *testing.T) {
	var b strings.Builder
	app.NewLogger(app.Config{LogFormat: "json", LogLevel: slog.LevelWarn}, &b).Info("hidden")
	app.NewLogger(app.Config{LogFormat: "json", LogLevel: slog.LevelWarn}, &b).Warn("shown", "k", 1)
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"msg":"shown"`) {
		t.Errorf("json logger wrote %q", b.String())
	}
	b.Reset()
	app.NewLogger(app.Config{LogFormat: "text"}, &b).Info("plain")
	if !strings.Contains(b.String(), "msg=plain") {
		t.Errorf("text logger wrote %q", b.String())
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
