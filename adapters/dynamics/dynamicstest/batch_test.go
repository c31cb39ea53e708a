package dynamicstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// batchBody builds a $batch of sync-metadata PATCHes of ids, one part
// each, the way Dataverse documents it.
func batchBody(ids []string) (contentType, body string) {
	const boundary = "batch_3b7e0a52"
	var b strings.Builder
	for _, id := range ids {
		b.WriteString("--" + boundary + "\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n")
		b.WriteString("PATCH " + APIPath + "hlf_certifications(" + id + ") HTTP/1.1\r\n")
		b.WriteString("Content-Type: application/json\r\nIf-Match: *\r\n\r\n")
		b.WriteString(syncBody + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return "multipart/mixed; boundary=" + boundary, b.String()
}

// postBatch sends a $batch of ids; prefer is the Prefer header.
func (ts *tester) postBatch(ids []string, prefer string) *response {
	ts.t.Helper()
	ct, body := batchBody(ids)
	return ts.send(http.MethodPost, ts.url("$batch"), map[string]string{
		"Authorization": "Bearer " + ts.token, "Content-Type": ct, "Prefer": prefer, "x-correlation-id": "batch-corr",
	}, body)
}

// partStatuses parses a $batch answer into the status of each part.
func partStatuses(t *testing.T, r *response) ([]int, [][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "batchresponse_") {
		t.Fatalf("answer Content-Type %q", r.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var statuses []int
	var bodies [][]byte
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return statuses, bodies
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Type") != "application/http" || p.Header.Get("Content-Transfer-Encoding") != "binary" {
			t.Fatalf("part header %v", p.Header)
		}
		resp, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		statuses = append(statuses, resp.StatusCode)
		bodies = append(bodies, b)
	}
}

func TestBatchAppliesEveryPartInOrder(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	certs := ts.e.Certifications()
	ids := []string{certs[2].ID, certs[0].ID, certs[4].ID}
	r := ts.postBatch(ids, "odata.continue-on-error")
	wantStatus(t, r, http.StatusOK)
	if got := r.header.Get("Preference-Applied"); got != "odata.continue-on-error" {
		t.Errorf("Preference-Applied %q", got)
	}
	statuses, _ := partStatuses(t, r)
	if len(statuses) != 3 || statuses[0] != 204 || statuses[1] != 204 || statuses[2] != 204 {
		t.Fatalf("part statuses %v", statuses)
	}
	ws := ts.e.Writes()
	if len(ws) != 3 {
		t.Fatalf("%d writes, want 3", len(ws))
	}
	for i, w := range ws {
		if w.ID != ids[i] || w.CorrelationID != "batch-corr" {
			t.Errorf("write %d: %s (correlation %q), want %s with the batch's correlation id", i, w.ID, w.CorrelationID, ids[i])
		}
	}
	s := ts.e.Stats()
	if s.Requests[RouteBatch] != 1 || s.BatchParts != 3 || s.Requests[RoutePatch] != 0 {
		t.Errorf("stats: %d batches, %d parts, %d patches", s.Requests[RouteBatch], s.BatchParts, s.Requests[RoutePatch])
	}
}

func TestBatchPartOutcomes(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	certs := ts.e.Certifications()
	gone := "0b5c1e7a-3f2d-4c6b-9a8e-7d1f2e3c4b5a"
	ts.e.Inject(RoutePatch, Fault{Latency: time.Millisecond}, Fault{Status: 412})
	ids := []string{certs[0].ID, certs[1].ID, gone, certs[2].ID}
	statuses, bodies := partStatuses(t, ts.postBatch(ids, "odata.continue-on-error"))
	// Part 1 took a latency-only fault (served normally), part 2 the 412,
	// part 3 is a missing record.
	if want := []int{204, 412, 404, 204}; !equalInts(statuses, want) {
		t.Fatalf("part statuses %v, want %v", statuses, want)
	}
	if !strings.Contains(string(bodies[2]), codeNotFound) || !strings.Contains(string(bodies[1]), codeVersionMismatch) {
		t.Errorf("part error bodies: %s / %s", bodies[1], bodies[2])
	}
	if n := len(ts.e.Writes()); n != 2 {
		t.Errorf("%d writes, want 2", n)
	}

	// Without continue-on-error the batch stops at the first failure.
	ts.e.ResetStats()
	statuses, _ = partStatuses(t, ts.postBatch([]string{certs[3].ID, gone, certs[4].ID}, ""))
	if want := []int{204, 404}; !equalInts(statuses, want) {
		t.Fatalf("without continue-on-error: part statuses %v, want %v", statuses, want)
	}
	if n := len(ts.e.Writes()); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBatchFaults(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	certs := ts.e.Certifications()
	ids := []string{certs[0].ID, certs[1].ID, certs[2].ID}

	ts.e.Inject(RouteBatch, Fault{Status: 429, RetryAfter: 3 * time.Second, Code: codeExecutionLimit})
	r := ts.postBatch(ids, "odata.continue-on-error")
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") != "3" || r.errorCode(t) != codeExecutionLimit {
		t.Errorf("whole-batch 429: Retry-After %q, code %s", r.header.Get("Retry-After"), r.errorCode(t))
	}
	ts.e.Inject(RouteBatch, Fault{Status: 503})
	wantStatus(t, ts.postBatch(ids, "odata.continue-on-error"), 503)
	if n := len(ts.e.Writes()); n != 0 {
		t.Fatalf("%d writes from refused batches", n)
	}

	// fewer-parts: everything applied, the last answer left out.
	ts.e.Inject(RouteBatch, Fault{Kind: FaultFewerParts})
	statuses, _ := partStatuses(t, ts.postBatch(ids, "odata.continue-on-error"))
	if len(statuses) != 2 || len(ts.e.Writes()) != 3 {
		t.Errorf("fewer-parts: %d answers, %d writes; want 2 and 3", len(statuses), len(ts.e.Writes()))
	}

	// malformed: a multipart answer whose part is not an HTTP response.
	ts.e.Inject(RouteBatch, Fault{Kind: FaultMalformed})
	r = ts.postBatch(ids, "odata.continue-on-error")
	wantStatus(t, r, 200)
	_, params, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	p, err := multipart.NewReader(bytes.NewReader(r.body), params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := http.ReadResponse(bufio.NewReader(p), nil); err == nil {
		t.Error("malformed: the part reads as an HTTP response")
	}

	// truncate: the answer is cut short mid-body.
	ts.e.Inject(RouteBatch, Fault{Kind: FaultTruncate})
	ct, body := batchBody(ids)
	_, err = ts.do(context.Background(), http.MethodPost, ts.url("$batch"),
		map[string]string{"Authorization": "Bearer " + ts.token, "Content-Type": ct}, body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncate: %v, want an unexpected EOF", err)
	}

	// A part's reset fault drops the whole answer after the parts before it.
	ts.e.ResetStats()
	ts.e.Inject(RoutePatch, Fault{Latency: time.Millisecond}, Fault{Kind: FaultReset})
	_, err = ts.fresh().do(context.Background(), http.MethodPost, ts.url("$batch"),
		map[string]string{"Authorization": "Bearer " + ts.token, "Content-Type": ct}, body)
	if err == nil {
		t.Error("part reset: an answer arrived")
	}
	if n := len(ts.e.Writes()); n != 1 {
		t.Errorf("part reset: %d writes, want the 1 part before it", n)
	}
}

func TestBatchRefusesBadRequests(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	id := ts.e.Certifications()[0].ID
	auth := "Bearer " + ts.token
	post := func(ct, body string) *response {
		return ts.send(http.MethodPost, ts.url("$batch"), map[string]string{"Authorization": auth, "Content-Type": ct}, body)
	}
	wantStatus(t, post("application/json", "{}"), 400)
	wantStatus(t, post("multipart/mixed; boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"), 400)
	wantStatus(t, post("multipart/mixed; boundary=b", "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c--\r\n--b--\r\n"), 400)
	wantStatus(t, ts.get("$batch"), 405)
	ids := make([]string, MaxBatchParts+1)
	for i := range ids {
		ids[i] = id
	}
	ct, body := batchBody(ids)
	wantStatus(t, post(ct, body), 400)
	if n := len(ts.e.Writes()); n != 0 {
		t.Fatalf("%d writes from refused batches", n)
	}

	// A part that is not a PATCH of a certification is answered on its own.
	body = "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"GET " + APIPath + "WhoAmI HTTP/1.1\r\n\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\n" +
		"PATCH hlf_certifications(" + id + ") HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n" + syncBody + "\r\n--b--\r\n"
	r := ts.send(http.MethodPost, ts.url("$batch"), map[string]string{"Authorization": auth, "Content-Type": "multipart/mixed; boundary=b", "Prefer": "odata.continue-on-error"}, body)
	statuses, _ := partStatuses(t, r)
	if want := []int{501, 204}; !equalInts(statuses, want) {
		t.Errorf("part statuses %v, want %v (relative part URL served)", statuses, want)
	}
}

func TestBatchLimits(t *testing.T) {
	clk := newClock()
	ids := func(ts *tester, n int) []string {
		certs := ts.e.Certifications()
		out := make([]string, n)
		for i := range out {
			out[i] = certs[i%len(certs)].ID
		}
		return out
	}
	// A batch is one request by default.
	ts := newTester(t, Options{Certifications: 5, Now: clk.Now, Limits: Limits{Requests: 2, Window: 10 * time.Second}})
	wantStatus(t, ts.postBatch(ids(ts, 50), "odata.continue-on-error"), 200)
	r := ts.postBatch(ids(ts, 50), "odata.continue-on-error")
	wantStatus(t, r, 200)
	if got := r.header.Get("x-ms-ratelimit-burst-remaining-xrm-requests"); got != "0" {
		t.Errorf("burst remaining %q after two batches", got)
	}
	wantStatus(t, ts.postBatch(ids(ts, 1), ""), 429)

	// BatchPerPart: a batch of 3 counts 3.
	ts = newTester(t, Options{Certifications: 5, Now: clk.Now, Limits: Limits{Requests: 5, Window: 10 * time.Second, BatchPerPart: true}})
	r = ts.postBatch(ids(ts, 3), "")
	if got := r.header.Get("x-ms-ratelimit-burst-remaining-xrm-requests"); got != "2" {
		t.Errorf("burst remaining %q after a batch of 3 of 5", got)
	}
	wantStatus(t, ts.postBatch(ids(ts, 3), ""), 200) // admitted below the limit, then over it
	r = ts.get("WhoAmI")
	wantStatus(t, r, 429)
	if r.errorCode(t) != codeRequestLimit {
		t.Errorf("code %s", r.errorCode(t))
	}

	// OperationCost: each part costs it; past ExecutionTime a 429 with
	// 0x80072321 asks to wait until enough cost left the window.
	ts = newTester(t, Options{Certifications: 5, Now: clk.Now,
		Limits: Limits{ExecutionTime: time.Second, OperationCost: 20 * time.Millisecond, Window: 20 * time.Second}})
	r = ts.postBatch(ids(ts, 40), "odata.continue-on-error") // 0.8 s
	wantStatus(t, r, 200)
	if got := r.header.Get("x-ms-ratelimit-time-remaining-xrm-requests"); got != "0.20" {
		t.Errorf("time remaining %q after a batch of 40 × 20 ms of 1 s", got)
	}
	clk.Advance(5 * time.Second)
	wantStatus(t, ts.get("WhoAmI"), 200) // 0.82 s
	r = ts.postBatch(ids(ts, 10), "odata.continue-on-error")
	wantStatus(t, r, 200) // 1.02 s: admitted, now past the limit
	r = ts.get("WhoAmI")
	wantStatus(t, r, 429)
	// The first batch leaves the window at 20 s, 15 s from now; then
	// 0.22 s is left, below the limit.
	if r.errorCode(t) != codeExecutionLimit || r.header.Get("Retry-After") != "15" {
		t.Errorf("code %s, Retry-After %q; want %s, 15", r.errorCode(t), r.header.Get("Retry-After"), codeExecutionLimit)
	}
	clk.Advance(15 * time.Second)
	wantStatus(t, ts.get("WhoAmI"), 200)
	if s := ts.e.Stats(); s.Throttled != 1 || s.BatchParts != 50 {
		t.Errorf("stats: %d throttled, %d parts", s.Throttled, s.BatchParts)
	}
}

func TestParseFaultBatch(t *testing.T) {
	for _, spec := range []string{"batch:fewer-parts", "batch:truncate", "batch:429,retry-after=2,code=0x80072321"} {
		if _, _, err := ParseFault(spec); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
	if _, _, err := ParseFault("patch:fewer-parts"); err == nil || !strings.Contains(err.Error(), "batch route") {
		t.Errorf("fewer-parts on patch: %v", err)
	}
}
