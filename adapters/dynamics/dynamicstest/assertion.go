package dynamicstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// FederatedAudience is the audience Entra ID asks of a federated workload
// token.
const FederatedAudience = "api://AzureADTokenExchange"

// DefaultFederatedSubject is the subject of the federated credential the
// emulator's app registration trusts, as a Kubernetes service account
// names itself.
const DefaultFederatedSubject = "system:serviceaccount:hlf:portalsync"

// federatedKeyID is the kid of the fake issuer's signing key.
const federatedKeyID = "emulator-issuer-1"

// ClientCertificate is a self-signed RSA certificate and its private key,
// an app registration's certificate credential. Register it with
// Options.ClientCertificates or RegisterClientCertificate.
type ClientCertificate struct {
	cert *x509.Certificate
	pem  []byte
}

// NewClientCertificate makes a certificate for a new 2048-bit RSA key,
// valid from an hour ago for a year (real time: the client checks it).
// Making the key takes a moment: share one between tests.
func NewClientCertificate() (*ClientCertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "portalsync client", Organization: []string{"HLF portal emulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	return &ClientCertificate{cert: cert, pem: b}, nil
}

// PEM is the certificate followed by its PKCS#8 private key, the file
// AZURE_CLIENT_CERTIFICATE_PATH names.
func (c *ClientCertificate) PEM() []byte { return slices.Clone(c.pem) }

// Thumbprint is the certificate's SHA-256 thumbprint in hex, as the Entra
// admin center shows it.
func (c *ClientCertificate) Thumbprint() string {
	s := sha256.Sum256(c.cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// credentials are the assertion credentials an emulator trusts, and every
// client assertion it received.
type credentials struct {
	mu       sync.Mutex
	certs    map[[32]byte]*x509.Certificate // by SHA-256 thumbprint
	sha1s    map[[20]byte]*x509.Certificate
	received []string

	issuerKey *ecdsa.PrivateKey
	subject   string
}

func newCredentials(subject string, certs []*ClientCertificate) (*credentials, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &credentials{certs: map[[32]byte]*x509.Certificate{}, sha1s: map[[20]byte]*x509.Certificate{}, issuerKey: key, subject: subject}
	for _, cc := range certs {
		c.register(cc)
	}
	return c, nil
}

func (c *credentials) register(cc *ClientCertificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.certs[sha256.Sum256(cc.cert.Raw)] = cc.cert
	c.sha1s[sha1.Sum(cc.cert.Raw)] = cc.cert
}

func (c *credentials) record(assertion string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received = append(c.received, assertion)
}

// RegisterClientCertificate adds a certificate the token endpoint accepts
// assertions signed for. Certificates are never removed.
func (e *Emulator) RegisterClientCertificate(c *ClientCertificate) { e.creds.register(c) }

// ReceivedAssertions returns every client assertion the token endpoint
// received, refused ones included, in order, so a test can check that no
// output holds one.
func (e *Emulator) ReceivedAssertions() []string {
	e.creds.mu.Lock()
	defer e.creds.mu.Unlock()
	return slices.Clone(e.creds.received)
}

// FederatedIssuer is the issuer URL of the fake identity provider whose
// workload tokens the emulator's app registration trusts (as a Kubernetes
// cluster's OIDC issuer).
func (e *Emulator) FederatedIssuer() string { return e.baseURL + "/federation" }

// FederatedTokenOptions change a federated token from the one the
// emulator's federated credential accepts. Zero fields keep the defaults.
type FederatedTokenOptions struct {
	// Subject defaults to the trusted subject (Options.FederatedSubject).
	Subject string
	// Audience defaults to FederatedAudience.
	Audience string
	// Lifetime is the time from now (on the emulator clock) to exp;
	// default one hour. A negative lifetime makes a token that has
	// already expired.
	Lifetime time.Duration
}

// FederatedToken returns a workload token signed by the fake issuer, the
// content of the file AZURE_FEDERATED_TOKEN_FILE names. nbf and iat are
// the emulator clock's now.
func (e *Emulator) FederatedToken(o FederatedTokenOptions) string {
	if o.Subject == "" {
		o.Subject = e.creds.subject
	}
	if o.Audience == "" {
		o.Audience = FederatedAudience
	}
	if o.Lifetime == 0 {
		o.Lifetime = time.Hour
	}
	now := e.now()
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": federatedKeyID})
	claims, _ := json.Marshal(map[string]any{
		"iss": e.FederatedIssuer(), "sub": o.Subject, "aud": []string{o.Audience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(o.Lifetime).Unix(),
		"jti": rand.Text(),
	})
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, e.creds.issuerKey, digest[:])
	if err != nil {
		panic("emulator: signing a federated token: " + err.Error())
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig)
}

// assertion is a parsed compact JWT.
type assertion struct {
	header struct {
		Alg     string `json:"alg"`
		Kid     string `json:"kid"`
		X5tS256 string `json:"x5t#S256"`
		X5t     string `json:"x5t"`
		Typ     string `json:"typ"`
	}
	claims struct {
		Audience  audience `json:"aud"`
		Issuer    string   `json:"iss"`
		Subject   string   `json:"sub"`
		ID        string   `json:"jti"`
		NotBefore *int64   `json:"nbf"`
		Expiry    *int64   `json:"exp"`
	}
	signed string // header.claims, the signing input
	sig    []byte
}

// audience is a JWT aud claim: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

func (a audience) String() string { return strings.Join(a, " ") }

// maxAssertion caps the length of an assertion the emulator parses.
const maxAssertion = 16 << 10

// parseAssertion parses a compact JWT: three base64url parts, a JSON
// header and JSON claims with exp. It checks no signature. Its errors
// never quote the input.
func parseAssertion(s string) (*assertion, error) {
	if len(s) > maxAssertion {
		return nil, errors.New("the assertion is too long")
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("the assertion is not three dot-separated parts")
	}
	var raw [3][]byte
	for i, p := range parts {
		if strings.ContainsAny(p, "\r\n=") {
			return nil, errors.New("a part of the assertion is not base64url")
		}
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || len(b) == 0 {
			return nil, errors.New("a part of the assertion is not base64url")
		}
		raw[i] = b
	}
	a := &assertion{signed: parts[0] + "." + parts[1], sig: raw[2]}
	if err := json.Unmarshal(raw[0], &a.header); err != nil {
		return nil, errors.New("the assertion's header is not a JSON object")
	}
	if err := json.Unmarshal(raw[1], &a.claims); err != nil {
		return nil, errors.New("the assertion's claims are not a JSON object of the expected types")
	}
	if a.claims.Expiry == nil {
		return nil, errors.New("the assertion has no exp claim")
	}
	return a, nil
}

// checkAssertion checks a client assertion of the client credentials
// grant for clientID: a federated token from the fake issuer, or a JWT
// signed with a registered certificate.
func (e *Emulator) checkAssertion(raw, clientID string) *tokenError {
	e.creds.record(raw)
	a, err := parseAssertion(raw)
	if err != nil {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 50027,
			"JWT token is invalid or malformed: " + err.Error() + "."}
	}
	now := e.now()
	switch {
	case a.header.X5tS256 != "" || a.header.X5t != "":
		return e.checkCertificateAssertion(a, clientID, now)
	case a.claims.Issuer == e.FederatedIssuer():
		return e.checkFederatedToken(a, now)
	}
	return &tokenError{http.StatusUnauthorized, "invalid_client", 700211,
		"No matching federated identity record found for presented assertion issuer '" + a.claims.Issuer + "'."}
}

func (e *Emulator) checkCertificateAssertion(a *assertion, clientID string, now time.Time) *tokenError {
	cert, thumb := e.creds.lookup(a)
	if cert == nil {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 700027,
			"The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '" + thumb + "']"}
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	digest := sha256.Sum256([]byte(a.signed))
	var err error
	switch {
	case !ok:
		err = errors.New("not an RSA key")
	case a.header.Alg == "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], a.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case a.header.Alg == "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], a.sig)
	default:
		err = errors.New("unsupported alg")
	}
	if err != nil {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation."}
	}
	if !strings.EqualFold(a.claims.Issuer, clientID) || !strings.EqualFold(a.claims.Subject, clientID) {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 700021,
			"Client assertion application identifier doesn't match 'client_id' parameter."}
	}
	if len(a.claims.Audience) != 1 || !e.isTokenURL(a.claims.Audience[0]) {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 700023,
			"Client assertion audience claim does not match Realm issuer."}
	}
	return checkTimes(a, now)
}

