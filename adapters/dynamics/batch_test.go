package dynamics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/internal/resilience"
	"github.com/hlf/dynamicsportal/ports"
)

// partRequest is one request read back from a $batch body.
type partRequest struct {
	line   string // the request line
	header textproto.MIMEHeader
	body   string
}

// readBatch parses a $batch request body as a portal would.
func readBatch(t *testing.T, s seen) []partRequest {
	t.Helper()
	mt, params, err := mime.ParseMediaType(s.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "batch_") {
		t.Fatalf("Content-Type %q", s.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(s.body), params["boundary"])
	var out []partRequest
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Type") != "application/http" || p.Header.Get("Content-Transfer-Encoding") != "binary" {
			t.Fatalf("part header %v", p.Header)
		}
		tp := textproto.NewReader(bufio.NewReader(p))
		line, _ := tp.ReadLine()
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tp.R)
		out = append(out, partRequest{line: line, header: h, body: string(body)})
	}
}

// batchAnswer answers a $batch with the given raw HTTP responses, one part
// each.
func batchAnswer(parts ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		ct, body := answer(parts...)
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// ids of the test certifications.
var batchIDs = []string{
	"1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d31",
	"1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d32",
	"1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d33",
	"1b5c9d2f-3e4a-4b6c-9d7e-8f9a0b1c2d34",
}

func syncWrites(ids ...string) []ports.SyncWrite {
	ws := make([]ports.SyncWrite, len(ids))
	for i, id := range ids {
		ws[i] = ports.SyncWrite{ID: id, Metadata: ports.SyncMetadata{Status: ports.SyncStatus(i%4 + 1), LastSyncedOn: fixedTime}}
	}
	return ws
}

func TestWriteSyncMetadataBatch(t *testing.T) {
	repr := "HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\nETag: W/\"77\"\r\n\r\n" +
		`{"@odata.etag":"W/\"77\"","hlf_certificationid":"` + batchIDs[1] + `","hlf_syncstatus":2,"hlf_lastsyncedon":"2026-11-28T01:00:07Z"}`
	f := &fakeNet{api: batchAnswer(part204, repr, part404,
		"HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80060882\",\"message\":\"version\"}}")}
	c := newNetClient(t, f)
	writes := syncWrites(batchIDs[0], batchIDs[1], "not-a-guid", batchIDs[2], batchIDs[3])
	results, err := c.WriteSyncMetadataBatch(t.Context(), writes)
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Err != nil || r.Response.ID != batchIDs[0] || r.Response.Status != 1 || !r.Response.LastSyncedOn.Equal(fixedTime) {
		t.Errorf("part 204: %+v, want the values sent", r)
	}
	if r := results[1]; r.Err != nil || r.Response.ID != batchIDs[1] || r.Response.Status != 2 || r.Response.ETag != `W/"77"` {
		t.Errorf("part 200: %+v, want the values answered", r)
	}
	wantCode(t, results[2].Err, ports.CodeInvalidRequest)
	pe := wantCode(t, results[3].Err, ports.CodeNotFound)
	if pe.ServiceCode != "0x80040217" || pe.StatusCode != 404 || pe.Op != "WriteSyncMetadataBatch" {
		t.Errorf("part 404: %+v", pe)
	}
	wantCode(t, results[4].Err, ports.CodeInvalidRequest)

	reqs := f.apiSeen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one $batch", len(reqs))
	}
	s := reqs[0]
	if s.method != http.MethodPost || s.path != "/api/data/v9.2/$batch" || s.header.Get("Prefer") != "odata.continue-on-error" ||
		s.header.Get("x-correlation-id") == "" || s.header.Get("x-ms-client-request-id") != s.header.Get("x-correlation-id") ||
		!strings.HasPrefix(s.header.Get("Authorization"), "Bearer ") || s.header.Get("OData-Version") != "4.0" {
		t.Errorf("batch request %s %s, headers %v", s.method, s.path, s.header)
	}
	parts := readBatch(t, s)
	if len(parts) != 4 {
		t.Fatalf("%d parts, want the 4 well-formed writes", len(parts))
	}
	for j, i := range []int{0, 1, 3, 4} {
		p, w := parts[j], writes[i]
		want := "PATCH " + testBase + "/api/data/v9.2/hlf_certifications(" + w.ID + ")?$select=" + syncColumns + " HTTP/1.1"
		if p.line != want || p.header.Get("If-Match") != "*" || p.header.Get("Content-Type") != "application/json" ||
			p.header.Get("Prefer") != "return=representation" || p.body != string(syncBody(w.Metadata)) {
			t.Errorf("part %d: %q %v %q", j+1, p.line, p.header, p.body)
		}
	}
}

