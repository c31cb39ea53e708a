// Package flags holds the module's OpenFeature feature flags: their keys and
// defaults, the providers the command line and the tests use, and a small
// client that evaluates them on an isolated OpenFeature API instance.
//
// # Flags
//
// [PortalEnabled] ("dynamics-portal-enabled", boolean, default false) decides
// at startup whether the real Dynamics adapter or the no-op stub is wired in.
//
// # The module's own provider
//
// [NewProvider] chains three sources with the OpenFeature multi-provider,
// first match wins:
//
//  1. environment overrides: FEATURE_ followed by the flag key upper-cased
//     with "-" as "_" (FEATURE_DYNAMICS_PORTAL_ENABLED), for the flags this
//     package knows; the value is true, false, 1 or 0 in any case;
//  2. a flags file in the flagd JSON format, when one is given;
//  3. the built-in defaults, every known flag at its default.
//
// So the environment beats the file, and the file beats the defaults. A
// source that does not define a flag passes the evaluation to the next one;
// a source that does define it decides, errors included. A flag the file
// marks DISABLED evaluates to the caller's default with the reason DISABLED
// and no error (that is what the SDK's in-memory provider answers); the
// defaults below it are not consulted.
//
// The file parser is strict: anything it does not support (targeting rules,
// "$evaluators", unknown or duplicate keys, a default variant missing from
// the variants, mixed or non-boolean variants for a boolean flag) is an
// error naming the file and the flag, never silently ignored. Flags this
// package does not know are accepted when their variants share one type
// (boolean, string, number or object), so one flags file can serve several
// programs.
//
// # A host's own provider
//
// A host backend that runs flagd or a vendor's service hands its own
// [openfeature.FeatureProvider] to [NewClient] instead of calling
// [NewProvider]; the module's providers only serve the command line and tests.
// [NewClient] registers the provider on a fresh isolated API instance, never
// on the OpenFeature global singleton, so the module neither sees nor
// disturbs the host's global configuration. The [Client] owns the provider
// from then on: [Client.Close] shuts it down together with the instance.
package flags
