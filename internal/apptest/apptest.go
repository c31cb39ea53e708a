// Package apptest helps the tests of the fx modules build an app: a flag
// provider, the module with credentials that must never be read, and a
// live portal of one page.
package apptest

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"go.uber.org/fx"
	"go.uber.org/mock/gomock"

	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/flags"
	"github.com/hlf/dynamicsportal/mocks"
	"github.com/hlf/dynamicsportal/ports"
)

// FlagProvider returns an in-memory OpenFeature provider with the portal
// flag on or off.
func FlagProvider(on bool) openfeature.FeatureProvider {
	variant := "off"
	if on {
		variant = "on"
	}
	return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flags.PortalEnabled: {
			Key: flags.PortalEnabled, State: memprovider.Enabled, DefaultVariant: variant,
			Variants: map[string]any{"on": true, "off": false},
		},
	})
}

// SilentCredentials is a credential provider that fails the test if it is
// ever asked: the wiring must not read credentials at startup.
func SilentCredentials(t *testing.T) ports.CredentialProvider {
	return mocks.NewMockCredentialProvider(gomock.NewController(t))
}

// Options are app.Module with cfg, a debug logger into the returned buffer,
// silent credentials, provider (when not nil) and extra.
func Options(t *testing.T, cfg app.Config, provider openfeature.FeatureProvider, extra ...fx.Option) (fx.Option, *bytes.Buffer) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := []fx.Option{
		fx.Supply(cfg, logger),
		app.WithSlogEvents(),
		app.Module,
		fx.Decorate(func() ports.CredentialProvider { return SilentCredentials(t) }),
	}
	if provider != nil {
		opts = append(opts, fx.Supply(fx.Annotate(provider, fx.As(new(openfeature.FeatureProvider)))))
	}
	return fx.Options(append(opts, extra...)...), &logs
}

// The ids of OnePagePortal's records.
const (
	CertID   = "50000000-0000-4000-8000-000000000001"
	MentorID = "30000000-0000-4000-8000-000000000001"
)

// OnePagePortal is a portal with one certification that needs no write
// and one assignment.
func OnePagePortal(t *testing.T) ports.DynamicsPortal {
	m := mocks.NewMockDynamicsPortal(gomock.NewController(t))
	m.EXPECT().ListCertifications(gomock.Any(), gomock.Any()).Return(ports.Page[ports.Certification]{Items: []ports.Certification{{
		ID: CertID, ContactID: MentorID, Name: "Peer mentor basic course", SyncStatus: ports.SyncStatusValid,
		LastSyncedOn: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	}}}, nil).AnyTimes()
	m.EXPECT().ListAssignments(gomock.Any(), gomock.Any()).Return(ports.Page[ports.Assignment]{Items: []ports.Assignment{{
		ID: "60000000-0000-4000-8000-000000000001", MentorID: MentorID, CoordinatorID: "70000000-0000-4000-8000-000000000001",
	}}}, nil).AnyTimes()
	return m
}

// LivePortal makes the graph's portal a live one: OnePagePortal, as the
// flag's choice.
func LivePortal(t *testing.T) fx.Option {
	return fx.Options(
		fx.Decorate(func() ports.DynamicsPortal { return OnePagePortal(t) }),
		fx.Decorate(func() app.PortalChoice { return app.PortalChoice{Live: true, Reason: "test"} }),
	)
}
