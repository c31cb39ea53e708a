package dynamicstest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// The $batch limits of the Web API.
const (
	// MaxBatchParts is the most requests one $batch may hold.
	MaxBatchParts = 1000
	// maxBatchBody is the largest $batch body read.
	maxBatchBody = 16 << 20
)

// batchPart is one request of a $batch.
type batchPart struct {
	method string
	target string
	header http.Header
	body   []byte
}

// readBatch checks a $batch request and returns its parts. The request is
// multipart/mixed, each part application/http holding one request (request
// line, headers, a blank line, the body); change sets are not served. A
// nil error with status 0 means the connection was dropped (the client
// gave up while sending the body).
func (e *Emulator) readBatch(w http.ResponseWriter, r *http.Request, c *call) ([]batchPart, *apiError) {
	switch {
	case c.bodyErr != nil && r.Context().Err() != nil:
		dropConnection(w, false)
		return nil, &apiError{}
	case c.bodyErr != nil:
		return nil, badRequest(codeBadPayload, "The request body could not be read.")
	case len(c.body) > maxBatchBody:
		return nil, &apiError{http.StatusRequestEntityTooLarge, codeBadPayload, "The request body is too large."}
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, badRequest(codeBadPayload, "A $batch request must be multipart/mixed with a boundary.")
	}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	var parts []batchPart
	for {
		mp, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badRequest(codeBadPayload, "The $batch body is not valid multipart: "+err.Error())
		}
		if len(parts) == MaxBatchParts {
			return nil, badRequest(codeBadPayload, "The number of requests in a batch cannot exceed "+strconv.Itoa(MaxBatchParts)+".")
		}
		pt, _, err := mime.ParseMediaType(mp.Header.Get("Content-Type"))
		switch {
		case err == nil && pt == "multipart/mixed":
			return nil, badRequest(codeBadPayload, "The emulator serves no change sets in a $batch.")
		case err != nil || pt != "application/http":
			return nil, badRequest(codeBadPayload, "Each $batch part must be application/http.")
		}
		if te := mp.Header.Get("Content-Transfer-Encoding"); te != "" && !strings.EqualFold(te, "binary") {
			return nil, badRequest(codeBadPayload, "A $batch part's Content-Transfer-Encoding must be binary.")
		}
		p, err := readPartRequest(mp)
		if err != nil {
			return nil, badRequest(codeBadPayload, "$batch part "+strconv.Itoa(len(parts)+1)+": "+err.Error())
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// readPartRequest reads the HTTP request a $batch part holds. Its body is
// the rest of the part: parts need no Content-Length.
func readPartRequest(r io.Reader) (batchPart, error) {
	tp := textproto.NewReader(bufio.NewReader(r))
	line, err := tp.ReadLine()
	if err != nil {
		return batchPart{}, errors.New("no request line")
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !strings.HasPrefix(proto, "HTTP/1.") || method == "" || target == "" {
		return batchPart{}, errors.New("malformed request line")
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return batchPart{}, errors.New("malformed headers")
	}
	body, err := io.ReadAll(tp.R)
	if err != nil {
		return batchPart{}, err
	}
	return batchPart{method: method, target: target, header: http.Header(h), body: body}, nil
}

// serveBatch serves the parts one after another, as Dataverse does. Each
// part takes the faults and the latency of RoutePatch: a status fault
// answers that part, and any other fault (hang, reset, …) acts on the
// whole batch once the parts before it are applied. Without Prefer:
// odata.continue-on-error the batch stops at the first failed part. The
// answer is multipart/mixed, one application/http part per request in
// request order.
func (e *Emulator) serveBatch(w http.ResponseWriter, r *http.Request, c *call, parts []batchPart) {
	continueOnError := prefers(r.Header, "odata.continue-on-error")
	var answers [][]byte
	for i := range parts {
		e.stats.part()
		if !e.wait(w, r, e.faults.latencyOf(RoutePatch)) {
			return
		}
		pw := &partWriter{header: http.Header{}}
		if f, ok := e.faults.next(RoutePatch); ok {
			e.stats.fault(RoutePatch)
			if f.kind() != FaultStatus && f.kind() != "" {
				rec, _ := w.(*recorder)
				if rec == nil {
					rec = &recorder{ResponseWriter: w}
				}
				e.serveFault(rec, r, &call{route: RoutePatch, reqID: c.reqID}, f)
				return
			}
			if !e.wait(w, r, f.Latency) {
				return
			}
			if f.kind() == FaultStatus {
				e.serveStatusFault(pw, r, &call{route: RoutePatch, reqID: c.reqID}, f)
			}
		}
		if pw.status == 0 {
			e.servePart(pw, r, c, &parts[i])
		}
		if r.Context().Err() != nil {
			dropConnection(w, false) // the client gave up: the rest is not applied
			return
		}
		answers = append(answers, pw.encode())
		if pw.status >= 400 && !continueOnError {
			break
		}
	}
	if c.fault != nil && c.fault.kind() == FaultFewerParts && len(answers) > 0 {
		answers = answers[:len(answers)-1]
	}
	boundary := "batchresponse_" + uuid.NewString()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.SetBoundary(boundary)
	for _, a := range answers {
		pw, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {"application/http"},
			"Content-Transfer-Encoding": {"binary"},
		})
		_, _ = pw.Write(a)
	}
	_ = mw.Close()
	body := b.Bytes()
	if c.fault != nil && c.fault.kind() == FaultMalformed {
		body = []byte("--" + boundary + "\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
			"HTTP/1.1 two hundred\r\n\r\n--" + boundary + "--\r\n")
	}
	if continueOnError {
		w.Header().Set("Preference-Applied", "odata.continue-on-error")
	}
	ct := mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary})
	if c.fault != nil && c.fault.kind() == FaultTruncate {
		// Declare the whole answer, send half of it; the server then
		// closes the connection.
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		return
	}
	writeBody(w, http.StatusOK, ct, body)
}

