package ports

import (
	"context"
	"fmt"
	"log/slog"
)

// CredentialProvider supplies the app registration's client credentials.
// The adapter asks for them at every token fetch and keeps them no longer
// than the fetch, so a rotated secret, a rotated federated token or a new
// certificate is picked up without a restart.
type CredentialProvider interface {
	// Credentials returns the current client id and either a secret or a
	// client assertion. It returns an error, never an empty id, secret or
	// assertion.
	Credentials(ctx context.Context) (Credentials, error)
}

// CredentialProviderFunc adapts a function to CredentialProvider.
type CredentialProviderFunc func(ctx context.Context) (Credentials, error)

// Credentials implements CredentialProvider.
func (f CredentialProviderFunc) Credentials(ctx context.Context) (Credentials, error) {
	return f(ctx)
}

// Credentials are a client id and one proof of the client's identity: a
// client secret, or a client assertion (a signed JWT, such as a federated
// workload token or one signed with a certificate's key). The secret and
// the assertion never print: String, GoString, every fmt verb, JSON and
// slog all show them redacted.
type Credentials struct {
	clientID string
	// proof is the secret or the assertion. It sits behind a pointer so
	// that even the fmt paths that skip Format (a bad verb such as %p
	// prints fields raw) show an address, not the value.
	proof     *string
	assertion bool
}

// NewCredentials returns credentials for the given client id and secret.
func NewCredentials(clientID, secret string) Credentials {
	return Credentials{clientID: clientID, proof: &secret}
}

// NewAssertionCredentials returns credentials for the given client id and
// client assertion, a JWT the token endpoint checks in place of a secret.
func NewAssertionCredentials(clientID, assertion string) Credentials {
	return Credentials{clientID: clientID, proof: &assertion, assertion: true}
}

// ClientID returns the client (application) id. It is not a secret.
func (c Credentials) ClientID() string { return c.clientID }

// IsAssertion reports whether the credentials carry a client assertion
// rather than a secret.
func (c Credentials) IsAssertion() bool { return c.assertion }

// Secret returns the client secret, or "" when the credentials carry an
// assertion. Pass it only to the token endpoint.
func (c Credentials) Secret() string {
	if c.assertion {
		return ""
	}
	return c.value()
}

// Assertion returns the client assertion, or "" when the credentials carry
// a secret. Pass it only to the token endpoint.
func (c Credentials) Assertion() string {
	if !c.assertion {
		return ""
	}
	return c.value()
}

func (c Credentials) value() string {
	if c.proof == nil {
		return ""
	}
	return *c.proof
}

// proofName names what the credentials carry, for messages.
func (c Credentials) proofName() string {
	if c.assertion {
		return "client assertion"
	}
	return "client secret"
}

// Validate reports an error when the id, or the secret or assertion, is
// empty.
func (c Credentials) Validate() error {
	switch {
	case c.clientID == "" && c.value() == "":
		return fmt.Errorf("%w: client id and %s are empty", ErrInvalidConfig, c.proofName())
	case c.clientID == "":
		return fmt.Errorf("%w: client id is empty", ErrInvalidConfig)
	case c.value() == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidConfig, c.proofName())
	}
	return nil
}

const redacted = "[REDACTED]"

// String shows the client id and hides the secret or assertion.
func (c Credentials) String() string {
	field := "Secret"
	if c.assertion {
		field = "Assertion"
	}
	return "Credentials{ClientID: " + c.clientID + ", " + field + ": " + redacted + "}"
}

// GoString is String, so %#v hides the secret too.
func (c Credentials) GoString() string { return c.String() }

// Format makes every fmt verb print String.
func (c Credentials) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(c.String()))
}

// LogValue hides the secret or assertion from log/slog.
func (c Credentials) LogValue() slog.Value {
	key := "secret"
	if c.assertion {
		key = "assertion"
	}
	return slog.GroupValue(
		slog.String("client_id", c.clientID),
		slog.String(key, redacted),
	)
}

// MarshalJSON hides the secret or assertion from encoding/json.
func (c Credentials) MarshalJSON() ([]byte, error) {
	key := "secret"
	if c.assertion {
		key = "assertion"
	}
	return fmt.Appendf(nil, `{"clientId":%q,%q:%q}`, c.clientID, key, redacted), nil
}
