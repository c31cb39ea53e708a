package dynamics

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// Dataverse answers can carry x-ms-service-request-id twice (the gateway's
// and the organisation service's); both reach the error, in order.
func TestDuplicateServiceRequestIDsAreKept(t *testing.T) {
	const gateway, org = "5e6d1c2a-09b7-4f1e-a7c3-2b4d6f8a0c1e", "b1a2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("x-ms-service-request-id", gateway)
		w.Header().Add("x-ms-service-request-id", org)
		w.Header().Set("REQ_ID", org)
		writeJSON(w, http.StatusNotFound, fixture(t, "error-not-found.json"))
	}}
	_, err := newNetClient(t, f).GetCertification(t.Context(), certID)
	pe := wantCode(t, err, ports.CodeNotFound)
	if want := gateway + ", " + org; pe.ServiceRequestID != want {
		t.Errorf("ServiceRequestID %q, want %q", pe.ServiceRequestID, want)
	}
}

// readChunks returns a body up to the limit byte for byte, across chunk
// boundaries, and refuses one byte more.
func TestReadChunks(t *testing.T) {
	body := make([]byte, 3<<20+7)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for _, tt := range []struct {
		size, limit int
		over        bool
	}{
		{0, 10, false},
		{1, 10, false},
		{10, 10, false},
		{11, 10, true},
		{4 << 10, 4 << 10, false},
		{4<<10 + 1, 4 << 10, true},
		{4<<10 + 1, 1 << 20, false},
		{12<<10 + 5, 1 << 20, false},
		{3<<20 + 7, 3<<20 + 7, false},
		{3<<20 + 7, 3<<20 + 6, true},
	} {
		// One byte at a time too: short reads must not end the body.
		for _, r := range []io.Reader{bytes.NewReader(body[:tt.size]), iotest.OneByteReader(bytes.NewReader(body[:tt.size]))} {
			b, over, err := bounded(t, func() ([]byte, bool, error) { return readChunks(budget(r, tt.size+1), int64(tt.limit)) })
			if err != nil || over != tt.over {
				t.Fatalf("size %d limit %d: over %v, %v", tt.size, tt.limit, over, err)
			}
			if !over && !bytes.Equal(b, body[:tt.size]) {
				t.Fatalf("size %d limit %d: %d bytes differ from the body", tt.size, tt.limit, len(b))
			}
		}
	}
	boom := errors.New("connection reset")
	if _, _, err := readChunks(iotest.ErrReader(boom), 100); !errors.Is(err, boom) {
		t.Errorf("read error %v, want it returned", err)
	}
	if _, _, err := readChunks(io.MultiReader(bytes.NewReader(body[:9000]), iotest.ErrReader(boom)), 1<<20); !errors.Is(err, boom) {
		t.Errorf("read error after 9000 bytes: %v, want it returned", err)
	}
}

// A body over the limit costs no more than the limit in memory.
func TestReadChunksOverTheLimitAllocatesTheLimit(t *testing.T) {
	const limit = 8 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, over, err := bounded(t, func() ([]byte, bool, error) { return readChunks(budget(zeros{}, 2*limit), limit) })
	runtime.ReadMemStats(&after)
	if !over || err != nil {
		t.Fatalf("over %v, %v", over, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > limit+limit/8 {
		t.Errorf("allocated %d bytes for a limit of %d", got, limit)
	}
}

// zeros reads zero bytes without end.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

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
			b, over, err := bounded(t, func() ([]byte, bool, error) {
				return readSized(budget(bytes.NewReader(body[:tt.n]), tt.n+1), tt.limit, int64(tt.size))
			})
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

// bounded runs read, a call of a body reader, and fails the test when it
// has not returned within 10 s: a limit check that never ends the read
// fails the test instead of hanging it.
func bounded(t *testing.T, read func() ([]byte, bool, error)) ([]byte, bool, error) {
	t.Helper()
	type result struct {
		b    []byte
		over bool
		err  error
	}
	done := make(chan result, 1)
	go func() {
		b, over, err := read()
		done <- result{b, over, err}
	}()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.b, r.over, r.err
	case <-timer.C:
		t.Fatal("the body reader did not return within 10s")
		return nil, false, nil
	}
}

// errReadPastBudget is what budget's reader says once a body reader asks
// for more than it should ever need.
var errReadPastBudget = errors.New("read past the budget: the reader ignores its limit")

// budget returns r, which fails with errReadPastBudget once more than n
// bytes were read through it: a body reader whose limit check is off
// stops there instead of growing to the machine's memory.
func budget(r io.Reader, n int) io.Reader { return &budgeted{r: r, left: n} }

type budgeted struct {
	r    io.Reader
	left int
}

func (b *budgeted) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errReadPastBudget
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

// stalled is a transport whose Web API answers announce a body of size
// bytes, send 100 of them and then stall until the request ends.
type stalled struct {
	size int64
}

func (s stalled) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/api/data/v9.2/WhoAmI" && r.Method != http.MethodPatch {
		return (&fakeNet{}).RoundTrip(r) // the token
	}
	body := io.MultiReader(bytes.NewReader(make([]byte, 100)), ctxReader{r})
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		ContentLength: s.size, Body: io.NopCloser(body), Request: r}, nil
}

