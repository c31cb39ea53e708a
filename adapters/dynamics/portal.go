package dynamics

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// WhoAmI calls the WhoAmI function: it proves that the portal accepts the
// credentials and tells the identity the module acts as.
func (c *Client) WhoAmI(ctx context.Context) (_ ports.Identity, err error) {
	ctx, cs := c.tel.startCall(ctx, "WhoAmI")
	defer func() { cs.end(ctx, err) }()
	k := newCall(ctx, "WhoAmI", http.MethodGet, c.whoAmIURL)
	r, err := c.do(ctx, k)
	if err != nil {
		return ports.Identity{}, err
	}
	var w wireWhoAmI
	if err := decodeJSON(k, r, &w); err != nil {
		return ports.Identity{}, err
	}
	id, ok := w.identity()
	if !ok {
		return ports.Identity{}, badAnswer(k, r, "WhoAmI answer without the three GUIDs")
	}
	return id, nil
}

// ListCertifications returns one page of certifications ordered by their
// key. A continuation must be a Next from an earlier page: a URL on the
// portal's scheme and host and the certification collection's path.
func (c *Client) ListCertifications(ctx context.Context, q ports.PageQuery) (ports.Page[ports.Certification], error) {
	return listPage(ctx, c, "ListCertifications", &c.cert, c.certDates, q, (*wireCertification).certification)
}

// ListAssignments returns one page of assignments ordered by their key,
// paged like ListCertifications.
func (c *Client) ListAssignments(ctx context.Context, q ports.PageQuery) (ports.Page[ports.Assignment], error) {
	return listPage(ctx, c, "ListAssignments", &c.assign, c.assignDates, q, (*wireAssignment).assignment)
}

// GetCertification returns the certification with the given GUID.
func (c *Client) GetCertification(ctx context.Context, id string) (_ ports.Certification, err error) {
	const op = "GetCertification"
	ctx, cs := c.tel.startCall(ctx, op)
	defer func() { cs.end(ctx, err) }()
	if !ports.IsID(id) {
		return ports.Certification{}, badRequest(op, "id is not a GUID")
	}
	k := newCall(ctx, op, http.MethodGet, c.cert.item+id+")?$select="+certificationColumns)
	r, err := c.do(ctx, k)
	if err != nil {
		return ports.Certification{}, err
	}
	var w wireCertification
	if err := decodeJSON(k, r, &w); err != nil {
		return ports.Certification{}, err
	}
	cert, problem := w.certification(c.lazyZones(ctx, c.certDates))
	if problem != "" {
		return ports.Certification{}, badAnswer(k, r, problem)
	}
	if !strings.EqualFold(cert.ID, id) {
		return ports.Certification{}, badAnswer(k, r, "record with another id than the one asked for")
	}
	return cert, nil
}

// WriteSyncMetadata writes the sync status and time of one existing
// certification with If-Match: *, so a missing record fails with notFound
// and is never created. Only the statuses 1 to 4 may be written, with a
// non-zero time, which is sent in UTC to the second.
func (c *Client) WriteSyncMetadata(ctx context.Context, id string, m ports.SyncMetadata) (_ ports.SyncResponse, err error) {
	const op = "WriteSyncMetadata"
	ctx, cs := c.tel.startCall(ctx, op)
	defer func() { cs.end(ctx, err) }()
	if err := checkSyncWrite(op, id, m); err != nil {
		return ports.SyncResponse{}, err
	}
	k := newCall(ctx, op, http.MethodPatch, c.syncURL(id))
	k.prefer = returnRepr
	k.body = syncBody(m)
	r, err := c.do(ctx, k)
	if err != nil {
		return ports.SyncResponse{}, err
	}
	return syncAnswer(k, r, id, m)
}

// checkSyncWrite refuses a sync-metadata write the portal would not take,
// before any request.
func checkSyncWrite(op, id string, m ports.SyncMetadata) error {
	switch {
	case !ports.IsID(id):
		return badRequest(op, "id is not a GUID")
	case m.Status < ports.SyncStatusValid || m.Status > ports.SyncStatusInactive:
		return badRequest(op, "sync status must be 1 to 4")
	case m.LastSyncedOn.IsZero():
		return badRequest(op, "last synced time is zero")
	}
	return nil
}

