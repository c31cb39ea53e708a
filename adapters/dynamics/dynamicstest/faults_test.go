package dynamicstest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fresh returns a tester on the same emulator with a new connection pool.
func (ts *tester) fresh() *tester {
	return &tester{t: ts.t, e: ts.e, c: ts.e.HTTPClient(), token: ts.token}
}

func TestFaultStatus(t *testing.T) {
	clk := newClock()
	ts := newTester(t, Options{Certifications: 5, Now: clk.Now})
	ts.e.Inject(RouteCertifications,
		Fault{Status: 503, RetryAfter: 2 * time.Second},
		Fault{Status: 429, RetryAfter: 5 * time.Second, RetryAfterDate: true, Header: http.Header{"x-extra": {"yes"}}},
		Fault{Status: 429, Code: "-2147015902", Message: "Too many."},
		Fault{Status: 500, NoCode: true},
	)
	r := ts.get("hlf_certifications")
	wantStatus(t, r, 503)
	if r.header.Get("Retry-After") != "2" || r.errorCode(t) != codeUnexpected {
		t.Errorf("503: Retry-After %q, body %s", r.header.Get("Retry-After"), r.body)
	}
	r = ts.get("hlf_certifications")
	wantStatus(t, r, 429)
	if at, err := http.ParseTime(r.header.Get("Retry-After")); err != nil || !at.Equal(clk.Now().Add(5*time.Second)) {
		t.Errorf("Retry-After %q, want an HTTP date 5 s after the emulator clock", r.header.Get("Retry-After"))
	}
	if r.errorCode(t) != codeRequestLimit || r.header.Get("X-Extra") != "yes" {
		t.Errorf("429: %s, X-Extra %q", r.body, r.header.Get("X-Extra"))
	}
	if r = ts.get("hlf_certifications"); r.errorCode(t) != "-2147015902" || !strings.Contains(string(r.body), "Too many.") {
		t.Errorf("429 with code: %s", r.body)
	}
	if r = ts.get("hlf_certifications"); r.status != 500 || r.errorCode(t) != "" {
		t.Errorf("500 without code: %d %s", r.status, r.body)
	}
	wantStatus(t, ts.get("hlf_certifications"), http.StatusOK)
	s := ts.e.Stats()
	if s.Faults[RouteCertifications] != 4 || s.Requests[RouteCertifications] != 5 || s.TotalFaults() != 4 {
		t.Errorf("stats %+v", s)
	}
}

func TestFaultStatusOnTokenRoute(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteToken, Fault{Status: 503, RetryAfter: time.Second}, Fault{Status: 400, Code: "invalid_client"})
	r := ts.postToken(ts.tokenForm())
	checkTokenError(t, r, 503, "temporarily_unavailable", 90033)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	checkTokenError(t, ts.postToken(ts.tokenForm()), 400, "invalid_client", 900144)
	wantStatus(t, ts.postToken(ts.tokenForm()), http.StatusOK)
}

func TestFaultTimesAndRoutes(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteWhoAmI, Fault{Status: 502, Times: 2})
	ts.e.Inject(RouteAll, Fault{Status: 504})
	for i, want := range []int{502, 502, 504, 200} {
		if r := ts.get("WhoAmI"); r.status != want {
			t.Errorf("request %d: %d, want %d", i+1, r.status, want)
		}
	}
	ts.e.Inject(RouteAll, Fault{Status: 500, Times: -1})
	for range 3 {
		wantStatus(t, ts.get("hlf_assignments"), 500)
	}
	ts.e.ClearFaults()
	wantStatus(t, ts.get("hlf_assignments"), http.StatusOK)
}

func TestFaultHang(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteWhoAmI, Fault{Kind: FaultHang})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := ts.do(ctx, http.MethodGet, ts.url("WhoAmI"), map[string]string{"Authorization": "Bearer " + ts.token}, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung request: %v, want the client's deadline", err)
	}
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
}

