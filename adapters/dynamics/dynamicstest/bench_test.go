package dynamicstest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r\x00\x1f", "Søknad – ✓", "bad \xff utf-8"} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("appendString(%q) = %s: %v", s, b, err)
			continue
		}
		want := s
		if s == "bad \xff utf-8" {
			want = "bad \ufffd utf-8"
		}
		if got != want {
			t.Errorf("appendString(%q) round trip = %q", s, got)
		}
	}
}

func BenchmarkSeed100k(b *testing.B) {
	today := ports.DateOf(time.Now())
	for b.Loop() {
		seed(1, 100_000, 50_000, today)
	}
}

// BenchmarkListPage5000 serves full pages of 5000 records over TLS.
func BenchmarkListPage5000(b *testing.B) {
	e, err := Start(&Options{Certifications: 20_000})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ts := &tester{t: &testing.T{}, e: e, c: e.HTTPClient()}
	ts.token = ts.fetchToken()
	b.ResetTimer()
	for b.Loop() {
		r := ts.get("hlf_certifications", "Prefer", "odata.maxpagesize=5000")
		if r.status != http.StatusOK {
			b.Fatalf("status %d", r.status)
		}
		b.SetBytes(int64(len(r.body)))
	}
}

// BenchmarkEncodePage5000 encodes a page without the network.
func BenchmarkEncodePage5000(b *testing.B) {
	st, _ := seed(1, 5000, 2500, ports.DateOf(time.Now()))
	q := &listQuery{size: MaxPageSize, cols: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
	buf := make([]byte, 0, 4<<20)
	for b.Loop() {
		rows, _ := list(st, &certSchema, q)
		buf = buf[:0]
		for i := range rows {
			buf = appendRecord(buf, &certSchema, &rows[i], q.cols, nil)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkPatch(b *testing.B) {
	e, err := Start(&Options{Certifications: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ts := &tester{t: &testing.T{}, e: e, c: e.HTTPClient()}
	ts.token = ts.fetchToken()
	ids := certIDs(e.Certifications())
	i := 0
	for b.Loop() {
		r := ts.api(http.MethodPatch, "hlf_certifications("+ids[i%len(ids)]+")", syncBody, "If-Match", "*")
		if r.status != http.StatusNoContent {
			b.Fatalf("status %d", r.status)
		}
		i++
	}
}