// syncAnswer maps the answer r to a write of m to the certification id:
// the portal's error, or the written values.
func syncAnswer(k call, r reply, id string, m ports.SyncMetadata) (ports.SyncResponse, error) {
	if r.status < 200 || r.status > 299 {
		return ports.SyncResponse{}, statusError(k, r)
	}
	if r.status == http.StatusNoContent {
		// The portal ignored return=representation: it wrote what was sent.
		return ports.SyncResponse{ID: id, Status: m.Status, LastSyncedOn: m.LastSyncedOn.UTC().Truncate(time.Second)}, nil
	}
	var w wireSync
	if err := decodeJSON(k, r, &w); err != nil {
		return ports.SyncResponse{}, err
	}
	resp, ok := w.response()
	if !ok {
		return ports.SyncResponse{}, badAnswer(k, r, "write answer with a malformed GUID")
	}
	if !strings.EqualFold(resp.ID, id) {
		// Its ETag and values are another record's: the write counts as
		// failed, never as done.
		return ports.SyncResponse{}, badAnswer(k, r, "write answered for another record than the one written")
	}
	return resp, nil
}

// minRecord is less than the JSON of any record: its key alone,
// {"hlf_certificationid":"…"}, takes 60 bytes.
const minRecord = 48

// listPage reads one page of the entity set s.
func listPage[W, T any](ctx context.Context, c *Client, op string, s *entitySet, dates *dateBehaviors, q ports.PageQuery, conv func(*W, zoneOf) (T, string)) (_ ports.Page[T], err error) {
	zone := c.lazyZones(ctx, dates)
	ctx, cs := c.tel.startCall(ctx, op)
	defer func() { cs.end(ctx, err) }()
	u, err := c.pageURL(op, s, q)
	if err != nil {
		return ports.Page[T]{}, err
	}
	k := newCall(ctx, op, http.MethodGet, u)
	k.prefer = c.preferPageSize(q.PageSize)
	k.sizeHint = s.lastPage
	k.continuation = q.Continuation
	k.records = c.pageSize
	if q.PageSize > 0 {
		k.records = min(q.PageSize, MaxPageSize)
	}
	r, err := c.do(ctx, k)
	if err != nil {
		return ports.Page[T]{}, err
	}
	return decodePage(c, s, k, r, zone, conv)
}

// decodePage decodes and checks a collection answer: a value array whose
// records have GUID keys, and a nextLink, if any, that stays in the
// collection on the portal and differs from the page just read.
func decodePage[W, T any](c *Client, s *entitySet, k call, r reply, zone zoneOf, conv func(*W, zoneOf) (T, string)) (ports.Page[T], error) {
	if k.records > 0 && isJSON(r.contentType) && !atMostElements(r.body, k.records) {
		// Refused before decoding: a page of a million tiny records
		// would take gigabytes as structs.
		return ports.Page[T]{}, badAnswer(k, r, "page holds more records than the "+strconv.Itoa(k.records)+" asked")
	}
	var w wirePage[W]
	if k.records > 0 {
		// Room for the page, so that decoding does not grow the array
		// step by step (four times its size in copies). No record takes
		// under minRecord bytes, so a short page gets a short array.
		w.Value = make([]W, 0, min(k.records, len(r.body)/minRecord+1))
	}
	if err := decodeJSON(k, r, &w); err != nil {
		return ports.Page[T]{}, err
	}
	r.body = nil // decoded: let the collector have it while the page is mapped
	// A missing value array leaves the room made above untouched; null
	// makes it nil, and [] an array without room.
	if w.Value == nil || len(w.Value) == 0 && cap(w.Value) > 0 {
		return ports.Page[T]{}, badAnswer(k, r, "collection answer without a value array")
	}
	if w.NextLink != "" {
		if !c.inListing(w.NextLink, s) {
			return ports.Page[T]{}, badAnswer(k, r, "nextLink is not the next page of this listing: it leaves the portal's host or collection, or changes the query")
		}
		if !s.links.follow(k.continuation, w.NextLink) {
			return ports.Page[T]{}, badAnswer(k, r, "nextLink leads back to a page of this listing already read")
		}
	}
	items := make([]T, len(w.Value))
	for i := range w.Value {
		v, problem := conv(&w.Value[i], zone)
		if problem != "" {
			return ports.Page[T]{}, badAnswer(k, r, problem)
		}
		items[i] = v
	}
	return ports.Page[T]{Items: items, Next: w.NextLink}, nil
}

