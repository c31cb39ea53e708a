// Package app wires the module with go.uber.org/fx: configuration, logging,
// flags, credentials, the portal (the real adapter or the stub, chosen by
// the dynamics-portal-enabled flag at startup) and the certification sync.
//
// A host backend adds Module to its own fx.New and supplies a Config and a
// *slog.Logger (or adds ConfigModule and LoggerModule to read them from the
// environment). It may hand in its own OpenFeature provider, *http.Client
// or ports.CredentialProvider; see the fields of the Params structs.
//
// Everything here is a thin layer over plain functions, which the fx
// modules, the command line and a host without fx all call: SelectPortal
// chooses the portal, and NewSync builds the sync service on it with a
// pass store (the status store, files or memory), keeping the stub away
// from every store and output.
package app
