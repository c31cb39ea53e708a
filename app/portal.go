package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/stub"
	"github.com/hlf/dynamicsportal/flags"
	"github.com/hlf/dynamicsportal/ports"
)

// PortalChoice says which implementation SelectPortal chose, and why.
type PortalChoice struct {
	// Live is true for the real adapter, false for the stub.
	Live bool
	// Reason is the flag evaluation's reason, for example
	// "STATIC variant=on source=file".
	Reason string
}

// SelectPortal evaluates the dynamics-portal-enabled flag once through
// provider and returns the real Dynamics adapter when it is on, or the no-op
// stub when it is off or cannot be evaluated. The provider is shut down
// after the evaluation. Only the chosen implementation is built: with the
// flag off, no base URL or credentials are needed.
//
// adapter, which may be nil, holds the real adapter's settings that Config
// does not: its HTTPClient, TracerProvider and MeterProvider, its retry
// policy and time limits. The fields Config has (tenant, authority host,
// correlation header, entity sets, time zone) and the logger are taken
// from cfg and logger instead; adapter itself is not changed.
//
// The caller closes the returned portal when it implements io.Closer (the
// real adapter does).
func SelectPortal(ctx context.Context, cfg Config, provider openfeature.FeatureProvider, creds ports.CredentialProvider, adapter *dynamics.Options, logger *slog.Logger) (ports.DynamicsPortal, PortalChoice, error) {
	on, reason, err := evaluate(ctx, provider)
	choice := PortalChoice{Live: on && err == nil, Reason: reason}
	if !choice.Live {
		attrs := []any{slog.String("flag", flags.PortalEnabled), slog.String("reason", reason)}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		logger.Info("dynamics portal: flag off, using the stub", attrs...)
		return stub.New(&stub.Options{Logger: logger}), choice, nil
	}
	if creds == nil {
		return nil, choice, fmt.Errorf("%w: no credential provider", ports.ErrInvalidConfig)
	}
	var opts dynamics.Options
	if adapter != nil {
		opts = *adapter
	}
	opts.Tenant, opts.AuthorityHost, opts.CorrelationHeader = cfg.TenantID, cfg.AuthorityHost, cfg.CorrelationHeader
	opts.EntitySets = dynamics.EntitySets{Certifications: cfg.CertificationSet, Assignments: cfg.AssignmentSet,
		CertificationEntity: cfg.CertificationEntity, AssignmentEntity: cfg.AssignmentEntity}
	opts.DateBehaviors = cfg.DateBehaviors
	opts.Location, opts.Logger = cfg.TimeZone, logger
	if cfg.CallTimeout > 0 {
		opts.Timeouts.Total = cfg.CallTimeout
		opts.Timeouts.Attempt = min(cfg.CallTimeout, dynamics.DefaultAttemptTimeout)
	}
	p, err := dynamics.New(cfg.BaseURL, creds, &opts)
	if err != nil {
		return nil, choice, err
	}
	logger.Info("dynamics portal: flag on, using the live adapter",
		slog.String("flag", flags.PortalEnabled), slog.String("reason", reason), slog.String("base_url", cfg.BaseURL))
	return p, choice, nil
}

// evaluate reads the portal flag on an isolated OpenFeature API instance and
// shuts it down again.
func evaluate(ctx context.Context, provider openfeature.FeatureProvider) (bool, string, error) {
	fc, err := flags.NewClient(ctx, provider)
	if err != nil {
		return false, "ERROR provider not ready", err
	}
	defer func() {
		// The evaluation is what matters; a slow shutdown must not hold
		// startup for long, even after ctx is done.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flagsTimeout)
		defer cancel()
		_ = fc.Close(cctx)
	}()
	return fc.PortalEnabled(ctx)
}