// ctxReader blocks until the request's context ends.
type ctxReader struct{ r *http.Request }

func (c ctxReader) Read([]byte) (int, error) {
	<-c.r.Context().Done()
	return 0, c.r.Context().Err()
}

// An answer that announces a large body and stalls holds only what its
// kind of answer needs (a few KiB for WhoAmI or a write), not what it
// announced: sixteen stalled writes announcing 64 MiB each took 1 GiB.
func TestStalledAnswerHoldsLittleMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: stalled{size: MaxPageBody}},
			Timeouts: Timeouts{Attempt: time.Second, Total: 1500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err := c.WriteSyncMetadata(t.Context(), certID, ports.SyncMetadata{Status: 1, LastSyncedOn: fixedTime})
				wantCode(t, err, ports.CodeNetworkError)
			})
		}
		_, err = c.WhoAmI(t.Context())
		wantCode(t, err, ports.CodeNetworkError)
		wg.Wait()
		runtime.ReadMemStats(&after)
		// Ten attempts in all (two each); 64 MiB each before the fix.
		if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
			t.Errorf("stalled answers allocated %d MiB", got>>20)
		}
	})
}

// The attempt's limit never outlasts the call's guard: with a guard
// shorter than the attempt limit, a hung attempt ends at the guard, as
// the guard's networkError, after one attempt.
func TestAttemptLimitClampedToTheGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Attempt: 30 * time.Second, Total: 10 * time.Second}})
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if d := time.Since(start); d != 10*time.Second || !errors.Is(err, errTotalTimeout) || pe.Message != "no answer within 10s" {
			t.Errorf("after %v: %+v; want the 10s guard", d, pe)
		}
		if n := len(f.apiSeen()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
}

// Each debug record carries the attempt's real status and duration, and
// the correlation id the request carried.
func TestDebugRecordsAreTrue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := func(code int, body string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(250 * time.Millisecond)
				writeJSON(w, code, body)
			}
		}
		f := &fakeNet{api: sequence(slow(503, `{}`), slow(200, whoAmIJSON))}
		var logs lockedBuffer
		c := newLoggedClient(t, f, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		type record struct {
			Msg           string `json:"msg"`
			CorrelationID string `json:"correlation_id"`
			Status        int    `json:"status"`
			Duration      int64  `json:"duration"`
			Attempt       int    `json:"attempt"`
		}
		var recs []record
		for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
			var rec record
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Msg == "portal request" {
				recs = append(recs, rec)
			}
		}
		sent := f.apiSeen()
		if len(recs) != 2 || len(sent) != 2 {
			t.Fatalf("%d records for %d requests", len(recs), len(sent))
		}
		for i, want := range []int{503, 200} {
			r := recs[i]
			if r.Status != want || time.Duration(r.Duration) != 250*time.Millisecond || r.Attempt != i+1 {
				t.Errorf("record %d: %+v; want status %d, duration 250ms", i, r, want)
			}
			if r.CorrelationID != sent[i].header.Get("X-Correlation-Id") || r.CorrelationID != sent[i].header.Get("X-Ms-Client-Request-Id") {
				t.Errorf("record %d logs correlation id %q, the request carried %q", i, r.CorrelationID, sent[i].header.Get("X-Correlation-Id"))
			}
		}
	})
}
