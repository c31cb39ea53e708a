package app

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/ports"
)

// The environment variables the module reads (see the README's
// configuration table).
const (
	EnvBaseURL             = "DYNAMICS_BASE_URL"
	EnvTenantID            = "AZURE_TENANT_ID"
	EnvAuthorityHost       = "AZURE_AUTHORITY_HOST"
	EnvFlagsFile           = "PORTALSYNC_FLAGS_FILE"
	EnvCorrelationHeader   = "PORTALSYNC_CORRELATION_HEADER"
	EnvCertificationSet    = "DYNAMICS_CERTIFICATION_SET"
	EnvAssignmentSet       = "DYNAMICS_ASSIGNMENT_SET"
	EnvCertificationEntity = "DYNAMICS_CERTIFICATION_ENTITY"
	EnvAssignmentEntity    = "DYNAMICS_ASSIGNMENT_ENTITY"
	EnvDateBehaviors       = "DYNAMICS_DATE_BEHAVIORS"
	EnvTimeZone            = "PORTALSYNC_TIMEZONE"
	EnvCallTimeout         = "DYNAMICS_CALL_TIMEOUT"
	EnvLogLevel            = "LOG_LEVEL"
	EnvLogFormat           = "LOG_FORMAT"
)

// Config is the module's configuration. The zero value is usable with the
// flag off: the stub needs no setting. The real adapter validates BaseURL,
// TenantID and AuthorityHost when the flag turns it on.
type Config struct {
	// BaseURL is the portal's environment URL, https only.
	BaseURL string
	// TenantID is the Entra ID tenant (GUID or domain).
	TenantID string
	// AuthorityHost is the token authority; empty means
	// https://login.microsoftonline.com.
	AuthorityHost string
	// FlagsFile is a flagd-format JSON file of flag definitions; empty
	// means the built-in defaults (and environment overrides).
	FlagsFile string
	// CorrelationHeader names the correlation id header; empty means
	// x-correlation-id. Headers with a meaning to the portal or to HTTP
	// (Authorization, the impersonation headers CallerObjectId and
	// MSCRMCallerID, …) are refused.
	CorrelationHeader string
	// CertificationSet and AssignmentSet are the entity-set names of the
	// portal's two tables; empty means hlf_certifications and
	// hlf_assignments.
	CertificationSet, AssignmentSet string
	// CertificationEntity and AssignmentEntity are the two tables' logical
	// names, whose metadata gives their date columns' behaviours; empty
	// means hlf_certification and hlf_assignment.
	CertificationEntity, AssignmentEntity string
	// DateBehaviors overrides the behaviour of date columns (see
	// dynamics.Options.DateBehaviors).
	DateBehaviors map[string]dynamics.DateBehavior
	// TimeZone gives the sync's "today" its date, and turns a date-time
	// that the portal sends in a date column into a date; nil means UTC.
	TimeZone *time.Location
	// CallTimeout limits one portal call, every retry and wait included;
	// zero means the adapter's 45 s. One attempt is limited to the lesser
	// of it and 30 s.
	CallTimeout time.Duration
	// LogLevel is the least level logged.
	LogLevel slog.Level
	// LogFormat is "text" or "json".
	LogFormat string
}

// ConfigFromEnv reads the configuration from the process environment.
func ConfigFromEnv() (Config, error) { return ConfigFromLookup(os.LookupEnv) }

// ConfigFromLookup reads the configuration through lookup, which has the
// signature of os.LookupEnv. Errors wrap ports.ErrInvalidConfig.
func ConfigFromLookup(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	c := Config{
		BaseURL:             get(EnvBaseURL),
		TenantID:            get(EnvTenantID),
		AuthorityHost:       get(EnvAuthorityHost),
		FlagsFile:           get(EnvFlagsFile),
		CorrelationHeader:   get(EnvCorrelationHeader),
		CertificationSet:    get(EnvCertificationSet),
		AssignmentSet:       get(EnvAssignmentSet),
		CertificationEntity: get(EnvCertificationEntity),
		AssignmentEntity:    get(EnvAssignmentEntity),
	}
	var err error
	if c.TimeZone, err = ParseTimeZone(get(EnvTimeZone)); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvTimeZone, err)
	}
	if v := get(EnvDateBehaviors); v != "" {
		if c.DateBehaviors, err = dynamics.ParseDateBehaviors(v); err != nil {
			return Config{}, fmt.Errorf("%s: %w", EnvDateBehaviors, err)
		}
	}
	if v := get(EnvCallTimeout); v != "" {
		if c.CallTimeout, err = time.ParseDuration(v); err != nil || c.CallTimeout <= 0 {
			return Config{}, fmt.Errorf("%w: %s %q: want a positive Go duration such as 45s", ports.ErrInvalidConfig, EnvCallTimeout, v)
		}
	}
	if c.LogLevel, err = ParseLogLevel(get(EnvLogLevel)); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvLogLevel, err)
	}
	if c.LogFormat, err = ParseLogFormat(get(EnvLogFormat)); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvLogFormat, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the settings that need no network and no flag: the
// correlation header and the entity-set names, whichever portal the flag
// chooses, so a bad value is a config error at startup. The URLs and the
// tenant are checked when the real adapter is built. Errors wrap
// ports.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.CorrelationHeader != "" {
		if err := dynamics.CheckCorrelationHeader(c.CorrelationHeader); err != nil {
			return err
		}
	}
	return dynamics.EntitySets{Certifications: c.CertificationSet, Assignments: c.AssignmentSet,
		CertificationEntity: c.CertificationEntity, AssignmentEntity: c.AssignmentEntity}.Check()
}

// ParseTimeZone reads an IANA time zone name such as Europe/Zurich, or UTC;
// empty means UTC. Local, which would depend on the machine, is refused.
func ParseTimeZone(s string) (*time.Location, error) {
	if s == "" {
		return time.UTC, nil
	}
	if strings.EqualFold(s, "local") {
		return nil, fmt.Errorf("%w: time zone %q: name a zone such as Europe/Zurich or UTC", ports.ErrInvalidConfig, s)
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q: not a known zone (want a name such as Europe/Zurich or UTC)", ports.ErrInvalidConfig, s)
	}
	return loc, nil
}

// ParseLogLevel parses debug, info, warn or error; empty means info.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%w: log level %q: want debug, info, warn or error", ports.ErrInvalidConfig, s)
}

// ParseLogFormat parses text or json; empty means text.
func ParseLogFormat(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "text":
		return "text", nil
	case "json":
		return "json", nil
	}
	return "", fmt.Errorf("%w: log format %q: want text or json", ports.ErrInvalidConfig, s)
}
