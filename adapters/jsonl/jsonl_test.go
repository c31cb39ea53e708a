package jsonl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/jsonl"
	"github.com/hlf/dynamicsportal/ports"
)

func record(id string, computed ports.SyncStatus, action ports.SyncAction) ports.SyncRecord {
	return ports.SyncRecord{
		Certification: ports.Certification{
			ID:         id,
			Name:       "Peer mentor <basic> & more",
			ExpiresOn:  ports.Date{Year: 2027, Month: 3, Day: 1},
			ModifiedOn: time.Date(2026, 11, 20, 8, 15, 0, 0, time.UTC),
		},
		Computed: computed,
		Action:   action,
	}
}

func open(t *testing.T, path string) *jsonl.Sink {
	t.Helper()
	s, err := jsonl.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r ports.SyncRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

func TestWritePageAndRewind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := open(t, path)
	ctx := t.Context()
	pos1, err := s.WritePage(ctx, []ports.SyncRecord{record("a", 1, ports.ActionWritten), record("b", 2, ports.ActionUnchanged)})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if pos1 != strconv.FormatInt(info.Size(), 10) {
		t.Errorf("position %q, file size %d", pos1, info.Size())
	}
	if _, err := s.WritePage(ctx, []ports.SyncRecord{record("c", 3, ports.ActionFailed)}); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, path); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("ids %v, want a,b,c", got)
	}

	// A resumed pass rewinds to the checkpoint and writes the page again.
	if err := s.Rewind(ctx, pos1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePage(ctx, []ports.SyncRecord{record("c", 3, ports.ActionWritten)}); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, path); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("after rewind: ids %v, want a,b,c", got)
	}

	if err := s.Rewind(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, path); len(got) != 0 {
		t.Errorf("after rewind to start: %v, want empty file", got)
	}
}

func TestLineFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := open(t, path)
	if _, err := s.WritePage(t.Context(), []ports.SyncRecord{record("a", 2, ports.ActionWritten)}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
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

func TestOpenKeepsContentUntilRewind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := open(t, path)
	pos, err := s.WritePage(t.Context(), []ports.SyncRecord{record("a", 1, ports.ActionWritten)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	if got := readIDs(t, path); strings.Join(got, ",") != "a" {
		t.Fatalf("Open changed the file: %v", got)
	}
	if err := s.Rewind(t.Context(), pos); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePage(t.Context(), []ports.SyncRecord{record("b", 1, ports.ActionWritten)}); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, path); strings.Join(got, ",") != "a,b" {
		t.Errorf("ids %v, want a,b", got)
	}
}

func TestRewindRefusesBadPositions(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "out.jsonl"))
	for _, pos := range []string{"x", "-1", "1.5"} {
		if err := s.Rewind(t.Context(), pos); err == nil || !strings.Contains(err.Error(), "not a byte offset") {
			t.Errorf("Rewind(%q) = %v, want an error", pos, err)
		}
	}
	if err := s.Rewind(t.Context(), "10"); err == nil || !strings.Contains(err.Error(), "beyond its end") {
		t.Errorf("Rewind past the end = %v, want an error", err)
	}
}

// The record file holds names and contact ids: it is created readable by
// its owner only.
func TestOpenCreatesTheFileOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	open(t, path)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %v, want 0600", mode)
	}
}

// A symbolic link at the path is refused, and the file it points to is
// left as it was; so is anything that is not a regular file.
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
	s, err := jsonl.Open(link)
	if err == nil {
		// What the pass would do first: cut the file to nothing.
		_ = s.Rewind(t.Context(), "")
		s.Close()
		t.Error("Open followed a symbolic link")
	} else if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Open(link) = %v, want it to name the symbolic link", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	if s, err := jsonl.Open(dir); err == nil {
		s.Close()
		t.Error("Open(a directory) succeeded")
	}
}

func TestErrors(t *testing.T) {
	if _, err := jsonl.Open(filepath.Join(t.TempDir(), "missing", "out.jsonl")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}

	s := open(t, filepath.Join(t.TempDir(), "out.jsonl"))
	bad := record("bad", 1, ports.ActionWritten)
	bad.LastSyncedOn = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // JSON cannot hold it
	if _, err := s.WritePage(t.Context(), []ports.SyncRecord{bad}); err == nil || !strings.Contains(err.Error(), "encode record bad") {
		t.Errorf("WritePage(unencodable) = %v, want an encode error", err)
	}

	s.Close()
	if _, err := s.WritePage(t.Context(), []ports.SyncRecord{record("a", 1, ports.ActionWritten)}); err == nil {
		t.Error("WritePage on a closed file succeeded")
	}
	if err := s.Rewind(t.Context(), ""); err == nil {
		t.Error("Rewind on a closed file succeeded")
	}
}

func TestDiscard(t *testing.T) {
	var d jsonl.Discard
	pos, err := d.WritePage(t.Context(), []ports.SyncRecord{record("a", 1, ports.ActionWritten)})
	if pos != "" || err != nil {
		t.Errorf("WritePage = %q, %v", pos, err)
	}
	if err := d.Rewind(t.Context(), "anything"); err != nil {
		t.Errorf("Rewind = %v", err)
	}
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "sync")
	defer os.RemoveAll(dir)
	sink, err := jsonl.Open(filepath.Join(dir, "records.jsonl"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sink.Close()

	ctx := context.Background()
	_ = sink.Rewind(ctx, "") // a fresh pass starts with an empty file
	pos, _ := sink.WritePage(ctx, []ports.SyncRecord{{
		Certification: ports.Certification{ID: "5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b10", Name: "Peer mentor basic course"},
		Computed:      ports.SyncStatusValid,
		Action:        ports.ActionWritten,
	}})
	b, _ := os.ReadFile(filepath.Join(dir, "records.jsonl"))
	fmt.Print(string(b))
	fmt.Println("position", pos)
	// Output:
	// {"id":"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b10","name":"Peer mentor basic course","contactId":"","type":0,"issuedOn":null,"expiresOn":null,"state":0,"modifiedOn":"0001-01-01T00:00:00Z","syncStatus":0,"computedStatus":1,"action":"written"}
	// position 236
}
