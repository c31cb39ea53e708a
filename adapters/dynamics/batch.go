package dynamics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/internal/resilience"
	"github.com/hlf/dynamicsportal/ports"
)

// continueOnError asks the portal to go on after a failed part, so every
// write gets its own answer.
var continueOnError = []string{"odata.continue-on-error"}

// WriteSyncMetadataBatch writes the sync metadata of up to
// ports.MaxBatchWrites certifications in one $batch request (OData
// multipart, one PATCH per part, no change set, Prefer:
// odata.continue-on-error), and returns one result per write, in order.
//
// Each part is the request WriteSyncMetadata sends, and its answer maps to
// a result as WriteSyncMetadata's would: 404 is notFound, 412
// invalidRequest, and so on. A write refused before any request (an id
// that is not a GUID, a status the portal does not store) gets its
// invalidRequest without being sent. The batch request is retried like
// any idempotent call; parts answered with 429 or a retryable 5xx are
// sent again, alone, in the retry's batch (the parts that succeeded never
// are), the 429's Retry-After pausing the adapter as a single 429 does.
// Parts still failing when the retries are spent keep their own error.
//
// The batch request has one correlation id, kept across its retries; at
// debug level each part's answer is logged with it and the part's index.
//
// A portal that answers the $batch endpoint itself with 404, 405 or 501
// does not offer it: from then on, for the life of the Client, batches are
// sent as single requests, one after another (logged once, at info).
func (c *Client) WriteSyncMetadataBatch(ctx context.Context, writes []ports.SyncWrite) (_ []ports.SyncWriteResult, err error) {
	const op = "WriteSyncMetadataBatch"
	ctx, cs := c.tel.startCall(ctx, op)
	defer func() { cs.end(ctx, err) }()
	if len(writes) > ports.MaxBatchWrites {
		return nil, badRequest(op, "more writes than a batch may hold")
	}
	results := make([]ports.SyncWriteResult, len(writes))
	if len(writes) == 0 {
		return results, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, &ports.PortalError{Code: ports.CodeCanceled, Op: op, Err: err}
	}
	if c.noBatch.Load() {
		return c.writeOneByOne(ctx, writes, results), nil
	}
	b := &batchCall{writes: writes, results: results, partErr: make([]error, len(writes))}
	for i, w := range writes {
		if err := checkSyncWrite(op, w.ID, w.Metadata); err != nil {
			results[i].Err = err
			continue
		}
		b.pending = append(b.pending, i)
	}
	if len(b.pending) == 0 {
		return results, nil
	}
	k := newCall(ctx, op, http.MethodPost, c.batchURL)
	k.prefer = continueOnError
	k.batch = b
	b.boundary = "batch_" + k.corr[0]
	_, err = c.do(ctx, k)
	switch {
	case b.answered:
		// Some writes are settled. Those still pending failed with the
		// last attempt: with their own answer when it was read, else with
		// the attempt's failure.
		last := err
		if b.bad != nil {
			last = b.bad
		}
		for _, i := range b.pending {
			results[i].Err = last
			if b.lastAnswered {
				results[i].Err = b.partErr[i]
			}
		}
		return results, nil
	case b.bad != nil:
		return nil, b.bad
	case err != nil && notOffered(err):
		if c.noBatch.CompareAndSwap(false, true) {
			c.log.LogAttrs(ctx, slog.LevelInfo, "the portal offers no $batch: sync metadata is written one request per record",
				slog.String("error", err.Error()), slog.String("correlation_id", k.corr[0]))
		}
		return c.writeOneByOne(ctx, writes, results), nil
	case err != nil:
		return nil, err
	}
	return results, nil
}

