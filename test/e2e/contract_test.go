package e2e

import (
	"context"
	"log/slog"
	"testing"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/stub"
	"github.com/hlf/dynamicsportal/ports"
	"github.com/hlf/dynamicsportal/ports/portaltest"
)

// The real adapter keeps the portal contract against the emulator: each
// subtest gets a fresh emulator, so writes do not leak between them.
func TestContractRealAdapterOverEmulator(t *testing.T) {
	portaltest.Run(t, portaltest.Harness{New: func(t *testing.T) (ports.DynamicsPortal, portaltest.Data) {
		e := startEmulator(t, nil)
		creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
			return ports.NewCredentials(e.ClientID(), e.ClientSecret()), nil
		})
		p, err := dynamics.New(e.BaseURL(), creds, &dynamics.Options{Tenant: e.TenantID(), AuthorityHost: e.AuthorityHost(), HTTPClient: e.HTTPClient()})
		if err != nil {
			t.Fatalf("dynamics.New: %v", err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p, portaltest.Data{
			Certifications: e.Certifications(),
			Assignments:    e.Assignments(),
			WritesApplied:  true,
		}
	}})
}

// The stub keeps the same contract.
func TestContractStub(t *testing.T) {
	portaltest.Run(t, portaltest.Harness{New: func(*testing.T) (ports.DynamicsPortal, portaltest.Data) {
		return stub.New(&stub.Options{Logger: slog.New(slog.DiscardHandler)}), portaltest.Data{Stub: true}
	}})
}
