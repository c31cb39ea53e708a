package dynamics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"
	"unicode/utf8"

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

func rawAnswer(code int, ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func TestUnusableSuccessIsInvalidResponse(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	tests := []struct {
		name string
		h    http.HandlerFunc
		call func(ctx context.Context, c *Client) error
	}{
		{"sign-in page", rawAnswer(200, "text/html; charset=utf-8", fixture(t, "signin-page.html")), listCerts},
		{"no content type", rawAnswer(200, "", `{"value":[]}`), listCerts},
		{"HTML labelled JSON", rawAnswer(200, "application/json", fixture(t, "signin-page.html")), listCerts},
		{"truncated JSON", okJSON(`{"value":[{"hlf_certificationid":"` + certID), listCerts},
		{"empty body", okJSON(``), listCerts},
		{"no value array", okJSON(`{}`), listCerts},
		{"null value", okJSON(`{"value":null}`), listCerts},
		{"an array", okJSON(`[]`), listCerts},
		{"null", okJSON(`null`), whoAmI},
		{"wrong type", okJSON(`{"value":[{"hlf_certificationid":5}]}`), listCerts},
		{"bad date", okJSON(`{"value":[{"hlf_certificationid":"` + certID + `","hlf_issuedon":"01.03.2025"}]}`), listCerts},
		{"malformed key", okJSON(`{"value":[{"hlf_certificationid":"abc"}]}`), listCerts},
		{"malformed lookup", okJSON(`{"value":[{"hlf_assignmentid":"` + certID + `","_hlf_mentor_value":"x"}]}`), listAssignments},
		{"deeply nested", okJSON(`{"value":[],"x":` + deep + `}`), listCerts},
		{"WhoAmI without ids", okJSON(`{"UserId":"` + certID + `"}`), whoAmI},
		{"record without key", okJSON(`{"hlf_name":"x"}`), getCert},
		{"write answer without key", okJSON(`{"hlf_syncstatus":2}`), writeSync},
		{"write answer as HTML", rawAnswer(200, "text/html", "<html></html>"), writeSync},
		{"1xx", rawAnswer(199, "application/json", `{}`), whoAmI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNet{api: tt.h}
			c := newNetClient(t, f)
			err := tt.call(t.Context(), c)
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if len(f.apiSeen()) != 1 {
				t.Errorf("%d requests, want 1 (no retry)", len(f.apiSeen()))
			}
			if strings.Contains(err.Error(), "<html") || strings.Contains(err.Error(), "Sign in") || pe.Message == "" {
				t.Errorf("error %q", err)
			}
		})
	}
}

func listCerts(ctx context.Context, c *Client) error {
	_, err := c.ListCertifications(ctx, ports.PageQuery{})
	return err
}

func listAssignments(ctx context.Context, c *Client) error {
	_, err := c.ListAssignments(ctx, ports.PageQuery{})
	return err
}

func whoAmI(ctx context.Context, c *Client) error {
	_, err := c.WhoAmI(ctx)
	return err
}

func getCert(ctx context.Context, c *Client) error {
	_, err := c.GetCertification(ctx, certID)
	return err
}

func writeSync(ctx context.Context, c *Client) error {
	_, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: 1, LastSyncedOn: time.Now()})
	return err
}