// Parts answered 429 or 503 go again, alone, after the longest pause
// asked; those that succeeded are not sent again.
func TestWriteSyncMetadataBatchSendsThrottledPartsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: sequence(
			batchAnswer(part204,
				"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80072321\",\"message\":\"exec\"}}",
				"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80040216\",\"message\":\"busy\"}}",
				part204),
			batchAnswer(part204, part204))}
		c := newNetClient(t, f)
		start := time.Now()
		results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs...))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Err != nil || r.Response.ID != batchIDs[i] {
				t.Errorf("write %d: %+v", i, r)
			}
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("took %v, want the 3 s the portal asked", d)
		}
		reqs := f.apiSeen()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want 2", len(reqs))
		}
		again := readBatch(t, reqs[1])
		if len(again) != 2 || !strings.Contains(again[0].line, batchIDs[1]) || !strings.Contains(again[1].line, batchIDs[2]) {
			t.Errorf("second batch %v, want only the parts answered 429 and 503", again)
		}
		if reqs[0].header.Get("x-correlation-id") != reqs[1].header.Get("x-correlation-id") {
			t.Error("the retry of a batch has another correlation id")
		}
	})
}

// Parts that still fail when the retries are spent keep their own error;
// the others are answered.
func TestWriteSyncMetadataBatchPartsStillThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		throttled := "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80072322\",\"message\":\"count\"}}"
		f := &fakeNet{api: sequence(batchAnswer(part204, throttled), batchAnswer(throttled))}
		c := newNetClient(t, f)
		results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:2]...))
		if err != nil {
			t.Fatal(err)
		}
		if results[0].Err != nil {
			t.Errorf("write 1: %v", results[0].Err)
		}
		pe := wantCode(t, results[1].Err, ports.CodeRateLimited)
		if pe.RetryAfter != 2*time.Second || pe.ServiceCode != "0x80072322" {
			t.Errorf("write 2: %+v, want the part's own 429", pe)
		}
		if n := len(f.apiSeen()); n != 1+resilience.DefaultMaxRetries {
			t.Errorf("%d requests, want 1 + %d retries", n, resilience.DefaultMaxRetries)
		}
	})
}

// A 429 or 503 of the batch as a whole is retried like any idempotent
// call, with the same parts.
func TestWriteSyncMetadataBatchRetriedWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: sequence(
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "4")
				writeJSON(w, 429, `{"error":{"code":"0x80072321","message":"Combined execution time of incoming requests exceeded limit"}}`)
			},
			status(503, `{"error":{"code":"","message":"busy"}}`),
			batchAnswer(part204, part204))}
		c := newNetClient(t, f)
		start := time.Now()
		results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:2]...))
		if err != nil || results[0].Err != nil || results[1].Err != nil {
			t.Fatalf("%v, %+v", err, results)
		}
		reqs := f.apiSeen()
		if len(reqs) != 3 || time.Since(start) < 4*time.Second {
			t.Fatalf("%d requests in %v, want 3 after the 4 s asked", len(reqs), time.Since(start))
		}
		for _, s := range reqs {
			if len(readBatch(t, s)) != 2 {
				t.Error("a retry of the whole batch did not send every part")
			}
		}
	})
}

