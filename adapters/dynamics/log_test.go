package dynamics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/hlf/dynamicsportal/ports"
)

// lockedBuffer is a bytes.Buffer safe for the token fetch's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const skipMarker = "SKIP-MARKER-p4Lm"

// runLoggedCalls makes calls that succeed, retry and fail, logging at debug
// level through h, and returns every error string.
func runLoggedCalls(t *testing.T, h slog.Handler) []string {
	var errs []string
	record := func(err error) {
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err))
			if pe, ok := err.(*ports.PortalError); ok && pe.Err != nil {
				errs = append(errs, pe.Err.Error())
			}
		}
	}
	synctest.Test(t, func(t *testing.T) {
		cont := certPage(skipMarker)
		whoami := sequence(status(503, `{}`), okJSON(fixture(t, "whoami.json")))
		api := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-ms-service-request-id", "srv-1")
			switch {
			case r.URL.Path == "/api/data/v9.2/WhoAmI":
				whoami(w, r)
			case r.Method == http.MethodPatch:
				status(401, `{"error":{"code":"0x80072560","message":"not a member"}}`)(w, r)
			default:
				okJSON(`{"value":[],"@odata.nextLink":"`+cont+`x"}`)(w, r)
			}
		}
		f := &fakeNet{api: api}
		c := newLoggedClient(t, f, slog.New(h))
		ctx := t.Context()
		_, err := c.WhoAmI(ctx)
		record(err)
		_, err = c.ListCertifications(ctx, ports.PageQuery{Continuation: cont})
		record(err)
		_, err = c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: 2, LastSyncedOn: fixedTime})
		record(err)
		_, err = c.ListCertifications(ctx, ports.PageQuery{Continuation: "https://elsewhere.example/?" + skipMarker})
		record(err)

		bad := &fakeNet{token: status(401, fixture(t, "token-error-invalid-client.json"))}
		c = newLoggedClient(t, bad, slog.New(h))
		_, err = c.WhoAmI(ctx)
		record(err)

		// A client assertion, accepted and then refused.
		for _, tok := range []http.HandlerFunc{goodToken, status(400, fixture(t, "token-error-invalid-client.json"))} {
			ac, err := New(testBase, assertionCreds(), &Options{Tenant: testTenant, HTTPClient: &http.Client{Transport: &fakeNet{token: tok, api: whoami}}, Logger: slog.New(h)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ac.WhoAmI(ctx)
			record(err)
		}
	})
	if len(errs) == 0 {
		t.Fatal("no call failed")
	}
	return errs
}

func TestDebugLogAndErrorsHoldNoSecrets(t *testing.T) {
	var text, js lockedBuffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	errs := runLoggedCalls(t, slog.NewTextHandler(&text, opts))
	errs = append(errs, runLoggedCalls(t, slog.NewJSONHandler(&js, opts))...)
	all := text.String() + js.String() + strings.Join(errs, "\n")
	for _, leak := range []string{secretMarker, tokenMarker, skipMarker, assertionMarker, "ASSERTION-MARKER", "Bearer", "Authorization", "client_secret", "client_assertion", `"value"`, "error_codes"} {
		if strings.Contains(all, leak) {
			t.Errorf("logs or errors hold %q", leak)
		}
	}
	if !strings.Contains(text.String(), "$skiptoken=[REDACTED]") || !strings.Contains(text.String(), "$select=hlf_certificationid,hlf_name") {
		t.Errorf("text log does not show the redacted URL:\n%s", text.String())
	}
}

func TestDebugLogRecords(t *testing.T) {
	var js lockedBuffer
	runLoggedCalls(t, slog.NewJSONHandler(&js, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := []string{"attempt", "correlation_id", "duration", "level", "method", "msg", "status", "time", "url"}
	var attempts []float64
	var tokenFetches int
	sc := bufio.NewScanner(strings.NewReader(js.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec["level"] != "DEBUG" {
			t.Errorf("record at %v", rec["level"])
		}
		keys := slices.Sorted(maps.Keys(rec))
		switch rec["msg"] {
		case "portal request":
			want := base
			if _, ok := rec["service_request_id"]; ok {
				want = slices.Sorted(slices.Values(append(slices.Clone(base), "service_request_id")))
			}
			if !slices.Equal(keys, want) {
				t.Errorf("record keys %v, want %v", keys, want)
			}
			if rec["url"] == "" || rec["method"] == "" || rec["correlation_id"] == "" {
				t.Errorf("record %v", rec)
			}
			attempts = append(attempts, rec["attempt"].(float64))
		case "token fetch":
			tokenFetches++
			if !slices.Equal(keys, []string{"duration", "level", "method", "msg", "status", "time", "url"}) {
				t.Errorf("token record keys %v", keys)
			}
		default:
			t.Errorf("unexpected record %v", rec)
		}
	}
	// WhoAmI: 503 then 200; the listing; the write (401); the second
	// client's token fails; the assertion client's WhoAmI, then its token
	// refused.
	if !slices.Equal(attempts, []float64{1, 2, 1, 1, 1, 1, 1}) {
		t.Errorf("attempts %v", attempts)
	}
	if tokenFetches != 4 {
		t.Errorf("%d token fetch records, want 4", tokenFetches)
	}
}

// refusing is a handler with debug disabled that fails the test if asked to
// handle a record.
type refusing struct {
	t *testing.T
}

func (r refusing) Enabled(context.Context, slog.Level) bool { return false }
func (r refusing) Handle(context.Context, slog.Record) error {
	r.t.Error("a record was handled with debug disabled")
	return nil
}
func (r refusing) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r refusing) WithGroup(string) slog.Handler      { return r }

func TestNoLoggingWorkWhenDebugIsOff(t *testing.T) {
	runLoggedCalls(t, refusing{t})

	f := &fakeNet{api: okJSON(fixture(t, "whoami.json"))}
	quiet := newLoggedClient(t, f, slog.New(refusing{t}))
	discard := newLoggedClient(t, f, nil)
	ctx := context.Background()
	run := func(c *Client) func() {
		return func() {
			if _, err := c.WhoAmI(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(quiet)()
	run(discard)()
	a, b := testing.AllocsPerRun(50, run(quiet)), testing.AllocsPerRun(50, run(discard))
	if raceEnabled {
		t.Skipf("under the race detector sync.Pool drops items at random: %v and %v allocations are not comparable", a, b)
	}
	if a != b {
		t.Errorf("%v allocations per call with a disabled logger, %v with none", a, b)
	}
}