func TestErrorBodyMapping(t *testing.T) {
	long := strings.Repeat("é", 600) // 1200 bytes
	tests := []struct {
		name    string
		status  int
		body    string
		code    ports.ErrorCode
		service string
		message string
	}{
		{"not found, hex code", 404, fixture(t, "error-not-found.json"), ports.CodeNotFound, "0x80040217",
			"hlf_certification With Id = 9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f Does Not Exist"},
		{"throttled, decimal code", 429, fixture(t, "error-throttled-decimal.json"), ports.CodeRateLimited, "0x80072322",
			"Number of requests exceeded the limit of 6000 over time window of 300 seconds."},
		{"empty code", 500, fixture(t, "error-empty-code.json"), ports.CodeServerError, "", "An unexpected error occurred."},
		{"numeric code", 400, `{"error":{"code":-2147220969,"message":"m"}}`, ports.CodeInvalidRequest, "0x80040217", "m"},
		{"null code", 400, `{"error":{"code":null,"message":"m"}}`, ports.CodeInvalidRequest, "", "m"},
		{"object code", 400, `{"error":{"code":{"x":1},"message":"m"}}`, ports.CodeInvalidRequest, "", "m"},
		{"upper-case hex", 412, `{"error":{"code":"0X80060882","message":"m"}}`, ports.CodeInvalidRequest, "0x80060882", "m"},
		{"odd code kept", 409, `{"error":{"code":"DuplicateRecord","message":"m"}}`, ports.CodeInvalidRequest, "DuplicateRecord", "m"},
		{"forbidden", 403, `{"error":{"code":"0x80040220","message":"no privilege"}}`, ports.CodeAuthFailure, "0x80040220", "no privilege"},
		{"HTML error page", 502, `<html><body>Bad gateway</body></html>`, ports.CodeServerError, "", ""},
		{"bad escape", 400, `{"error":{"code":"\x","message":"m"}}`, ports.CodeInvalidRequest, "", ""},
		{"control characters", 400, `{"error":{"code":"0x1","message":"line1\nline2\u001b[31m"}}`, ports.CodeInvalidRequest, "0x00000001", "line1 line2 [31m"},
		{"long message", 422, `{"error":{"code":"","message":"` + long + `"}}`, ports.CodeInvalidRequest, "", strings.Repeat("é", 256)},
		{"405", 405, `{}`, ports.CodeInvalidRequest, "", ""},
		{"413", 413, ``, ports.CodeInvalidRequest, "", ""},
		{"418", 418, ``, ports.CodeInvalidRequest, "", ""},
		{"501", 501, ``, ports.CodeServerError, "", ""},
		{"505", 505, ``, ports.CodeServerError, "", ""},
		{"304", 304, ``, ports.CodeInvalidResponse, "", "redirect not followed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("x-ms-service-request-id", "srv-"+strconv.Itoa(tt.status))
					w.Header().Set("Retry-After", "30")
					writeJSON(w, tt.status, tt.body)
				}}
				c := newNetClient(t, f)
				_, err := c.GetCertification(t.Context(), certID)
				pe := wantCode(t, err, tt.code)
				if pe.ServiceCode != tt.service || pe.Message != tt.message || pe.StatusCode != tt.status ||
					pe.ServiceRequestID != "srv-"+strconv.Itoa(tt.status) || pe.Op != "GetCertification" || pe.RetryAfter != 30*time.Second {
					t.Errorf("error %+v", pe)
				}
				if len(pe.Message) > maxMessage || !utf8.ValidString(pe.Message) {
					t.Errorf("message of %d bytes, valid UTF-8 %v", len(pe.Message), utf8.ValidString(pe.Message))
				}
			})
		})
	}
}

func TestBodyCaps(t *testing.T) {
	page := `{"value":[` + strings.Repeat(`{"hlf_certificationid":"`+certID+`"},`, 40) + `{"hlf_certificationid":"` + certID + `"}]}`
	errorBody := `{"error":{"code":"0x80040217","message":"` + strings.Repeat("x", MaxErrorBody) + `"}}`
	atCap := `{"error":{"code":"0x80040217","message":"` + strings.Repeat("x", MaxErrorBody-44) + `"}}`
	if len(atCap) != MaxErrorBody {
		t.Fatalf("at-cap body is %d bytes", len(atCap))
	}
	tests := []struct {
		name   string
		h      http.HandlerFunc
		code   ports.ErrorCode
		status int
	}{
		{"page over the cap", okJSON(page), ports.CodeInvalidResponse, 200},
		{"page over the cap, no length", rawAnswer(200, "application/json", page), ports.CodeInvalidResponse, 200},
		{"page under the cap", okJSON(page[:1000] + `"}]}`), ports.CodeInvalidResponse, 200},
		{"error body over the cap", status(404, errorBody), ports.CodeInvalidResponse, 404},
		{"error body over the cap, no length", rawAnswer(503, "application/json", errorBody), ports.CodeInvalidResponse, 503},
		{"error body at the cap", status(404, atCap), ports.CodeNotFound, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNet{api: tt.h}
			c := newNetClient(t, f)
			c.maxPageBody = 1024
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, tt.code)
			if pe.StatusCode != tt.status || len(f.apiSeen()) != 1 {
				t.Errorf("error %+v after %d requests", pe, len(f.apiSeen()))
			}
		})
	}
	t.Run("a page at the cap is read", func(t *testing.T) {
		f := &fakeNet{api: rawAnswer(200, "application/json", page)}
		c := newNetClient(t, f)
		c.maxPageBody = int64(len(page))
		p, err := c.ListCertifications(t.Context(), ports.PageQuery{})
		if err != nil || len(p.Items) != 41 {
			t.Fatalf("%d items, %v", len(p.Items), err)
		}
	})
}