// lookup finds the registered certificate an assertion's header names by
// x5t#S256 or x5t, and returns the thumbprint it named in hex.
func (c *credentials) lookup(a *assertion) (*x509.Certificate, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, err := base64.RawURLEncoding.DecodeString(a.header.X5tS256); err == nil && len(b) == sha256.Size {
		return c.certs[[32]byte(b)], strings.ToUpper(hex.EncodeToString(b))
	}
	if b, err := base64.RawURLEncoding.DecodeString(a.header.X5t); err == nil && len(b) == sha1.Size {
		return c.sha1s[[20]byte(b)], strings.ToUpper(hex.EncodeToString(b))
	}
	return nil, ""
}

// isTokenURL reports whether u is this emulator's token endpoint, on any
// host its certificate covers.
func (e *Emulator) isTokenURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Port() != e.port || u.RawQuery != "" || u.User != nil ||
		!strings.EqualFold(u.Path, "/"+e.opts.TenantID+"/oauth2/v2.0/token") {
		return false
	}
	return slices.Contains(e.hosts, strings.ToLower(u.Hostname()))
}

func (e *Emulator) checkFederatedToken(a *assertion, now time.Time) *tokenError {
	digest := sha256.Sum256([]byte(a.signed))
	key := &e.creds.issuerKey.PublicKey
	if a.header.Alg != "ES256" || a.header.Kid != federatedKeyID || len(a.sig) != 64 ||
		!ecdsa.Verify(key, digest[:], new(big.Int).SetBytes(a.sig[:32]), new(big.Int).SetBytes(a.sig[32:])) {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 50013, "Assertion failed signature validation."}
	}
	if !slices.Contains(a.claims.Audience, FederatedAudience) {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 700212,
			"No matching federated identity record found for presented assertion audience '" + a.claims.Audience.String() + "'."}
	}
	if a.claims.Subject != e.creds.subject {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 70021,
			"No matching federated identity record found for presented assertion. Assertion Issuer: '" + a.claims.Issuer +
				"'. Assertion Subject: '" + a.claims.Subject + "'. Assertion Audience: '" + a.claims.Audience.String() + "'."}
	}
	return checkTimes(a, now)
}

// checkTimes checks nbf and exp against now, without skew.
func checkTimes(a *assertion, now time.Time) *tokenError {
	exp := time.Unix(*a.claims.Expiry, 0).UTC()
	nbf := time.Unix(0, 0).UTC()
	if a.claims.NotBefore != nil {
		nbf = time.Unix(*a.claims.NotBefore, 0).UTC()
	}
	if now.Before(nbf) || !now.Before(exp) {
		const layout = "2006-01-02T15:04:05.0000000Z"
		return &tokenError{http.StatusUnauthorized, "invalid_client", 700024,
			"Client assertion is not within its valid time range. Current time: " + now.UTC().Format(layout) +
				", assertion valid from " + nbf.Format(layout) + ", expiry time of assertion " + exp.Format(layout) + "."}
	}
	return nil
}
