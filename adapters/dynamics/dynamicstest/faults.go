package dynamicstest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Route names a kind of request, for faults, latency and counters.
type Route string

// The routes.
const (
	// RouteToken is POST /{tenant}/oauth2/v2.0/token.
	RouteToken Route = "token"
	// RouteWhoAmI is GET WhoAmI.
	RouteWhoAmI Route = "whoami"
	// RouteCertifications is GET hlf_certifications (the collection).
	RouteCertifications Route = "certifications"
	// RouteCertification is GET hlf_certifications({id}).
	RouteCertification Route = "certification"
	// RoutePatch is PATCH hlf_certifications({id}).
	RoutePatch Route = "patch"
	// RouteAssignments is GET hlf_assignments.
	RouteAssignments Route = "assignments"
	// RouteBatch is POST $batch. Each of its parts also takes the faults
	// and the latency of RoutePatch, one part after another.
	RouteBatch Route = "batch"
	// RouteAll stands for every route in Inject, SetFaultRate and
	// SetLatency. It takes only the faults every route can serve.
	RouteAll Route = "*"
	// RouteMetadata is GET /api/data/v9.2/EntityDefinitions(LogicalName=
	// '{entity}')/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata:
	// the behaviours of a table's date columns.
	RouteMetadata Route = "metadata"
)

// routes lists the routes a request can take, RouteAll excluded.
var routes = []Route{RouteToken, RouteWhoAmI, RouteCertifications, RouteCertification, RoutePatch, RouteAssignments, RouteBatch, RouteMetadata}

func (r Route) valid() bool { return r == RouteAll || slices.Contains(routes, r) }

// FaultKind is what an injected fault does.
type FaultKind string

// The fault kinds.
const (
	// FaultStatus answers Status with an error body in the route's shape
	// (Dataverse, or Entra ID on the token route).
	FaultStatus FaultKind = "status"
	// FaultHang answers nothing until the client gives up or the emulator
	// closes.
	FaultHang FaultKind = "hang"
	// FaultReset resets the TCP connection (RST) without an answer.
	FaultReset FaultKind = "reset"
	// FaultTruncate declares a longer body than it sends, then closes the
	// connection.
	FaultTruncate FaultKind = "truncate"
	// FaultMalformed answers 200 with a JSON content type and a body that
	// is not valid JSON.
	FaultMalformed FaultKind = "malformed"
	// FaultHTML answers 200 with an HTML sign-in page.
	FaultHTML FaultKind = "html"
	// FaultRedirect answers 302 to Location (default: the same URL over
	// http://).
	FaultRedirect FaultKind = "redirect"
	// FaultNextLink serves the page normally but with @odata.nextLink set
	// to Location (default: a URL on another host). Collection routes
	// only.
	FaultNextLink FaultKind = "nextlink"
	// FaultNoExpiresIn issues a valid token in a response without
	// expires_in. Token route only.
	FaultNoExpiresIn FaultKind = "no-expires-in"
	// FaultNegativeExpiresIn issues a valid token in a response whose
	// expires_in is negative. Token route only.
	FaultNegativeExpiresIn FaultKind = "negative-expires-in"
	// FaultFewerParts serves a $batch, then leaves the last part out of
	// the answer. Batch route only.
	FaultFewerParts FaultKind = "fewer-parts"
)

var faultKinds = []FaultKind{FaultStatus, FaultHang, FaultReset, FaultTruncate, FaultMalformed, FaultHTML,
	FaultRedirect, FaultNextLink, FaultNoExpiresIn, FaultNegativeExpiresIn, FaultFewerParts}

// Fault is one injected misbehaviour. A request that draws a fault (other
// than latency alone, nextlink and the token response faults, which still
// serve the request) applies no write.
type Fault struct {
	// Kind is what the fault does. Empty means FaultStatus when Status is
	// set, and latency alone otherwise.
	Kind FaultKind
	// Status is the HTTP status of a FaultStatus, 400 to 599.
	Status int
	// RetryAfter, when positive, is sent as Retry-After with a
	// FaultStatus: in seconds (a decimal when not whole), or as an HTTP
	// date that far after the emulator clock's now when RetryAfterDate is
	// set.
	RetryAfter     time.Duration
	RetryAfterDate bool
	// Code is the error code of a FaultStatus: the Dataverse code
	// ("0x80072322", or a decimal one) or, on the token route, the Entra
	// ID error ("invalid_client"). Empty means the usual code for the
	// status; NoCode sends an empty code.
	Code   string
	NoCode bool
	// Message is the error message of a FaultStatus; empty means a default.
	Message string
	// Header holds extra response headers, for any kind.
	Header http.Header
	// Latency is real time waited before the fault acts. A request whose
	// client gives up during the wait gets nothing and writes nothing;
	// with latency alone the request is then served normally, so a PATCH
	// is applied only if the client is still waiting when it ends.
	Latency time.Duration
	// Location is the target of FaultRedirect and FaultNextLink.
	Location string
	// Times is how many requests an injected fault applies to: 0 and 1
	// mean one; a negative number means every request from then on (the
	// faults queued after it are never reached). SetFaultRate ignores it.
	Times int
}

