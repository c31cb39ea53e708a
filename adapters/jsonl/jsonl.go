// Package jsonl is the file-backed ports.PassStore: a pass's records go to
// a file as JSON lines (one object per record), and its checkpoint to a
// file of its own, which also holds how far the records file is committed.
//
// The records of the pass in progress go to a file beside the output, named
// after it with ".partial"; the pass's last page renames it over the
// output. So the output always holds one whole pass, and a pass that stops
// part-way leaves the output of the pass before untouched.
package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hlf/dynamicsportal/ports"
)

var _ ports.PassStore = (*Store)(nil)

// maxCheckpointSize caps what Resume reads; a checkpoint is a few hundred
// bytes.
const maxCheckpointSize = 1 << 20

// Store keeps a pass's records and checkpoint in files. Commit writes the
// page to the partial file and syncs it, then replaces the checkpoint
// atomically (a temporary file in the same directory, synced, renamed over
// the old one, then the directory synced) with the partial file's new
// length. After a crash, the pass goes on writing at the length the
// checkpoint names, and each write cuts off what lies beyond it, so a page
// is held once or not at all. Finish marks
// the checkpoint finished before it renames the partial file over the
// output, and a Resume that finds the mark completes the rename.
//
// Files are created with mode 0600: the records name people. A Store is
// not safe for concurrent use, and two processes must not share its files.
// Its methods do not consult the context: each is a short file operation,
// and a page is better committed than lost to a cancellation.
type Store struct {
	out, checkpoint string   // either may be empty
	partial         *os.File // the records of the pass in progress; nil until used
	size            int64    // the committed length of the partial file
	memory          *saved   // the checkpoint, when it has no file
}

// saved is the checkpoint as the store keeps it.
type saved struct {
	ports.Checkpoint
	// Size is the committed length of the partial records file.
	Size int64 `json:"recordsSize"`
	// Finished marks a pass whose last page is written: what is left is to
	// rename the partial file over the output.
	Finished bool `json:"finished,omitempty"`
}

// Open returns a store writing records to out and the checkpoint to
// checkpoint. An empty out drops the records; an empty checkpoint keeps
// the checkpoint in memory, so an interrupted pass starts over in the next
// process. The directories must exist, so a mistyped path is refused
// before a pass starts; a symbolic link or anything but a regular file at
// out is refused too, so a link planted there cannot redirect the records.
func Open(out, checkpoint string) (*Store, error) {
	for _, p := range []struct{ what, path string }{{"records file", out}, {"checkpoint file", checkpoint}} {
		if p.path == "" {
			continue
		}
		dir := filepath.Dir(p.path)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s %s: directory %s does not exist", ports.ErrInvalidConfig, p.what, p.path, dir)
		}
	}
	if out != "" {
		fi, err := os.Lstat(out)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("records file: %w", err)
		case fi.Mode()&os.ModeSymlink != 0:
			return nil, fmt.Errorf("records file %s: it is a symbolic link; name the file itself", out)
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("records file %s: not a regular file", out)
		}
	}
	return &Store{out: out, checkpoint: checkpoint}, nil
}

// Close closes the partial records file. The files stay as they are.
func (s *Store) Close() error {
	if s.partial == nil {
		return nil
	}
	err := s.partial.Close()
	s.partial = nil
	return err
}

// Resume returns the checkpoint of the pass in progress, from where the
// partial records file goes on, or returns an error
// wrapping ports.ErrNoCheckpoint (the next Commit starts the partial file
// afresh). A damaged checkpoint is reported, not mistaken for a finished
// pass.
func (s *Store) Resume(context.Context) (ports.Checkpoint, error) {
	sv, err := s.load()
	if err != nil {
		return ports.Checkpoint{}, err
	}
	if sv == nil {
		s.size = 0
		return ports.Checkpoint{}, fmt.Errorf("records store: %w", ports.ErrNoCheckpoint)
	}
	if sv.Finished {
		if err := s.publish(); err != nil {
			return ports.Checkpoint{}, err
		}
		if err := s.clear(); err != nil {
			return ports.Checkpoint{}, err
		}
		s.size = 0
		return ports.Checkpoint{}, fmt.Errorf("records store: the last pass finished: %w", ports.ErrNoCheckpoint)
	}
	if s.out != "" {
		f, err := s.open()
		if err != nil {
			return ports.Checkpoint{}, err
		}
		info, err := f.Stat()
		if err != nil {
			return ports.Checkpoint{}, fmt.Errorf("resume records file: %w", err)
		}
		if info.Size() < sv.Size {
			return ports.Checkpoint{}, fmt.Errorf("resume records file %s: it holds %d bytes, less than the %d its checkpoint names; remove the checkpoint %s to start a fresh pass",
				f.Name(), info.Size(), sv.Size, s.checkpoint)
		}
		// What lies beyond sv.Size (a page whose Commit was cut short) is
		// overwritten and cut off by the next write.
	}
	s.size = sv.Size
	return sv.Checkpoint, nil
}

