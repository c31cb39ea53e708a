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

	"github.com/hlf/dynamicsportal/adapters/checkpoint"
	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/adapters/postgres"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
	"github.com/hlf/dynamicsportal/test/emulator"
)

// The store benchmarks' sizes: small by default, so that go test -bench
// with -benchtime=1x stays quick; run.sh sets the figures' sizes
// (PORTALSYNC_BENCH_STORE_SIZE=100000).
func storeSize() int {
	if n, err := strconv.Atoi(os.Getenv("PORTALSYNC_BENCH_STORE_SIZE")); err == nil && n > 0 {
		return n
	}
	return 2000
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
// storing to JSON lines, then the same pass storing into PostgreSQL (the
// certifications, every assignment, the checkpoint per page), each on a
// fresh emulator with the same seed, interleaved. It reports both wall
// times and their ratio (goal: postgres/jsonl ≤ 1.15).
func BenchmarkStorePass(b *testing.B) {
	n := storeSize()
	dbURL := pgtest.Database(b, migrated)
	var jsonlWall, pgWall time.Duration
	for range b.N {
		jsonlWall += storePass(b, n, "")
		pgWall += storePass(b, n, dbURL)
	}
	b.ReportMetric(float64(jsonlWall.Milliseconds())/float64(b.N), "jsonl-ms/pass")
	b.ReportMetric(float64(pgWall.Milliseconds())/float64(b.N), "postgres-ms/pass")
	b.ReportMetric(float64(pgWall)/float64(jsonlWall), "postgres/jsonl")
	b.ReportMetric(float64(n), "certifications")
}

func storePass(b *testing.B, n int, dbURL string) time.Duration {
	b.Helper()
	b.StopTimer()
	emu, err := emulator.Start(emulator.Options{Certifications: n, Seed: 11})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	c := newAdapter(b, emu)
	defer c.Close()
	var (
		sink  ports.RecordSink
		store ports.CheckpointStore
		opts  = core.SyncOptions{PageSize: 5000}
	)
	if dbURL == "" {
		js, err := jsonl.Open(filepath.Join(b.TempDir(), "records.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		defer js.Close()
		sink, store = js, checkpoint.NewMemory()
	} else {
		s, err := postgres.Open(b.Context(), dbURL, postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		sink, store, opts.Assignments = s, s, s
	}
	svc, err := core.NewSyncService(c, sink, store, nil, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	rep, err := svc.Run(b.Context())
	wall := time.Since(start)
	b.StopTimer()
	if err != nil || !rep.Complete || rep.Read != n {
		b.Fatalf("pass: %+v, %v", rep, err)
	}
	return wall
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
	s, err := postgres.Open(b.Context(), dbURL, postgres.Options{})
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
// inside the security-definer function (sent to this client as LOG
// notices).
func logPlan(b *testing.B, dbURL, user string) int {
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
	calls := 0
	for _, p := range plan {
		if !strings.Contains(p, "portal.certifications") {
			continue
		}
		b.Logf("plan of the function's query:\n%s", p)
		for _, line := range strings.Split(p, "\n") {
			if (strings.Contains(line, "Filter:") || strings.Contains(line, "Cond:")) && strings.Contains(line, "uid()") {
				calls++
			}
		}
	}
	if len(plan) == 0 {
		b.Fatal("auto_explain sent no plan")
	}
	return calls
}