func TestNextLinkChecks(t *testing.T) {
	set := testBase + "/api/data/v9.2/hlf_certifications"
	firstPage := set + "?$select=" + certificationColumns + "&$orderby=hlf_certificationid%20asc"
	page := func(next string) http.HandlerFunc {
		return okJSON(`{"value":[{"hlf_certificationid":"` + certID + `"}],"@odata.nextLink":"` + next + `"}`)
	}
	for name, next := range map[string]string{
		"foreign host":     "https://elsewhere.example/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"http scheme":      "http://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"other collection": testBase + "/api/data/v9.2/hlf_assignments?$skiptoken=2",
		"user info":        "https://x@hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"not a URL":        "%zz",
		"the same page":    firstPage,
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeNet{api: page(next)}
			c := newNetClient(t, f)
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if !strings.Contains(pe.Message, "nextLink") {
				t.Errorf("error %+v", pe)
			}
			for _, s := range f.seen() {
				if s.host != "hlf.crm4.dynamics.com" && s.host != "login.microsoftonline.com" {
					t.Errorf("request sent to %s", s.host)
				}
			}
			if len(f.apiSeen()) != 1 {
				t.Errorf("%d requests, want 1", len(f.apiSeen()))
			}
		})
	}
	t.Run("a continuation answered with itself", func(t *testing.T) {
		cont := certPage("5")
		f := &fakeNet{api: page(cont)}
		c := newNetClient(t, f)
		_, err := c.ListCertifications(t.Context(), ports.PageQuery{Continuation: cont})
		wantCode(t, err, ports.CodeInvalidResponse)
	})
	t.Run("a good nextLink", func(t *testing.T) {
		next := strings.Replace(certPage("5"), "hlf.crm4", "HLF.crm4", 1)
		f := &fakeNet{api: page(next)}
		c := newNetClient(t, f)
		p, err := c.ListCertifications(t.Context(), ports.PageQuery{})
		if err != nil || p.Next != next {
			t.Fatalf("page %+v, %v", p, err)
		}
	})
}

// bodyTracker is a RoundTripper that hands out response bodies it watches:
// it counts the bodies it gave and those closed, and remembers which
// requests' bodies are still open.
type bodyTracker struct {
	next http.RoundTripper

	mu     sync.Mutex
	given  int
	closed int
	open   map[*trackedBody]string
}

type trackedBody struct {
	io.ReadCloser
	t    *bodyTracker
	once sync.Once
}

func (b *trackedBody) Close() error {
	b.once.Do(func() {
		b.t.mu.Lock()
		defer b.t.mu.Unlock()
		b.t.closed++
		delete(b.t.open, b)
	})
	return b.ReadCloser.Close()
}

func (t *bodyTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b := &trackedBody{ReadCloser: resp.Body, t: t}
	resp.Body = b
	t.mu.Lock()
	defer t.mu.Unlock()
	t.given++
	t.open[b] = r.Method + " " + r.URL.Path
	return resp, nil
}

// check fails the test unless every body given was closed, and at least
// want were given.
func (t *bodyTracker) check(tb testing.TB, want int) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, req := range t.open {
		tb.Errorf("the response body of %s was never closed", req)
	}
	if t.given < want || t.closed != t.given {
		tb.Errorf("%d bodies given, %d closed; want at least %d, all closed", t.given, t.closed, want)
	}
}

