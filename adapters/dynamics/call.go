package dynamics

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hlf/dynamicsportal/adapters/dynamics/internal/resilience"
	"github.com/hlf/dynamicsportal/ports"
)

var (
	errTotalTimeout   = errors.New("total time limit of the call reached")
	errAttemptTimeout = errors.New("attempt time limit reached")
)

// Header values shared by every request; never modified.
var (
	acceptJSON      = []string{"application/json"}
	odataVersion    = []string{"4.0"}
	ifMatchAny      = []string{"*"}
	returnRepr      = []string{"return=representation"}
	contentTypeJSON = []string{"application/json"}
)

// call is one logical call: what every attempt sends.
type call struct {
	op     string
	method string
	url    string
	corr   []string // the correlation id, as a header value
	prefer []string // the Prefer header, or nil
	body   []byte   // the JSON body, or nil
	// sizeHint, for collection reads, holds the size of the collection's
	// last page, the likely size of this one.
	sizeHint *atomic.Int64
	records  int // for collection reads: the page size asked
	// batch, for a $batch call, holds its writes: each attempt sends those
	// still pending, and its answer settles them (see batchCall).
	batch *batchCall
	// continuation, for collection reads, is the link of the page read,
	// or empty for a listing's first page.
	continuation string
}

// reply is what one attempt hands back: the answer's status, the headers
// the adapter needs and the body, read and closed under its cap.
type reply struct {
	status      int
	contentType string
	requestID   string
	retryAfter  time.Duration
	dopHint     int // x-ms-dop-hint, 0 when absent
	body        []byte
	oversized   bool
	verdict     resilience.Verdict
	sent        time.Time     // when the request went out; zero when it did not
	paused      time.Duration // waited before it because the portal asked to
}

// Verdict implements resilience.Judged.
func (r reply) Verdict() resilience.Verdict { return r.verdict }

// newCall returns a call with the correlation id from ctx when it is a
// UUID, else a random UUID v4.
func newCall(ctx context.Context, op, method, u string) call {
	var id string
	if s := ports.CorrelationIDFrom(ctx); s != "" {
		if v, err := uuid.Parse(s); err == nil {
			id = v.String()
		}
	}
	if id == "" {
		// A UUID v4 made here rather than by uuid.NewString, which moves
		// the bytes to the heap: one allocation less on every call.
		var v uuid.UUID
		_, _ = rand.Read(v[:]) // never fails
		v[6] = v[6]&0x0f | 0x40
		v[8] = v[8]&0x3f | 0x80
		id = v.String()
	}
	return call{op: op, method: method, url: u, corr: []string{id}}
}

// idempotent reports whether k may be repeated: a GET, or a PATCH, which
// the adapter always sends with If-Match: * so it never creates a record,
// or a $batch of such PATCHes.
func (k *call) idempotent() bool {
	return k.method == http.MethodGet || k.method == http.MethodPatch || k.batch != nil
}

// do runs k in one failsafe-go executor and returns the successful (2xx)
// reply, or the call's *ports.PortalError. The executor is composed of the
// client's three policies, outermost first: the total time limit of the
// call, the retry policy (idempotent calls only; built for this call), and
// the time limit of each attempt. Every attempt, the first included, runs inside it.
func (c *Client) do(ctx context.Context, k call) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, canceled(k, err)
	}
	deadline := time.Now().Add(c.timeouts.Total)
	exec := failsafe.With(c.total, resilience.NewRetryPolicy[reply](c.retry), c.perAttempt)
	if !k.idempotent() {
		exec = failsafe.With(c.total, c.perAttempt)
	}
	cs := callSpanFrom(ctx)
	cs.request(k)
	var last reply // the last attempt's answer, kept when a time limit replaces it
	r, err := exec.WithContext(ctx).GetWithExecution(func(e failsafe.Execution[reply]) (reply, error) {
		r, err := c.attempt(e.Context(), deadline, k, e.Attempts())
		cs.attempt(ctx, e.Attempts(), r, err)
		last = r
		return r, err
	})
	switch {
	case err == nil && r.status >= 200 && r.status < 300 && !r.oversized:
		return r, nil
	case ctx.Err() != nil:
		return reply{}, canceled(k, ctx.Err())
	case errors.Is(err, timeout.ErrExceeded):
		if !time.Now().Before(deadline) {
			return reply{}, c.guardError(k, last.status)
		}
		pe := networkError(k, last, errAttemptTimeout)
		pe.Message = "attempt time limit reached"
		return reply{}, pe
	case err != nil:
		if _, ok := err.(*ports.PortalError); !ok {
			// The attempt was cut by the call's time limit (its context
			// ended) before it could tell.
			return reply{}, c.guardError(k, last.status)
		}
		return reply{}, err
	}
	return reply{}, statusError(k, r)
}