// notOffered reports whether the $batch endpoint itself answered that it
// does not exist or does not take the request.
func notOffered(err error) bool {
	pe, ok := errors.AsType[*ports.PortalError](err)
	if !ok {
		return false
	}
	switch pe.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// writeOneByOne writes the writes not refused already as WriteSyncMetadata
// does, one after another. A failure other than notFound or invalidRequest
// (rateLimited once the retries are spent, say) ends the sequence: that
// write and those not sent after it carry it as their result.
func (c *Client) writeOneByOne(ctx context.Context, writes []ports.SyncWrite, results []ports.SyncWriteResult) []ports.SyncWriteResult {
	var stop error
	for i, w := range writes {
		if results[i].Err != nil {
			continue // refused before any request
		}
		if stop != nil {
			results[i].Err = stop
			continue
		}
		resp, err := c.WriteSyncMetadata(ctx, w.ID, w.Metadata)
		results[i] = ports.SyncWriteResult{Response: resp, Err: err}
		if code := ports.CodeOf(err); err != nil && code != ports.CodeNotFound && code != ports.CodeInvalidRequest {
			stop = err
		}
	}
	return results
}

// batchCall is the state of one $batch call across its attempts: each
// attempt sends the writes still pending and settles those the portal
// answered for good.
type batchCall struct {
	writes   []ports.SyncWrite
	results  []ports.SyncWriteResult
	partErr  []error // the last answer of a part that is to be sent again
	pending  []int   // indexes into writes of the parts to send
	boundary string
	// answered is set once an answer was read: some writes may be
	// settled, so the call's results must be returned. lastAnswered tells
	// whether the last attempt's answer was read.
	answered, lastAnswered bool
	// bad is set when an answer could not be used (invalidResponse).
	bad error
}

// request returns the body and Content-Type of the next attempt.
func (b *batchCall) request(c *Client) ([]byte, []string) {
	b.lastAnswered = false
	reqs := make([]batchRequest, len(b.pending))
	for j, i := range b.pending {
		w := b.writes[i]
		reqs[j] = batchRequest{url: c.syncURL(w.ID), body: syncBody(w.Metadata)}
	}
	return encodeBatch(b.boundary, reqs), []string{`multipart/mixed; boundary="` + b.boundary + `"`}
}

// settle reads a 2xx answer to the parts in pending: a part answered with
// a result that stands is settled; one answered with 429 or a retryable
// 5xx stays pending, and then r is made the answer of the batch as a whole
// (429 when any part asked for a pause, with the longest Retry-After), so
// that the throttle and the retry policy treat it as they treat a single
// call's. An answer that cannot be used (not multipart, fewer or more
// parts than sent, cut short) is invalidResponse: nothing in it counts.
func (b *batchCall) settle(ctx context.Context, c *Client, k call, r *reply, attempt int) {
	if r.status < 200 || r.status > 299 || r.oversized {
		return
	}
	answers, err := decodeBatch(r.contentType, r.body, len(b.pending), MaxErrorBody)
	if err != nil {
		b.bad = badAnswer(k, *r, err.Error())
		return
	}
	b.answered, b.lastAnswered = true, true
	debug := c.log.Enabled(ctx, slog.LevelDebug)
	again := b.pending[:0]
	var status int
	var wait time.Duration
	for j, i := range b.pending {
		a := answers[j]
		pr := reply{status: a.status, contentType: a.header.Get("Content-Type"), requestID: cleanText(a.header.Get("X-Ms-Service-Request-Id"), maxRequestID), body: a.body}
		if pr.requestID == "" {
			// Dataverse names a part's request REQ_ID.
			pr.requestID = cleanText(a.header.Get("REQ_ID"), maxRequestID)
		}
		if pr.requestID == "" {
			pr.requestID = r.requestID
		}
		if ra := a.header.Get("Retry-After"); ra != "" {
			pr.retryAfter, _ = resilience.ParseRetryAfter(ra, time.Now())
		}
		if debug {
			c.log.LogAttrs(ctx, slog.LevelDebug, "portal batch part",
				slog.String("correlation_id", k.corr[0]), slog.Int("part", i+1), slog.Int("attempt", attempt),
				slog.String("id", b.writes[i].ID), slog.Int("status", a.status))
		}
		w := b.writes[i]
		resp, err := syncAnswer(k, pr, w.ID, w.Metadata)
		if err != nil && resilience.RetryableStatus(a.status) {
			b.partErr[i] = err
			again = append(again, i)
			if status != http.StatusTooManyRequests {
				status = a.status
			}
			wait = max(wait, pr.retryAfter)
			continue
		}
		b.results[i] = ports.SyncWriteResult{Response: resp, Err: err}
	}
	b.pending = again
	if len(again) > 0 {
		r.status, r.retryAfter = status, wait
	}
}

// syncURL is the URL of a sync-metadata write of the certification id.
func (c *Client) syncURL(id string) string { return c.cert.item + id + ")?$select=" + syncColumns }