// Every response body is closed: of a success, of each retried answer, of
// the last answer once the retries run out, of answers refused for their
// size or shape, and of the token endpoint's answers, good or bad.
func TestEveryResponseBodyIsClosed(t *testing.T) {
	busy := status(http.StatusServiceUnavailable, `{"error":{"code":"","message":"busy"}}`)
	whoami := okJSON(fixture(t, "whoami.json"))
	big := `{"value":[` + strings.Repeat(`{"hlf_certificationid":"`+certID+`"},`, 40) + `{}]}`
	tokenBusy := status(http.StatusServiceUnavailable, `{"error":"temporarily_unavailable","error_description":"AADSTS90033: busy"}`)
	for _, tt := range []struct {
		name     string
		token    http.HandlerFunc
		api      http.HandlerFunc
		code     ports.ErrorCode // CodeUnknown: the call succeeds
		bodies   int             // at least this many responses
		pageBody int64
	}{
		{name: "success", api: whoami, bodies: 2},
		{name: "retried, then success", api: sequence(busy, busy, whoami), bodies: 4},
		{name: "retries run out", api: busy, code: ports.CodeServerError, bodies: 5},
		{name: "throttled past the cap", api: throttled("60"), code: ports.CodeRateLimited, bodies: 2},
		{name: "retried throttling", api: sequence(throttled("1"), throttled("0.5"), whoami), bodies: 4},
		{name: "page over the cap, with a length", api: okJSON(big), code: ports.CodeInvalidResponse, bodies: 2, pageBody: 512},
		{name: "page over the cap, no length", api: rawAnswer(200, "application/json", big), code: ports.CodeInvalidResponse, bodies: 2, pageBody: 512},
		{name: "error body over the cap", api: rawAnswer(503, "application/json", strings.Repeat("x", MaxErrorBody+1)), code: ports.CodeInvalidResponse, bodies: 2},
		{name: "redirect", api: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusFound)
		}, code: ports.CodeInvalidResponse, bodies: 2},
		{name: "sign-in page", api: rawAnswer(200, "text/html", fixture(t, "signin-page.html")), code: ports.CodeInvalidResponse, bodies: 2},
		{name: "token endpoint retried, then success", token: sequence(tokenBusy, tokenBusy, goodToken), api: whoami, bodies: 4},
		{name: "token endpoint down", token: tokenBusy, code: ports.CodeServerError, bodies: 4},
		{name: "token refused", token: status(http.StatusUnauthorized, fixture(t, "token-error-invalid-client.json")), code: ports.CodeAuthFailure, bodies: 1},
		{name: "token answer without a token", token: okJSON(`{"token_type":"Bearer"}`), code: ports.CodeInvalidResponse, bodies: 1},
		{name: "token redirect", token: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/token", http.StatusTemporaryRedirect)
		}, code: ports.CodeInvalidResponse, bodies: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := &bodyTracker{next: &fakeNet{token: tt.token, api: tt.api}, open: map[*trackedBody]string{}}
				c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: tr}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if tt.pageBody > 0 {
					c.maxPageBody = tt.pageBody
				}
				err = callOnce(t.Context(), c, tt.pageBody > 0)
				if tt.code == ports.CodeUnknown && err != nil {
					t.Fatalf("call failed: %v", err)
				}
				if tt.code != ports.CodeUnknown {
					wantCode(t, err, tt.code)
				}
				time.Sleep(time.Minute) // let a detached token fetch finish
				tr.check(t, tt.bodies)
			})
		})
	}
}

// callOnce makes a WhoAmI call, or a page read when page is true.
func callOnce(ctx context.Context, c *Client, page bool) error {
	if page {
		_, err := c.ListCertifications(ctx, ports.PageQuery{})
		return err
	}
	_, err := c.WhoAmI(ctx)
	return err
}

// lockedBuffer is a bytes.Buffer safe for the token fetch's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const skipMarker = "SKIP-MARKER-p4Lm"

