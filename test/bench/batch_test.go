package bench

import (
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/core"
)

// The service protection limits of the batch figures: Dataverse's 6000
// requests and 1200 s of execution time per 300 s, both scaled down
// together to 400 requests and 80 s per 10 s window (the same 5 requests
// per second of execution), with every write costing 20 ms of execution
// and taking 20 ms (a $batch's parts one after another, as Dataverse
// serves them).
const (
	limitRequests  = 400
	limitExecution = 80 * time.Second
	limitWindow    = 10 * time.Second
	writeCost      = 20 * time.Millisecond
)

// firstPassRecords is the roster of the batch figures. Only test/bench/run.sh
// runs them at this size (BENCH_LONG=1: minutes each); go test -bench runs
// them on a small roster that stays under both limits, so that they keep
// working without slowing the suite down.
func firstPassRecords() int {
	if os.Getenv("BENCH_LONG") == "1" {
		return 20_000
	}
	return 200
}

// BenchmarkFirstPass runs a first pass (no record synced before, so every
// record is written) over 20,000 certifications against both limits: with
// one request per write, and with batches of the default size.
func BenchmarkFirstPass(b *testing.B) {
	for _, n := range []int{1, core.DefaultWriteBatch} {
		b.Run("write-batch="+strconv.Itoa(n), func(b *testing.B) { benchLimited(b, n) })
	}
}

// BenchmarkWriteBatchSweep runs the same first pass with batches of
// several sizes, the measurement behind core.DefaultWriteBatch.
func BenchmarkWriteBatchSweep(b *testing.B) {
	for _, n := range []int{10, 20, 50, 100, 500, 1000} {
		b.Run("write-batch="+strconv.Itoa(n), func(b *testing.B) { benchLimited(b, n) })
	}
}

// benchLimited runs b.N first passes with the given write batch size and
// reports the wall time against the least the limits allow.
//
// The least time: the portal admits a request while the window holds
// fewer than L requests and less than E of execution, so an admitted
// request may take the window past E by its own cost, at most that of one
// batch, B = write batch × c. A pass of R requests costing C in all (c per
// operation: a request, or each part of a batch) needs at least
// max(floor((R-1)/L), ceil(C/(E+B)) - 1) full windows W before its last
// request may start:
//
//	least = max(floor((R-1)/L), ceil(C/(E+B)) - 1) × W
func benchLimited(b *testing.B, writeBatch int) {
	var wall, least time.Duration
	var requests, parts, throttled, writes int
	for range b.N {
		opts := dynamicstest.Options{Certifications: firstPassRecords(), Seed: 1, NeverSynced: true,
			Limits: dynamicstest.Limits{Requests: limitRequests, ExecutionTime: limitExecution, Window: limitWindow, OperationCost: writeCost}}
		p, err := runPass(b, opts, func(e *dynamicstest.Emulator) { e.SetLatency(dynamicstest.RoutePatch, writeCost) },
			core.SyncOptions{WriteBatch: writeBatch})
		if err != nil {
			// Reported, not fatal: a batch size at which the pass cannot
			// finish is a result of the sweep.
			b.Logf("pass stopped after %v, %d writes: %v", p.wall.Round(time.Second), p.rep.Writes.Done, err)
			b.ReportMetric(1, "stopped")
			return
		}
		if p.rep.Writes.Done != firstPassRecords() {
			b.Fatalf("%d writes done, want every record", p.rep.Writes.Done)
		}
		// Admitted operations: each request counts one, a batch one per
		// part instead.
		ops := p.requests - p.stats.Requests[dynamicstest.RouteBatch] + p.stats.BatchParts
		cost := time.Duration(ops) * writeCost
		windows := max((p.requests-1)/limitRequests,
			int(math.Ceil(float64(cost)/float64(limitExecution+time.Duration(writeBatch)*writeCost)))-1)
		wall += p.wall
		least += time.Duration(windows) * limitWindow
		requests += p.requests
		parts += p.stats.BatchParts
		throttled += p.stats.Throttled
		writes += p.rep.Writes.Done
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "wall-s")
	b.ReportMetric(least.Seconds()/n, "least-s")
	if least > 0 {
		b.ReportMetric(float64(wall)/float64(least), "wall/least")
	}
	b.ReportMetric(float64(requests)/n, "requests")
	b.ReportMetric(float64(parts)/n, "parts")
	b.ReportMetric(float64(throttled)/n, "429s")
	b.ReportMetric(float64(writes)/wall.Seconds(), "writes/s")
}
