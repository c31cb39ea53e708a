package dynamics

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/iotest"

	"github.com/hlf/dynamicsportal/ports"
)

// readSized returns the body byte for byte whether it is shorter or longer
// than expected, and refuses one over the limit.
func TestReadSized(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	for _, tt := range []struct {
		name        string
		n, size     int
		limit       int64
		oversized   bool
		oneBuffered bool
	}{
		{"as expected", 60000, 60000, 1 << 20, false, true},
		{"shorter", 1000, 60000, 1 << 20, false, true},
		{"longer", 65536, 10000, 1 << 20, false, false},
		{"empty", 0, 10000, 1 << 20, false, true},
		{"at the limit", 5000, 60000, 5000, false, true},
		{"over the limit in the buffer", 5001, 60000, 5000, true, false},
		{"over the limit later", 65536, 1000, 30000, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, over, err := readSized(bytes.NewReader(body[:tt.n]), tt.limit, int64(tt.size))
			if err != nil || over != tt.oversized {
				t.Fatalf("oversized %v, err %v; want oversized %v", over, err, tt.oversized)
			}
			if !over && !bytes.Equal(b, body[:tt.n]) {
				t.Fatalf("read %d bytes, not the %d sent", len(b), tt.n)
			}
			if tt.oneBuffered && cap(b) < tt.size && int64(cap(b)) != tt.limit+1 {
				t.Fatalf("cap %d: not read into one buffer of the expected size", cap(b))
			}
		})
	}
	boom := errors.New("boom")
	if _, _, err := readSized(iotest.ErrReader(boom), 100, 50); !errors.Is(err, boom) {
		t.Errorf("error in the buffer: %v", err)
	}
	if _, _, err := readSized(io.MultiReader(bytes.NewReader(body[:9000]), iotest.ErrReader(boom)), 1<<20, 100); !errors.Is(err, boom) {
		t.Errorf("error in the chunks: %v", err)
	}
	// A chunked body cut short by the network ends in io.ErrUnexpectedEOF,
	// the error io.ReadFull also uses for a short read: it must stay an
	// error (a broken connection, retried), not pass for a complete body.
	cut := io.MultiReader(bytes.NewReader(body[:1000]), iotest.ErrReader(io.ErrUnexpectedEOF))
	if b, _, err := readSized(cut, 1<<20, 60000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("readSized: a body cut short read as %d bytes, err %v; want io.ErrUnexpectedEOF", len(b), err)
	}
	cut = io.MultiReader(bytes.NewReader(body[:1000]), iotest.ErrReader(io.ErrUnexpectedEOF))
	if b, _, err := readChunks(cut, 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("readChunks: a body cut short read as %d bytes, err %v; want io.ErrUnexpectedEOF", len(b), err)
	}
}

// A collection read of a body without Content-Length remembers its size for
// the next page of the collection.
func TestListRemembersPageSize(t *testing.T) {
	page := fixture(t, "certifications-page2.json")
	unannounced := func(w http.ResponseWriter, _ *http.Request) { // no Content-Length
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, page)
	}
	f := &fakeNet{api: unannounced}
	c := newNetClient(t, f)
	if _, err := c.ListCertifications(t.Context(), ports.PageQuery{}); err != nil {
		t.Fatal(err)
	}
	if got := c.cert.lastPage.Load(); got != int64(len(page)) {
		t.Fatalf("remembered %d bytes, want %d", got, len(page))
	}
	if c.assign.lastPage.Load() != 0 {
		t.Fatalf("the other collection's size changed")
	}
	p, err := c.ListCertifications(t.Context(), ports.PageQuery{}) // read with the size known
	if err != nil || len(p.Items) == 0 {
		t.Fatalf("second read: %d records, %v", len(p.Items), err)
	}
}