func (f Fault) kind() FaultKind {
	if f.Kind == "" && f.Status != 0 {
		return FaultStatus
	}
	return f.Kind
}

// Validate reports whether f is a fault route can serve.
func (f Fault) Validate(route Route) error {
	k := f.kind()
	switch {
	case !route.valid():
		return fmt.Errorf("unknown route %q", route)
	case k != "" && !slices.Contains(faultKinds, k):
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	case k == "" && f.Latency <= 0:
		return errors.New("fault does nothing: give a kind, a status or a latency")
	case f.Latency < 0 || f.RetryAfter < 0:
		return errors.New("negative latency or retry-after")
	case k == FaultStatus && (f.Status < 400 || f.Status > 599):
		return fmt.Errorf("status %d: want 400 to 599 (use redirect for a 3xx)", f.Status)
	case k != FaultStatus && f.Status != 0:
		return fmt.Errorf("status %d with fault %q", f.Status, k)
	case k != FaultStatus && (f.RetryAfter != 0 || f.RetryAfterDate || f.Code != "" || f.NoCode || f.Message != ""):
		return errors.New("retry-after, code and message need a status")
	case f.Code != "" && f.NoCode:
		return errors.New("both a code and no code")
	case f.Location != "" && k != FaultRedirect && k != FaultNextLink:
		return errors.New("a location needs redirect or nextlink")
	case k == FaultNextLink && route != RouteCertifications && route != RouteAssignments:
		return fmt.Errorf("nextlink applies to the collection routes, not %q", route)
	case (k == FaultNoExpiresIn || k == FaultNegativeExpiresIn) && route != RouteToken:
		return fmt.Errorf("%s applies to the token route, not %q", k, route)
	case k == FaultFewerParts && route != RouteBatch:
		return fmt.Errorf("%s applies to the batch route, not %q", k, route)
	}
	return nil
}

// FaultPlan injects faults at random, for chaos tests: each request draws
// one of Faults with probability Rate, from a generator seeded with Seed.
// Queued faults (Inject) are served first.
type FaultPlan struct {
	Rate   float64
	Seed   int64
	Faults []Fault
}

// faults holds the injected faults, plans and latencies.
type faults struct {
	mu      sync.Mutex
	queues  map[Route][]*queued
	plans   map[Route]*plan
	latency map[Route]time.Duration
}

type queued struct {
	f    Fault
	left int // < 0: forever
}

type plan struct {
	FaultPlan
	rng *rand.Rand
}

// Inject queues faults for route: each matching request takes the next
// one, and once the queue is empty service is normal again. Faults queued
// on RouteAll are taken by a request of any route whose own queue is
// empty. Inject panics on a fault the route cannot serve (see
// Fault.Validate); ParseFault checks the command-line form first.
func (e *Emulator) Inject(route Route, fs ...Fault) {
	for _, f := range fs {
		if err := f.Validate(route); err != nil {
			panic("emulator: Inject: " + err.Error())
		}
	}
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if e.faults.queues == nil {
		e.faults.queues = map[Route][]*queued{}
	}
	for _, f := range fs {
		left := max(f.Times, 1)
		if f.Times < 0 {
			left = -1
		}
		e.faults.queues[route] = append(e.faults.queues[route], &queued{f: f, left: left})
	}
}

// SetFaultRate injects faults at random on route (RouteAll: on every route
// without a plan of its own) following p; a zero Rate removes the plan.
// The draws are deterministic for a given order of requests. It panics on
// a rate outside [0, 1] or a fault the route cannot serve.
func (e *Emulator) SetFaultRate(route Route, p FaultPlan) {
	if p.Rate < 0 || p.Rate > 1 || math.IsNaN(p.Rate) {
		panic("emulator: SetFaultRate: rate outside [0, 1]")
	}
	if p.Rate > 0 && len(p.Faults) == 0 {
		panic("emulator: SetFaultRate: no faults to draw from")
	}
	for _, f := range p.Faults {
		if err := f.Validate(route); err != nil {
			panic("emulator: SetFaultRate: " + err.Error())
		}
	}
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if e.faults.plans == nil {
		e.faults.plans = map[Route]*plan{}
	}
	if p.Rate == 0 {
		delete(e.faults.plans, route)
		return
	}
	p.Faults = slices.Clone(p.Faults)
	e.faults.plans[route] = &plan{FaultPlan: p, rng: rand.New(rand.NewPCG(uint64(p.Seed), 0xc4a05))}
}

