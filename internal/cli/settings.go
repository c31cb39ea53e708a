package cli

import (
	"flag"

	"github.com/hlf/dynamicsportal/app"
)

// settings are the connection and logging flags; each beats its
// environment variable.
type settings struct {
	baseURL, tenantID, authorityHost, flagsFile, correlationHeader string
	certificationSet, assignmentSet, timeZone                      string
	logLevel, logFormat                                            string
	otel                                                           bool
}

func (s *settings) declare(fs *flag.FlagSet, portal bool) {
	if portal {
		fs.StringVar(&s.baseURL, "base-url", "", "portal environment URL, https only (env "+app.EnvBaseURL+")")
		fs.StringVar(&s.tenantID, "tenant-id", "", "Entra ID tenant, GUID or domain (env "+app.EnvTenantID+")")
		fs.StringVar(&s.authorityHost, "authority-host", "", "token authority, https only (env "+app.EnvAuthorityHost+"; default https://login.microsoftonline.com)")
		fs.StringVar(&s.flagsFile, "flags", "", "flagd-format JSON flags file (env "+app.EnvFlagsFile+")")
		fs.StringVar(&s.correlationHeader, "correlation-header", "", "correlation id header (env "+app.EnvCorrelationHeader+"; default x-correlation-id)")
		fs.StringVar(&s.certificationSet, "certification-set", "", "entity set of the certifications (env "+app.EnvCertificationSet+"; default hlf_certifications)")
		fs.StringVar(&s.assignmentSet, "assignment-set", "", "entity set of the assignments (env "+app.EnvAssignmentSet+"; default hlf_assignments)")
		fs.StringVar(&s.timeZone, "timezone", "", "time zone of the sync's today and of date-times in date columns, e.g. Europe/Zurich (env "+app.EnvTimeZone+"; default UTC)")
	}
	fs.BoolVar(&s.otel, "otel", false, "export traces and metrics over OTLP/HTTP, configured by the standard OTEL_* variables (on when "+envOTLPEndpoint+" is set)")
	fs.StringVar(&s.logLevel, "log-level", "", "debug, info, warn or error (env "+app.EnvLogLevel+"; default info)")
	fs.StringVar(&s.logFormat, "log-format", "", "text or json (env "+app.EnvLogFormat+"; default text)")
}

// config reads the environment and lets the flags that were given win.
func (s *settings) config() (app.Config, error) {
	c, err := app.ConfigFromEnv()
	if err != nil {
		return app.Config{}, err
	}
	override := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	override(&c.BaseURL, s.baseURL)
	override(&c.TenantID, s.tenantID)
	override(&c.AuthorityHost, s.authorityHost)
	override(&c.FlagsFile, s.flagsFile)
	override(&c.CorrelationHeader, s.correlationHeader)
	override(&c.CertificationSet, s.certificationSet)
	override(&c.AssignmentSet, s.assignmentSet)
	if s.timeZone != "" {
		if c.TimeZone, err = app.ParseTimeZone(s.timeZone); err != nil {
			return app.Config{}, err
		}
	}
	if s.logLevel != "" {
		if c.LogLevel, err = app.ParseLogLevel(s.logLevel); err != nil {
			return app.Config{}, err
		}
	}
	if s.logFormat != "" {
		if c.LogFormat, err = app.ParseLogFormat(s.logFormat); err != nil {
			return app.Config{}, err
		}
	}
	if err := c.Validate(); err != nil {
		return app.Config{}, err
	}
	return c, nil
}