func TestCloseEndsHungRequest(t *testing.T) {
	e, err := Start(&Options{Certifications: 5})
	if err != nil {
		t.Fatal(err)
	}
	ts := &tester{t: t, e: e, c: e.HTTPClient()}
	e.Inject(RouteWhoAmI, Fault{Kind: FaultHang})
	done := make(chan error, 1)
	go func() {
		_, err := ts.do(context.Background(), http.MethodGet, ts.url("WhoAmI"), nil, "")
		done <- err
	}()
	for e.Stats().Faults[RouteWhoAmI] == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("hung request ended without an error")
	}
}

func TestFaultReset(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteCertifications, Fault{Kind: FaultReset})
	_, err := ts.fresh().do(context.Background(), http.MethodGet, ts.url("hlf_certifications"), map[string]string{"Authorization": "Bearer " + ts.token}, "")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset: %v, want ECONNRESET", err)
	}
	wantStatus(t, ts.get("hlf_certifications"), http.StatusOK)
}

// Go's client replays a GET once when a reused connection fails before the
// answer starts: a single reset then goes unnoticed.
func TestResetOnReusedConnectionIsReplayed(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteWhoAmI, Fault{Kind: FaultReset})
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	if s := ts.e.Stats(); s.Requests[RouteWhoAmI] != 2 || s.Faults[RouteWhoAmI] != 1 {
		t.Errorf("stats %+v: want the reset and the replay", s)
	}
	ts.e.Inject(RouteWhoAmI, Fault{Kind: FaultReset, Times: 2})
	_, err := ts.do(context.Background(), http.MethodGet, ts.url("WhoAmI"), map[string]string{"Authorization": "Bearer " + ts.token}, "")
	if err == nil {
		t.Error("two resets: want an error")
	}
}

func TestFaultTruncate(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteCertifications, Fault{Kind: FaultTruncate})
	ts.e.Inject(RouteToken, Fault{Kind: FaultTruncate})
	for _, u := range []string{ts.url("hlf_certifications"), ts.e.TokenURL()} {
		_, err := ts.do(context.Background(), http.MethodGet, u, map[string]string{"Authorization": "Bearer " + ts.token}, "")
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v, want unexpected EOF", u, err)
		}
	}
	wantStatus(t, ts.get("hlf_certifications"), http.StatusOK)
}

func TestFaultBodies(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteCertification, Fault{Kind: FaultMalformed}, Fault{Kind: FaultHTML},
		Fault{Kind: FaultRedirect}, Fault{Kind: FaultRedirect, Location: "https://elsewhere.example/x"})
	path := "hlf_certifications(" + ts.e.Certifications()[0].ID + ")"
	r := ts.get(path)
	if r.status != 200 || json.Valid(r.body) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("malformed: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = ts.get(path)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "Sign in") {
		t.Errorf("html: %d %q", r.status, r.header.Get("Content-Type"))
	}
	r = ts.get(path)
	if want := "http://" + strings.TrimPrefix(ts.e.BaseURL(), "https://") + APIPath + path; r.status != 302 || r.header.Get("Location") != want {
		t.Errorf("redirect: %d to %q, want %q", r.status, r.header.Get("Location"), want)
	}
	if r = ts.get(path); r.status != 302 || r.header.Get("Location") != "https://elsewhere.example/x" {
		t.Errorf("redirect: %d to %q", r.status, r.header.Get("Location"))
	}
	ts.e.Inject(RouteToken, Fault{Kind: FaultMalformed})
	if r = ts.postToken(ts.tokenForm()); r.status != 200 || json.Valid(r.body) {
		t.Errorf("malformed token: %d %s", r.status, r.body)
	}
}

func TestFaultNextLink(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteCertifications, Fault{Kind: FaultNextLink}, Fault{Kind: FaultNextLink, Location: "http://127.0.0.1:1/x"})
	p, _ := ts.certPage("hlf_certifications")
	if len(p.Value) != 5 || !strings.HasPrefix(p.NextLink, "https://elsewhere.example/") {
		t.Errorf("%d records, nextLink %q", len(p.Value), p.NextLink)
	}
	if p, _ = ts.certPage("hlf_certifications"); p.NextLink != "http://127.0.0.1:1/x" {
		t.Errorf("nextLink %q", p.NextLink)
	}
}