// runLoggedCalls makes calls that succeed, retry and fail, logging at debug
// level through h, and returns every error string.
func runLoggedCalls(t *testing.T, h slog.Handler) []string {
	var errs []string
	record := func(err error) {
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err))
			if pe, ok := err.(*ports.PortalError); ok && pe.Err != nil {
				errs = append(errs, pe.Err.Error())
			}
		}
	}
	synctest.Test(t, func(t *testing.T) {
		cont := certPage(skipMarker)
		whoami := sequence(status(503, `{}`), okJSON(fixture(t, "whoami.json")))
		api := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-ms-service-request-id", "srv-1")
			switch {
			case r.URL.Path == "/api/data/v9.2/WhoAmI":
				whoami(w, r)
			case r.Method == http.MethodPatch:
				status(401, `{"error":{"code":"0x80072560","message":"not a member"}}`)(w, r)
			default:
				okJSON(`{"value":[],"@odata.nextLink":"`+cont+`x"}`)(w, r)
			}
		}
		f := &fakeNet{api: api}
		c := newLoggedClient(t, f, slog.New(h))
		ctx := t.Context()
		_, err := c.WhoAmI(ctx)
		record(err)
		_, err = c.ListCertifications(ctx, ports.PageQuery{Continuation: cont})
		record(err)
		_, err = c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: 2, LastSyncedOn: fixedTime})
		record(err)
		_, err = c.ListCertifications(ctx, ports.PageQuery{Continuation: "https://elsewhere.example/?" + skipMarker})
		record(err)

		bad := &fakeNet{token: status(401, fixture(t, "token-error-invalid-client.json"))}
		c = newLoggedClient(t, bad, slog.New(h))
		_, err = c.WhoAmI(ctx)
		record(err)

		// A client assertion, accepted and then refused.
		for _, tok := range []http.HandlerFunc{goodToken, status(400, fixture(t, "token-error-invalid-client.json"))} {
			ac, err := New(testBase, assertionCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: &fakeNet{token: tok, api: whoami}}, Logger: slog.New(h)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ac.WhoAmI(ctx)
			record(err)
		}
	})
	if len(errs) == 0 {
		t.Fatal("no call failed")
	}
	return errs
}

func TestDebugLogAndErrorsHoldNoSecrets(t *testing.T) {
	var text, js lockedBuffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	errs := runLoggedCalls(t, slog.NewTextHandler(&text, opts))
	errs = append(errs, runLoggedCalls(t, slog.NewJSONHandler(&js, opts))...)
	all := text.String() + js.String() + strings.Join(errs, "\n")
	for _, leak := range []string{secretMarker, tokenMarker, skipMarker, assertionMarker, "ASSERTION-MARKER", "Bearer", "Authorization", "client_secret", "client_assertion", `"value"`, "error_codes"} {
		if strings.Contains(all, leak) {
			t.Errorf("logs or errors hold %q", leak)
		}
	}
	if !strings.Contains(text.String(), "$skiptoken=[REDACTED]") || !strings.Contains(text.String(), "$select=hlf_certificationid,hlf_name") {
		t.Errorf("text log does not show the redacted URL:\n%s", text.String())
	}
}