// servePart serves one $batch part as if it were a request of its own: only
// a PATCH of a certification is served. The part gets the batch's
// correlation id when it has none of its own.
func (e *Emulator) servePart(w http.ResponseWriter, r *http.Request, c *call, p *batchPart) {
	u, err := url.Parse(p.target)
	if err != nil {
		writeAPIError(w, badRequest(codeNoSegment, "The $batch part's URL is not valid."))
		return
	}
	switch {
	case u.IsAbs():
		if !strings.EqualFold(u.Host, r.Host) {
			writeAPIError(w, badRequest(codeNoSegment, "The $batch part's URL names another host."))
			return
		}
	case !strings.HasPrefix(u.Path, "/"):
		u.Path = APIPath + u.Path
	}
	req, err := http.NewRequestWithContext(r.Context(), p.method, u.RequestURI(), bytes.NewReader(p.body))
	if err != nil {
		writeAPIError(w, badRequest(codeNoSegment, "The $batch part's request is not valid."))
		return
	}
	req.Host = r.Host
	req.Header = p.header
	for _, name := range []string{e.opts.CorrelationHeader, "x-ms-client-request-id"} {
		if req.Header.Get(name) == "" && r.Header.Get(name) != "" {
			req.Header.Set(name, r.Header.Get(name))
		}
	}
	route, id, aerr := e.route(req)
	if aerr == nil && route != RoutePatch {
		aerr = &apiError{http.StatusNotImplemented, codeNoSegment, "The emulator's $batch serves PATCH of " + certSchema.entitySet + " only."}
	}
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	e.servePatch(w, req, &call{route: RoutePatch, reqID: c.reqID, body: p.body}, id)
}

// partWriter collects one part's answer.
type partWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (p *partWriter) Header() http.Header { return p.header }

func (p *partWriter) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *partWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return p.body.Write(b)
}

// encode writes the answer as an HTTP/1.1 response: status line,
// headers, a blank line, the body.
func (p *partWriter) encode() []byte {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(p.status) + " " + http.StatusText(p.status) + "\r\n")
	_ = p.header.Write(&b)
	b.WriteString("\r\n")
	b.Write(p.body.Bytes())
	return b.Bytes()
}
