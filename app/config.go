package app

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hlf/dynamicsportal/ports"
)

// The environment variables the module reads (see the README's
// configuration table).
const (
	EnvBaseURL           = "DYNAMICS_BASE_URL"
	EnvTenantID          = "AZURE_TENANT_ID"
	EnvAuthorityHost     = "AZURE_AUTHORITY_HOST"
	EnvFlagsFile         = "PORTALSYNC_FLAGS_FILE"
	EnvCorrelationHeader = "PORTALSYNC_CORRELATION_HEADER"
	EnvLogLevel          = "LOG_LEVEL"
	EnvLogFormat         = "LOG_FORMAT"
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
	// x-correlation-id.
	CorrelationHeader string
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
		BaseURL:           get(EnvBaseURL),
		TenantID:          get(EnvTenantID),
		AuthorityHost:     get(EnvAuthorityHost),
		FlagsFile:         get(EnvFlagsFile),
		CorrelationHeader: get(EnvCorrelationHeader),
	}
	var err error
	if c.LogLevel, err = ParseLogLevel(get(EnvLogLevel)); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvLogLevel, err)
	}
	if c.LogFormat, err = ParseLogFormat(get(EnvLogFormat)); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvLogFormat, err)
	}
	return c, nil
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