func TestFaultTokenExpiresIn(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.Inject(RouteToken, Fault{Kind: FaultNoExpiresIn}, Fault{Kind: FaultNegativeExpiresIn})
	for _, want := range []string{"", "-3600"} {
		r := ts.postToken(ts.tokenForm())
		wantStatus(t, r, http.StatusOK)
		var b map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		if string(b["expires_in"]) != want {
			t.Errorf("expires_in %q, want %q", b["expires_in"], want)
		}
		var tok string
		_ = json.Unmarshal(b["access_token"], &tok)
		ts.token = tok
		wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	}
}

func TestFaultedPatchWritesNothing(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	path := "hlf_certifications(" + ts.e.Certifications()[0].ID + ")"
	ts.e.Inject(RoutePatch, Fault{Status: 503}, Fault{Kind: FaultMalformed}, Fault{Latency: 20 * time.Millisecond})
	wantStatus(t, ts.api(http.MethodPatch, path, syncBody, "If-Match", "*"), 503)
	wantStatus(t, ts.api(http.MethodPatch, path, syncBody, "If-Match", "*"), 200)
	if n := len(ts.e.Writes()); n != 0 {
		t.Fatalf("%d writes from faulted requests", n)
	}
	// Latency alone: the client waits, the write is applied.
	wantStatus(t, ts.api(http.MethodPatch, path, syncBody, "If-Match", "*"), http.StatusNoContent)
	if n := len(ts.e.Writes()); n != 1 {
		t.Fatalf("%d writes, want 1", n)
	}
}

func TestPatchAbandonedDuringLatencyIsNotApplied(t *testing.T) {
	for _, inject := range []func(e *Emulator){
		func(e *Emulator) { e.Inject(RoutePatch, Fault{Latency: 10 * time.Second}) },
		func(e *Emulator) { e.SetLatency(RoutePatch, 10*time.Second) },
	} {
		ts := newTester(t, Options{Certifications: 5})
		inject(ts.e)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t0 := time.Now()
		resp, err := ts.do(ctx, http.MethodPatch, ts.url("hlf_certifications("+ts.e.Certifications()[0].ID+")"),
			map[string]string{"Authorization": "Bearer " + ts.token, "Content-Type": "application/json", "If-Match": "*"}, syncBody)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("PATCH after %v: %v %+v, want the client's deadline", time.Since(t0), err, resp)
		}
		// Close waits for the handler, which must end without writing.
		start := time.Now()
		if err := ts.e.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(ts.e.Writes()); n != 0 || time.Since(start) > 5*time.Second {
			t.Errorf("%d writes after the client gave up", n)
		}
	}
}

func TestSetLatency(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	ts.e.SetLatency(RouteAll, 40*time.Millisecond)
	ts.e.SetLatency(RouteCertifications, time.Millisecond)
	start := time.Now()
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("WhoAmI took %v with 40ms latency", d)
	}
	start = time.Now()
	wantStatus(t, ts.get("hlf_certifications"), http.StatusOK)
	if d := time.Since(start); d >= 40*time.Millisecond {
		t.Errorf("certifications took %v; its own latency is 1ms", d)
	}
	ts.e.SetLatency(RouteAll, 0)
	start = time.Now()
	wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	if d := time.Since(start); d >= 40*time.Millisecond {
		t.Errorf("WhoAmI took %v after the latency was removed", d)
	}
}

func TestFaultRate(t *testing.T) {
	statuses := func() ([]int, Stats) {
		ts := newTester(t, Options{Certifications: 5})
		ts.e.SetFaultRate(RouteAll, FaultPlan{Rate: 0.3, Seed: 42, Faults: []Fault{{Status: 503}, {Status: 500}}})
		var got []int
		for range 200 {
			got = append(got, ts.get("WhoAmI").status)
		}
		return got, ts.e.Stats()
	}
	a, stats := statuses()
	b, _ := statuses()
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different faults")
	}
	faults := 0
	for _, s := range a {
		if s != 200 {
			faults++
		}
	}
	if faults < 30 || faults > 90 || stats.Faults[RouteWhoAmI] != faults {
		t.Errorf("%d faults in 200 requests at rate 0.3, stats say %d", faults, stats.Faults[RouteWhoAmI])
	}
}