// SetLatency adds d of real time before every request of route is served
// (RouteAll: of every route without a latency of its own); zero removes
// it. The wait counts towards the service protection limits. A PATCH
// whose client gives up during the wait is not applied.
func (e *Emulator) SetLatency(route Route, d time.Duration) {
	if !route.valid() {
		panic("emulator: SetLatency: unknown route " + string(route))
	}
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if e.faults.latency == nil {
		e.faults.latency = map[Route]time.Duration{}
	}
	if d <= 0 {
		delete(e.faults.latency, route)
		return
	}
	e.faults.latency[route] = d
}

// ClearFaults removes every queued fault, fault plan and latency.
func (e *Emulator) ClearFaults() {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.queues, e.faults.plans, e.faults.latency = nil, nil, nil
}

// next takes the fault the next request of route gets, if any.
func (fs *faults) next(route Route) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, rt := range []Route{route, RouteAll} {
		q := fs.queues[rt]
		if len(q) == 0 {
			continue
		}
		head := q[0]
		if head.left > 0 {
			head.left--
			if head.left == 0 {
				fs.queues[rt] = q[1:]
			}
		}
		return head.f, true
	}
	p := fs.plans[route]
	if p == nil {
		p = fs.plans[RouteAll]
	}
	if p != nil && p.rng.Float64() < p.Rate {
		return p.Faults[p.rng.IntN(len(p.Faults))], true
	}
	return Fault{}, false
}

func (fs *faults) latencyOf(route Route) time.Duration {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if d, ok := fs.latency[route]; ok {
		return d
	}
	return fs.latency[RouteAll]
}

// serveFault acts out f. It reports false when the request is to be served
// normally after it (latency alone, nextlink, token response faults).
func (e *Emulator) serveFault(w *recorder, r *http.Request, c *call, f Fault) bool {
	if !e.wait(w, r, f.Latency) {
		return true
	}
	for k, v := range f.Header {
		w.Header()[http.CanonicalHeaderKey(k)] = slices.Clone(v)
	}
	jsonType := contentTypeOData
	if c.route == RouteToken {
		jsonType = "application/json; charset=utf-8"
	}
	switch f.kind() {
	case "":
		return false
	case FaultNextLink, FaultNoExpiresIn, FaultNegativeExpiresIn, FaultFewerParts:
		c.fault = &f
		return false
	case FaultTruncate, FaultMalformed:
		if c.route == RouteBatch {
			c.fault = &f // the batch is served, then its answer spoilt
			return false
		}
	}
	switch f.kind() {
	case FaultStatus:
		e.serveStatusFault(w, r, c, f)
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-e.done:
		}
		dropConnection(w, false)
	case FaultReset:
		dropConnection(w, true)
	case FaultTruncate:
		body := []byte(`{"@odata.context":"` + e.origin(r) + APIPath + `$metadata#` + certSchema.entitySet + `","value":[{"@odata.etag":"W/\"1\"","` + certSchema.key + `":"`)
		if c.route == RouteToken {
			body = []byte(`{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0eXAiOiJKV1Qi`)
		}
		w.Header().Set("Content-Type", jsonType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+4096))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		_ = http.NewResponseController(w).Flush()
		// The server closes the connection: the handler wrote less than
		// it declared.
	case FaultMalformed:
		body := `{"@odata.context":"` + e.origin(r) + APIPath + `$metadata#` + certSchema.entitySet + `","value":[{"` + certSchema.key + `":"00000000-0000-4000-8000-000000000000",}]`
		if c.route == RouteToken {
			body = `{"token_type":"Bearer","expires_in":3600,"access_token":}`
		}
		writeBody(w, http.StatusOK, jsonType, []byte(body))
	case FaultHTML:
		writeBody(w, http.StatusOK, "text/html; charset=utf-8", []byte(signInPage))
	case FaultRedirect:
		loc := f.Location
		if loc == "" {
			loc = "http://" + r.Host + r.URL.RequestURI()
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	}
	return true
}

