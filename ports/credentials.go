package ports

import (
	"context"
	"fmt"
	"log/slog"
)

// CredentialProvider supplies the app registration's client credentials.
// The adapter asks for them at every token fetch and keeps them no longer
// than the fetch, so a rotated secret is picked up without a restart.
type CredentialProvider interface {
	// Credentials returns the current client id and secret. It returns an
	// error, never an empty id or secret.
	Credentials(ctx context.Context) (Credentials, error)
}

// CredentialProviderFunc adapts a function to CredentialProvider.
type CredentialProviderFunc func(ctx context.Context) (Credentials, error)

// Credentials implements CredentialProvider.
func (f CredentialProviderFunc) Credentials(ctx context.Context) (Credentials, error) {
	return f(ctx)
}

// Credentials are a client id and secret. The secret never prints: String,
// GoString, every fmt verb, JSON and slog all show it redacted.
type Credentials struct {
	clientID string
	// secret sits behind a pointer so that even the fmt paths that skip
	// Format (a bad verb such as %p prints fields raw) show an address,
	// not the secret.
	secret *string
}

// NewCredentials returns credentials for the given client id and secret.
func NewCredentials(clientID, secret string) Credentials {
	return Credentials{clientID: clientID, secret: &secret}
}

// ClientID returns the client (application) id. It is not a secret.
func (c Credentials) ClientID() string { return c.clientID }

// Secret returns the client secret. Pass it only to the token endpoint.
func (c Credentials) Secret() string {
	if c.secret == nil {
		return ""
	}
	return *c.secret
}

// Validate reports an error when the id or the secret is empty.
func (c Credentials) Validate() error {
	switch {
	case c.clientID == "" && c.Secret() == "":
		return fmt.Errorf("%w: client id and client secret are empty", ErrInvalidConfig)
	case c.clientID == "":
		return fmt.Errorf("%w: client id is empty", ErrInvalidConfig)
	case c.Secret() == "":
		return fmt.Errorf("%w: client secret is empty", ErrInvalidConfig)
	}
	return nil
}

const redacted = "[REDACTED]"

// String shows the client id and hides the secret.
func (c Credentials) String() string {
	return "Credentials{ClientID: " + c.clientID + ", Secret: " + redacted + "}"
}

// GoString is String, so %#v hides the secret too.
func (c Credentials) GoString() string { return c.String() }

// Format makes every fmt verb print String.
func (c Credentials) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(c.String()))
}

// LogValue hides the secret from log/slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", c.clientID),
		slog.String("secret", redacted),
	)
}

// MarshalJSON hides the secret from encoding/json.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"clientId":%q,"secret":%q}`, c.clientID, redacted), nil
}
