package jsonl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/ports"
	"github.com/hlf/dynamicsportal/ports/passstoretest"
)

func TestPassStoreSuite(t *testing.T) {
	passstoretest.Run(t, func(t *testing.T) passstoretest.Harness {
		dir := t.TempDir()
		out, cp := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "checkpoint.json")
		return passstoretest.Harness{
			Open: func(t *testing.T) ports.PassStore { return open(t, out, cp) },
			Stored: func(t *testing.T) []string {
				var lines []string
				for _, r := range read(t, out) {
					lines = append(lines, r.ID+" "+r.Computed.String())
				}
				return lines
			},
		}
	})
}

func record(id string, computed ports.SyncStatus) ports.SyncRecord {
	return ports.SyncRecord{
		Certification: ports.Certification{
			ID:         id,
			Name:       "Peer mentor <basic> & more",
			ExpiresOn:  ports.Date{Year: 2027, Month: 3, Day: 1},
			ModifiedOn: time.Date(2026, 11, 20, 8, 15, 0, 0, time.UTC),
		},
		Computed: computed,
		Action:   ports.ActionWritten,
	}
}

func open(t *testing.T, out, checkpoint string) *jsonl.Store {
	t.Helper()
	s, err := jsonl.Open(out, checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// read returns the records a file holds; none when it does not exist.
func read(t *testing.T, path string) []ports.SyncRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []ports.SyncRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r ports.SyncRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func ids(rs []ports.SyncRecord) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

// pass commits the start and pages, and finishes with last unless it is
// nil.
func pass(t *testing.T, s *jsonl.Store, last []ports.SyncRecord, pages ...[]ports.SyncRecord) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Resume(ctx); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Resume = %v, want no checkpoint", err)
	}
	if err := s.Commit(ctx, nil, ports.Checkpoint{StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i, p := range pages {
		if err := s.Commit(ctx, p, ports.Checkpoint{Next: fmt.Sprint("page-", i+2)}); err != nil {
			t.Fatal(err)
		}
	}
	if last != nil {
		if err := s.Finish(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLineFormat(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	pass(t, open(t, out, ""), []ports.SyncRecord{record("a", 2)})
	b, _ := os.ReadFile(out)
	line := string(b)
	for _, want := range []string{`"id":"a"`, `"computedStatus":2`, `"action":"written"`, `"expiresOn":"2027-03-01"`, `<basic> & more`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %s lacks %s", line, want)
		}
	}
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "}\n") {
		t.Errorf("want exactly one JSON line, got %q", line)
	}
}

// A pass that stops part-way leaves the output of the pass before as it
// was; its own records wait in the partial file.
func TestAnUnfinishedPassLeavesTheOutputAlone(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	s := open(t, out, filepath.Join(dir, "cp.json"))
	pass(t, s, []ports.SyncRecord{record("a", 1), record("b", 1)})
	pass(t, s, nil, []ports.SyncRecord{record("a", 3)})
	if got := ids(read(t, out)); got != "a,b" {
		t.Errorf("output %s during the next pass, want a,b", got)
	}
	if got := ids(read(t, out+".partial")); got != "a" {
		t.Errorf("partial file %s, want a", got)
	}
}

// A crash inside Commit, after the page was written but before the
// checkpoint was replaced, leaves the page in the partial file beyond what
// the checkpoint names: Resume cuts it off, so it is not held twice.
func TestAPageWhoseCommitWasCutShortIsNotHeldTwice(t *testing.T) {
	dir := t.TempDir()
	out, cp := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "cp.json")
	s := open(t, out, cp)
	pass(t, s, nil, []ports.SyncRecord{record("a", 1)})
	f, err := os.OpenFile(out+".partial", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, `{"id":"b","computedStatus":1}`)
	fmt.Fprint(f, `{"id":"c","name":"`+strings.Repeat("x", 4096)) // torn mid-line, longer than the page written next
	f.Close()

	s = open(t, out, cp)
	got, err := s.Resume(t.Context())
	if err != nil || got.Next != "page-2" {
		t.Fatalf("Resume = %+v, %v", got, err)
	}
	if err := s.Finish(t.Context(), []ports.SyncRecord{record("b", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := ids(read(t, out)); got != "a,b" {
		t.Errorf("output %s, want a,b", got)
	}
}

// A crash inside Finish, after the checkpoint was marked finished but
// before the partial file was renamed over the output: Resume completes
// the pass.
func TestResumeCompletesAFinishCutShort(t *testing.T) {
	dir := t.TempDir()
	out, cp := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "cp.json")
	s := open(t, out, cp)
	pass(t, s, nil, []ports.SyncRecord{record("a", 1)})
	b, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	var saved map[string]any
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	saved["finished"] = true
	b, _ = json.Marshal(saved)
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}

	s = open(t, out, cp)
	if _, err := s.Resume(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Resume = %v, want the finished pass completed and nothing to resume", err)
	}
	if got := ids(read(t, out)); got != "a" {
		t.Errorf("output %s, want a", got)
	}
	if _, err := os.Stat(cp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint still there: %v", err)
	}
}

func TestResumeRefusesADamagedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	out, cp := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "cp.json")
	for _, tc := range []struct{ name, content, want string }{
		{"not JSON", "{", "corrupt"},
		{"negative size", `{"recordsSize":-1}`, "corrupt"},
		{"past the records", `{"next":"x","recordsSize":1000}`, "less than the 1000"},
		{"too large", strings.Repeat(" ", 1<<20+1), "larger than"},
	} {
		if err := os.WriteFile(cp, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := open(t, out, cp).Resume(t.Context())
		if err == nil || errors.Is(err, ports.ErrNoCheckpoint) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Resume = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// Without a checkpoint file the checkpoint lives in the store: a pass
// stopped part-way resumes in the same process only.
func TestWithoutACheckpointFileProgressIsKeptInMemory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	s := open(t, out, "")
	pass(t, s, nil, []ports.SyncRecord{record("a", 1)})
	if got, err := s.Resume(t.Context()); err != nil || got.Next != "page-2" {
		t.Errorf("Resume in the same store = %+v, %v", got, err)
	}
	if _, err := open(t, out, "").Resume(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("Resume in a new store = %v, want no checkpoint", err)
	}
}

// Without an output file the records go nowhere; the checkpoint still
// works.
func TestWithoutAnOutputFileOnlyTheCheckpointIsKept(t *testing.T) {
	dir := t.TempDir()
	cp := filepath.Join(dir, "cp.json")
	pass(t, open(t, "", cp), nil, []ports.SyncRecord{record("a", 1)})
	if got, err := open(t, "", cp).Resume(t.Context()); err != nil || got.Next != "page-2" {
		t.Errorf("Resume = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the checkpoint only", len(entries))
	}
}

// The record file holds names and contact ids, and the checkpoint their
// ids: both are created readable by their owner only.
func TestFilesAreOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	out, cp := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "cp.json")
	s := open(t, out, cp)
	pass(t, s, nil, []ports.SyncRecord{record("a", 1)})
	for _, path := range []string{out + ".partial", cp} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(path), mode)
		}
	}
	if err := s.Finish(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("output: %v, %v; want mode 0600", info, err)
	}
}