func (c *Client) guardError(k call, status int) *ports.PortalError {
	return &ports.PortalError{Code: ports.CodeNetworkError, Op: k.op, StatusCode: status,
		Message: "no answer within " + c.timeouts.Total.String(), CorrelationID: k.corr[0], Err: errTotalTimeout}
}

func canceled(k call, err error) error {
	return &ports.PortalError{Code: ports.CodeCanceled, Op: k.op, CorrelationID: k.corr[0], Err: err}
}

// mayWait is the one decision about a pause the portal asked for, whether
// on this call's own answer (a 429 or 503 with Retry-After) or on another
// call's, shared through the throttle: the call waits it when it is within
// the retry policy's cap and the time the call has left before deadline.
// Otherwise the call fails at once with rateLimited and RetryAfter, and the
// caller decides (the sync pass waits within its budget or stops).
func (c *Client) mayWait(asked time.Duration, deadline time.Time) bool {
	return c.retry.Allows(asked, time.Until(deadline))
}

// attempt sends k once and judges the outcome for the retry policy. ctx is
// the attempt's context from the executor: its time limit policies end it.
// n counts the attempts.
func (c *Client) attempt(ctx context.Context, deadline time.Time, k call, n int) (reply, error) {
	paused, err := c.throttle.acquire(ctx, func(d time.Duration) bool { return c.mayWait(d, deadline) })
	if err != nil {
		return reply{paused: paused}, c.notSent(k, err)
	}
	start := time.Now()
	r, err := c.exchange(ctx, k)
	r.sent, r.paused = start, paused
	if k.batch != nil && err == nil {
		// Parts to send again make the answer a 429 or 5xx of the batch.
		k.batch.settle(ctx, c, k, &r, n)
	}
	c.throttle.release(start, r.status, r.retryAfter, r.dopHint)
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.logAttempt(ctx, k, n, r.status, r.requestID, time.Since(start))
	}

	retry := false
	if err != nil {
		var pe *ports.PortalError
		if tf, ok := err.(*tokenFailure); ok {
			cp := *tf.pe
			cp.CorrelationID = k.corr[0]
			pe, retry, r.retryAfter = &cp, tf.retry, cp.RetryAfter
		} else {
			pe, retry = networkError(k, r, err), resilience.TransientNetworkError(err)
		}
		err = pe
	} else {
		retry = !r.oversized && resilience.RetryableStatus(r.status)
	}
	retry = retry && ctx.Err() == nil && k.idempotent()
	if retry && r.retryAfter > 0 {
		if c.mayWait(r.retryAfter, deadline) {
			r.verdict.Delay = r.retryAfter
		} else {
			retry = false // the server asks for more than the call may wait
		}
	}
	r.verdict.Retry = retry
	return r, err
}

// notSent maps the reason an attempt was not sent: the portal's pause
// (a Retry-After) lasts longer than the call may wait, or ctx ended while
// the attempt waited (returned as it is; do maps it).
func (c *Client) notSent(k call, err error) error {
	if tw, ok := err.(*throttleWait); ok {
		return &ports.PortalError{Code: ports.CodeRateLimited, Op: k.op, CorrelationID: k.corr[0],
			RetryAfter: tw.wait, Message: tw.Error() + "; not sent", Err: err}
	}
	return err
}

