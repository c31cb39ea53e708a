package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

// The store benchmarks' sizes: small by default, so that go test -bench
// with -benchtime=1x stays quick; run.sh sets the figures' sizes
// (PORTALSYNC_BENCH_STORE_SIZE=100000).
func storeSize() int { return envInt("PORTALSYNC_BENCH_STORE_SIZE", 2000) }

// envInt returns the positive integer the environment variable name holds,
// or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var migrated = pgtest.Template{Name: "portal_" + pgtest.HashFS(postgres.Migrations()), Prepare: func(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = postgres.Migrate(ctx, pool)
	return err
}}

// BenchmarkStorePass times one sync pass over the emulator's certifications
// storing to JSON lines with a checkpoint file (sync --out --checkpoint),
// then the same pass storing into PostgreSQL (the certifications, every
// assignment, the checkpoint per page), each on a fresh emulator with the
// same seed, interleaved. The database starts empty, so this is a first
// pass. It reports both wall times, their ratio (goal: postgres/jsonl ≤
// 1.15) and the busy CPU time of the whole machine during each pass (the
// emulator, the pass and the database share its cores).
//
// It runs twice: with an instant emulator, where the pass is bound by CPU
// alone, and with the portal's latency modelled (100 ms per page read and,
// as in BenchmarkSync, 20 ms per write).
func BenchmarkStorePass(b *testing.B) {
	for _, portal := range []struct {
		name        string
		read, write time.Duration
	}{
		{"portal=instant", 0, 0},
		{"portal=latency", pageReadLatency, writeLatency},
	} {
		b.Run(portal.name, func(b *testing.B) {
			n := storeSize()
			setup := func(e *dynamicstest.Emulator) {
				if portal.read > 0 {
					e.SetLatency(dynamicstest.RouteCertifications, portal.read)
					e.SetLatency(dynamicstest.RouteAssignments, portal.read)
					e.SetLatency(dynamicstest.RoutePatch, portal.write)
				}
			}
			var jsonl, pg storeRun
			for range b.N {
				jsonl.add(storePass(b, n, "", setup))
				pg.add(storePass(b, n, pgtest.Database(b, migrated), setup))
			}
			b.ReportMetric(float64(jsonl.wall.Milliseconds())/float64(b.N), "jsonl-ms/pass")
			b.ReportMetric(float64(pg.wall.Milliseconds())/float64(b.N), "postgres-ms/pass")
			b.ReportMetric(float64(pg.wall)/float64(jsonl.wall), "postgres/jsonl")
			if jsonl.cpu > 0 {
				b.ReportMetric(jsonl.cpu.Seconds()/float64(b.N), "jsonl-cpu-s/pass")
				b.ReportMetric(pg.cpu.Seconds()/float64(b.N), "postgres-cpu-s/pass")
			}
			b.ReportMetric(float64(n), "certifications")
		})
	}
}

// pageReadLatency is the emulator's latency on every page read in
// BenchmarkStorePass/portal=latency.
const pageReadLatency = 100 * time.Millisecond

// storeRun adds up the passes of one kind.
type storeRun struct{ wall, cpu time.Duration }

func (r *storeRun) add(wall, cpu time.Duration) { r.wall, r.cpu = r.wall+wall, r.cpu+cpu }

