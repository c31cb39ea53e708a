package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// Every command that talks to the portal says on stderr, at warn level,
// when the stub answers instead.
func TestStubIsAnnouncedAtWarnLevel(t *testing.T) {
	for _, args := range [][]string{{"check"}, {"certifications"}, {"assignments"}, {"sync"}} {
		_, _, stderr := portalsync(t, append(args, "--log-format", "json")...)
		found := false
		for line := range strings.SplitSeq(stderr, "\n") {
			if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, `"msg":"`+stubWarning+`"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no warning %q at warn level on stderr:\n%s", args, stubWarning, stderr)
		}
	}
}

// check with the stub prints the stub's identity marked as such and exits
// 3, so a deployment check tells "flag off" from "portal reachable".
func TestCheckWithTheStubExits3(t *testing.T) {
	code, stdout, stderr := portalsync(t, "check")
	if code != 3 {
		t.Errorf("exit %d, want 3; stderr:\n%s", code, stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || out["portal"] != "stub" || out["stub"] != true {
		t.Errorf("stdout %q (%v), want the identity with \"portal\": \"stub\"", stdout, err)
	}
	if got := lastLine(stderr); got != "portalsync: stub: "+errStubAnswered.Error() {
		t.Errorf("last stderr line %q", got)
	}
}

// A sync the stub answers leaves an existing --out file and checkpoint as
// they were: a cron job that lost its flags file must not wipe them.
func TestSyncWithTheStubLeavesItsFilesAlone(t *testing.T) {
	dir := t.TempDir()
	out, cp := filepath.Join(dir, "records.jsonl"), filepath.Join(dir, "checkpoint.json")
	const records = `{"id":"00000000-0000-4000-8000-000000000001"}` + "\n"
	const checkpoint = `{"next":"https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=x","startedAt":"2026-11-28T01:00:07Z","counts":{"read":5000,"pages":1}}`
	for path, content := range map[string]string{out: records, cp: checkpoint} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := portalsync(t, "sync", "--out", out, "--checkpoint", cp)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var report map[string]any
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || report["portal"] != "stub" {
		t.Errorf("report %q (%v), want \"portal\": \"stub\"", stdout, err)
	}
	if !strings.HasPrefix(stdout, "{\n  \"portal\": \"stub\",\n") {
		t.Errorf("report %q does not start with the portal", stdout)
	}
	for path, want := range map[string]string{out: records, cp: checkpoint} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s now holds %q (%v), want it untouched: %q", filepath.Base(path), got, err, want)
		}
	}
	// A missing --out file is not created either.
	fresh := filepath.Join(dir, "fresh.jsonl")
	if code, _, stderr := portalsync(t, "sync", "--out", fresh); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Lstat(fresh); !os.IsNotExist(err) {
		t.Errorf("the stub's pass created %s (%v)", fresh, err)
	}
}

func TestReportJSONPutsThePortalFirst(t *testing.T) {
	for live, want := range map[bool]string{true: "live", false: "stub"} {
		b, err := reportJSON(coreReport(), live)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Portal   string `json:"portal"`
			Read     int    `json:"read"`
			Complete bool   `json:"complete"`
		}
		if err := json.Unmarshal(b, &got); err != nil || got.Portal != want || got.Read != 7 || !got.Complete {
			t.Errorf("reportJSON(live=%v) = %s (%v)", live, b, err)
		}
		if !strings.HasSuffix(string(b), "}\n") {
			t.Errorf("reportJSON(live=%v) does not end in a newline: %q", live, b)
		}
	}
}

func coreReport() core.Report {
	return core.Report{SyncCounts: ports.SyncCounts{Read: 7, Pages: 1}, Complete: true}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]int{"30d": 30, "1d": 1, "3650d": 3650, "24h": 1, "720h": 30, "87600h": 3650, "48h0m0s": 2} {
		d, err := parseDays(in)
		if err != nil || d != time.Duration(want)*24*time.Hour {
			t.Errorf("parseDays(%q) = %v, %v; want %d days", in, d, err, want)
		}
	}
	for _, in := range []string{"", "d", "0", "0d", "0h", "-1d", "+30d", "3651d", "87624h", "36h", "1h30m", "x", "-5h",
		"213504d", "2562047h", "9223372036854775807d", "99999999999999999999d", "1.5d"} {
		if d, err := parseDays(in); err == nil {
			t.Errorf("parseDays(%q) = %v, want an error", in, d)
		}
	}
}

// A window outside 1 to 3650 days is a configuration error, exit 2, before
// anything runs.
func TestExpiringWithinOutOfRangeExits2(t *testing.T) {
	for _, v := range []string{"0", "0d", "213504d", "2562047h", "3651d", "36h"} {
		code, stdout, stderr := portalsync(t, "sync", "--expiring-within", v)
		if code != 2 || stdout != "" || !strings.HasPrefix(lastLine(stderr), "portalsync: config: --expiring-within") {
			t.Errorf("--expiring-within %s: exit %d, stdout %q, last line %q", v, code, stdout, lastLine(stderr))
		}
	}
	if code, _, stderr := portalsync(t, "sync", "--expiring-within", "3650d"); code != 0 {
		t.Errorf("--expiring-within 3650d: exit %d, stderr:\n%s", code, stderr)
	}
}
