package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/internal/pgtest"
)

// demo --store needs no database of one's own: it starts a throwaway
// Supabase-shaped cluster, syncs the emulator into it, prints what a
// mentor, a coordinator and a chapter admin see, and removes the cluster.
func TestDemoStore(t *testing.T) {
	pgtest.ServerURL(t) // fails under CI, or skips, without PostgreSQL's server
	// A temporary directory of the demo's own, open to the postgres OS
	// user, to see that the cluster leaves nothing in it.
	tmp, err := os.MkdirTemp("", "demo-store-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	code, stdout, stderr := portalsync(t, "demo", "--store")
	if code != 0 {
		t.Fatalf("demo --store: exit %d\n%s", code, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	var report struct {
		Complete bool `json:"complete"`
		Read     int  `json:"read"`
	}
	if err := dec.Decode(&report); err != nil || !report.Complete || report.Read != demoCertifications {
		t.Fatalf("report %+v, %v; want a complete pass of %d", report, err, demoCertifications)
	}
	seen := map[string]int{}
	for dec.More() {
		var v demoView
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if v.Sees != len(v.Certifications) {
			t.Errorf("%s: sees %d, lists %d", v.Identity, v.Sees, len(v.Certifications))
		}
		mentors := map[string]bool{}
		for _, c := range v.Certifications {
			mentors[c.MentorID] = true
		}
		if v.Identity == "mentor" && len(mentors) != 1 {
			t.Errorf("the mentor sees certifications of %d mentors, want their own only", len(mentors))
		}
		seen[v.Identity] = v.Sees
	}
	for _, id := range []string{"mentor", "coordinator", "chapter admin"} {
		if seen[id] == 0 {
			t.Errorf("%s sees nothing (views %v)", id, seen)
		}
	}
	if seen["coordinator"] >= report.Read {
		t.Errorf("the coordinator sees %d of %d: everything", seen["coordinator"], report.Read)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("the throwaway cluster left %v behind", left)
	}
}
