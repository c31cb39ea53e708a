package credentials

import (
	"context"
	"fmt"
	"strings"

	"github.com/hlf/dynamicsportal/ports"
)

// EnvFederatedTokenFile names the file of a federated workload token, as
// the Kubernetes workload identity webhook sets it.
const EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"

var _ ports.CredentialProvider = (*FederatedToken)(nil)

// FederatedToken is workload identity federation: the client assertion is
// a token that the platform (a Kubernetes service account, a CI system)
// issues and rotates in a file, and Entra ID trusts through a federated
// credential of the app registration. The file and AZURE_CLIENT_ID are read
// at every call, so a rotated token is used at the next token fetch. The
// file holds one JWT; one trailing line ending is removed.
type FederatedToken struct {
	lookup func(string) (string, bool)
	path   string
}

// FromFederatedTokenFile returns a provider reading the client id through
// lookup (which has the signature of os.LookupEnv) and the assertion from
// the file at path.
func FromFederatedTokenFile(lookup func(key string) (string, bool), path string) *FederatedToken {
	return &FederatedToken{lookup: lookup, path: path}
}

// Credentials implements ports.CredentialProvider.
func (f *FederatedToken) Credentials(ctx context.Context) (ports.Credentials, error) {
	if err := ctx.Err(); err != nil {
		return ports.Credentials{}, err
	}
	id, err := lookupVar(f.lookup, EnvClientID)
	if err != nil {
		return ports.Credentials{}, err
	}
	tok, err := readValue("federated token", f.path)
	if err != nil {
		return ports.Credentials{}, err
	}
	if !jwtShaped(tok) {
		return ports.Credentials{}, fmt.Errorf("%w: federated token file %s does not hold a JWT (three base64url parts)", ports.ErrInvalidConfig, f.path)
	}
	return ports.NewAssertionCredentials(id, tok), nil
}

// jwtShaped reports whether s has the compact form of a signed JWT: three
// non-empty base64url parts (unpadded) joined by dots. It checks the form
// only; the token endpoint checks the rest.
func jwtShaped(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p)%4 == 1 {
			return false
		}
		for i := range len(p) {
			b := p[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
				return false
			}
		}
	}
	return true
}