// A symbolic link at either records path is refused, and the file it
// points to is left as it was; so is anything that is not a regular file.
func TestOpenRefusesALinkAndNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "out.jsonl")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if s, err := jsonl.Open(link, ""); err == nil {
		pass(t, s, []ports.SyncRecord{record("a", 1)})
		t.Error("Open accepted a symbolic link")
	} else if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Open(link) = %v, want it to name the symbolic link", err)
	}
	other := filepath.Join(dir, "other.jsonl")
	if err := os.Symlink(target, other+".partial"); err != nil {
		t.Fatal(err)
	}
	s := open(t, other, "")
	s.Resume(t.Context()) //nolint:errcheck // nothing to resume
	if err := s.Commit(t.Context(), []ports.SyncRecord{record("a", 1)}, ports.Checkpoint{Next: "x"}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Commit through a linked partial file = %v, want it refused", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	if _, err := jsonl.Open(dir, ""); err == nil {
		t.Error("Open(a directory) succeeded")
	}
	for _, p := range [][2]string{{filepath.Join(dir, "missing", "out.jsonl"), ""}, {"", filepath.Join(dir, "missing", "cp.json")}} {
		if _, err := jsonl.Open(p[0], p[1]); !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("Open(%q, %q) = %v, want a config error", p[0], p[1], err)
		}
	}
}

