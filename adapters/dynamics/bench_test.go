package dynamics

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

// leanNet answers every Web API request with the same small JSON body and
// every token request with a token, allocating as little as it can, so a
// benchmark measures the adapter rather than the fake.
type leanNet struct {
	body  []byte
	token []byte
}

func (l *leanNet) RoundTrip(r *http.Request) (*http.Response, error) {
	b := l.body
	if strings.HasSuffix(r.URL.Path, "/token") {
		b = l.token
	}
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(b))}},
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       r,
	}, nil
}

func newLean(b *testing.B, body string) *leanNet {
	b.Helper()
	return &leanNet{body: []byte(body), token: []byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"t"}`)}
}

// BenchmarkRawGet is the floor: one GET with net/http and a JSON decode,
// over the same in-memory transport as the adapter's benchmarks.
func BenchmarkRawGet(b *testing.B) {
	hc := &http.Client{Transport: newLean(b, fixture(b, "whoami.json"))}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, testBase+"/api/data/v9.2/WhoAmI", nil)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var w wireWhoAmI
		if err := json.Unmarshal(body, &w); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWhoAmI is a small GET through the whole adapter with debug
// logging off: token cache hit, guard, retry policy, attempt limit,
// headers, capped read, JSON decode and mapping.
func BenchmarkWhoAmI(b *testing.B) {
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: newLean(b, fixture(b, "whoami.json"))}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.WhoAmI(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListCertificationsPage reads a page of two records.
func BenchmarkListCertificationsPage(b *testing.B) {
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: newLean(b, fixture(b, "certifications-page1.json"))}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ListCertifications(b.Context(), ports.PageQuery{}); err != nil {
			b.Fatal(err)
		}
	}
}
