package bench

import (
	"strconv"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// writeLatency is the emulator's latency on every write in BenchmarkSync.
const writeLatency = 20 * time.Millisecond

// syncPass is the outcome of one timed sync pass on a fresh emulator.
type syncPass struct {
	wall     time.Duration
	rep      core.Report
	requests int // Web API requests the portal admitted (429s left out)
	stats    dynamicstest.Stats
}

// runSync starts an emulator with opts, lets setup adjust it, and runs one
// sync pass through the adapter with the given sync options. Only the pass
// is timed. A pass that fails or leaves a record unwritten fails the
// benchmark.
func runSync(b *testing.B, opts dynamicstest.Options, setup func(*dynamicstest.Emulator), so core.SyncOptions) syncPass {
	b.Helper()
	p, err := runPass(b, opts, setup, so)
	if err != nil {
		b.Fatalf("sync pass: %v", err)
	}
	if p.rep.Writes.Failed != 0 || !p.rep.Complete {
		b.Fatalf("sync pass: %d writes failed, complete %v", p.rep.Writes.Failed, p.rep.Complete)
	}
	return p
}

// runPass is runSync that hands back the pass's error instead.
func runPass(b *testing.B, opts dynamicstest.Options, setup func(*dynamicstest.Emulator), so core.SyncOptions) (syncPass, error) {
	b.Helper()
	b.StopTimer()
	emu, err := dynamicstest.Start(&opts)
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	if setup != nil {
		setup(emu)
	}
	c := newAdapter(b, emu)
	defer c.Close()
	svc, err := core.NewSyncService(c, discard(), &so)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	rep, err := svc.Run(b.Context())
	wall := time.Since(start)
	b.StopTimer()
	s := emu.Stats()
	n := 0
	for route, k := range s.Requests {
		if route != dynamicstest.RouteToken {
			n += k
		}
	}
	return syncPass{wall: wall, rep: rep, requests: n - s.Throttled, stats: s}, err
}

// BenchmarkSync runs a sync pass over 10,000 certifications, about half of
// which need their sync metadata written, with 20 ms of emulator latency on
// every write, one request per write at the default write concurrency. It
// reports the wall time against the ideal: writes × latency / concurrency.
func BenchmarkSync(b *testing.B) { benchSync(b, 10_000, 0) }

// BenchmarkSyncConcurrency runs the same pass over 4000 certifications at
// several write concurrencies, the measurement behind
// core.DefaultConcurrency.
func BenchmarkSyncConcurrency(b *testing.B) {
	for _, n := range []int{8, 16, 32, 52} {
		b.Run("conc="+strconv.Itoa(n), func(b *testing.B) { benchSync(b, 4000, n) })
	}
}

// benchSync runs b.N passes over records certifications with the given
// write concurrency (0: the sync's default, left to it to choose).
func benchSync(b *testing.B, records, concurrency int) {
	writers := concurrency
	if writers == 0 {
		writers = core.DefaultConcurrency
	}
	var wall, ideal time.Duration
	var writes int
	for range b.N {
		opts := dynamicstest.Options{Certifications: records, Seed: 1}
		p := runSync(b, opts, func(e *dynamicstest.Emulator) { e.SetLatency(dynamicstest.RoutePatch, writeLatency) },
			core.SyncOptions{Concurrency: concurrency, WriteBatch: 1})
		wall += p.wall
		writes += p.rep.Writes.Done
		ideal += time.Duration(p.rep.Writes.Done) * writeLatency / time.Duration(writers)
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
	b.ReportMetric(ideal.Seconds()/float64(b.N), "ideal-s")
	b.ReportMetric(float64(wall)/float64(ideal), "wall/ideal")
	b.ReportMetric(float64(writes)/float64(b.N), "writes")
}

// The scaled-down service protection limit of BenchmarkThrottledSync: a
// tenth of Dataverse's 6000 requests per 300 s, over a window a thirtieth
// as long, so that the pass runs into it twice and still ends in seconds.
const (
	throttleRequests = 400
	throttleWindow   = 10 * time.Second
)

// BenchmarkThrottledSync runs a sync pass over 2000 certifications (about
// 1000 writes, one request each) against the emulator enforcing 400 requests per sliding
// 10 s window. Every record must be written (none failed). It reports the
// wall time against the least the limit allows: the portal admits at most
// L requests per window W, so R requests need at least floor((R-1)/L)
// full windows before the last one may start, (floor((R-1)/L)) × W.
func BenchmarkThrottledSync(b *testing.B) {
	var wall, least time.Duration
	var throttled, requests, failed int
	for range b.N {
		opts := dynamicstest.Options{Certifications: 2000, Seed: 1,
			Limits: dynamicstest.Limits{Requests: throttleRequests, Window: throttleWindow}}
		p := runSync(b, opts, nil, core.SyncOptions{WriteBatch: 1})
		wall += p.wall
		least += time.Duration((p.requests-1)/throttleRequests) * throttleWindow
		throttled += p.stats.Throttled
		requests += p.requests
		failed += p.rep.Writes.Failed
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
	b.ReportMetric(least.Seconds()/float64(b.N), "least-s")
	b.ReportMetric(float64(wall)/float64(least), "wall/least")
	b.ReportMetric(float64(requests)/float64(b.N), "requests")
	b.ReportMetric(float64(throttled)/float64(b.N), "429s")
	b.ReportMetric(float64(failed)/float64(b.N), "failed")
}

// discard is a pass store that keeps no record and its checkpoint in
// memory, so a benchmark measures the pass, not a store.
func discard() ports.PassStore {
	s, err := jsonl.Open("", "")
	if err != nil {
		panic(err)
	}
	return s
}