func TestInjectRefusesWhatTheRouteCannotServe(t *testing.T) {
	e := start(t, Options{Certifications: 1})
	for _, tc := range []struct {
		route Route
		f     Fault
	}{
		{RoutePatch, Fault{Kind: FaultNextLink}},
		{RouteAll, Fault{Kind: FaultNoExpiresIn}},
		{RouteWhoAmI, Fault{Status: 200}},
		{RouteWhoAmI, Fault{}},
		{RouteWhoAmI, Fault{Kind: FaultHang, Code: "x"}},
		{"nowhere", Fault{Status: 500}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Inject(%q, %+v) did not panic", tc.route, tc.f)
				}
			}()
			e.Inject(tc.route, tc.f)
		}()
	}
}

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		route Route
		want  Fault
	}{
		{"certifications:503,retry-after=2,times=2", RouteCertifications, Fault{Kind: FaultStatus, Status: 503, RetryAfter: 2 * time.Second, Times: 2}},
		{"patch:latency=250ms", RoutePatch, Fault{Latency: 250 * time.Millisecond}},
		{"token:401,code=invalid_client,message=Secret expired.", RouteToken, Fault{Kind: FaultStatus, Status: 401, Code: "invalid_client", Message: "Secret expired."}},
		{"*:reset,times=always", RouteAll, Fault{Kind: FaultReset, Times: -1}},
		{"whoami:500,code=", RouteWhoAmI, Fault{Kind: FaultStatus, Status: 500, NoCode: true}},
		{"assignments:429,retry-after-date=30", RouteAssignments, Fault{Kind: FaultStatus, Status: 429, RetryAfter: 30 * time.Second, RetryAfterDate: true}},
		{"certifications:429,retry-after=0.5", RouteCertifications, Fault{Kind: FaultStatus, Status: 429, RetryAfter: 500 * time.Millisecond}},
		{"certifications:429,retry-after=0", RouteCertifications, Fault{Kind: FaultStatus, Status: 429, Header: http.Header{"Retry-After": {"0"}}}},
		{"certifications:nextlink=https://evil.example/p", RouteCertifications, Fault{Kind: FaultNextLink, Location: "https://evil.example/p"}},
		{"certification:redirect", RouteCertification, Fault{Kind: FaultRedirect}},
		{"token:negative-expires-in", RouteToken, Fault{Kind: FaultNegativeExpiresIn}},
		{"token:no-expires-in", RouteToken, Fault{Kind: FaultNoExpiresIn}},
		{" whoami : hang , latency=1s", RouteWhoAmI, Fault{Kind: FaultHang, Latency: time.Second}},
		{"patch:truncate", RoutePatch, Fault{Kind: FaultTruncate}},
		{"patch:malformed", RoutePatch, Fault{Kind: FaultMalformed}},
		{"patch:html", RoutePatch, Fault{Kind: FaultHTML}},
	} {
		route, f, err := ParseFault(tc.spec)
		if err != nil || route != tc.route || !reflect.DeepEqual(f, tc.want) {
			t.Errorf("ParseFault(%q) = %q, %+v, %v\nwant %q, %+v", tc.spec, route, f, err, tc.route, tc.want)
		}
	}
	for _, spec := range []string{
		"", "certifications", "certifications:", "everything:503", "whoami:200", "whoami:99",
		"whoami:503,504", "whoami:503,hang", "whoami:hang=1", "whoami:retry-after=2",
		"whoami:503,retry-after=soon", "whoami:503,retry-after=-1", "whoami:503,retry-after-date=0",
		"whoami:latency=fast", "whoami:latency=0s", "whoami:503,times=0", "whoami:503,times=x",
		"whoami:503,latency=1s,latency=2s", "whoami:nextlink", "patch:no-expires-in", "whoami:explode",
		"whoami:code=0x1",
	} {
		if _, _, err := ParseFault(spec); err == nil {
			t.Errorf("ParseFault(%q): want an error", spec)
		} else if !strings.Contains(err.Error(), "fault") {
			t.Errorf("ParseFault(%q) error %q does not say it is about a fault", spec, err)
		}
	}
}
