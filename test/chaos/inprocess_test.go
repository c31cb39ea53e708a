package chaos

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// faultHeader marks the answers of injected faults, so the client side can
// count them by kind; a reset has no answer and is counted by its error.
const faultHeader = "X-Chaos-Fault"

func mark(kind string) http.Header { return http.Header{faultHeader: {kind}} }

// chaosFaults are the faults drawn for about one request in ten: 503s with
// and without Retry-After, 429s with Retry-After, connection resets and
// slow answers.
func chaosFaults() []dynamicstest.Fault {
	return []dynamicstest.Fault{
		{Status: http.StatusServiceUnavailable, Header: mark("503")},
		{Status: http.StatusServiceUnavailable, RetryAfter: 30 * time.Millisecond, Header: mark("503 retry-after")},
		{Status: http.StatusTooManyRequests, RetryAfter: 50 * time.Millisecond, Header: mark("429 retry-after")},
		{Kind: dynamicstest.FaultReset},
		{Latency: 40 * time.Millisecond, Header: mark("slow")},
	}
}

// tokenFaults are drawn for one token request in five, on top of the
// outages.
func tokenFaults() []dynamicstest.Fault {
	return []dynamicstest.Fault{
		{Status: http.StatusServiceUnavailable, RetryAfter: 20 * time.Millisecond, Header: mark("token 503")},
		{Latency: 30 * time.Millisecond, Header: mark("token slow")},
	}
}

// tokenOutage makes the next n token requests fail.
func tokenOutage(n int) dynamicstest.Fault {
	return dynamicstest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 10 * time.Millisecond,
		Header: mark("token outage"), Times: n}
}

// chaosTransport counts the injected faults the client sees, by kind, and
// the writes the portal acknowledged; at given counts of acknowledged
// writes it runs an event (an outage, an interruption).
type chaosTransport struct {
	next *http.Transport

	mu     sync.Mutex
	kinds  map[string]int
	writes int
	events map[int]func()
}

func (c *chaosTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	var event func()
	c.mu.Lock()
	switch {
	case err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		c.kinds["reset"]++
	case errors.Is(err, context.Canceled):
		c.kinds["cancelled by the client"]++
	case err != nil:
		c.kinds["other error"]++
	case resp.Header.Get(faultHeader) != "":
		c.kinds[resp.Header.Get(faultHeader)]++
	case r.Method == http.MethodPatch && resp.StatusCode == http.StatusOK:
		c.writes++
		event = c.events[c.writes]
	}
	c.mu.Unlock()
	if event != nil {
		event()
	}
	return resp, err
}

// CloseIdleConnections lets the adapter's Close reach the transport.
func (c *chaosTransport) CloseIdleConnections() { c.next.CloseIdleConnections() }

func (c *chaosTransport) seen() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.kinds {
		out[k] = v
	}
	return out
}