// exchange gets a token, sends the request and reads the answer. A 401
// drops the token it was sent with.
func (c *Client) exchange(ctx context.Context, k call) (reply, error) {
	tok, err := c.tokens.get(ctx)
	if err != nil {
		return reply{}, err
	}
	payload, contentType := k.body, contentTypeJSON
	if k.batch != nil {
		payload, contentType = k.batch.request(c)
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, body)
	if err != nil {
		return reply{}, err
	}
	h := req.Header
	h["Authorization"] = tok.header
	h["Accept"] = acceptJSON
	h["Odata-Maxversion"] = odataVersion
	h["Odata-Version"] = odataVersion
	h[c.corrKey] = k.corr
	h["X-Ms-Client-Request-Id"] = k.corr
	if k.prefer != nil {
		h["Prefer"] = k.prefer
	}
	if payload != nil {
		h["Content-Type"] = contentType
	}
	if k.method == http.MethodPatch {
		h["If-Match"] = ifMatchAny
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		// The W3C trace context of the call's span (or of the caller's,
		// without a tracer); the correlation id stays as it is.
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	r := reply{
		status:      resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"),
		requestID:   serviceRequestID(resp.Header),
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		r.retryAfter, _ = resilience.ParseRetryAfter(ra, time.Now())
	}
	if v := resp.Header.Get("X-Ms-Dop-Hint"); v != "" {
		r.dopHint, _ = strconv.Atoi(v)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		c.tokens.invalidate(tok)
	}
	limit, size := int64(MaxErrorBody), int64(smallAnswer)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok {
		limit = c.maxPageBody
		if k.batch != nil {
			limit = min(limit, maxBatchAnswer(len(k.batch.pending)))
		}
		if k.sizeHint != nil {
			size = max(k.sizeHint.Load(), smallAnswer)
		}
	}
	r.body, r.oversized, err = readCapped(resp, limit, size)
	if ok && k.sizeHint != nil && err == nil && !r.oversized {
		k.sizeHint.Store(int64(len(r.body)))
	}
	return r, err
}

// serviceRequestID returns the answer's x-ms-service-request-id. Dataverse
// may send the header twice (its gateway's id and the organisation
// service's): every line is kept, joined by ", ", so a support ticket
// carries the one support needs.
func serviceRequestID(h http.Header) string {
	v := h.Values("X-Ms-Service-Request-Id")
	if len(v) == 1 {
		return cleanText(v[0], maxRequestID)
	}
	return cleanText(strings.Join(v, ", "), maxRequestID)
}

// smallAnswer is the memory a body gets before its bytes arrive, unless
// the answer is a page and the collection's last page was larger: enough
// for a WhoAmI, a record, a write's answer or an error.
const smallAnswer = 4 << 10

// readCapped reads the body of resp, at most limit bytes. A longer body, or
// one announced longer, is left unread and reported as oversized. size is
// the expected size of the body: memory beyond it is taken only as bytes
// arrive, whatever Content-Length announces, so answers that announce a
// large body and stall hold no more than size each.
func readCapped(resp *http.Response, limit, size int64) ([]byte, bool, error) {
	n := resp.ContentLength
	if n > limit {
		return nil, true, nil
	}
	if n >= 0 && n <= size {
		b := make([]byte, n)
		_, err := io.ReadFull(resp.Body, b)
		return b, false, err
	}
	if n >= 0 {
		limit = n // the transport ends the body there, or fails it when it is shorter
	}
	return readSized(resp.Body, limit, size)
}

// readSized reads a body of unknown length, at most limit bytes, that is
// expected to be about size bytes (a page as large as the collection's
// last one): into one buffer with room to spare, so a page costs one
// allocation of its size instead of chunks and then their join, which
// hold it twice. A longer body goes on in chunks.
func readSized(body io.Reader, limit, size int64) ([]byte, bool, error) {
	b := make([]byte, min(size+size/8+512, limit+1))
	n, end, err := fill(body, b)
	switch {
	case err != nil:
		return nil, false, err
	case end:
		return b[:n], false, nil
	case int64(n) > limit:
		return nil, true, nil
	}
	rest, over, err := readChunks(body, limit-int64(n))
	if over || err != nil {
		return nil, over, err
	}
	return append(b, rest...), false, nil
}

// readChunks reads a body of unknown length, at most limit bytes, in
// chunks of growing size, and joins them only once the body is known to
// fit: a body over the limit costs no more memory than the limit (reading
// it whole first, as io.ReadAll does, costs twice that).
func readChunks(body io.Reader, limit int64) ([]byte, bool, error) {
	r := io.LimitReader(body, limit+1)
	var (
		chunks [][]byte
		n      int64
	)
	for size := int64(4 << 10); ; size = min(2*size, 4<<20) {
		c := make([]byte, min(size, limit+1-n))
		k, end, err := fill(r, c)
		if err != nil {
			return nil, false, err
		}
		n += int64(k)
		if n > limit {
			return nil, true, nil
		}
		chunks = append(chunks, c[:k])
		if end {
			break // the whole body is read
		}
	}
	if len(chunks) == 1 {
		return chunks[0], false, nil
	}
	b := make([]byte, 0, n)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b, false, nil
}

// networkError maps a failure to get an answer (or to read it).
func networkError(k call, r reply, err error) *ports.PortalError {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // its text would repeat the URL
	}
	return &ports.PortalError{Code: ports.CodeNetworkError, Op: k.op, StatusCode: r.status,
		CorrelationID: k.corr[0], ServiceRequestID: r.requestID, Err: err}
}

func (c *Client) logAttempt(ctx context.Context, k call, attempt, status int, requestID string, d time.Duration) {
	attrs := [7]slog.Attr{
		slog.String("method", k.method),
		slog.String("url", redactURL(k.url)),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("correlation_id", k.corr[0]),
		slog.Int("attempt", attempt),
	}
	n := 6
	if requestID != "" {
		attrs[n] = slog.String("service_request_id", requestID)
		n++
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "portal request", attrs[:n]...)
}

// fill reads into b until it is full or the body ends; end reports the
// body's own end (io.EOF). Unlike io.ReadFull it keeps a short read apart
// from io.ErrUnexpectedEOF, which is what a chunked body cut short by the
// network gives: that error is returned, so a broken answer is never taken
// for a complete one.
func fill(r io.Reader, b []byte) (n int, end bool, err error) {
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}
