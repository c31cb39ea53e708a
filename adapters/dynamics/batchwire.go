package dynamics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
)

// batchRequest is one PATCH inside a $batch.
type batchRequest struct {
	url  string // absolute URL of the record, with $select
	body []byte // the JSON body, as a single write sends it
}

// The headers of every part of a $batch request and answer.
var partHeader = textproto.MIMEHeader{
	"Content-Type":              {"application/http"},
	"Content-Transfer-Encoding": {"binary"},
}

// encodeBatch writes the body of a $batch request: one application/http
// part per request, no change set. Each part is the PATCH a single write
// sends (If-Match: *, Prefer: return=representation, the JSON body); the
// Authorization and OData headers of the batch request cover every part.
func encodeBatch(boundary string, reqs []batchRequest) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.SetBoundary(boundary) // boundaries the adapter makes are valid
	for _, r := range reqs {
		w, _ := mw.CreatePart(partHeader) // writes to a bytes.Buffer never fail
		fmt.Fprintf(w, "PATCH %s HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\nPrefer: return=representation\r\n\r\n", r.url)
		_, _ = w.Write(r.body)
	}
	_ = mw.Close()
	return b.Bytes()
}

// partAnswer is the answer to one request of a $batch.
type partAnswer struct {
	status int
	header http.Header
	body   []byte
}

// errBatchAnswer marks a $batch answer that cannot be used.
var errBatchAnswer = errors.New("unusable $batch answer")

// decodeBatch reads the answer to a $batch of want requests: a
// multipart/mixed body holding one application/http part per request, in
// request order, each an HTTP/1.1 response. An answer of another shape,
// or with more or fewer parts than requests, is refused: which answer goes
// with which request is known only by their order. Each part's body is
// read up to maxPart bytes.
func decodeBatch(contentType string, body []byte, want int, maxPart int64) ([]partAnswer, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: not multipart/mixed with a boundary", errBatchAnswer)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	answers := make([]partAnswer, 0, want)
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: malformed multipart after %d parts", errBatchAnswer, len(answers))
		}
		if len(answers) == want {
			return nil, fmt.Errorf("%w: more parts than the %d requests", errBatchAnswer, want)
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil || pt != "application/http" {
			// A change set in the answer, or anything else, was not asked.
			return nil, fmt.Errorf("%w: part %d is not application/http", errBatchAnswer, len(answers)+1)
		}
		resp, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			return nil, fmt.Errorf("%w: part %d is not an HTTP response", errBatchAnswer, len(answers)+1)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxPart+1))
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: part %d is cut short", errBatchAnswer, len(answers)+1)
		case int64(len(b)) > maxPart:
			return nil, fmt.Errorf("%w: part %d is larger than %d bytes", errBatchAnswer, len(answers)+1, maxPart)
		}
		// A part's body runs to the part's end: drop the line break that
		// separates it from the next boundary, if the server sent one.
		b = bytes.TrimRight(b, "\r\n")
		answers = append(answers, partAnswer{status: resp.StatusCode, header: resp.Header, body: b})
	}
	if len(answers) != want {
		return nil, fmt.Errorf("%w: %d parts for %d requests", errBatchAnswer, len(answers), want)
	}
	return answers, nil
}