// TestChaosSyncInProcess runs a pass of 10,000 certifications through the
// real adapter and the core while one request in ten is faulted, the token
// endpoint has two outages and the pass is cut off twice in the middle of
// a page; each pass that stops is resumed from its checkpoint.
func TestChaosSyncInProcess(t *testing.T) {
	const (
		records  = 10000
		pageSize = 500
		seed     = 20261128
	)
	if testing.Short() {
		t.Skip("a pass of 10,000 records under faults takes several seconds")
	}
	start := time.Now()
	day := today()
	secret := secretMarker + "-inprocess"
	var emuLog, log bytes.Buffer // slog handlers serialise their writes
	emu, err := dynamicstest.Start(&dynamicstest.Options{
		Certifications: records,
		Seed:           seed,
		ClientSecret:   secret,
		// Tokens are replaced 60 s before their expiry: a 62 s token
		// lasts about 2 s, so the pass fetches many of them.
		TokenLifetime: 62 * time.Second,
		Logger:        slog.New(slog.NewJSONHandler(&emuLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	exp := expect(emu.Certifications(), day)

	emu.SetFaultRate(dynamicstest.RouteAll, dynamicstest.FaultPlan{Rate: 0.1, Seed: seed, Faults: chaosFaults()})
	emu.SetFaultRate(dynamicstest.RouteToken, dynamicstest.FaultPlan{Rate: 0.2, Seed: seed + 1, Faults: tokenFaults()})

	var (
		cancelMu  sync.Mutex
		cancelRun context.CancelFunc
		cuts      int
	)
	interrupt := func() {
		cancelMu.Lock()
		defer cancelMu.Unlock()
		if cancelRun != nil {
			cancelRun()
			cuts++
		}
	}
	outage := func() { emu.Inject(dynamicstest.RouteToken, tokenOutage(12)) }
	tr := &chaosTransport{
		next: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: emu.CertPool(), MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     time.Minute,
		},
		kinds:  map[string]int{},
		events: map[int]func(){900: outage, 1700: interrupt, 2600: outage, 3400: interrupt},
	}
	logger := slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials(emu.ClientID(), secret), nil
	})
	portal, err := dynamics.New(emu.BaseURL(), creds, &dynamics.Options{
		Tenant:        emu.TenantID(),
		AuthorityHost: emu.AuthorityHost(),
		HTTPClient:    &http.Client{Transport: tr},
		Logger:        logger,
		// Short backoff: an injected fault without Retry-After costs
		// milliseconds, not the default seconds.
		Retry: dynamics.RetrySettings{BaseDelay: 5 * time.Millisecond, MaxDelay: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer portal.Close()

	dir := t.TempDir()
	outFile, cpFile := filepath.Join(dir, "records.jsonl"), filepath.Join(dir, "checkpoint.json")
	scanned := map[string][]byte{}
	stops := map[string]int{}
	var (
		final core.Report
		runs  int
	)
	for done := false; !done; {
		runs++
		if runs > 40 {
			t.Fatalf("the pass did not complete in 40 runs (stops: %v)", stops)
		}
		store, err := jsonl.Open(outFile, cpFile)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := core.NewSyncService(portal, store,
			&core.SyncOptions{PageSize: pageSize, WriteBatch: 1, Budget: 2 * time.Minute, Location: time.UTC, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancelMu.Lock()
		cancelRun = cancel
		cancelMu.Unlock()
		rep, runErr := svc.Run(ctx)
		cancelMu.Lock()
		cancelRun = nil
		cancelMu.Unlock()
		cancel()
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		scanned[fmt.Sprintf("report of run %d", runs)] = js
		if runErr == nil {
			final, done = rep, true
			continue
		}
		stops[ports.CodeOf(runErr).String()]++
		if ports.CodeOf(runErr) == ports.CodeCanceled {
			settle(t, emu)
		}
		scanned[fmt.Sprintf("error of run %d", runs)] = fmt.Appendf(nil, "%v\n%+v", runErr, runErr)
		scanned[fmt.Sprintf("checkpoint after run %d", runs)] = readIfExists(t, cpFile)
		scanned[fmt.Sprintf("record file after run %d", runs)] = readIfExists(t, outFile+".partial")
	}
	skipIfDayChanged(t, day)

	if !final.Complete || !final.Resumed {
		t.Errorf("final report: complete %v, resumed %v; want a complete pass resumed from a checkpoint", final.Complete, final.Resumed)
	}
	checkCounts(t, final.SyncCounts, exp, pageSize)
	w := checkWrites(t, emu, exp, pageSize, true)
	checkRecordFile(t, outFile, exp)
	// An interruption can land on a run that an outage is failing already,
	// which then stops with the outage's code.
	if cuts != 2 || stops["canceled"] == 0 || len(stops) < 2 {
		t.Errorf("stops %v after %d interruptions; want the interruptions and at least one failure", stops, cuts)
	}

	st := emu.Stats()
	seen := tr.seen()
	if seen["token outage"] < 4 || seen["reset"] == 0 || seen["429 retry-after"] == 0 || seen["503"] == 0 || seen["slow"] == 0 {
		t.Errorf("faults seen by the client: %s; want every kind", faultKinds(seen))
	}
	requests := 0
	for _, n := range st.Requests {
		requests += n
	}
	t.Logf("chaos in process: %d records, %d pages of %d, %d runs (stops by code: %v), %d requests, %d faults injected (%.1f%%; by route %v)",
		records, final.Pages, pageSize, runs, stops, requests, st.TotalFaults(), 100*float64(st.TotalFaults())/float64(requests), st.Faults)
	t.Logf("faults seen by the client by kind: %s; token requests %d, tokens issued %d",
		faultKinds(seen), st.TokenRequests, st.TokensIssued)
	t.Logf("writes: %d records needed one; writes per such record min %d max %d; records written twice %d (pages %d); unneeded writes %d; took %v",
		len(exp.write), w.min, w.max, w.twice, w.pagesTwice, w.unneeded, time.Since(start).Round(time.Millisecond))

	if err := portal.Close(); err != nil {
		t.Fatal(err)
	}
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	scanned["adapter and core log"] = log.Bytes()
	scanned["emulator log"] = emuLog.Bytes()
	scanned["record file"] = readIfExists(t, outFile)
	scanned["checkpoint file"] = readIfExists(t, cpFile)
	scanForSecrets(t, emu.ClientID(), secret, emu.IssuedTokens(), scanned)
}

// settle waits until the emulator has been quiet for 50 ms. A cancelled run
// (the in-process stand-in for a crash) cuts its writes off on the wire,
// and the portal may still apply them after Run has returned; a run
// started at once could read their records before they land and write
// them again. A restarted process never comes back that fast.
func settle(t *testing.T, emu *dynamicstest.Emulator) {
	t.Helper()
	count := func() int {
		st := emu.Stats()
		n := st.TotalWrites()
		for _, r := range st.Requests {
			n += r
		}
		return n
	}
	last := count()
	for range 40 {
		time.Sleep(50 * time.Millisecond)
		n := count()
		if n == last {
			return
		}
		last = n
	}
	t.Fatal("the emulator did not settle within 2 s")
}
