package app

import (
	"log/slog"
	"os"

	"github.com/hlf/dynamicsportal/adapters/credentials"
	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/ports"
)

// NewCredentialProvider chooses the client credential from the process
// environment as credentials.Choose does: AZURE_FEDERATED_TOKEN_FILE (a
// federated workload token), else AZURE_CLIENT_CERTIFICATE_PATH (a
// certificate assertion for cfg's token endpoint), else
// AZURE_CLIENT_SECRET. Two of them set at once, or
// AZURE_CLIENT_CERTIFICATE_PASSWORD, is an error wrapping
// ports.ErrInvalidConfig, so a contradictory deployment stops at startup.
// It logs the kind chosen, never a value, and reads no credential: the
// provider does that at each token fetch.
func NewCredentialProvider(cfg Config, logger *slog.Logger) (ports.CredentialProvider, error) {
	return newCredentialProvider(cfg, logger, os.LookupEnv)
}

func newCredentialProvider(cfg Config, logger *slog.Logger, lookup func(string) (string, bool)) (ports.CredentialProvider, error) {
	p, kind, err := credentials.Choose(lookup, dynamics.TokenURL(cfg.AuthorityHost, cfg.TenantID))
	if err != nil {
		return nil, err
	}
	logger.Info("client credential", slog.String("kind", string(kind)))
	return p, nil
}
