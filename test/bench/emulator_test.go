package bench

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

// startEmulator starts an emulator that the benchmark closes at its end.
func startEmulator(b *testing.B, opts dynamicstest.Options) *dynamicstest.Emulator {
	b.Helper()
	emu, err := dynamicstest.Start(&opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = emu.Close() })
	return emu
}

// newAdapter returns an adapter for emu with a cold token cache and a new
// connection pool with the adapter's own pool settings; the benchmark
// closes it at its end.
func newAdapter(b testing.TB, emu *dynamicstest.Emulator, opts ...dynamics.Options) *dynamics.Client {
	b.Helper()
	creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials(emu.ClientID(), emu.ClientSecret()), nil
	})
	var o dynamics.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Tenant, o.AuthorityHost = emu.TenantID(), emu.AuthorityHost()
	o.HTTPClient = &http.Client{Transport: transport(emu.CertPool())}
	c, err := dynamics.New(emu.BaseURL(), creds, &o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// together runs f in n goroutines released at the same moment and waits
// for them.
func together(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// BenchmarkColdStart releases 1000 callers at once on an adapter with no
// token cached: they must share one token request. One op is the whole
// storm; token-requests and conns are per storm.
func BenchmarkColdStart(b *testing.B) {
	const callers = 1000
	emu := startEmulator(b, dynamicstest.Options{})
	var tokens, conns int
	for b.Loop() {
		emu.ResetStats()
		c := newAdapter(b, emu)
		var failed sync.Map
		together(callers, func(i int) {
			if _, err := c.WhoAmI(b.Context()); err != nil {
				failed.Store(i, err)
			}
		})
		failed.Range(func(_, err any) bool { b.Fatal(err); return false })
		s := emu.Stats()
		if s.TokenRequests != 1 {
			b.Fatalf("%d callers with no token cached made %d token requests, want 1", callers, s.TokenRequests)
		}
		tokens += s.TokenRequests
		conns = max(conns, s.Connections)
		_ = c.Close()
	}
	b.ReportMetric(float64(tokens)/float64(b.N), "token-requests/op")
	b.ReportMetric(float64(conns), "max-conns")
}

// BenchmarkConnections makes b.N WhoAmI calls on one adapter, one after
// another or from 64 goroutines, and reports the TCP connections the
// emulator accepted (the token request included).
func BenchmarkConnections(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(map[int]string{1: "callers=1", 64: "callers=64"}[callers], func(b *testing.B) {
			emu := startEmulator(b, dynamicstest.Options{})
			c := newAdapter(b, emu)
			var mu sync.Mutex
			var n int
			next := func() bool { // hands out b.N calls in all
				mu.Lock()
				defer mu.Unlock()
				n++
				return n <= b.N
			}
			b.ReportAllocs()
			b.ResetTimer()
			together(callers, func(int) {
				for next() {
					if _, err := c.WhoAmI(b.Context()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(emu.Stats().Connections), "conns")
		})
	}
}