func TestDebugLogRecords(t *testing.T) {
	var js lockedBuffer
	runLoggedCalls(t, slog.NewJSONHandler(&js, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := []string{"attempt", "correlation_id", "duration", "level", "method", "msg", "status", "time", "url"}
	var attempts []float64
	var tokenFetches int
	sc := bufio.NewScanner(strings.NewReader(js.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec["level"] != "DEBUG" {
			t.Errorf("record at %v", rec["level"])
		}
		keys := slices.Sorted(maps.Keys(rec))
		switch rec["msg"] {
		case "portal request":
			want := base
			if _, ok := rec["service_request_id"]; ok {
				want = slices.Sorted(slices.Values(append(slices.Clone(base), "service_request_id")))
			}
			if !slices.Equal(keys, want) {
				t.Errorf("record keys %v, want %v", keys, want)
			}
			if rec["url"] == "" || rec["method"] == "" || rec["correlation_id"] == "" {
				t.Errorf("record %v", rec)
			}
			attempts = append(attempts, rec["attempt"].(float64))
		case "token fetch":
			tokenFetches++
			if !slices.Equal(keys, []string{"duration", "level", "method", "msg", "status", "time", "url"}) {
				t.Errorf("token record keys %v", keys)
			}
		default:
			t.Errorf("unexpected record %v", rec)
		}
	}
	// WhoAmI: 503 then 200; the listing; the write (401); the second
	// client's token fails; the assertion client's WhoAmI, then its token
	// refused.
	if !slices.Equal(attempts, []float64{1, 2, 1, 1, 1, 1, 1}) {
		t.Errorf("attempts %v", attempts)
	}
	if tokenFetches != 4 {
		t.Errorf("%d token fetch records, want 4", tokenFetches)
	}
}

// refusing is a handler with debug disabled that fails the test if asked to
// handle a record.
type refusing struct {
	t *testing.T
}

func (r refusing) Enabled(context.Context, slog.Level) bool { return false }
func (r refusing) Handle(context.Context, slog.Record) error {
	r.t.Error("a record was handled with debug disabled")
	return nil
}
func (r refusing) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r refusing) WithGroup(string) slog.Handler      { return r }

func TestNoLoggingWorkWhenDebugIsOff(t *testing.T) {
	runLoggedCalls(t, refusing{t})

	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	quiet := newLoggedClient(t, f, slog.New(refusing{t}))
	discard := newLoggedClient(t, f, nil)
	ctx := context.Background()
	run := func(c *Client) func() {
		return func() {
			if _, err := c.WhoAmI(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(quiet)()
	run(discard)()
	a, b := testing.AllocsPerRun(50, run(quiet)), testing.AllocsPerRun(50, run(discard))
	if raceEnabled {
		t.Skipf("under the race detector sync.Pool drops items at random: %v and %v allocations are not comparable", a, b)
	}
	if a != b {
		t.Errorf("%v allocations per call with a disabled logger, %v with none", a, b)
	}
}

// The retry tests below run in a synctest bubble: their delays are
// instant, and time.Now inside the bubble tells exactly when each request
// was sent.

// timed records when each Web API request arrived, relative to the start.
type timed struct {
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
}

func newTimed() *timed { return &timed{start: time.Now()} }

func (tm *timed) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tm.mu.Lock()
		tm.at = append(tm.at, time.Since(tm.start))
		tm.mu.Unlock()
		h(w, r)
	}
}

func (tm *timed) times() []time.Duration {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return append([]time.Duration(nil), tm.at...)
}

func wantTimes(t *testing.T, got []time.Duration, want ...time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("requests at %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("requests at %v, want %v", got, want)
		}
	}
}

func throttled(retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("x-ms-service-request-id", "req-429")
		writeJSON(w, http.StatusTooManyRequests, `{"error":{"code":"-2147015902","message":"Number of requests exceeded the limit."}}`)
	}
}

func TestRetry429AfterAskedDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled("3"), okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f)
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, 3*time.Second)
		s := f.apiSeen()
		if s[0].header.Get("X-Correlation-Id") != s[1].header.Get("X-Correlation-Id") {
			t.Errorf("the retry has another correlation id")
		}
	})
}

func TestRetry429WithoutRetryAfterUsesBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(sequence(throttled(""), throttled("0"), okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f)
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, time.Second, 3*time.Second)
	})
}

func TestRetryAfterHTTPDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		date := time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
		f := &fakeNet{api: tm.wrap(sequence(throttled(date), okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f)
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, 5*time.Second)
	})
}

func TestRetryAfterBeyondWhatTheCallMayWaitFailsAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retryAfter string
		opts       Options
		want       time.Duration
	}{
		{"over the 16 s cap", "17", Options{}, 17 * time.Second},
		{"a date over the cap", "", Options{}, time.Hour},
		{"over the time left", "12", Options{Timeouts: Timeouts{Total: 10 * time.Second}}, 12 * time.Second},
		{"over a lowered cap", "3", Options{Retry: RetrySettings{BaseDelay: time.Second, MaxDelay: 2 * time.Second}}, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ra := tt.retryAfter
				if ra == "" {
					ra = time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
				}
				tm := newTimed()
				f := &fakeNet{api: tm.wrap(throttled(ra))}
				c := newNetClient(t, f, tt.opts)
				start := time.Now()
				_, err := c.WhoAmI(t.Context())
				pe := wantCode(t, err, ports.CodeRateLimited)
				if pe.RetryAfter != tt.want || pe.StatusCode != 429 || pe.ServiceCode != "0x80072322" || pe.ServiceRequestID != "req-429" {
					t.Errorf("error %+v", pe)
				}
				if time.Since(start) != 0 || len(tm.times()) != 1 {
					t.Errorf("waited %v over %d requests, want an immediate failure", time.Since(start), len(tm.times()))
				}
			})
		})
	}
}

func Test503OnEveryAttemptExhaustsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(status(503, fixture(t, "error-empty-code.json")))}
		c := newNetClient(t, f)
		_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
		pe := wantCode(t, err, ports.CodeServerError)
		if pe.StatusCode != 503 || pe.Message != "An unexpected error occurred." || pe.Op != "ListCertifications" {
			t.Errorf("error %+v", pe)
		}
		wantTimes(t, tm.times(), 0, time.Second, 3*time.Second, 7*time.Second)
		if f.tokens.Load() != 1 {
			t.Errorf("%d token requests, want 1", f.tokens.Load())
		}
	})
}

func TestBackoffIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(status(502, ""))}
		c := newNetClient(t, f, Options{Retry: RetrySettings{MaxRetries: 6}, Timeouts: Timeouts{Total: time.Hour}})
		_, err := c.WhoAmI(t.Context())
		wantCode(t, err, ports.CodeServerError)
		s := time.Second
		wantTimes(t, tm.times(), 0, s, 3*s, 7*s, 15*s, 31*s, 47*s)
	})
}

func TestRetriedStatusesAndOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for code, attempts := range map[int]int{429: 4, 500: 4, 502: 4, 503: 4, 504: 4, 501: 1, 505: 1, 400: 1, 401: 1, 403: 1, 404: 1, 409: 1, 412: 1, 301: 1} {
			f := &fakeNet{api: status(code, `{}`)}
			c := newNetClient(t, f)
			_, err := c.WhoAmI(t.Context())
			if err == nil {
				t.Fatalf("%d: no error", code)
			}
			if got := len(f.apiSeen()); got != attempts {
				t.Errorf("status %d: %d attempts, want %d", code, got, attempts)
			}
		}
	})
}

func TestOnlyIdempotentCallsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: status(503, `{}`)}
		c := newNetClient(t, f)
		_, err := c.do(t.Context(), newCall(t.Context(), "Create", http.MethodPost, c.cert.list))
		wantCode(t, err, ports.CodeServerError)
		if n := len(f.apiSeen()); n != 1 {
			t.Errorf("a POST was sent %d times", n)
		}
		_, err = c.WriteSyncMetadata(t.Context(), certID, ports.SyncMetadata{Status: 1, LastSyncedOn: time.Now()})
		wantCode(t, err, ports.CodeServerError)
		if n := len(f.apiSeen()); n != 5 {
			t.Errorf("the PATCH with If-Match was sent %d times, want 4", n-1)
		}
	})
}

func TestContextCanceledMidBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: status(503, `{}`)}
		c := newNetClient(t, f)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(500 * time.Millisecond)
			cancel()
		}()
		start := time.Now()
		_, err := c.WhoAmI(ctx)
		pe := wantCode(t, err, ports.CodeCanceled)
		if !errors.Is(err, context.Canceled) || pe.CorrelationID == "" {
			t.Errorf("error %+v", pe)
		}
		if d := time.Since(start); d != 500*time.Millisecond || len(f.apiSeen()) != 1 {
			t.Errorf("stopped after %v and %d requests", d, len(f.apiSeen()))
		}
	})
}

func TestCallerDeadlineIsCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
		c := newNetClient(t, f)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err := c.WhoAmI(ctx)
		wantCode(t, err, ports.CodeCanceled)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap the caller's deadline", err)
		}
	})
}

func TestTotalGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		f := &fakeNet{api: tm.wrap(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })}
		c := newNetClient(t, f)
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if d := time.Since(start); d != 45*time.Second {
			t.Errorf("gave up after %v, want 45s", d)
		}
		// 30 s attempt limit, 1 s backoff, then the guard cuts the second attempt.
		wantTimes(t, tm.times(), 0, 31*time.Second)
		if !errors.Is(err, errTotalTimeout) || errors.Is(err, context.Canceled) || pe.Message != "no answer within 45s" {
			t.Errorf("error %+v", pe)
		}
	})
}

func TestTotalGuardHitWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: throttled("8")}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Total: 20 * time.Second}})
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeRateLimited)
		// 0, 8, 16: the third ask of 8 s is over the 4 s left and fails at once.
		if d := time.Since(start); d != 16*time.Second || pe.RetryAfter != 8*time.Second {
			t.Errorf("after %v: %+v", d, pe)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: status(503, `{}`)}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Total: 2 * time.Second}})
		start := time.Now()
		_, err := c.WhoAmI(t.Context())
		wantCode(t, err, ports.CodeNetworkError)
		if d := time.Since(start); d != 2*time.Second || !errors.Is(err, errTotalTimeout) {
			t.Errorf("after %v: %v", d, err)
		}
	})
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := newTimed()
		hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		f := &fakeNet{api: tm.wrap(sequence(hang, okJSON(fixture(t, "whoami.json"))))}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Attempt: 5 * time.Second}})
		if _, err := c.WhoAmI(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantTimes(t, tm.times(), 0, 6*time.Second)
	})
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
		c := newNetClient(t, f, Options{Timeouts: Timeouts{Attempt: time.Second}})
		_, err := c.WhoAmI(t.Context())
		pe := wantCode(t, err, ports.CodeNetworkError)
		if !errors.Is(err, errAttemptTimeout) || len(f.apiSeen()) != 4 {
			t.Errorf("after %d attempts: %+v", len(f.apiSeen()), pe)
		}
	})
}

// failing returns err for the first n requests, then passes them on. It
// counts every request.
type failing struct {
	n, seen int
	err     error
	next    http.RoundTripper
	mu      sync.Mutex
}

func (f *failing) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.seen++
	fail := f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return nil, f.err
	}
	return f.next.RoundTrip(r)
}

// apiOnly sends token requests straight to token and the rest to api.
type apiOnly struct {
	api, token http.RoundTripper
}

func (a *apiOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "login.microsoftonline.com" {
		return a.token.RoundTrip(r)
	}
	return a.api.RoundTrip(r)
}

func TestTransientNetworkErrorsAreRetried(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	permanent := errors.New("unsupported protocol")
	for name, tt := range map[string]struct {
		err      error
		attempts int
	}{
		"refused":   {refused, 2},
		"reset":     {reset, 2},
		"permanent": {permanent, 1},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fn := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
				api := &failing{n: 1, err: tt.err, next: fn}
				c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: &apiOnly{api: api, token: fn}}})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				_, err = c.WhoAmI(t.Context())
				if api.seen != tt.attempts {
					t.Errorf("%d attempts, want %d", api.seen, tt.attempts)
				}
				if tt.attempts == 1 {
					pe := wantCode(t, err, ports.CodeNetworkError)
					if !errors.Is(err, permanent) || pe.StatusCode != 0 {
						t.Errorf("error %+v does not wrap the cause", pe)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d != time.Second {
					t.Errorf("retried after %v, want 1s", d)
				}
			})
		})
	}
}

// A Retry-After in decimal seconds is honoured as asked: neither ignored in
// favour of the backoff (1 s) when it is shorter, nor cut short when it is
// longer, which would send the retry while the portal still refuses.
func TestDecimalRetryAfterIsHonoured(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"0.25", 250 * time.Millisecond},
		{"2.5", 2500 * time.Millisecond},
	} {
		t.Run(tt.header, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tm := newTimed()
				f := &fakeNet{api: tm.wrap(sequence(throttled(tt.header), okJSON(fixture(t, "whoami.json"))))}
				c := newNetClient(t, f)
				if _, err := c.WhoAmI(t.Context()); err != nil {
					t.Fatal(err)
				}
				wantTimes(t, tm.times(), 0, tt.want)
			})
		})
	}
}
