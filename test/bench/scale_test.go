package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// scaleSize is the roster of the scale benchmarks: small by default, so
// that go test -bench with -benchtime=1x stays quick; run.sh runs 10,000,
// 100,000 and 1,000,000, each in a process of its own so that its peak
// memory is its own (PORTALSYNC_BENCH_SCALE_SIZE).
func scaleSize() int { return envInt("PORTALSYNC_BENCH_SCALE_SIZE", 2000) }

// BenchmarkStoreScale runs a first pass into the status store over n
// certifications, with an assignment for about every mentor (n mentors), on
// the instant emulator in this process. It reports the time per record,
// the pass's peak memory above what the process held before it, sampled
// every 10 ms: the live Go heap (as each collection finds it) and RSS,
// which also holds the garbage a large heap lets pile up between
// collections; the emulator's data is in the baseline, and it keeps no log
// of the writes. And
// the database's size. Then 1% of the certifications and of the
// assignments are deleted in the portal, and a second complete pass runs:
// its sweep must remove exactly those rows (the benchmark fails
// otherwise), and its time is reported beside the first's.
func BenchmarkStoreScale(b *testing.B) {
	n := scaleSize()
	for range b.N {
		b.StopTimer()
		emu, err := dynamicstest.Start(&dynamicstest.Options{Certifications: n, Mentors: n, Seed: 23, NoWriteLog: true})
		if err != nil {
			b.Fatal(err)
		}
		dbURL := pgtest.Database(b, migrated)
		s, err := postgres.Open(b.Context(), dbURL, nil)
		if err != nil {
			b.Fatal(err)
		}
		c := newAdapter(b, emu)
		svc, err := core.NewSyncService(c, s, &core.SyncOptions{PageSize: 5000, Assignments: s})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		baseRSS, baseHeap := rssBytes(), heapBytes()
		peak := sampleMemory(10 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		rep, err := svc.Run(b.Context())
		first := time.Since(start)
		b.StopTimer()
		peakRSS, peakHeap := peak()
		if err != nil || !rep.Complete || rep.Read != n {
			b.Fatalf("first pass: %+v, %v", rep, err)
		}
		var dbSize int64
		var assigns int
		if err := s.Pool().QueryRow(b.Context(), "select pg_database_size(current_database()), (select count(*) from portal.assignments)").Scan(&dbSize, &assigns); err != nil {
			b.Fatal(err)
		}

		// 1% of each table deleted in the portal; the next complete pass
		// sweeps exactly those rows.
		var goneCerts, goneAssigns []string
		for i, ct := range emu.Certifications() {
			if i%100 == 50 {
				goneCerts = append(goneCerts, ct.ID)
			}
		}
		for i, a := range emu.Assignments() {
			if i%100 == 50 {
				goneAssigns = append(goneAssigns, a.ID)
			}
		}
		if dc, da := emu.DeleteRecords(goneCerts, goneAssigns); dc != len(goneCerts) || da != len(goneAssigns) {
			b.Fatalf("deleted %d and %d, want %d and %d", dc, da, len(goneCerts), len(goneAssigns))
		}
		start = time.Now()
		rep, err = svc.Run(b.Context())
		second := time.Since(start)
		if err != nil || !rep.Complete {
			b.Fatalf("second pass: %+v, %v", rep, err)
		}
		var certsLeft, assignsLeft, stale int
		if err := s.Pool().QueryRow(b.Context(), `select (select count(*) from portal.certifications), (select count(*) from portal.assignments),
			(select count(*) from portal.certifications where id = any($1::uuid[])) + (select count(*) from portal.assignments where id = any($2::uuid[]))`,
			goneCerts, goneAssigns).Scan(&certsLeft, &assignsLeft, &stale); err != nil {
			b.Fatal(err)
		}
		if certsLeft != n-len(goneCerts) || assignsLeft != assigns-len(goneAssigns) || stale != 0 {
			b.Fatalf("after the sweep: %d certifications (want %d), %d assignments (want %d), %d deleted rows left",
				certsLeft, n-len(goneCerts), assignsLeft, assigns-len(goneAssigns), stale)
		}
		s.Close()
		_ = emu.Close()

		b.ReportMetric(float64(first.Nanoseconds())/float64(n), "ns/record")
		b.ReportMetric(float64(max(0, peakRSS-baseRSS))/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(max(0, peakHeap-baseHeap))/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(dbSize)/(1<<20), "db-MiB")
		b.ReportMetric(second.Seconds()/first.Seconds(), "second/first")
		b.ReportMetric(float64(len(goneCerts)+len(goneAssigns)), "swept-rows")
		b.ReportMetric(float64(n), "certifications")
		b.ReportMetric(float64(assigns), "assignments")
	}
}

// rssBytes is the process's resident set size now (VmRSS), 0 where
// /proc/self/status cannot be read.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// heapBytes is the live Go heap as the last collection found it: what
// the process holds, without the garbage that a large heap (the emulator's
// data) lets pile up between collections.
func heapBytes() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// sampleMemory samples RSS and heap every period until the returned
// function is called, which returns their peaks.
func sampleMemory(period time.Duration) func() (rss, heap int64) {
	var peakRSS, peakHeap atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if r := rssBytes(); r > peakRSS.Load() {
				peakRSS.Store(r)
			}
			if h := heapBytes(); h > peakHeap.Load() {
				peakHeap.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) {
		close(stop)
		<-done
		return peakRSS.Load(), peakHeap.Load()
	}
}

// BenchmarkStatusesUnderLoad calls StatusesFor from 32 concurrent callers,
// each a different coordinator or chapter admin, for
// PORTALSYNC_BENCH_LOAD_SECONDS (default 2; run.sh: 30), over a mirror of n
// certifications and n assignments (scaleSize). It reports the median and
// p99 call and the calls per second (goal: median < 5 ms, p99 < 20 ms), and
// the sequential scans in the function's plan (goal: 0: index scans only).
func BenchmarkStatusesUnderLoad(b *testing.B) {
	n := scaleSize()
	seconds := envInt("PORTALSYNC_BENCH_LOAD_SECONDS", 2)
	dbURL := pgtest.Database(b, migrated)
	conn, err := pgx.Connect(b.Context(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	// n mentors with a certification and an assignment each, to n/50
	// coordinators (50 mentors each) in n/500 chapters (500 mentors each);
	// a seventh of the assignments ended yesterday and an eleventh are
	// inactive. 16 users are coordinators, 16 administer a chapter each.
	coordinators, chapters := max(1, n/50), max(1, n/500)
	for _, q := range []string{
		`insert into portal.certifications (id, mentor_id, name, expires_on, active, status, synced_at)
		 select gen_random_uuid(), ('d0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'Course',
		        current_date + (i % 700) - 200, true, (array['valid','expiring','expired','inactive'])[1 + i % 4], now()
		   from generate_series(1, $1) i where $2 > 0 and $3 > 0`,
		`insert into portal.assignments (id, mentor_id, coordinator_id, chapter_id, starts_on, ends_on, active, synced_at)
		 select gen_random_uuid(), ('d0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
		        ('c1000000-0000-4000-8000-' || lpad((i % $2)::text, 12, '0'))::uuid,
		        ('e0000000-0000-4000-8000-' || lpad((i % $3)::text, 12, '0'))::uuid,
		        current_date - 30 - (i % 37), case when i % 7 = 0 then current_date - 1 end, i % 11 <> 0, now()
		   from generate_series(1, $1) i`,
		`insert into portal.people select ('a0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
		        ('c1000000-0000-4000-8000-' || lpad((i % $2)::text, 12, '0'))::uuid from generate_series(1, 16) i where $1 > 0 and $3 > 0`,
		`insert into portal.chapter_admins select ('b0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
		        ('e0000000-0000-4000-8000-' || lpad((i % $3)::text, 12, '0'))::uuid from generate_series(1, 16) i where $1 > 0 and $2 > 0`,
	} {
		if _, err := conn.Exec(b.Context(), q, n, coordinators, chapters); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := conn.Exec(b.Context(), "analyze"); err != nil {
		b.Fatal(err)
	}
	users := make([]string, 0, 32)
	for i := 1; i <= 16; i++ {
		users = append(users, fmt.Sprintf("a0000000-0000-4000-8000-%012d", i), fmt.Sprintf("b0000000-0000-4000-8000-%012d", i))
	}
	seqScans := countSeqScans(b, dbURL, users[0]) + countSeqScans(b, dbURL, users[1])
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = int32(len(users))
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	s, err := postgres.New(pool, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var (
		mu    sync.Mutex
		all   []time.Duration
		empty atomic.Int64
	)
	for range b.N {
		deadline := time.Now().Add(time.Duration(seconds) * time.Second)
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(deadline) {
					start := time.Now()
					rows, err := s.StatusesFor(context.Background(), u, postgres.Filter{})
					mine = append(mine, time.Since(start))
					if err != nil {
						b.Error(err)
						return
					}
					if len(rows) == 0 {
						empty.Add(1)
					}
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	if empty.Load() > 0 {
		b.Fatalf("%d calls saw nothing: the fixture gives every caller rows", empty.Load())
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(all))/(float64(seconds)*float64(b.N)), "calls/s")
	b.ReportMetric(float64(seqScans), "seq-scans")
	b.ReportMetric(float64(n), "rows")
}

// countSeqScans returns the sequential scans of portal tables in the plan
// of the function's query for user (auto_explain, as logPlan reads it).
func countSeqScans(b *testing.B, dbURL, user string) int {
	b.Helper()
	plan := functionPlan(b, dbURL, user)
	n := 0
	for _, line := range strings.Split(plan, "\n") {
		if strings.Contains(line, "Seq Scan on") && strings.Contains(line, "portal.") {
			n++
		}
	}
	return n
}