// An answer that cannot be matched to the writes counts none of them.
func TestWriteSyncMetadataBatchUnusableAnswer(t *testing.T) {
	for _, tt := range []struct {
		name string
		api  http.HandlerFunc
		code ports.ErrorCode
	}{
		{"fewer parts than writes", batchAnswer(part204, part204), ports.CodeInvalidResponse},
		{"more parts than writes", batchAnswer(part204, part204, part204, part204), ports.CodeInvalidResponse},
		{"a part that is no HTTP response", batchAnswer(part204, "<html>sign in</html>", part204), ports.CodeInvalidResponse},
		{"JSON instead of multipart", okJSON(`{"value":[]}`), ports.CodeInvalidResponse},
		{"cut short", func(w http.ResponseWriter, r *http.Request) {
			ct, body := answer(part204, part204, part204)
			w.Header().Set("Content-Type", ct)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+100))
			_, _ = w.Write(body)
		}, ports.CodeNetworkError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newNetClient(t, &fakeNet{api: tt.api})
				results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:3]...))
				wantCode(t, err, tt.code)
				if results != nil {
					t.Errorf("results %+v with the error", results)
				}
			})
		})
	}
}

// A portal without $batch gets single requests for the client's life,
// logged once.
func TestWriteSyncMetadataBatchFallsBackToSingleRequests(t *testing.T) {
	for _, code := range []int{404, 405, 501} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/$batch") {
					writeJSON(w, code, `{"error":{"code":"0x80060888","message":"Resource not found for the segment '$batch'."}}`)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}}
			var logs bytes.Buffer
			c := newLoggedClient(t, f, slog.New(slog.NewTextHandler(&logs, nil)))
			for range 2 {
				results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:2]...))
				if err != nil || results[0].Err != nil || results[1].Err != nil {
					t.Fatalf("%v, %+v", err, results)
				}
			}
			var batches, patches int
			for _, s := range f.apiSeen() {
				switch s.method {
				case http.MethodPost:
					batches++
				case http.MethodPatch:
					patches++
				}
			}
			if batches != 1 || patches != 4 {
				t.Errorf("%d batches, %d patches; want 1 then single requests only", batches, patches)
			}
			if n := strings.Count(logs.String(), "offers no $batch"); n != 1 || !strings.Contains(logs.String(), "level=INFO") {
				t.Errorf("%d info lines about the fallback:\n%s", n, logs.String())
			}
		})
	}
}

// Each part's answer is logged at debug with the batch's correlation id
// and the part's index.
func TestWriteSyncMetadataBatchLogsEachPart(t *testing.T) {
	f := &fakeNet{api: batchAnswer(part204, part404)}
	var logs bytes.Buffer
	c := newLoggedClient(t, f, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if _, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:2]...)); err != nil {
		t.Fatal(err)
	}
	corr := f.apiSeen()[0].header.Get("x-correlation-id")
	for i, status := range []string{"204", "404"} {
		want := "msg=\"portal batch part\" correlation_id=" + corr + " part=" + strconv.Itoa(i+1) + " attempt=1 id=" + batchIDs[i] + " status=" + status
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no line %q in:\n%s", want, logs.String())
		}
	}
}

func TestWriteSyncMetadataBatchLimits(t *testing.T) {
	f := &fakeNet{api: batchAnswer()}
	c := newNetClient(t, f)
	if rs, err := c.WriteSyncMetadataBatch(t.Context(), nil); err != nil || len(rs) != 0 {
		t.Errorf("empty batch: %v, %v", rs, err)
	}
	if _, err := c.WriteSyncMetadataBatch(t.Context(), make([]ports.SyncWrite, ports.MaxBatchWrites+1)); !errors.Is(err, ports.ErrInvalidRequest) {
		t.Errorf("%d writes: %v, want invalidRequest", ports.MaxBatchWrites+1, err)
	}
	if n := len(f.apiSeen()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// A 429 part wins over a 5xx part after it: the batch counts as throttled,
// so the requests in flight are halved, and the parts go again after the
// 429's Retry-After.
func TestWriteSyncMetadataBatchA429PartWinsOverALater5xx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: sequence(
			batchAnswer(
				"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 4\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80072321\",\"message\":\"exec\"}}",
				"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80040216\",\"message\":\"busy\"}}"),
			batchAnswer(part204, part204))}
		c := newNetClient(t, f, Options{MaxInFlight: 8})
		start := time.Now()
		results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:2]...))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Err != nil {
				t.Errorf("write %d: %v", i+1, r.Err)
			}
		}
		if d := time.Since(start); d != 4*time.Second {
			t.Errorf("took %v, want the 429 part's 4 s", d)
		}
		c.throttle.mu.Lock()
		limit := c.throttle.limit
		c.throttle.mu.Unlock()
		if limit != 4 {
			t.Errorf("requests in flight limited to %d after the throttled batch, want 8 halved to 4", limit)
		}
	})
}

