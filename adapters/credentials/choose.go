package credentials

import (
	"fmt"
	"strings"

	"github.com/hlf/dynamicsportal/ports"
)

// Kind names a kind of client credential. It is safe to log.
type Kind string

// The kinds of credential Choose picks from.
const (
	KindFederated   Kind = "federated"
	KindCertificate Kind = "certificate"
	KindSecret      Kind = "secret"
)

// Choose picks the credential the environment configures, read through
// lookup (which has the signature of os.LookupEnv):
//
//   - AZURE_FEDERATED_TOKEN_FILE set: workload identity federation
//     (FromFederatedTokenFile);
//   - AZURE_CLIENT_CERTIFICATE_PATH set: a certificate assertion
//     (FromCertificateFile) for the token endpoint tokenURL;
//   - otherwise the client secret of AZURE_CLIENT_SECRET (Env), whose
//     absence shows at the first token fetch as before.
//
// A variable set to "" counts as not set. More than one of the three set
// at once is a configuration error that names them, and so is
// AZURE_CLIENT_CERTIFICATE_PASSWORD: only PEM files with an unencrypted key
// are supported. Every provider reads AZURE_CLIENT_ID and its file at each
// token fetch; Choose reads no file and checks no value, and its errors
// name variables, never their values.
func Choose(lookup func(key string) (string, bool), tokenURL string) (ports.CredentialProvider, Kind, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	if get(EnvClientCertificatePassword) != "" {
		return nil, "", fmt.Errorf("%w: %s is set, but password-protected certificates (PKCS#12, encrypted keys) are not supported: use a PEM file with an unencrypted key", ports.ErrInvalidConfig, EnvClientCertificatePassword)
	}
	var set []string
	for _, name := range []string{EnvFederatedTokenFile, EnvClientCertificatePath, EnvClientSecret} {
		if get(name) != "" {
			set = append(set, name)
		}
	}
	if len(set) > 1 {
		return nil, "", fmt.Errorf("%w: %s are set at once: configure one credential only", ports.ErrInvalidConfig, strings.Join(set, " and "))
	}
	switch {
	case get(EnvFederatedTokenFile) != "":
		return FromFederatedTokenFile(lookup, get(EnvFederatedTokenFile)), KindFederated, nil
	case get(EnvClientCertificatePath) != "":
		return FromCertificateFile(lookup, get(EnvClientCertificatePath), tokenURL), KindCertificate, nil
	}
	return FromEnvLookup(lookup), KindSecret, nil
}