func (e *Emulator) serveStatusFault(w http.ResponseWriter, r *http.Request, c *call, f Fault) {
	if f.RetryAfter > 0 {
		v := strconv.FormatFloat(f.RetryAfter.Seconds(), 'f', -1, 64)
		if f.RetryAfterDate {
			v = e.now().Add(f.RetryAfter).UTC().Format(http.TimeFormat)
		}
		w.Header().Set("Retry-After", v)
	}
	if c.route == RouteToken {
		te := &tokenError{status: f.Status, err: "invalid_request", aadsts: 900144, description: f.Message}
		switch {
		case f.Status == http.StatusUnauthorized:
			te.err, te.aadsts = "invalid_client", 7000215
		case f.Status == http.StatusTooManyRequests || f.Status >= 500:
			te.err, te.aadsts = "temporarily_unavailable", 90033
		}
		if f.Code != "" || f.NoCode {
			te.err = f.Code
		}
		if te.description == "" {
			te.description = "Injected failure: " + http.StatusText(f.Status) + "."
		}
		e.writeTokenError(w, r, c, te)
		return
	}
	code, msg := codeUnexpected, http.StatusText(f.Status)
	switch f.Status {
	case http.StatusTooManyRequests:
		code, msg = codeRequestLimit, "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
	case http.StatusUnauthorized:
		code = codeUnauthorized
	case http.StatusNotFound:
		code, msg = codeNotFound, "The requested record was not found or you do not have sufficient permissions to view it."
	case http.StatusPreconditionFailed:
		code, msg = codeVersionMismatch, "The version of the existing record doesn't match the RowVersion property provided."
	case http.StatusBadRequest:
		code = codeBadPayload
	case http.StatusInternalServerError:
		msg = "An unexpected error occurred."
	}
	if f.Code != "" || f.NoCode {
		code = f.Code
	}
	if f.Message != "" {
		msg = f.Message
	}
	writeAPIError(w, &apiError{f.Status, code, msg})
}

// dropConnection takes the connection from the server and closes it
// without an answer; with reset, SO_LINGER 0 makes the peer get a TCP
// reset.
func dropConnection(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok && reset {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

// signInPage is what an expired browser session gets instead of JSON.
const signInPage = `<!DOCTYPE html>
<html><head><title>Sign in to your account</title></head>
<body><form method="post" action="https://login.microsoftonline.com/common/login">
<input type="email" name="loginfmt" placeholder="Email, phone, or Skype"><input type="submit" value="Next">
</form></body></html>
`

// ParseFault reads the command-line form of a fault (see the package
// documentation), for example "certifications:503,retry-after=2,times=2".
func ParseFault(spec string) (Route, Fault, error) {
	fail := func(format string, args ...any) (Route, Fault, error) {
		return "", Fault{}, fmt.Errorf("fault %q: "+format, append([]any{spec}, args...)...)
	}
	rt, items, ok := strings.Cut(spec, ":")
	route := Route(strings.TrimSpace(rt))
	if !ok || strings.TrimSpace(items) == "" {
		return fail("want ROUTE:ITEM[,ITEM...]")
	}
	if !route.valid() {
		return fail("unknown route %q (want one of %v or *)", route, routes)
	}
	var f Fault
	kind := func(k FaultKind) bool {
		if f.Kind != "" || f.Status != 0 {
			return false
		}
		f.Kind = k
		return true
	}
	seen := map[string]bool{}
	for item := range strings.SplitSeq(items, ",") {
		name, value, hasValue := strings.Cut(strings.TrimSpace(item), "=")
		if seen[name] {
			return fail("%q given twice", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "hang", "reset", "truncate", "malformed", "html", "no-expires-in", "negative-expires-in", "fewer-parts":
			if hasValue {
				return fail("%s takes no value", name)
			}
			if !kind(FaultKind(name)) {
				return fail("more than one fault in one spec")
			}
		case "redirect", "nextlink":
			if !kind(FaultKind(name)) {
				return fail("more than one fault in one spec")
			}
			f.Location = value
		case "retry-after":
			var s float64
			if s, err = strconv.ParseFloat(value, 64); err == nil && s >= 0 && s < 1e6 {
				if s == 0 {
					f.Header = http.Header{"Retry-After": {"0"}}
				}
				f.RetryAfter = time.Duration(s * float64(time.Second))
			} else {
				return fail("retry-after=%q: want seconds", value)
			}
		case "retry-after-date":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return fail("retry-after-date=%q: want whole seconds from now, at least 1", value)
			}
			f.RetryAfter, f.RetryAfterDate = time.Duration(n)*time.Second, true
		case "code":
			f.Code, f.NoCode = value, value == ""
		case "message":
			f.Message = value
		case "latency":
			if f.Latency, err = time.ParseDuration(value); err != nil || f.Latency <= 0 {
				return fail("latency=%q: want a positive duration such as 250ms", value)
			}
		case "times":
			if value == "always" {
				f.Times = -1
			} else if f.Times, err = strconv.Atoi(value); err != nil || f.Times < 1 {
				return fail("times=%q: want a count of at least 1 or always", value)
			}
		default:
			n, err := strconv.Atoi(name)
			if err != nil || hasValue || len(name) != 3 {
				return fail("unknown item %q", item)
			}
			if !kind(FaultStatus) {
				return fail("more than one fault in one spec")
			}
			f.Status = n
		}
	}
	if (seen["retry-after"] || seen["retry-after-date"] || seen["code"] || seen["message"]) && f.Status == 0 {
		return fail("retry-after, code and message need a status")
	}
	if err := f.Validate(route); err != nil {
		return fail("%v", err)
	}
	return route, f, nil
}
