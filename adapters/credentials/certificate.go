package credentials

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// The environment variables of a certificate credential.
const (
	// EnvClientCertificatePath names a PEM file holding the certificate
	// and its private key.
	EnvClientCertificatePath = "AZURE_CLIENT_CERTIFICATE_PATH"
	// EnvClientCertificatePassword is the password of a PKCS#12 file or an
	// encrypted key. Neither is supported: Choose refuses the variable.
	EnvClientCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
)

// AssertionLifetime is the time between a certificate assertion's nbf and
// exp claims.
const AssertionLifetime = 5 * time.Minute

// minKeyBits is the smallest RSA key Entra ID accepts; maxKeyBits the
// largest one read: a larger key makes every signature slow (a hostile
// 65536-bit key takes minutes per token), and no certificate needs it.
const (
	minKeyBits = 2048
	maxKeyBits = 8192
)

var _ ports.CredentialProvider = (*Certificate)(nil)

// Certificate signs a client assertion with a certificate's private key at
// every call: a JWT with the header alg PS256 and x5t#S256 (the
// certificate's SHA-256 thumbprint), and the claims aud (the token
// endpoint), iss and sub (the client id), a random jti, and nbf, iat and
// exp five minutes apart.
//
// The PEM file is read at every call and holds the certificate (one or
// more CERTIFICATE blocks: the one matching the key is used) and an
// unencrypted RSA private key of at least 2048 bits (PRIVATE KEY, PKCS#8,
// or RSA PRIVATE KEY, PKCS#1). The key lives only for the call: the
// provider keeps neither the file's bytes nor the parsed key. Errors name
// the file and what is wrong with it, never its content.
type Certificate struct {
	lookup   func(string) (string, bool)
	path     string
	audience string
	now      func() time.Time
}

// FromCertificateFile returns a provider reading the client id through
// lookup (which has the signature of os.LookupEnv) and the certificate and
// key from the PEM file at path. audience is the token endpoint the
// assertion is for, such as
// https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token: the URL
// the portal adapter posts to (dynamics.TokenURL).
func FromCertificateFile(lookup func(key string) (string, bool), path, audience string) *Certificate {
	return &Certificate{lookup: lookup, path: path, audience: audience, now: time.Now}
}

// Credentials implements ports.CredentialProvider.
func (c *Certificate) Credentials(ctx context.Context) (ports.Credentials, error) {
	if err := ctx.Err(); err != nil {
		return ports.Credentials{}, err
	}
	if c.audience == "" {
		return ports.Credentials{}, fmt.Errorf("%w: no token endpoint to sign the certificate assertion for", ports.ErrInvalidConfig)
	}
	id, err := lookupVar(c.lookup, EnvClientID)
	if err != nil {
		return ports.Credentials{}, err
	}
	b, err := readFile("client certificate", c.path)
	if err != nil {
		return ports.Credentials{}, err
	}
	now := c.now()
	key, cert, err := parseCertificatePEM(b, now)
	clear(b)
	if err != nil {
		return ports.Credentials{}, fmt.Errorf("%w: client certificate file %s: %w", ports.ErrInvalidConfig, c.path, err)
	}
	jwt, err := signAssertion(key, cert, id, c.audience, now)
	if err != nil {
		return ports.Credentials{}, fmt.Errorf("client certificate file %s: %w", c.path, err)
	}
	return ports.NewAssertionCredentials(id, jwt), nil
}

// parseCertificatePEM returns the RSA private key of a PEM file and the
// certificate that matches it, valid at now. Its errors never quote the
// content.
func parseCertificatePEM(b []byte, now time.Time) (*rsa.PrivateKey, *x509.Certificate, error) {
	var (
		certs []*x509.Certificate
		key   *rsa.PrivateKey
	)
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			return nil, nil, errors.New("the private key is encrypted; use an unencrypted PEM key")
		}
		switch block.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, errors.New("a CERTIFICATE block is not a valid X.509 certificate")
			}
			certs = append(certs, cert)
		case "PRIVATE KEY", "RSA PRIVATE KEY":
			if key != nil {
				return nil, nil, errors.New("it holds more than one private key")
			}
			k, err := parseRSAKey(block)
			if err != nil {
				return nil, nil, err
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, errors.New("the private key is encrypted; use an unencrypted PEM key")
		case "EC PRIVATE KEY":
			return nil, nil, errors.New("the private key is not an RSA key; Entra ID takes RSA certificates")
		}
	}
	switch {
	case key == nil && len(certs) == 0:
		return nil, nil, errors.New("no PEM certificate or private key found (a PKCS#12 file is not supported: convert it to PEM)")
	case key == nil:
		return nil, nil, errors.New("no private key found (want a PRIVATE KEY or RSA PRIVATE KEY block)")
	case len(certs) == 0:
		return nil, nil, errors.New("no certificate found (want a CERTIFICATE block)")
	}
	for _, cert := range certs {
		if !key.PublicKey.Equal(cert.PublicKey) {
			continue
		}
		switch {
		case now.Before(cert.NotBefore):
			return nil, nil, fmt.Errorf("the certificate is valid only from %s", cert.NotBefore.UTC().Format(time.RFC3339))
		case now.After(cert.NotAfter):
			return nil, nil, fmt.Errorf("the certificate expired at %s", cert.NotAfter.UTC().Format(time.RFC3339))
		}
		return key, cert, nil
	}
	return nil, nil, errors.New("no certificate matches the private key")
}

// parseRSAKey parses a PKCS#8 or PKCS#1 RSA key. The parsers' own errors
// are left out: they describe the key's encoding.
func parseRSAKey(block *pem.Block) (*rsa.PrivateKey, error) {
	var key *rsa.PrivateKey
	if block.Type == "RSA PRIVATE KEY" {
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("the RSA PRIVATE KEY block is not a valid PKCS#1 key")
		}
		key = k
	} else {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("the PRIVATE KEY block is not a valid PKCS#8 key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("the private key is not an RSA key; Entra ID takes RSA certificates")
		}
		key = rk
	}
	if n := key.N.BitLen(); n < minKeyBits || n > maxKeyBits {
		return nil, fmt.Errorf("the RSA key has %d bits, want %d to %d", n, minKeyBits, maxKeyBits)
	}
	return key, nil
}

// assertionHeader and assertionClaims are the JWT's two JSON parts.
type assertionHeader struct {
	Alg        string `json:"alg"`
	Typ        string `json:"typ"`
	Thumbprint string `json:"x5t#S256"`
}

type assertionClaims struct {
	Audience  string `json:"aud"`
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	ID        string `json:"jti"`
	NotBefore int64  `json:"nbf"`
	IssuedAt  int64  `json:"iat"`
	Expiry    int64  `json:"exp"`
}

// signAssertion returns the compact JWT of a certificate assertion, signed
// with RSASSA-PSS and SHA-256 (PS256).
func signAssertion(key *rsa.PrivateKey, cert *x509.Certificate, clientID, audience string, now time.Time) (string, error) {
	thumb := sha256.Sum256(cert.Raw)
	header, err := json.Marshal(assertionHeader{Alg: "PS256", Typ: "JWT", Thumbprint: base64.RawURLEncoding.EncodeToString(thumb[:])})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(assertionClaims{
		Audience:  audience,
		Issuer:    clientID,
		Subject:   clientID,
		ID:        rand.Text(),
		NotBefore: now.Unix(),
		IssuedAt:  now.Unix(),
		Expiry:    now.Add(AssertionLifetime).Unix(),
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", errors.New("signing the assertion failed")
	}
	return signed + "." + enc.EncodeToString(sig), nil
}
