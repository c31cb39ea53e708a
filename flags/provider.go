package flags

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/open-feature/go-sdk/openfeature/multi"
)

// PortalEnabled is the key of the boolean flag that chooses the real Dynamics
// adapter (true) over the no-op stub (false).
const PortalEnabled = "dynamics-portal-enabled"

// PortalEnabledDefault is the value of [PortalEnabled] when no source sets it
// and when it cannot be evaluated.
const PortalEnabledDefault = false

// knownBoolFlags maps every boolean flag this package defines to its default.
var knownBoolFlags = map[string]bool{
	PortalEnabled: PortalEnabledDefault,
}

// envPrefix starts the name of every environment override.
const envPrefix = "FEATURE_"

// The names of the sources inside the chain; they appear in evaluation
// reasons as the source that answered.
const (
	sourceEnv      = "env"
	sourceFile     = "file"
	sourceDefaults = "defaults"
)

// The variant names this package gives boolean flags it builds itself.
const (
	variantOn  = "on"
	variantOff = "off"
)

// ProviderOptions configures [NewProvider]. The zero value gives the
// environment of the process over the built-in defaults.
type ProviderOptions struct {
	// File is the path of a flagd-format JSON flags file. Empty means no file.
	File string
	// LookupEnv reads an environment variable; nil means [os.LookupEnv].
	// Tests inject a map lookup here.
	LookupEnv func(name string) (string, bool)
}

// NewProvider returns the module's own provider: environment overrides, then
// the flags file (if any), then the built-in defaults, chained with the
// multi-provider's first-match strategy (see the package documentation).
//
// It reads and checks every source now, so an unreadable or unsupported file
// or a malformed override is reported before any evaluation. A returned
// provider serves one [Client]: closing the client shuts the provider down
// for good. A nil opts means every default.
func NewProvider(opts *ProviderOptions) (openfeature.FeatureProvider, error) {
	if opts == nil {
		opts = &ProviderOptions{}
	}
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	envFlags, err := envOverrides(lookup)
	if err != nil {
		return nil, err
	}

	chain := []multi.Option{multi.WithProvider(sourceEnv, memprovider.NewInMemoryProvider(envFlags))}
	if opts.File != "" {
		fileFlags, err := readFlagsFile(opts.File)
		if err != nil {
			return nil, err
		}
		chain = append(chain, multi.WithProvider(sourceFile, memprovider.NewInMemoryProvider(fileFlags)))
	}
	chain = append(chain, multi.WithProvider(sourceDefaults, memprovider.NewInMemoryProvider(defaultFlags())))

	p, err := multi.NewProvider(multi.StrategyFirstMatch, chain...)
	if err != nil {
		return nil, fmt.Errorf("flags: build provider chain: %w", err)
	}
	return p, nil
}

// defaultFlags returns every known flag at its default value.
func defaultFlags() map[string]memprovider.InMemoryFlag {
	out := make(map[string]memprovider.InMemoryFlag, len(knownBoolFlags))
	for key, value := range knownBoolFlags {
		out[key] = boolFlag(key, value)
	}
	return out
}

// envOverrides returns a flag for each known flag whose environment variable
// is set to a value. An empty value is no override; a value other than true,
// false, 1 or 0 (in any case) is an error naming the variable.
func envOverrides(lookup func(string) (string, bool)) (map[string]memprovider.InMemoryFlag, error) {
	out := map[string]memprovider.InMemoryFlag{}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(knownBoolFlags)) {
		name := EnvVar(key)
		raw, ok := lookup(name)
		if !ok || raw == "" {
			continue // unset, or set to nothing: no override
		}
		value, err := parseBool(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("flags: environment variable %s: %w", name, err))
			continue
		}
		out[key] = boolFlag(key, value)
	}
	return out, errors.Join(errs...)
}

// EnvVar returns the name of the environment variable that overrides the flag
// key: "FEATURE_" followed by the key upper-cased with "-" as "_". For
// [PortalEnabled] it is FEATURE_DYNAMICS_PORTAL_ENABLED.
func EnvVar(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// parseBool accepts true, false, 1 and 0 in any case, and nothing else: no
// spaces, no yes/no, no empty value.
func parseBool(raw string) (bool, error) {
	switch strings.ToLower(raw) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("value %q is not a boolean (want true, false, 1 or 0)", raw)
}

// boolFlag builds an enabled boolean flag whose default variant has value.
func boolFlag(key string, value bool) memprovider.InMemoryFlag {
	variant := variantOff
	if value {
		variant = variantOn
	}
	return memprovider.InMemoryFlag{
		Key:            key,
		State:          memprovider.Enabled,
		DefaultVariant: variant,
		Variants:       map[string]any{variantOn: true, variantOff: false},
	}
}