// storePass runs one pass into dbURL (JSON lines when "") on a fresh
// emulator and returns its wall time and the machine's busy CPU time
// during it (0 where /proc/stat cannot be read).
func storePass(b *testing.B, n int, dbURL string, setup func(*dynamicstest.Emulator)) (wall, cpu time.Duration) {
	b.Helper()
	b.StopTimer()
	emu, err := dynamicstest.Start(&dynamicstest.Options{Certifications: n, Seed: 11})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	setup(emu)
	c := newAdapter(b, emu)
	defer c.Close()
	var (
		store ports.PassStore
		opts  = core.SyncOptions{PageSize: 5000}
	)
	if dbURL == "" {
		dir := b.TempDir()
		files, err := jsonl.Open(filepath.Join(dir, "records.jsonl"), filepath.Join(dir, "checkpoint.json"))
		if err != nil {
			b.Fatal(err)
		}
		defer files.Close()
		store = files
	} else {
		s, err := postgres.Open(b.Context(), dbURL, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		store, opts.Assignments = s, s
	}
	svc, err := core.NewSyncService(c, store, &opts)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	busy := machineBusy()
	start := time.Now()
	rep, err := svc.Run(b.Context())
	wall = time.Since(start)
	if busy > 0 {
		cpu = machineBusy() - busy
	}
	b.StopTimer()
	if err != nil || !rep.Complete || rep.Read != n {
		b.Fatalf("pass: %+v, %v", rep, err)
	}
	return wall, cpu
}

// machineBusy returns the CPU time all cores of the machine have spent
// busy since boot (user, nice, system, irq, softirq and steal of
// /proc/stat), or 0 where that cannot be read.
func machineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// BenchmarkStatusesFor times StatusesFor for a coordinator with 50 mentors
// over a mirror of as many certifications and assignments as storeSize
// (100,000 each for the figure). It reports the median call (goal: under
// 5 ms), and logs the plan of the function's query (auto_explain) once,
// counting the plan nodes that call auth.uid() (goal: 0: the function reads
// it once, and the plan holds the caller as a constant).
func BenchmarkStatusesFor(b *testing.B) {
	n := storeSize()
	dbURL := pgtest.Database(b, migrated)
	conn, err := pgx.Connect(b.Context(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	const (
		user        = "c0000000-0000-4000-8000-000000000001"
		coordinator = "c1000000-0000-4000-8000-000000000001"
	)
	// n mentors with one certification and one assignment each, to 100
	// coordinators; the first 50 mentors belong to our coordinator.
	for _, q := range []struct {
		sql string
		n   bool
	}{{
		`insert into portal.certifications (id, mentor_id, name, expires_on, active, status, synced_at)
		 select gen_random_uuid(), ('d0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'Course',
		        current_date + (i % 700) - 200, true, (array['valid','expiring','expired','inactive'])[1 + i % 4], now()
		   from generate_series(1, $1) i`, true}, {
		`insert into portal.assignments (id, mentor_id, coordinator_id, chapter_id, starts_on, active, synced_at)
		 select gen_random_uuid(), ('d0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
		        case when i <= 50 then '` + coordinator + `'::uuid else ('c2000000-0000-4000-8000-' || lpad((i % 100)::text, 12, '0'))::uuid end,
		        ('e0000000-0000-4000-8000-' || lpad((i % 24)::text, 12, '0'))::uuid, current_date - 30, true, now()
		   from generate_series(1, $1) i`, true},
		{`insert into portal.people values ('` + user + `', '` + coordinator + `')`, false},
		{`analyze`, false},
	} {
		var args []any
		if q.n {
			args = []any{n}
		}
		if _, err := conn.Exec(b.Context(), q.sql, args...); err != nil {
			b.Fatal(err)
		}
	}
	s, err := postgres.Open(b.Context(), dbURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	perRow := logPlan(b, dbURL, user)
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		rows, err := s.StatusesFor(b.Context(), user, postgres.Filter{})
		durations = append(durations, time.Since(start))
		if err != nil || len(rows) != 50 {
			b.Fatalf("StatusesFor: %d rows, %v; want 50", len(rows), err)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(perRow), "plan-nodes-calling-auth.uid")
	b.ReportMetric(float64(n), "rows")
}

// logPlan logs the plan of the function's query, as auto_explain sees it
// inside the security-definer function, and returns the plan nodes that
// call auth.uid().
func logPlan(b *testing.B, dbURL, user string) int {
	plan := functionPlan(b, dbURL, user)
	b.Logf("plan of the function's query:\n%s", plan)
	calls := 0
	for _, line := range strings.Split(plan, "\n") {
		if (strings.Contains(line, "Filter:") || strings.Contains(line, "Cond:")) && strings.Contains(line, "uid()") {
			calls++
		}
	}
	return calls
}

// functionPlan returns the plan of the status function's query for user,
// as auto_explain logs it from inside the security-definer function (sent
// to this client as LOG notices).
func functionPlan(b *testing.B, dbURL, user string) string {
	b.Helper()
	ctx := b.Context()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	var plan []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { plan = append(plan, n.Message) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	claims, _ := json.Marshal(map[string]string{"sub": user})
	for _, q := range []string{"load 'auto_explain'", "set auto_explain.log_min_duration = 0",
		"set auto_explain.log_nested_statements = on", "set auto_explain.log_analyze = on",
		"set client_min_messages = log", "begin",
		"select set_config('role', 'authenticated', true), set_config('request.jwt.claims', '" + string(claims) + "', true)",
		"select count(*) from public.portal_certification_statuses()", "rollback"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatalf("no plan: %s: %v", q, err)
		}
	}
	for _, p := range plan {
		if strings.Contains(p, "portal.certifications") {
			return p
		}
	}
	b.Fatal("auto_explain sent no plan of the function's query")
	return ""
}
