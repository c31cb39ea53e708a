package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

// otherScan gathers the secret scan of the tests outside the fault matrix.
var otherScan secretScan

// scanRun checks a run's output and the files in dirs for secrets.
func scanRun(t *testing.T, e *dynamicstest.Emulator, r result, dirs ...string) {
	t.Helper()
	outputs := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	for _, d := range dirs {
		for k, v := range filesIn(t, d) {
			outputs[k] = v
		}
	}
	otherScan.scan(t, []*dynamicstest.Emulator{e}, nil, outputs)
}

// withoutVar drops the NAME= entries of env.
func withoutVar(env []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// `check` prints the emulator's identity as one JSON object and fetches
// exactly one token, with the flag turned on by a flags file (named by
// the environment or by --flags).
func TestCheckWithFlagsFile(t *testing.T) {
	for _, by := range []string{"environment", "flag"} {
		t.Run(by, func(t *testing.T) {
			e := startEmulator(t, nil)
			file := writeFile(t, t.TempDir(), "flags.json", flagsFileOn)
			env := withoutVar(binaryEnv(e), "FEATURE_DYNAMICS_PORTAL_ENABLED")
			args := []string{"check"}
			if by == "environment" {
				env = append(env, "PORTALSYNC_FLAGS_FILE="+file)
			} else {
				args = append(args, "--flags", file)
			}
			r := runBinary(t, env, args...)
			r.wantExit(t, 0, "")
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			var id liveIdentity
			if err := dec.Decode(&id); err != nil {
				t.Fatalf("stdout is not an identity: %v\n%s", err, r.stdout)
			}
			if id != (liveIdentity{"live", e.Identity()}) || strings.Count(r.stdout, "\n") != 1 {
				t.Errorf("stdout %q, want the one line of identity %+v", r.stdout, e.Identity())
			}
			s := e.Stats()
			if s.TokenRequests != 1 || s.TokensIssued != 1 || s.Requests[dynamicstest.RouteWhoAmI] != 1 {
				t.Errorf("token requests %d, tokens issued %d, WhoAmI calls %d; want 1 each",
					s.TokenRequests, s.TokensIssued, s.Requests[dynamicstest.RouteWhoAmI])
			}
			scanRun(t, e, r)
		})
	}
}

// The listings stream every record as one JSON line, in key order, and
// nothing else.
func TestListings(t *testing.T) {
	e := startEmulator(t, nil)
	env := binaryEnv(e)

	t.Run("certifications", func(t *testing.T) {
		e.ResetStats()
		r := runBinary(t, env, "certifications", "--page-size", "3")
		r.wantExit(t, 0, "")
		if got, want := listedIDs(t, r.stdout), ids(e.Certifications()); !slices.Equal(got, want) {
			t.Errorf("listed ids\n got %v\nwant %v", got, want)
		}
		if n := e.Stats().Requests[dynamicstest.RouteCertifications]; n != pagesOfThree {
			t.Errorf("%d page requests, want %d", n, pagesOfThree)
		}
		scanRun(t, e, r)
	})

	t.Run("modified-since", func(t *testing.T) {
		certs := e.Certifications()
		times := make([]time.Time, len(certs))
		for i, c := range certs {
			times[i] = c.ModifiedOn
		}
		slices.SortFunc(times, time.Time.Compare)
		since := times[len(times)/2]
		var want []string
		for _, c := range certs {
			if c.ModifiedOn.After(since) {
				want = append(want, c.ID)
			}
		}
		if len(want) == 0 || len(want) == len(certs) {
			t.Fatalf("the filter keeps %d of %d records: pick another time", len(want), len(certs))
		}
		r := runBinary(t, env, "certifications", "--page-size", "2", "--modified-since", since.Format(time.RFC3339))
		r.wantExit(t, 0, "")
		if got := listedIDs(t, r.stdout); !slices.Equal(got, want) {
			t.Errorf("listed ids modified after %s\n got %v\nwant %v", since, got, want)
		}
		scanRun(t, e, r)
	})

	t.Run("assignments", func(t *testing.T) {
		r := runBinary(t, env, "assignments", "--page-size", "2")
		r.wantExit(t, 0, "")
		var got []string
		for line := range strings.Lines(r.stdout) {
			var a ports.Assignment
			if err := json.Unmarshal([]byte(line), &a); err != nil || a.ID == "" {
				t.Fatalf("stdout line is not an assignment (%v): %q", err, line)
			}
			got = append(got, a.ID)
		}
		var want []string
		for _, a := range e.Assignments() {
			want = append(want, a.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("listed ids\n got %v\nwant %v", got, want)
		}
		scanRun(t, e, r)
	})
}

// `sync` takes today's date in PORTALSYNC_TIMEZONE, not in UTC (the
// process runs with TZ=UTC). The zone is chosen so that its date differs
// from UTC's right now, and the window so that it ends, in UTC, exactly on
// the expiry date of a seeded record: that record is expiring on one side
// of the date line and valid on the other.
func TestSyncTodayIsInTheConfiguredZone(t *testing.T) {
	zone, shift := "Etc/GMT+12", -1 // UTC-12: yesterday while UTC is before noon
	if time.Now().UTC().Hour() >= 12 {
		zone, shift = "Etc/GMT-14", 1 // UTC+14: already tomorrow
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	e := startEmulator(t, func(o *dynamicstest.Options) { o.Certifications = 300 })
	utcToday := ports.DateOf(time.Now().UTC())
	window := 0
	for _, c := range e.Certifications() {
		if c.State == ports.StateInactive || c.ExpiresOn.IsZero() {
			continue
		}
		// The record's expiry is the last day of the window in the zone
		// that is a day ahead: UTC's window when the zone is behind, the
		// zone's when it is ahead.
		midnight := func(d ports.Date) time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }
		days := int(midnight(c.ExpiresOn).Sub(midnight(utcToday)).Hours() / 24)
		if shift > 0 {
			days--
		}
		if days >= 1 && days <= 3650 {
			window = days
			break
		}
	}
	if window == 0 {
		t.Fatal("no seeded record expires within 3650 days")
	}
	x, inUTC := expectWithin(e.Certifications(), loc, 100, window), expectWithin(e.Certifications(), time.UTC, 100, window)
	if maps.Equal(x.needs, inUTC.needs) && x.counts == inUTC.counts {
		t.Fatalf("with a %d-day window the seeded records count the same in %s and in UTC: the test would prove nothing", window, zone)
	}
	r := runBinary(t, append(binaryEnv(e), "PORTALSYNC_TIMEZONE="+zone), "sync", "--page-size", "100",
		"--expiring-within", strconv.Itoa(window)+"d")
	r.wantExit(t, 0, "")
	checkComplete(t, parseReport(t, r.stdout), x, 0)
	if n := checkWrites(t, e, x, false); n != len(x.needs) {
		t.Errorf("%d writes, want %d", n, len(x.needs))
	}
}

// `sync` reports exactly what the data call for, writes each record that
// needs it once, and a second pass writes nothing.
func TestSyncReportAndSecondPass(t *testing.T) {
	e := startEmulator(t, nil)
	x := expect(e.Certifications(), time.UTC, pageSize)
	dir := t.TempDir()
	out := filepath.Join(dir, "records.jsonl")
	r := runBinary(t, binaryEnv(e), "sync", "--page-size", "3", "--out", out, "--checkpoint", filepath.Join(dir, "checkpoint.json"))
	r.wantExit(t, 0, "")
	rep := parseReport(t, r.stdout)
	checkComplete(t, rep, x, 0)
	if rep.Resumed {
		t.Error("a fresh pass reports resumed")
	}
	if n := checkWrites(t, e, x, false); n != len(x.needs) {
		t.Errorf("%d writes, want %d", n, len(x.needs))
	}
	if n := e.Stats().Requests[dynamicstest.RouteCertifications]; n != pagesOfThree {
		t.Errorf("%d page requests, want %d", n, pagesOfThree)
	}
	if fileExists(filepath.Join(dir, "checkpoint.json")) {
		t.Error("a complete pass left its checkpoint")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := listedIDs(t, string(b)); !slices.Equal(got, ids(x.certs)) {
		t.Errorf("--out holds ids %v, want %v", got, ids(x.certs))
	}
	scanRun(t, e, r, dir)

	e.ResetStats()
	r = runBinary(t, binaryEnv(e), "sync", "--page-size", "3")
	r.wantExit(t, 0, "")
	rep = parseReport(t, r.stdout)
	want := x.counts
	want.Writes = ports.WriteCounts{Unchanged: records}
	if !rep.Complete || rep.SyncCounts != want {
		t.Errorf("second pass: complete %v, counts %+v; want %+v", rep.Complete, rep.SyncCounts, want)
	}
	if n := e.Stats().TotalWrites(); n != 0 {
		t.Errorf("second pass wrote %d records, want none", n)
	}
	scanRun(t, e, r)
}

// A pass interrupted by SIGINT while a write hangs exits 1 with
// "portalsync: canceled: …" and keeps its checkpoint; the next run resumes
// it and completes: no record skipped, none written twice.
func TestSyncInterruptedAndResumed(t *testing.T) {
	const n = 30 // ten pages of three
	e := startEmulator(t, func(o *dynamicstest.Options) { o.Certifications = n })
	x := expect(e.Certifications(), time.UTC, pageSize)
	if slices.Max(x.pageNeeds[2:]) == 0 {
		t.Fatalf("the data need no write after page 2: %v", x.pageNeeds)
	}
	dir := t.TempDir()
	cp := filepath.Join(dir, "checkpoint.json")
	out := filepath.Join(dir, "records.jsonl")
	args := []string{"sync", "--page-size", "3", "--checkpoint", cp, "--out", out}

	e.SetLatency(dynamicstest.RoutePatch, 150*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := command(ctx, binaryEnv(e), args...)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool { return pageCheckpointed(cp) }) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no checkpoint after the first page; stderr:\n%s", stderr.String())
	}
	// From now on a write hangs; interrupt once one is waiting.
	e.SetLatency(dynamicstest.RoutePatch, time.Minute)
	// Writes go one per request or as the parts of a $batch.
	sent := func() int { s := e.Stats(); return s.Requests[dynamicstest.RoutePatch] + s.BatchParts }
	patches := sent()
	if !waitFor(20*time.Second, func() bool { return sent() > patches }) {
		t.Errorf("no write after the checkpoint")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	r.wantExit(t, 1, "canceled")
	rep := parseReport(t, r.stdout)
	if rep.Complete || rep.Pages < 1 {
		t.Errorf("interrupted pass reports complete %v after %d pages", rep.Complete, rep.Pages)
	}
	before := len(e.Writes())
	if before >= len(x.needs) {
		t.Errorf("the interrupted pass wrote all %d records", before)
	}
	t.Logf("interrupted after %d of %d pages, %d of %d writes applied", rep.Pages, x.counts.Pages, before, len(x.needs))
	if !fileExists(cp) {
		t.Fatal("the interrupted pass removed its checkpoint")
	}
	scanRun(t, e, r, dir)

	e.ClearFaults()
	r = runBinary(t, binaryEnv(e), args...)
	r.wantExit(t, 0, "")
	rep = parseReport(t, r.stdout)
	if !rep.Resumed {
		t.Error("the second run did not resume")
	}
	checkComplete(t, rep, x, 0)
	if got := checkWrites(t, e, x, false); got != len(x.needs) {
		t.Errorf("%d records written over both runs, want %d", got, len(x.needs))
	}
	if fileExists(cp) {
		t.Error("the completed pass left its checkpoint")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := listedIDs(t, string(b)); !slices.Equal(got, ids(x.certs)) {
		t.Errorf("--out holds %d records after the resumed pass, want each of the %d once, in key order", len(got), len(x.certs))
	}
	scanRun(t, e, r, dir)
}

// With the flag off, sync runs on the stub: an empty report, no request to
// the portal, and no settings needed.
func TestFlagOff(t *testing.T) {
	t.Run("no flags file, no settings", func(t *testing.T) {
		r := runBinary(t, nil, "sync")
		r.wantExit(t, 0, "")
		rep := parseReport(t, r.stdout)
		if !rep.Complete || rep.SyncCounts != (ports.SyncCounts{Pages: 1}) || rep.Portal != "stub" {
			t.Errorf("report %+v, want a complete pass of one empty page", rep)
		}
	})
	t.Run("environment overrides a flags file", func(t *testing.T) {
		e := startEmulator(t, nil)
		file := writeFile(t, t.TempDir(), "flags.json", flagsFileOn)
		env := append(withoutVar(binaryEnv(e), "FEATURE_DYNAMICS_PORTAL_ENABLED"),
			"PORTALSYNC_FLAGS_FILE="+file, "FEATURE_DYNAMICS_PORTAL_ENABLED=false")
		r := runBinary(t, env, "sync")
		r.wantExit(t, 0, "")
		rep := parseReport(t, r.stdout)
		if !rep.Complete || rep.SyncCounts != (ports.SyncCounts{Pages: 1}) {
			t.Errorf("report %+v, want a complete pass of one empty page", rep)
		}
		if s := e.Stats(); s.Connections != 0 || len(s.Requests) != 0 {
			t.Errorf("the stub reached the emulator: %d connections, requests %v", s.Connections, s.Requests)
		}
		scanRun(t, e, r)
	})
}

// attemptKeys are the keys of an HTTP attempt record in the JSON log.
var attemptKeys = []string{"time", "level", "msg", "method", "url", "status", "duration", "correlation_id", "attempt"}

// safeQueryKeys are the query parameters whose values the log may show.
var safeQueryKeys = []string{"$select", "$orderby", "$top", "$count", "$expand"}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// With --log-format json every stderr line is JSON, and each Web API
// attempt logs exactly the documented keys with the query values redacted.
func TestJSONDebugLogs(t *testing.T) {
	e := startEmulator(t, nil)
	since := e.Certifications()[0].ModifiedOn.Add(-time.Hour).Format(time.RFC3339)
	for _, args := range [][]string{
		{"sync", "--page-size", "3"},
		{"certifications", "--page-size", "2", "--modified-since", since},
	} {
		t.Run(args[0], func(t *testing.T) {
			e.ResetStats()
			r := runBinary(t, binaryEnv(e), append(args, "--log-format", "json", "--log-level", "debug")...)
			r.wantExit(t, 0, "")
			attempts, tokens := 0, 0
			var patchIDs []string
			for line := range strings.Lines(r.stderr) {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("stderr line is not JSON: %q", line)
					continue
				}
				switch rec["msg"] {
				case "portal request":
					attempts++
					checkAttemptRecord(t, rec)
					if rec["method"] == "PATCH" {
						id, _ := rec["correlation_id"].(string)
						patchIDs = append(patchIDs, id)
					}
				case "portal batch part":
					// A write in a $batch: its part's answer, under the
					// batch's correlation id.
					if st, _ := rec["status"].(float64); st >= 200 && st < 300 {
						id, _ := rec["correlation_id"].(string)
						patchIDs = append(patchIDs, id)
					}
				case "token fetch":
					tokens++
					for _, k := range []string{"method", "url", "status", "duration"} {
						if _, ok := rec[k]; !ok {
							t.Errorf("token fetch record without %q: %v", k, rec)
						}
					}
				}
			}
			s := e.Stats()
			calls := 0
			for route, n := range s.Requests {
				if route != dynamicstest.RouteToken {
					calls += n
				}
			}
			if attempts != calls || tokens != s.TokenRequests {
				t.Errorf("%d attempt records for %d Web API requests, %d token records for %d token requests",
					attempts, calls, tokens, s.TokenRequests)
			}
			// The log's correlation ids are the ones the portal received.
			var written []string
			for _, w := range e.Writes() {
				written = append(written, w.CorrelationID)
			}
			slices.Sort(patchIDs)
			slices.Sort(written)
			if !slices.Equal(patchIDs, written) {
				t.Errorf("correlation ids of the PATCH records %v, the portal's write log has %v", patchIDs, written)
			}
			scanRun(t, e, r)
		})
	}
}

func checkAttemptRecord(t *testing.T, rec map[string]any) {
	t.Helper()
	want := slices.Clone(attemptKeys)
	if _, ok := rec["service_request_id"]; ok {
		want = append(want, "service_request_id")
	}
	var got []string
	for k := range rec {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("attempt record keys %v, want %v", got, want)
	}
	if id, _ := rec["correlation_id"].(string); !uuidPattern.MatchString(id) {
		t.Errorf("correlation_id %q is not a UUID v4", id)
	}
	raw, _ := rec["url"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" {
		t.Errorf("url %q: %v", raw, err)
		return
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		t.Errorf("url %q: query: %v", raw, err)
	}
	for k, vs := range q {
		for _, v := range vs {
			if !slices.Contains(safeQueryKeys, k) && v != "[REDACTED]" {
				t.Errorf("url %q shows the value of %s", raw, k)
			}
		}
	}
}

// A configuration error exits 2 with "portalsync: config: …" before any
// network call.
func TestConfigErrors(t *testing.T) {
	e := startEmulator(t, nil)
	dir := t.TempDir()
	flagsOn := writeFile(t, dir, "flags.json", flagsFileOn)
	notBoolean := writeFile(t, dir, "bad-flags.json",
		`{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": "yes", "off": "no"}, "defaultVariant": "on"}}}`)
	base := binaryEnv(e)
	for _, tt := range []struct {
		name string
		env  []string
		args []string
	}{
		{"http base URL", base, []string{"check", "--base-url", strings.Replace(e.BaseURL(), "https://", "http://", 1)}},
		{"http base URL in the environment", append(withoutVar(base, "DYNAMICS_BASE_URL"),
			"DYNAMICS_BASE_URL="+strings.Replace(e.BaseURL(), "https://", "http://", 1)), []string{"sync"}},
		{"http authority", base, []string{"check", "--authority-host", strings.Replace(e.BaseURL(), "https://", "http://", 1)}},
		{"missing base URL", withoutVar(base, "DYNAMICS_BASE_URL"), []string{"check"}},
		{"missing tenant", withoutVar(base, "AZURE_TENANT_ID"), []string{"sync"}},
		{"missing client secret", withoutVar(base, "AZURE_CLIENT_SECRET"), []string{"check"}},
		{"unreadable flags file", withoutVar(base, "FEATURE_DYNAMICS_PORTAL_ENABLED"), []string{"check", "--flags", filepath.Join(dir, "missing.json")}},
		{"flags file of the wrong type", withoutVar(base, "FEATURE_DYNAMICS_PORTAL_ENABLED"), []string{"check", "--flags", notBoolean}},
		{"bad flag value in the environment", append(withoutVar(base, "FEATURE_DYNAMICS_PORTAL_ENABLED"),
			"FEATURE_DYNAMICS_PORTAL_ENABLED=maybe"), []string{"check", "--flags", flagsOn}},
		{"bad log level", base, []string{"certifications", "--log-level", "loud"}},
		{"impersonation header as correlation header", base, []string{"check", "--correlation-header", "CallerObjectId"}},
		{"unknown time zone", base, []string{"sync", "--timezone", "Mars/Olympus_Mons"}},
		{"bad page size", base, []string{"sync", "--page-size", "0x"}},
		{"output file in a missing directory", base, []string{"sync", "--out", filepath.Join(dir, "missing", "records.jsonl")}},
		{"checkpoint in a missing directory", base, []string{"sync", "--checkpoint", filepath.Join(dir, "missing", "checkpoint.json")}},
		{"federated token file and client secret", append(base, "AZURE_FEDERATED_TOKEN_FILE="+flagsOn), []string{"check"}},
		{"certificate and client secret", append(base, "AZURE_CLIENT_CERTIFICATE_PATH="+flagsOn), []string{"sync"}},
		{"certificate password", append(withoutVar(base, "AZURE_CLIENT_SECRET"), "AZURE_CLIENT_CERTIFICATE_PATH="+flagsOn,
			"AZURE_CLIENT_CERTIFICATE_PASSWORD="+newSecret()), []string{"check"}},
		{"missing federated token file", append(withoutVar(base, "AZURE_CLIENT_SECRET"), "AZURE_FEDERATED_TOKEN_FILE="+filepath.Join(dir, "missing-token")), []string{"check"}},
		{"federated token file without a JWT", append(withoutVar(base, "AZURE_CLIENT_SECRET"), "AZURE_FEDERATED_TOKEN_FILE="+flagsOn), []string{"check"}},
		{"certificate file without a key", append(withoutVar(base, "AZURE_CLIENT_SECRET"), "AZURE_CLIENT_CERTIFICATE_PATH="+flagsOn), []string{"check"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.ResetStats()
			r := runBinary(t, tt.env, tt.args...)
			r.wantExit(t, 2, "config")
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if s := e.Stats(); s.Connections != 0 || len(s.Requests) != 0 {
				t.Errorf("the emulator saw %d connections, requests %v", s.Connections, s.Requests)
			}
			scanRun(t, e, r)
		})
	}
}

// A flag beats its environment variable.
func TestFlagsBeatEnvironment(t *testing.T) {
	e := startEmulator(t, nil)
	env := append(withoutVar(withoutVar(binaryEnv(e), "DYNAMICS_BASE_URL"), "AZURE_TENANT_ID"),
		"DYNAMICS_BASE_URL=http://127.0.0.1:1", "AZURE_TENANT_ID=contoso.onmicrosoft.com", "LOG_FORMAT=text", "LOG_LEVEL=error")
	r := runBinary(t, env, "check", "--base-url", e.BaseURL(), "--tenant-id", e.TenantID(),
		"--log-format", "json", "--log-level", "debug")
	r.wantExit(t, 0, "")
	if !strings.Contains(r.stdout, e.Identity().UserID) {
		t.Errorf("stdout %q, want the identity", r.stdout)
	}
	lines := 0
	for line := range strings.Lines(r.stderr) {
		lines++
		if !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
	if lines == 0 {
		t.Error("no debug log on stderr")
	}
	scanRun(t, e, r)
}

// `emulator` prints the environment a client needs; `check` with exactly
// those lines succeeds; SIGINT stops it with status 0.
func TestEmulatorCommand(t *testing.T) {
	for kind, credVar := range map[string]string{
		"secret":      "AZURE_CLIENT_SECRET",
		"certificate": "AZURE_CLIENT_CERTIFICATE_PATH",
		"federated":   "AZURE_FEDERATED_TOKEN_FILE",
	} {
		t.Run(kind, func(t *testing.T) { testEmulatorCommand(t, kind, credVar) })
	}
	t.Run("unknown credential", func(t *testing.T) {
		r := runBinary(t, nil, "emulator", "--addr", "127.0.0.1:0", "--credential", "kerberos")
		r.wantExit(t, 2, "config")
	})
}

// testEmulatorCommand runs `portalsync emulator --credential kind` and
// `portalsync check` with the environment it prints, which names the
// credential in credVar and no other.
func testEmulatorCommand(t *testing.T, kind, credVar string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := command(ctx, nil, "emulator", "--addr", "127.0.0.1:0", "--certifications", "7", "--credential", kind)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var env []string
	for line := range lines {
		env = append(env, line)
		if strings.HasPrefix(line, "FEATURE_DYNAMICS_PORTAL_ENABLED=") {
			break
		}
	}
	names := map[string]bool{}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		names[name] = true
	}
	for _, want := range []string{"DYNAMICS_BASE_URL", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST", "AZURE_CLIENT_ID",
		credVar, "SSL_CERT_FILE", "FEATURE_DYNAMICS_PORTAL_ENABLED"} {
		if !names[want] {
			t.Errorf("the emulator printed no %s line; stdout so far: %q", want, env)
		}
	}
	for _, other := range []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE"} {
		if other != credVar && names[other] {
			t.Errorf("the emulator printed %s beside %s", other, credVar)
		}
	}

	r := runBinary(t, env, "check")
	r.wantExit(t, 0, "")
	if !strings.Contains(r.stderr, "kind="+kind+"\n") {
		t.Errorf("check did not use the %s credential:\n%s", kind, r.stderr)
	}
	var id ports.Identity
	if err := json.Unmarshal([]byte(r.stdout), &id); err != nil || id.Stub || id.UserID == "" {
		t.Errorf("check against the emulator command: %q (%v)", r.stdout, err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for line := range lines {
		rest = append(rest, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("emulator after SIGINT: %v; stderr:\n%s", err, stderr.String())
	}
	for _, line := range rest {
		name, _, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			t.Errorf("stdout holds a line that is no NAME=value: %q", line)
		case names[name]:
			t.Errorf("stdout sets %s twice (%q)", name, line)
		}
	}
}

// `demo` runs a full pass in a few seconds and reports records in every
// status.
func TestDemo(t *testing.T) {
	start := time.Now()
	r := runBinary(t, nil, "demo")
	elapsed := time.Since(start)
	r.wantExit(t, 0, "")
	rep := parseReport(t, r.stdout)
	st := rep.Status
	if !rep.Complete || st.Valid == 0 || st.Expiring == 0 || st.Expired == 0 || st.Inactive == 0 ||
		rep.Writes.Done == 0 || rep.Writes.Unchanged == 0 || rep.Writes.Failed != 0 {
		t.Errorf("demo report %+v: want a complete pass with records in every status", rep)
	}
	if elapsed > 10*time.Second {
		t.Errorf("demo took %s, want a few seconds", elapsed)
	}
}
