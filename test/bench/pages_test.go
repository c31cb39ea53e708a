package bench

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

const (
	streamRecords  = 100_000
	streamPageSize = 5000
	certColumns    = "hlf_certificationid,hlf_name,_hlf_contact_value,hlf_certificationtype,hlf_issuedon,hlf_expireson,statecode,modifiedon,hlf_lastsyncedon,hlf_syncstatus"
)

// wireCert and wirePage are the shape a Go developer decodes a page of
// certifications into: the same fields and types as the adapter's wire
// model.
type wireCert struct {
	ETag         string     `json:"@odata.etag"`
	ID           string     `json:"hlf_certificationid"`
	Name         string     `json:"hlf_name"`
	ContactID    string     `json:"_hlf_contact_value"`
	Type         int        `json:"hlf_certificationtype"`
	IssuedOn     ports.Date `json:"hlf_issuedon"`
	ExpiresOn    ports.Date `json:"hlf_expireson"`
	StateCode    int        `json:"statecode"`
	ModifiedOn   time.Time  `json:"modifiedon"`
	LastSyncedOn time.Time  `json:"hlf_lastsyncedon"`
	SyncStatus   int        `json:"hlf_syncstatus"`
}

type wirePage struct {
	Value    []wireCert `json:"value"`
	NextLink string     `json:"@odata.nextLink"`
}

// rawReader reads pages with net/http and a token fetched beforehand.
type rawReader struct {
	b     *testing.B
	hc    *http.Client
	auth  string
	first string // URL of the first page
}

// newRawReader returns a reader of emu's pages.
func newRawReader(b *testing.B, emu *dynamicstest.Emulator) *rawReader {
	b.Helper()
	return newReader(b, emu.BaseURL(), emu.TokenURL(), emu.ClientID(), emu.ClientSecret(), emu.CertPool())
}

func newReader(b *testing.B, base, tokenURL, clientID, secret string, pool *x509.CertPool) *rawReader {
	b.Helper()
	tr := transport(pool)
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	cfg := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: tokenURL,
		Scopes: []string{base + "/.default"}, AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cfg.Token(context.WithValue(b.Context(), oauth2.HTTPClient, hc))
	if err != nil {
		b.Fatal(err)
	}
	return &rawReader{b: b, hc: hc, auth: "Bearer " + tok.AccessToken,
		first: base + dynamicstest.APIPath + "hlf_certifications?$select=" + certColumns + "&$orderby=hlf_certificationid%20asc"}
}

// get returns the body of the page at u.
func (r *rawReader) get(u string) []byte {
	req, err := http.NewRequestWithContext(r.b.Context(), http.MethodGet, u, nil)
	if err != nil {
		r.b.Fatal(err)
	}
	setHeaders(req.Header)
	req.Header.Set("Authorization", r.auth)
	req.Header.Set("Prefer", "odata.maxpagesize=5000")
	resp, err := r.hc.Do(req)
	if err != nil {
		r.b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		r.b.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return body
}

// replay is a loopback TLS server that serves recorded pages of
// certifications as they are, and the token endpoint. It allocates little
// and holds the pages as plain bytes, so that neither its work nor its
// memory blurs what a client of it costs.
type replay struct {
	*httptest.Server
	first string            // URL of the first page
	pages map[string][]byte // body by request URI
	order [][]byte          // the bodies in page order
}

// newReplay records every page of emu's certifications with net/http,
// their nextLinks pointing to the replay server, and serves them.
func newReplay(b *testing.B, emu *dynamicstest.Emulator) *replay {
	b.Helper()
	r := &replay{pages: map[string][]byte{}}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json; odata.metadata=minimal"}
		if req.Method == http.MethodPost && req.URL.Path == "/"+callTenant+"/oauth2/v2.0/token" {
			w.Write(tokenBody)
			return
		}
		body, ok := r.pages[req.RequestURI]
		if req.Header.Get("Authorization") != "Bearer "+callToken || !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		h["Odata-Version"] = []string{"4.0"}
		w.Write(body)
	}))
	r.StartTLS()
	b.Cleanup(r.Close)

	rec := newRawReader(b, emu)
	from, to := []byte(emu.BaseURL()), []byte(r.URL)
	r.first = strings.Replace(rec.first, emu.BaseURL(), r.URL, 1)
	for next := rec.first; next != ""; {
		body := bytes.ReplaceAll(rec.get(next), from, to)
		u, err := url.Parse(next)
		if err != nil {
			b.Fatal(err)
		}
		r.pages[u.RequestURI()] = body
		r.order = append(r.order, body)
		var p struct {
			NextLink string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			b.Fatal(err)
		}
		next = strings.Replace(p.NextLink, r.URL, emu.BaseURL(), 1)
	}
	return r
}

