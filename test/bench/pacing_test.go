package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// The tests in this file check that the sync pass and the adapter pace
// their calls together after a 429: every call waits what the portal
// asked, once, and none hits the portal meanwhile. They run in a synctest
// bubble over an in-memory portal, so the waits take no real time and the
// times are exact.

// pacedPortal is an in-memory portal: a token endpoint, one page of
// certifications that all need a write, and writes that answer 204, except
// the first write, which gets the answer first.
type pacedPortal struct {
	records int
	first   func(http.ResponseWriter)
	start   time.Time

	mu     sync.Mutex
	writes []time.Duration // when each write arrived, from start
}

func (p *pacedPortal) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	switch {
	case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"t"}`)
	case r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		var b strings.Builder
		b.WriteString(`{"value":[`)
		for i := range p.records {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"hlf_certificationid":"00000000-0000-4000-8000-%012d","hlf_name":"c","statecode":0,`+
				`"hlf_issuedon":"2025-01-01","hlf_expireson":null,"modifiedon":"2026-11-01T00:00:00Z","hlf_syncstatus":null}`, i)
		}
		b.WriteString(`]}`)
		w.WriteString(b.String())
	default:
		p.mu.Lock()
		n := len(p.writes)
		p.writes = append(p.writes, time.Since(p.start))
		p.mu.Unlock()
		if n == 0 && p.first != nil {
			p.first(w)
		} else {
			// Every other write takes a millisecond, so the first write's
			// answer is in before any other write is answered.
			time.Sleep(time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		}
	}
	resp := w.Result()
	resp.Request = r
	return resp, nil
}

func (p *pacedPortal) writeTimes() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.writes...)
}

func throttledAnswer(retryAfter int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit."}}`)
	}
}

// pacedPass runs a sync pass with 4 writers over p and returns its report
// and how long it took.
func pacedPass(t *testing.T, p *pacedPortal) (core.Report, time.Duration) {
	t.Helper()
	creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials("client", "secret"), nil
	})
	c, err := dynamics.New("https://hlf.crm4.dynamics.com", creds, &dynamics.Options{Tenant: "contoso.onmicrosoft.com", HTTPClient: &http.Client{Transport: p}})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := core.NewSyncService(c, discard(), &core.SyncOptions{Concurrency: 4, WriteBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	p.start = time.Now()
	rep, err := svc.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Writes.Done != p.records || rep.Writes.Failed != 0 {
		t.Fatalf("writes done %d, failed %d, want %d and 0", rep.Writes.Done, rep.Writes.Failed, p.records)
	}
	return rep, time.Since(p.start)
}

// checkPaced fails unless every write went out at 0, with the first, or
// after the whole pause, and some that were not the retried one waited.
func checkPaced(t *testing.T, times []time.Duration, pause time.Duration) {
	t.Helper()
	later := 0
	for _, at := range times[1:] {
		switch {
		case at == 0:
		case at >= pause:
			later++
		default:
			t.Fatalf("a write went out at %v, inside the %v pause (all: %v)", at, pause, times)
		}
	}
	if later < 2 {
		t.Fatalf("no write but the refused one waited for the pause: %v", times)
	}
}

// checkTook fails unless the pass waited the pause once: a pass that
// waited it twice would take twice as long.
func checkTook(t *testing.T, took, pause time.Duration) {
	t.Helper()
	if took < pause || took > pause+time.Second {
		t.Fatalf("pass took %v, want the %v pause once and a few milliseconds", took, pause)
	}
}

// A Retry-After within the adapter's cap: the adapter retries the write
// itself after it, and holds back the pass's other writes as long; the
// pass never sees the 429.
func TestPacingShortRetryAfterHandledByAdapter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pacedPortal{records: 12, first: throttledAnswer(3)}
		_, took := pacedPass(t, p)
		times := p.writeTimes()
		if len(times) != p.records+1 {
			t.Fatalf("%d writes reached the portal, want %d (one refused, then each once)", len(times), p.records+1)
		}
		checkPaced(t, times, 3*time.Second)
		checkTook(t, took, 3*time.Second)
	})
}

// A Retry-After beyond the adapter's 16 s cap: the adapter gives the 429
// back to the pass at once, and fails the pass's other writes without
// sending them while the pause lasts; the pass waits the pause once and
// then writes everything. Waiting in both layers would take 60 s.
func TestPacingLongRetryAfterWaitedOnceBySync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pacedPortal{records: 12, first: throttledAnswer(30)}
		_, took := pacedPass(t, p)
		times := p.writeTimes()
		if len(times) != p.records+1 {
			t.Fatalf("%d writes reached the portal, want %d (one refused, then each once)", len(times), p.records+1)
		}
		checkPaced(t, times, 30*time.Second)
		checkTook(t, took, 30*time.Second)
	})
}
