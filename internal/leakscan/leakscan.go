// Package leakscan searches what a program printed, logged or wrote for
// credentials: a client secret in the forms it can travel in, client
// assertions, private keys, access tokens, and any Authorization header or
// bearer token. The end-to-end and
// chaos tests scan every output with it and assert zero hits.
package leakscan

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
)

// Scanner holds the needles to look for and the totals of what it
// scanned. It is not safe for concurrent use.
type Scanner struct {
	needles []needle
	tokens  int
	bytes   int
	outputs int
	hits    []string
}

type needle struct{ text, what string }

// New returns a scanner that looks for the texts "Authorization" and
// "Bearer ", which no output of the module should hold.
func New() *Scanner {
	return &Scanner{needles: []needle{
		{"Authorization", "an Authorization header"},
		{"Bearer ", "a bearer token"},
	}}
}

// Credentials adds a client id and secret: the secret as it is and
// form-encoded, and id:secret in the Basic forms (standard and URL-safe
// base64, of the raw and of the form-encoded pair).
func (s *Scanner) Credentials(clientID, secret string) {
	if secret == "" {
		return
	}
	id, sec := url.QueryEscape(clientID), url.QueryEscape(secret)
	s.add(secret, "the client secret")
	s.add(sec, "the form-encoded client secret")
	for _, pair := range []string{clientID + ":" + secret, id + ":" + sec} {
		s.add(base64.StdEncoding.EncodeToString([]byte(pair)), "Basic credentials")
		s.add(base64.RawURLEncoding.EncodeToString([]byte(pair)), "Basic credentials (URL-safe)")
	}
}

// Assertions adds client assertions (JWTs): each whole, form-encoded, and
// its signature part alone, which no other text shares.
func (s *Scanner) Assertions(assertions ...string) {
	for i, a := range assertions {
		what := fmt.Sprintf("client assertion #%d", i+1)
		s.add(a, what)
		s.add(url.QueryEscape(a), what+" (form-encoded)")
		if parts := strings.Split(a, "."); len(parts) == 3 && len(parts[2]) >= 16 {
			s.add(parts[2], what+" (its signature)")
		}
	}
}

// PrivateKeys adds the private keys of a PEM file: every line of each
// key block's body, and the whole key in standard and URL-safe base64.
func (s *Scanner) PrivateKeys(pemFile []byte) {
	for rest := pemFile; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return
		}
		if !strings.Contains(b.Type, "PRIVATE KEY") {
			continue
		}
		body := base64.StdEncoding.EncodeToString(b.Bytes)
		s.add(body, "a private key")
		s.add(base64.RawURLEncoding.EncodeToString(b.Bytes), "a private key (URL-safe)")
		for len(body) >= 16 {
			n := min(64, len(body))
			s.add(body[:n], "a line of a private key")
			body = body[n:]
		}
	}
}

// Tokens adds access tokens.
func (s *Scanner) Tokens(tokens ...string) {
	for _, t := range tokens {
		s.add(t, fmt.Sprintf("access token #%d", s.tokens+1))
		s.tokens++
	}
}

// Text adds a literal, such as a marker every test secret carries.
func (s *Scanner) Text(text, what string) { s.add(text, what) }

func (s *Scanner) add(text, what string) {
	if text != "" {
		s.needles = append(s.needles, needle{text, what})
	}
}

// Scan searches one output, named for the report, and returns its hits.
// A hit describes what was found and where, never the text itself.
func (s *Scanner) Scan(name string, out []byte) []string {
	s.bytes += len(out)
	s.outputs++
	var hits []string
	for _, n := range s.needles {
		if i := strings.Index(string(out), n.text); i >= 0 {
			hits = append(hits, fmt.Sprintf("%s holds %s at byte %d", name, n.what, i))
		}
	}
	s.hits = append(s.hits, hits...)
	return hits
}

// Hits returns every hit so far.
func (s *Scanner) Hits() []string { return s.hits }

// Summary tells what was scanned, for a test log.
func (s *Scanner) Summary() string {
	return fmt.Sprintf("%d bytes in %d outputs searched for %d needles (%d of them access tokens): %d hits",
		s.bytes, s.outputs, len(s.needles), s.tokens, len(s.hits))
}

// Bytes is the number of bytes scanned.
func (s *Scanner) Bytes() int { return s.bytes }

// TokenCount is the number of access tokens added.
func (s *Scanner) TokenCount() int { return s.tokens }
