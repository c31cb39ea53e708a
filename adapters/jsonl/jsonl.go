// Package jsonl provides record sinks for the sync pass: Sink writes one
// JSON object per record (JSON lines) to a file, and Discard drops them.
package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/hlf/dynamicsportal/ports"
)

var (
	_ ports.RecordSink = (*Sink)(nil)
	_ ports.RecordSink = Discard{}
)

// Sink writes records as JSON lines to a file. Its position is the decimal
// byte offset of the end of the last page written, so Rewind can cut the
// file back to a page boundary. A Sink is not safe for concurrent use.
type Sink struct {
	file *os.File
	size int64 // where the next page goes
	buf  bytes.Buffer
	enc  *json.Encoder
}

// Open opens path for a sync pass, creating it with mode 0600 if needed (the
// records name people; an existing file keeps its mode). It refuses a
// symbolic link, so a link planted at path cannot make the pass cut and
// rewrite the file it points to, and anything but a regular file. It does
// not truncate: the pass decides with Rewind whether to start from the
// beginning or from a checkpoint. Until then, pages are appended after what
// the file holds.
func Open(path string) (*Sink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("open record file %s: it is a symbolic link; name the file itself", path)
		}
		return nil, fmt.Errorf("open record file: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open record file: %w", err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open record file %s: not a regular file", path)
	}
	s := &Sink{file: f, size: info.Size()}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s, nil
}

// WritePage appends the records, one JSON object per line, and syncs the
// file to stable storage before it returns the new position: a checkpoint
// saved with that position never points past what the file holds. A page
// that fails to write is cut off again. The context is not consulted:
// writing a page is short and is not interrupted halfway.
func (s *Sink) WritePage(_ context.Context, records []ports.SyncRecord) (string, error) {
	s.buf.Reset()
	for i := range records {
		if err := s.enc.Encode(&records[i]); err != nil {
			return "", fmt.Errorf("encode record %s: %w", records[i].ID, err)
		}
	}
	n, err := s.file.WriteAt(s.buf.Bytes(), s.size)
	if err == nil {
		err = s.file.Sync()
	}
	if err != nil {
		// Best effort: drop a partly written page so the file ends on a
		// line boundary; the error reported is the write's.
		_ = s.file.Truncate(s.size)
		return "", fmt.Errorf("write records: %w", err)
	}
	s.size += int64(n)
	return strconv.FormatInt(s.size, 10), nil
}

// Rewind truncates the file to position, a value WritePage returned, or to
// zero for "". A position beyond the end of the file is refused: the file
// does not hold what the checkpoint says it does.
func (s *Sink) Rewind(_ context.Context, position string) error {
	var off int64
	if position != "" {
		v, err := strconv.ParseInt(position, 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("rewind record file: position %q is not a byte offset", position)
		}
		off = v
	}
	info, err := s.file.Stat()
	if err != nil {
		return fmt.Errorf("rewind record file: %w", err)
	}
	if off > info.Size() {
		return fmt.Errorf("rewind record file: position %d is beyond its end (%d bytes)", off, info.Size())
	}
	if err := s.file.Truncate(off); err != nil {
		return fmt.Errorf("rewind record file: %w", err)
	}
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("rewind record file: %w", err)
	}
	s.size = off
	return nil
}

// Close closes the file.
func (s *Sink) Close() error { return s.file.Close() }

// Discard is a sink that drops every record, for a pass run without an
// output file. Its position is always "".
type Discard struct{}

// WritePage drops the records.
func (Discard) WritePage(context.Context, []ports.SyncRecord) (string, error) { return "", nil }

// Rewind does nothing.
func (Discard) Rewind(context.Context, string) error { return nil }
