package credentials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

const (
	testClientID = "0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b"
	testAudience = "https://login.example.test/tenant/oauth2/v2.0/token"
)

// testKey is one RSA key for the whole test binary: making one is slow.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// certFor returns a self-signed certificate for pub, signed by key, valid
// from notBefore to notAfter.
func certFor(t testing.TB, pub crypto.PublicKey, key crypto.Signer, serial int64, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "portalsync test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

// validPEM is a certificate valid now and its PKCS#8 key.
func validPEM(t testing.TB, serial int64) (pemBytes, certDER []byte) {
	t.Helper()
	k := testKey()
	der := certFor(t, &k.PublicKey, k, serial, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	return append(pemOf("CERTIFICATE", der), pkcs8(t, k)...), der
}

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeTemp(t *testing.T, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodeJWT splits a compact JWT and decodes its header and claims.
func decodeJWT(t *testing.T, jwt string) (assertionHeader, assertionClaims, string, []byte) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion has %d parts", len(parts))
	}
	var h assertionHeader
	var c assertionClaims
	for i, v := range []any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	return h, c, parts[0] + "." + parts[1], sig
}

func TestCertificateSignsAnAssertion(t *testing.T) {
	content, der := validPEM(t, 1)
	p := FromCertificateFile(lookupOf(map[string]string{EnvClientID: testClientID}), writeTemp(t, content), testAudience)
	before := time.Now().Unix()
	c, err := p.Credentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsAssertion() || c.ClientID() != testClientID || c.Secret() != "" {
		t.Fatalf("credentials %v: assertion %v", c, c.IsAssertion())
	}
	h, claims, signed, sig := decodeJWT(t, c.Assertion())
	thumb := sha256.Sum256(der)
	if h.Alg != "PS256" || h.Typ != "JWT" || h.Thumbprint != base64.RawURLEncoding.EncodeToString(thumb[:]) {
		t.Errorf("header %+v", h)
	}
	if claims.Audience != testAudience || claims.Issuer != testClientID || claims.Subject != testClientID || claims.ID == "" {
		t.Errorf("claims %+v", claims)
	}
	if claims.NotBefore < before || claims.NotBefore > time.Now().Unix() || claims.IssuedAt != claims.NotBefore ||
		claims.Expiry-claims.NotBefore != int64(AssertionLifetime/time.Second) {
		t.Errorf("times: nbf %d iat %d exp %d (call at %d)", claims.NotBefore, claims.IssuedAt, claims.Expiry, before)
	}
	digest := sha256.Sum256([]byte(signed))
	if err := rsa.VerifyPSS(&testKey().PublicKey, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Errorf("signature: %v", err)
	}
	// Every call signs a new assertion with a new jti.
	c2, err := p.Credentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, claims2, _, _ := decodeJWT(t, c2.Assertion()); claims2.ID == claims.ID {
		t.Errorf("two assertions share the jti %q", claims.ID)
	}
}

// The file is read at every call: a renewed certificate is used at once.
func TestCertificateReadAtEachCall(t *testing.T) {
	content, der := validPEM(t, 1)
	path := writeTemp(t, content)
	p := FromCertificateFile(lookupOf(map[string]string{EnvClientID: testClientID}), path, testAudience)
	if _, err := p.Credentials(t.Context()); err != nil {
		t.Fatal(err)
	}
	renewed, der2 := validPEM(t, 2)
	if bytes.Equal(der, der2) {
		t.Fatal("the renewed certificate is the same")
	}
	// The key first this time: the order of the blocks does not matter.
	keyStart := bytes.Index(renewed, []byte("-----BEGIN PRIVATE KEY"))
	if err := os.WriteFile(path, append(renewed[keyStart:], renewed[:keyStart]...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := p.Credentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h, _, _, _ := decodeJWT(t, c.Assertion())
	thumb := sha256.Sum256(der2)
	if h.Thumbprint != base64.RawURLEncoding.EncodeToString(thumb[:]) {
		t.Errorf("the assertion names the old certificate")
	}
}

func TestCertificateErrors(t *testing.T) {
	k := testKey()
	now := time.Now()
	good, _ := validPEM(t, 1)
	certOnly := pemOf("CERTIFICATE", certFor(t, &k.PublicKey, k, 3, now.Add(-time.Hour), now.Add(time.Hour)))
	keyOnly := pkcs8(t, k)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherCert := pemOf("CERTIFICATE", certFor(t, &ec.PublicKey, ec, 4, now.Add(-time.Hour), now.Add(time.Hour)))
	expired := pemOf("CERTIFICATE", certFor(t, &k.PublicKey, k, 5, now.Add(-48*time.Hour), now.Add(-time.Hour)))
	future := pemOf("CERTIFICATE", certFor(t, &k.PublicKey, k, 6, now.Add(time.Hour), now.Add(48*time.Hour)))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPEM := append(pemOf("CERTIFICATE", certFor(t, &small.PublicKey, small, 7, now.Add(-time.Hour), now.Add(time.Hour))), pkcs8(t, small)...)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte("x")})
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"empty", nil, "no PEM certificate or private key found"},
		{"not PEM", []byte("MIIK...binary PKCS#12"), "PKCS#12"},
		{"certificate only", certOnly, "no private key found"},
		{"key only", keyOnly, "no certificate found"},
		{"certificate of another key", append(otherCert, keyOnly...), "no certificate matches the private key"},
		{"expired", append(expired, keyOnly...), "the certificate expired at"},
		{"not yet valid", append(future, keyOnly...), "the certificate is valid only from"},
		{"small key", smallPEM, "has 1024 bits"},
		{"two keys", append(good, keyOnly...), "more than one private key"},
		{"encrypted PEM key", append(certOnly, encrypted...), "encrypted"},
		{"encrypted PKCS#8", append(certOnly, pemOf("ENCRYPTED PRIVATE KEY", []byte("x"))...), "encrypted"},
		{"EC key", append(otherCert, pemOf("EC PRIVATE KEY", ecDER)...), "not an RSA key"},
		{"EC key in PKCS#8", append(otherCert, pkcs8(t, ec)...), "not an RSA key"},
		{"bad certificate", append(pemOf("CERTIFICATE", []byte("junk")), keyOnly...), "not a valid X.509 certificate"},
		{"bad PKCS#8", append(certOnly, pemOf("PRIVATE KEY", []byte("junk"))...), "not a valid PKCS#8 key"},
		{"bad PKCS#1", append(certOnly, pemOf("RSA PRIVATE KEY", []byte("junk"))...), "not a valid PKCS#1 key"},
	} {
		path := writeTemp(t, tt.content)
		_, err := FromCertificateFile(lookupOf(map[string]string{EnvClientID: testClientID}), path, testAudience).Credentials(t.Context())
		if !errors.Is(err, ports.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig naming the file and saying %q", tt.name, err, tt.want)
			continue
		}
		checkNoKeyMaterial(t, tt.name, err.Error(), tt.content)
	}

	missing := filepath.Join(t.TempDir(), "missing.pem")
	for name, p := range map[string]*Certificate{
		"no file named": FromCertificateFile(lookupOf(map[string]string{EnvClientID: testClientID}), "", testAudience),
		"missing file":  FromCertificateFile(lookupOf(map[string]string{EnvClientID: testClientID}), missing, testAudience),
		"no client id":  FromCertificateFile(lookupOf(nil), writeTemp(t, good), testAudience),
		"no audience":   FromCertificateFile(lookupOf(map[string]string{EnvClientID: testClientID}), writeTemp(t, good), ""),
	} {
		if _, err := p.Credentials(t.Context()); !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := FromCertificateFile(lookupOf(map[string]string{EnvClientID: testClientID}), writeTemp(t, good), testAudience).Credentials(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// checkNoKeyMaterial fails when msg holds any line of a PEM body in
// content.
func checkNoKeyMaterial(t *testing.T, name, msg string, content []byte) {
	t.Helper()
	for line := range strings.Lines(string(content)) {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
			t.Errorf("%s: error holds a line of the PEM file", name)
		}
	}
}

// The PEM parser takes any bytes without panicking; what it accepts is a
// key with its matching certificate, and its errors never quote the input.
func FuzzParseCertificatePEM(f *testing.F) {
	good, _ := validPEM(f, 1)
	f.Add(good)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		key, cert, err := parseCertificatePEM(b, now)
		if err != nil {
			if key != nil || cert != nil {
				t.Fatal("an error with a result")
			}
			checkNoKeyMaterial(t, "fuzz", err.Error(), in)
			return
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			t.Fatal("the certificate does not match the key")
		}
	})
}

// An RSA key over 8192 bits is refused: every signature with it would be
// slow, and no certificate needs it. The key in testdata is a throwaway
// made for this test, of 8448 bits, with its self-signed certificate.
func TestCertificateRefusesAnOversizedKey(t *testing.T) {
	b, err := os.ReadFile("testdata/rsa-8448-bits.pem")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = parseCertificatePEM(b, time.Now())
	if err == nil || !strings.Contains(err.Error(), "8448 bits") {
		t.Errorf("an 8448-bit key: %v, want it refused for its size", err)
	}
}