func TestAnUnencodableRecordIsRefused(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "out.jsonl"), "")
	pass(t, s, nil)
	bad := record("bad", 1)
	bad.LastSyncedOn = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // JSON cannot hold it
	if err := s.Commit(t.Context(), []ports.SyncRecord{bad}, ports.Checkpoint{Next: "x"}); err == nil || !strings.Contains(err.Error(), "encode record bad") {
		t.Errorf("Commit(unencodable) = %v, want an encode error", err)
	}
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "sync")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "records.jsonl")
	store, err := jsonl.Open(out, filepath.Join(dir, "checkpoint.json"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	ctx := context.Background()
	if _, err := store.Resume(ctx); errors.Is(err, ports.ErrNoCheckpoint) {
		fmt.Println("a fresh pass")
	}
	_ = store.Finish(ctx, []ports.SyncRecord{{
		Certification: ports.Certification{ID: "5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b10", Name: "Peer mentor basic course"},
		Computed:      ports.SyncStatusValid,
		Action:        ports.ActionWritten,
	}})
	b, _ := os.ReadFile(out)
	fmt.Print(string(b))
	// Output:
	// a fresh pass
	// {"id":"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b10","name":"Peer mentor basic course","contactId":"","type":0,"issuedOn":null,"expiresOn":null,"state":0,"modifiedOn":"0001-01-01T00:00:00Z","syncStatus":0,"computedStatus":1,"action":"written"}
}

// A commit whose checkpoint cannot be replaced fails and is not counted:
// the next commit writes the page at the same place, so it is held once.
func TestACommitWhoseCheckpointFailsIsNotCounted(t *testing.T) {
	dir := t.TempDir()
	cpDir := filepath.Join(dir, "state")
	if err := os.Mkdir(cpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, cp := filepath.Join(dir, "out.jsonl"), filepath.Join(cpDir, "cp.json")
	s := open(t, out, cp)
	pass(t, s, nil, []ports.SyncRecord{record("a", 1)})
	if err := os.RemoveAll(cpDir); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(t.Context(), []ports.SyncRecord{record("b", 1)}, ports.Checkpoint{Next: "page-3"})
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("Commit without the checkpoint's directory = %v, want a checkpoint error", err)
	}
	if err := os.Mkdir(cpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(t.Context(), []ports.SyncRecord{record("b", 1)}, ports.Checkpoint{Next: "page-3"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(t.Context(), []ports.SyncRecord{record("c", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := ids(read(t, out)); got != "a,b,c" {
		t.Errorf("output %s, want a,b,c: the page of the failed commit once", got)
	}
}

// A crash after Finish renamed the partial file but before it removed the
// checkpoint: Resume finds the output in place and ends the pass.
func TestResumeEndsAFinishWhoseRenameWasDone(t *testing.T) {
	dir := t.TempDir()
	out, cp := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "cp.json")
	s := open(t, out, cp)
	pass(t, s, nil, []ports.SyncRecord{record("a", 1)})
	s.Close()
	if err := os.Rename(out+".partial", out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, []byte(`{"recordsSize":1,"finished":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, out, cp).Resume(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Resume = %v, want the pass ended", err)
	}
	if got := ids(read(t, out)); got != "a" {
		t.Errorf("output %s, want a", got)
	}
	if _, err := os.Stat(cp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint still there: %v", err)
	}
}