// pageURL returns the URL of the page q asks for, refusing a page size
// under zero and a continuation that is not a page of the collection's
// listing as the client itself sends it.
func (c *Client) pageURL(op string, s *entitySet, q ports.PageQuery) (string, error) {
	if q.PageSize < 0 {
		return "", badRequest(op, "page size is negative")
	}
	if q.Continuation != "" {
		if !c.inListing(q.Continuation, s) {
			return "", badRequest(op, "continuation is not a page of this collection's listing on the portal")
		}
		return q.Continuation, nil
	}
	if q.ModifiedSince.IsZero() {
		return s.list, nil
	}
	return s.list + modifiedSinceFilter + q.ModifiedSince.UTC().Format(time.RFC3339), nil
}

// preferPageSize returns the Prefer header for a page size: zero is the
// client's default, more than MaxPageSize is cut to it.
func (c *Client) preferPageSize(n int) []string {
	n = min(n, MaxPageSize)
	if n == 0 || n == c.pageSize {
		return c.defaultPrefer
	}
	return []string{maxPageSizePrefer(n)}
}

// inListing reports whether link is a later page of a listing of s as the
// client itself sends it: a URL on the base URL's scheme and host, without
// user info or fragment, whose path is the collection s, and whose query
// is the listing's own ($select, $orderby and, for a listing of the
// records modified since a time, its $filter) with a $skiptoken, and
// nothing else. A continuation whose query was changed (a $select without
// the expiry column, a $filter of the caller's choosing, a $top) would
// read other records than the listing, or fewer columns, and is refused.
// The page size is not in the URL: the Prefer header of each request sets
// it.
func (c *Client) inListing(link string, s *entitySet) bool {
	u, err := url.Parse(link)
	if err != nil || u.Opaque != "" || u.User != nil || u.Fragment != "" || u.Scheme != c.scheme ||
		!strings.EqualFold(u.Host, c.host) || u.Path != s.path {
		return false
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return false
	}
	for key, v := range q {
		if len(v) != 1 {
			return false
		}
		switch key {
		case "$select":
			if v[0] != s.columns {
				return false
			}
		case "$orderby":
			if v[0] != s.orderBy {
				return false
			}
		case "$filter":
			if !modifiedSince(v[0]) {
				return false
			}
		case "$skiptoken":
			if v[0] == "" {
				return false
			}
		default:
			return false
		}
	}
	return q.Has("$select") && q.Has("$orderby") && q.Has("$skiptoken")
}

// modifiedSince reports whether f is the $filter the client sends for
// PageQuery.ModifiedSince: "modifiedon gt " and a time in UTC to the
// second, as the client formats it.
func modifiedSince(f string) bool {
	v, ok := strings.CutPrefix(f, "modifiedon gt ")
	if !ok {
		return false
	}
	t, err := time.Parse(time.RFC3339, v)
	return err == nil && t.UTC().Format(time.RFC3339) == v
}

// atMostElements reports whether no array or object directly inside a
// member of the JSON object b (the page's value array among them) holds
// more than n elements, counting the commas between them outside strings.
// It reads b once, without allocating, so a page with more records than
// asked is refused before decoding makes a struct of each.
func atMostElements(b []byte, n int) bool {
	depth, commas := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// To the closing quote: one not preceded by an odd number of
			// backslashes. bytes.IndexByte keeps this at memory speed.
			for {
				j := bytes.IndexByte(b[i+1:], '"')
				if j < 0 {
					return true // no end: the decoder refuses it
				}
				i += 1 + j
				k := i - 1
				for k >= 0 && b[k] == '\\' {
					k--
				}
				if (i-1-k)%2 == 0 {
					break
				}
			}
		case '{', '[':
			depth++
			if depth == 2 {
				commas = 0
			}
		case '}', ']':
			depth--
		case ',':
			if depth == 2 {
				if commas++; commas >= n {
					return false
				}
			}
		}
	}
	return true
}
