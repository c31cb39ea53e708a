package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/checkpoint"
	"github.com/hlf/dynamicsportal/ports"
)

var sample = ports.Checkpoint{
	Next:         "https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E",
	SinkPosition: "4096",
	StartedAt:    time.Date(2026, 11, 28, 1, 0, 7, 0, time.UTC),
	Counts: ports.SyncCounts{
		Read: 10, Pages: 2,
		Status: ports.StatusCounts{Valid: 5, Expiring: 2, Expired: 2, Inactive: 1},
		Writes: ports.WriteCounts{Done: 4, Unchanged: 5, Failed: 1, Deleted: 1},
	},
	FailedIDs: []string{"0b1e4a52-4f3c-4f6e-9a41-2f8d6c0e7a10"},
}

func newFile(t *testing.T) (*checkpoint.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sync.checkpoint")
	f, err := checkpoint.NewFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f, path
}

func TestFileRoundTrip(t *testing.T) {
	f, path := newFile(t)
	ctx := t.Context()
	if _, err := f.Load(ctx); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Load before Save = %v, want ErrNoCheckpoint", err)
	}
	if err := f.Save(ctx, sample); err != nil {
		t.Fatal(err)
	}
	got, err := f.Load(ctx)
	if err != nil || !reflect.DeepEqual(got, sample) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, sample)
	}
	second := sample
	second.Next, second.Counts.Pages = "page-3", 3
	if err := f.Save(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Load(ctx); err != nil || !reflect.DeepEqual(got, second) {
		t.Errorf("Load after second Save = %+v, %v", got, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the checkpoint (no temporary files)", len(entries))
	}

	if err := f.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(ctx); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("Load after Clear = %v, want ErrNoCheckpoint", err)
	}
	if err := f.Clear(ctx); err != nil {
		t.Errorf("Clear of an absent checkpoint = %v, want nil", err)
	}
}

// Save writes a new file and renames it over the old one: a reader that
// holds the old file (here a second name for it) still sees the whole old
// checkpoint, never a file rewritten in place, and a link planted at the
// path is replaced, not followed.
func TestSaveReplacesTheFileAtomically(t *testing.T) {
	f, path := newFile(t)
	ctx := t.Context()
	if err := f.Save(ctx, sample); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := path + ".old"
	if err := os.Link(path, old); err != nil {
		t.Fatal(err)
	}
	oldInfo, err := os.Stat(old)
	if err != nil {
		t.Fatal(err)
	}
	second := sample
	second.Next = "page-3"
	if err := f.Save(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(old); string(got) != string(before) {
		t.Errorf("the old file was rewritten in place:\n got %s\nwant %s", got, before)
	}
	newInfo, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(oldInfo, newInfo) {
		t.Error("the checkpoint path still names the old file: Save did not rename a new file over it")
	}

	// A symbolic link at the path is replaced by the new checkpoint; the
	// file it pointed to is left alone.
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(ctx, sample); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "keep me" {
		t.Errorf("Save wrote through a symbolic link: the target holds %q", got)
	}
	if info, err := os.Lstat(path); err != nil || !info.Mode().IsRegular() {
		t.Errorf("after Save the path is %v (%v), want a regular file", info.Mode(), err)
	}
}

func TestFileCorrupt(t *testing.T) {
	for _, content := range []string{"", "{", `{"next": 5}`, `{"next":"a"} trailing`} {
		f, path := newFile(t)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := f.Load(t.Context())
		if err == nil || errors.Is(err, ports.ErrNoCheckpoint) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("Load(%q) = %v, want a corrupt-checkpoint error", content, err)
		}
	}
	f, path := newFile(t)
	if err := os.WriteFile(path, []byte(`{"next":"`+strings.Repeat("x", 1<<20)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(oversized) = %v, want an error", err)
	}
}

func TestFileErrors(t *testing.T) {
	if _, err := checkpoint.NewFile(""); !errors.Is(err, ports.ErrInvalidConfig) {
		t.Errorf("NewFile(\"\") = %v, want ErrInvalidConfig", err)
	}

	// The path is a directory holding a file: Load cannot read it, Save
	// cannot rename over it and Clear cannot remove it.
	dir := filepath.Join(t.TempDir(), "cp")
	if err := os.MkdirAll(filepath.Join(dir, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(t.Context()); err == nil || errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("Load(directory) = %v, want a read error", err)
	}
	if err := f.Save(t.Context(), sample); err == nil {
		t.Error("Save over a directory succeeded")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("a failed Save left %d entries, want the temporary file removed", len(entries))
	}
	if err := f.Clear(t.Context()); err == nil {
		t.Error("Clear of a non-empty directory succeeded")
	}

	if _, err := checkpoint.NewFile(filepath.Join(t.TempDir(), "missing", "cp")); !errors.Is(err, ports.ErrInvalidConfig) {
		t.Errorf("NewFile in a missing directory = %v, want ErrInvalidConfig", err)
	}
	gone := filepath.Join(t.TempDir(), "gone")
	if err := os.Mkdir(gone, 0o700); err != nil {
		t.Fatal(err)
	}
	missing, err := checkpoint.NewFile(filepath.Join(gone, "cp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := missing.Save(t.Context(), sample); err == nil {
		t.Error("Save in a missing directory succeeded")
	}
	if _, err := missing.Load(t.Context()); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("Load in a missing directory = %v, want ErrNoCheckpoint", err)
	}
	if err := missing.Clear(t.Context()); err == nil {
		t.Error("Clear in a missing directory succeeded")
	}

	good, _ := newFile(t)
	bad := sample
	bad.StartedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // JSON cannot hold it
	if err := good.Save(t.Context(), bad); err == nil {
		t.Error("Save of an unencodable checkpoint succeeded")
	}
}

func TestMemory(t *testing.T) {
	var m checkpoint.Memory
	ctx := t.Context()
	if _, err := m.Load(ctx); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Fatalf("Load of empty store = %v", err)
	}
	if err := m.Save(ctx, sample); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Load(ctx); err != nil || !reflect.DeepEqual(got, sample) {
		t.Errorf("Load = %+v, %v", got, err)
	}
	if err := m.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Load(ctx); !errors.Is(err, ports.ErrNoCheckpoint) {
		t.Errorf("Load after Clear = %v", err)
	}
	if checkpoint.NewMemory() == nil {
		t.Error("NewMemory returned nil")
	}
}

func ExampleFile() {
	dir, _ := os.MkdirTemp("", "sync")
	defer os.RemoveAll(dir)
	store, _ := checkpoint.NewFile(filepath.Join(dir, "sync.checkpoint"))
	ctx := context.Background()

	_, err := store.Load(ctx)
	fmt.Println("nothing to resume:", errors.Is(err, ports.ErrNoCheckpoint))
	_ = store.Save(ctx, ports.Checkpoint{Next: "page-2", Counts: ports.SyncCounts{Pages: 1, Read: 50}})
	c, _ := store.Load(ctx)
	fmt.Println("resume at", c.Next, "after", c.Counts.Read, "records")
	_ = store.Clear(ctx)
	// Output:
	// nothing to resume: true
	// resume at page-2 after 50 records
}
