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
	"strconv"
	"strings"
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
		raw, err := io.ReadAll(io.LimitReader(p, MaxPartHead+maxPart+4))
		if err != nil {
			return nil, fmt.Errorf("%w: part %d is cut short", errBatchAnswer, len(answers)+1)
		}
		a, err := parsePart(raw, maxPart)
		if err != nil {
			return nil, fmt.Errorf("%w: part %d %s", errBatchAnswer, len(answers)+1, err)
		}
		answers = append(answers, a)
	}
	if len(answers) != want {
		return nil, fmt.Errorf("%w: %d parts for %d requests", errBatchAnswer, len(answers), want)
	}
	return answers, nil
}

// The most a $batch answer's part may hold before its body: the status line
// and headers of its HTTP response. The adapter needs four headers of them
// (Content-Type, ETag, Retry-After, the request id).
const (
	// MaxPartHead caps a part's status line and headers, in bytes.
	MaxPartHead = 16 << 10
	// MaxPartHeadLines caps their number of lines.
	MaxPartHeadLines = 64
)

// maxBatchAnswer is the most a $batch answer of parts parts is read: each
// part's head and body at their caps, and room for the multipart framing.
func maxBatchAnswer(parts int) int64 {
	return int64(parts) * (MaxPartHead + MaxErrorBody + 1<<10)
}

// parsePart reads one part of a $batch answer: an HTTP/1.1 response, its
// head (at most MaxPartHead bytes in MaxPartHeadLines lines) then, after a
// blank line, its body of at most maxPart bytes. One short form is
// accepted, which Dataverse's own SDK test data has: a head that runs
// straight into the next boundary with no blank line, and no body.
// Nothing else is lenient. The error says what is wrong with the part.
func parsePart(raw []byte, maxPart int64) (partAnswer, error) {
	head, body, found := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !found {
		head, body, found = bytes.Cut(raw, []byte("\n\n"))
	}
	if !found {
		head, body = bytes.TrimRight(raw, "\r\n"), nil // the short form
	}
	switch {
	case len(head) > MaxPartHead:
		return partAnswer{}, fmt.Errorf("has headers larger than %d bytes", MaxPartHead)
	case bytes.Count(head, []byte("\n")) >= MaxPartHeadLines:
		return partAnswer{}, fmt.Errorf("has more than %d header lines", MaxPartHeadLines)
	}
	// A part's body runs to the part's end: drop the line break that
	// separates it from the next boundary, if the server sent one.
	body = bytes.TrimRight(body, "\r\n")
	if int64(len(body)) > maxPart {
		return partAnswer{}, fmt.Errorf("is larger than %d bytes", maxPart)
	}
	tp := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(head), strings.NewReader("\r\n\r\n"))))
	line, err := tp.ReadLine()
	if err != nil {
		return partAnswer{}, errors.New("is not an HTTP response")
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || len(code) != 3 || status < 100 {
		return partAnswer{}, errors.New("is not an HTTP response")
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return partAnswer{}, errors.New("is not an HTTP response")
	}
	return partAnswer{status: status, header: http.Header(h), body: body}, nil
}