// A 412 part is final for its write: it is not sent again when another
// part of the same batch was throttled.
func TestWriteSyncMetadataBatchA412PartIsNotSentAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{api: sequence(
			batchAnswer(
				"HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80060882\",\"message\":\"version\"}}",
				"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80072321\",\"message\":\"exec\"}}"),
			batchAnswer(part204))}
		c := newNetClient(t, f)
		results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:2]...))
		if err != nil {
			t.Fatal(err)
		}
		if results[0].Err == nil {
			t.Error("write 1 answered 412 counts as done")
		}
		if results[1].Err != nil {
			t.Errorf("write 2: %v", results[1].Err)
		}
		reqs := f.apiSeen()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want 2", len(reqs))
		}
		if again := readBatch(t, reqs[1]); len(again) != 1 || !strings.Contains(again[0].line, batchIDs[1]) {
			t.Errorf("second batch %v, want only the throttled write, not the 412", again)
		}
	})
}

// The request id of a failed part is the part's own REQ_ID.
func TestWriteSyncMetadataBatchKeepsAPartsRequestID(t *testing.T) {
	part := "HTTP/1.1 404 Not Found\r\nREQ_ID: 0d7c6b5a-4938-4271-8a6b-5c4d3e2f1a09\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80040217\",\"message\":\"gone\"}}"
	c := newNetClient(t, &fakeNet{api: batchAnswer(part)})
	results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if pe := wantCode(t, results[0].Err, ports.CodeNotFound); pe.ServiceRequestID != "0d7c6b5a-4938-4271-8a6b-5c4d3e2f1a09" {
		t.Errorf("part error %+v, want the part's REQ_ID as its request id", pe)
	}
}

// A hostile $batch answer of 48 MiB whose first part has a flood of
// distinct header lines costs little memory: the answer is read only up to
// what its parts may hold, and a part's headers are capped, so the writes
// fail instead of being reported done.
func TestHugeBatchAnswerIsRefusedCheaply(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted without the race detector (scripts/cover.sh runs this test)")
	}
	var head strings.Builder
	head.WriteString("HTTP/1.1 204 No Content\r\n")
	for i := 0; head.Len() < 48<<20; i++ {
		fmt.Fprintf(&head, "X-Flood-%d: %d\r\n", i, i)
	}
	head.WriteString("\r\n")
	ct, body := answer(head.String(), part204)
	f := &fakeNet{api: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}}
	c := newNetClient(t, f)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	results, err := c.WriteSyncMetadataBatch(t.Context(), syncWrites(batchIDs[:2]...))
	runtime.ReadMemStats(&after)
	if err == nil {
		for i, r := range results {
			if r.Err == nil {
				t.Errorf("write %d reported done from a hostile answer", i+1)
			}
		}
	} else {
		wantCode(t, err, ports.CodeInvalidResponse)
	}
	// The fake network copies the 48 MiB body into its recorder (about
	// twice over as the buffer grows); parsing its headers would take
	// hundreds of MiB more.
	if got := after.TotalAlloc - before.TotalAlloc; got > 3*(48<<20) {
		t.Errorf("allocated %d MiB for a 48 MiB answer", got>>20)
	}
}