// Commit appends the page to the partial records file, then saves next with
// the file's new length.
func (s *Store) Commit(_ context.Context, page []ports.SyncRecord, next ports.Checkpoint) error {
	size, err := s.write(page)
	if err != nil {
		return err
	}
	if err := s.save(&saved{Checkpoint: next, Size: size}); err != nil {
		return err
	}
	s.size = size
	return nil
}

// Finish appends the last page, marks the checkpoint finished, renames the
// partial records file over the output and removes the checkpoint.
func (s *Store) Finish(_ context.Context, last []ports.SyncRecord) error {
	size, err := s.write(last)
	if err != nil {
		return err
	}
	if err := s.save(&saved{Size: size, Finished: true}); err != nil {
		return err
	}
	s.size = size
	if err := s.publish(); err != nil {
		return err
	}
	s.size = 0
	return s.clear()
}

// write writes records after the committed length of the partial file, cuts
// off anything beyond them, syncs the file and returns its new length.
func (s *Store) write(records []ports.SyncRecord) (int64, error) {
	if s.out == "" {
		return 0, nil
	}
	f, err := s.open()
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range records {
		if err := enc.Encode(&records[i]); err != nil {
			return 0, fmt.Errorf("encode record %s: %w", records[i].ID, err)
		}
	}
	n, err := f.WriteAt(buf.Bytes(), s.size)
	if err == nil {
		err = cut(f, s.size+int64(n))
	}
	if err != nil {
		return 0, fmt.Errorf("write records: %w", err)
	}
	return s.size + int64(n), nil
}

// cut truncates f to size and syncs it.
func cut(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// open opens the partial records file, creating it if needed. It refuses a
// symbolic link and anything but a regular file.
func (s *Store) open() (*os.File, error) {
	if s.partial != nil {
		return s.partial, nil
	}
	path := s.out + ".partial"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("open records file %s: it is a symbolic link", path)
		}
		return nil, fmt.Errorf("open records file: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open records file %s: not a regular file", path)
	}
	s.partial = f
	return f, nil
}

// publish renames the partial records file over the output, if there is
// one to rename.
func (s *Store) publish() error {
	if s.out == "" {
		return nil
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("records file: %w", err)
	}
	err := os.Rename(s.out+".partial", s.out)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(s.out); serr == nil {
			return nil // renamed before a crash
		}
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.out))
	}
	if err != nil {
		return fmt.Errorf("records file: %w", err)
	}
	return nil
}

// load reads the checkpoint; nil when there is none.
func (s *Store) load() (*saved, error) {
	if s.checkpoint == "" {
		return s.memory, nil
	}
	f, err := os.Open(s.checkpoint)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCheckpointSize+1))
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	if len(b) > maxCheckpointSize {
		return nil, fmt.Errorf("checkpoint %s is corrupt: larger than %d bytes", s.checkpoint, maxCheckpointSize)
	}
	var sv saved
	if err := json.Unmarshal(b, &sv); err != nil {
		return nil, fmt.Errorf("checkpoint %s is corrupt (remove it to start a fresh pass): %w", s.checkpoint, err)
	}
	if sv.Size < 0 {
		return nil, fmt.Errorf("checkpoint %s is corrupt (remove it to start a fresh pass): records size %d", s.checkpoint, sv.Size)
	}
	return &sv, nil
}

// save replaces the checkpoint atomically.
func (s *Store) save(sv *saved) error {
	if s.checkpoint == "" {
		s.memory = sv
		return nil
	}
	b, err := json.Marshal(sv)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.checkpoint, err)
	}
	dir := filepath.Dir(s.checkpoint)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.checkpoint)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.checkpoint, err)
	}
	if err := writeAndClose(tmp, b); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", s.checkpoint, err)
	}
	if err := os.Rename(tmp.Name(), s.checkpoint); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", s.checkpoint, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.checkpoint, err)
	}
	return nil
}

// clear removes the checkpoint; a missing one is not an error.
func (s *Store) clear() error {
	if s.checkpoint == "" {
		s.memory = nil
		return nil
	}
	err := os.Remove(s.checkpoint)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear checkpoint: %w", err)
	}
	if err := syncDir(filepath.Dir(s.checkpoint)); err != nil {
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