// pageBytes is the mean size of a page body.
func (r *replay) pageBytes() float64 {
	n := 0
	for _, p := range r.order {
		n += len(p)
	}
	return float64(n) / float64(len(r.order))
}

// peakHeap runs f with the collector running almost continuously (GOGC=1:
// a collection every 1% of growth) and returns the most live heap seen at
// the end of a collection while it runs, above the level at its start:
// what f holds at once, garbage left out. Objects allocated while a
// collection runs count as live in it, so a slow collection (a busy
// machine) reads high. The replay server's own allocations for the pages
// it serves are counted too.
func peakHeap(f func()) uint64 {
	old := debug.SetGCPercent(1)
	defer debug.SetGCPercent(old)
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(50 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base {
				peak = max(peak, v-base)
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	return <-done
}

// BenchmarkStreamPages reads 100,000 certifications in pages of 5000, one
// page at a time, dropping each page before the next. The pages are
// recorded once from the emulator and served as they are by a replay
// server, so the figures are the client's:
//
//   - impl=adapter: ListCertifications;
//   - impl=raw: net/http with a token fetched beforehand, decoding with
//     encoding/json into the adapter's wire shape, the floor of reading
//     them;
//   - impl=decode: the decoding alone, of the same bodies in memory.
//
// Each reports records/s. The adapter and raw report their peak heap in
// MB and in pages (one page's body is about 1.8 MB), from one more pass
// after the timed ones.
func BenchmarkStreamPages(b *testing.B) {
	r := sync.OnceValue(func() *replay {
		emu, err := dynamicstest.Start(&dynamicstest.Options{Certifications: streamRecords})
		if err != nil {
			b.Fatal(err)
		}
		defer emu.Close()
		return newReplay(b, emu)
	})
	report := func(b *testing.B, read func() int) {
		runtime.GC() // each starts with a clean heap, the recording's garbage gone
		for b.Loop() {
			if n := read(); n != streamRecords {
				b.Fatalf("read %d records, want %d", n, streamRecords)
			}
		}
		b.ReportMetric(float64(streamRecords*b.N)/b.Elapsed().Seconds(), "records/s")
		b.StopTimer()
		peak := peakHeap(func() { read() })
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(peak)/r().pageBytes(), "peak-heap-pages")
	}

	b.Run("impl=adapter", func(b *testing.B) {
		srv := r()
		creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
			return ports.NewCredentials(callClientID, callSecret), nil
		})
		c, err := dynamics.New(srv.URL, creds, &dynamics.Options{Tenant: callTenant, AuthorityHost: srv.URL, HTTPClient: &http.Client{Transport: transport(serverPool(srv.Server))}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ctx := b.Context()
		report(b, func() int {
			n, next := 0, ""
			for {
				p, err := c.ListCertifications(ctx, ports.PageQuery{PageSize: streamPageSize, Continuation: next})
				if err != nil {
					b.Fatal(err)
				}
				n += len(p.Items)
				if next = p.Next; next == "" {
					return n
				}
			}
		})
	})

	b.Run("impl=raw", func(b *testing.B) {
		srv := r()
		rd := newReader(b, srv.URL, srv.URL+"/"+callTenant+"/oauth2/v2.0/token", callClientID, callSecret, serverPool(srv.Server))
		report(b, func() int {
			n, next := 0, rd.first
			for next != "" {
				var p wirePage
				if err := json.Unmarshal(rd.get(next), &p); err != nil {
					b.Fatal(err)
				}
				n += len(p.Value)
				next = p.NextLink
			}
			return n
		})
	})

	b.Run("impl=decode", func(b *testing.B) {
		bodies := r().order
		runtime.GC()
		for b.Loop() {
			n := 0
			for _, body := range bodies {
				var p wirePage
				if err := json.Unmarshal(body, &p); err != nil {
					b.Fatal(err)
				}
				n += len(p.Value)
			}
			if n != streamRecords {
				b.Fatalf("decoded %d records, want %d", n, streamRecords)
			}
		}
		b.ReportMetric(float64(streamRecords*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
