// Package checkpoint stores the progress of a sync pass: File keeps it in a
// JSON file so an interrupted pass resumes in the next run, and Memory keeps
// it for the life of the process (a pass run without a checkpoint file).
package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/hlf/dynamicsportal/ports"
)

var (
	_ ports.CheckpointStore = (*File)(nil)
	_ ports.CheckpointStore = (*Memory)(nil)
)

// maxFileSize caps what Load reads; a checkpoint is a few hundred bytes.
const maxFileSize = 1 << 20

// File keeps the checkpoint as JSON in one file. Save replaces the file
// atomically (a temporary file in the same directory, synced, renamed over
// the old one, then the directory synced), so after a crash Load finds the
// old or the new checkpoint, never a mix. The file is created with mode
// 0600. Two processes must not share one checkpoint file.
//
// The methods do not consult the context: each is a short file operation,
// and a checkpoint is better saved than lost to a cancellation.
type File struct {
	path string
}

// NewFile returns a store keeping the checkpoint at path. The directory
// must exist, so a mistyped path is refused before a pass starts rather than
// after its first page; the file need not exist.
func NewFile(path string) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty checkpoint file path", ports.ErrInvalidConfig)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: checkpoint file %s: directory %s does not exist", ports.ErrInvalidConfig, path, dir)
	}
	return &File{path: path}, nil
}

// Load reads the checkpoint. It returns an error wrapping
// ports.ErrNoCheckpoint when the file does not exist, and a different error
// when it exists but cannot be read or decoded: a damaged checkpoint is
// reported, not mistaken for a finished pass.
func (f *File) Load(context.Context) (ports.Checkpoint, error) {
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return ports.Checkpoint{}, fmt.Errorf("checkpoint %s: %w", f.path, ports.ErrNoCheckpoint)
	}
	if err != nil {
		return ports.Checkpoint{}, fmt.Errorf("load checkpoint: %w", err)
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxFileSize+1))
	if err != nil {
		return ports.Checkpoint{}, fmt.Errorf("load checkpoint: %w", err)
	}
	if len(b) > maxFileSize {
		return ports.Checkpoint{}, fmt.Errorf("checkpoint %s is corrupt: larger than %d bytes", f.path, maxFileSize)
	}
	var c ports.Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return ports.Checkpoint{}, fmt.Errorf("checkpoint %s is corrupt (remove it to start a fresh pass): %w", f.path, err)
	}
	return c, nil
}

// Save replaces the checkpoint atomically.
func (f *File) Save(_ context.Context, c ports.Checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", f.path, err)
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", f.path, err)
	}
	if err := writeAndClose(tmp, b); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", f.path, err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", f.path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("checkpoint %s: %w", f.path, err)
	}
	return nil
}

// Clear removes the checkpoint file; a missing file is not an error.
func (f *File) Clear(context.Context) error {
	err := os.Remove(f.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear checkpoint: %w", err)
	}
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("clear checkpoint: %w", err)
	}
	return nil
}

func writeAndClose(file *os.File, b []byte) error {
	_, err := file.Write(b)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Memory keeps the checkpoint in memory. It is safe for concurrent use; the
// zero value is an empty store.
type Memory struct {
	mu sync.Mutex
	c  ports.Checkpoint
	ok bool
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

// Load returns the saved checkpoint, or an error wrapping
// ports.ErrNoCheckpoint.
func (m *Memory) Load(context.Context) (ports.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ok {
		return ports.Checkpoint{}, fmt.Errorf("memory checkpoint: %w", ports.ErrNoCheckpoint)
	}
	return m.c, nil
}

// Save replaces the checkpoint.
func (m *Memory) Save(_ context.Context, c ports.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.c, m.ok = c, true
	return nil
}

// Clear drops the checkpoint.
func (m *Memory) Clear(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.c, m.ok = ports.Checkpoint{}, false
	return nil
}
