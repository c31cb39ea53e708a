package dynamics

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// readChunks returns a body up to the limit byte for byte, across chunk
// boundaries, and refuses one byte more.
func TestReadChunks(t *testing.T) {
	body := make([]byte, 3<<20+7)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for _, tt := range []struct {
		size, limit int
		over        bool
	}{
		{0, 10, false},
		{1, 10, false},
		{10, 10, false},
		{11, 10, true},
		{4 << 10, 4 << 10, false},
		{4<<10 + 1, 4 << 10, true},
		{4<<10 + 1, 1 << 20, false},
		{12<<10 + 5, 1 << 20, false},
		{3<<20 + 7, 3<<20 + 7, false},
		{3<<20 + 7, 3<<20 + 6, true},
	} {
		// One byte at a time too: short reads must not end the body.
		for _, r := range []io.Reader{bytes.NewReader(body[:tt.size]), iotest.OneByteReader(bytes.NewReader(body[:tt.size]))} {
			b, over, err := readChunks(r, int64(tt.limit))
			if err != nil || over != tt.over {
				t.Fatalf("size %d limit %d: over %v, %v", tt.size, tt.limit, over, err)
			}
			if !over && !bytes.Equal(b, body[:tt.size]) {
				t.Fatalf("size %d limit %d: %d bytes differ from the body", tt.size, tt.limit, len(b))
			}
		}
	}
	boom := errors.New("connection reset")
	if _, _, err := readChunks(iotest.ErrReader(boom), 100); !errors.Is(err, boom) {
		t.Errorf("read error %v, want it returned", err)
	}
	if _, _, err := readChunks(io.MultiReader(bytes.NewReader(body[:9000]), iotest.ErrReader(boom)), 1<<20); !errors.Is(err, boom) {
		t.Errorf("read error after 9000 bytes: %v, want it returned", err)
	}
}

// A body over the limit costs no more than the limit in memory.
func TestReadChunksOverTheLimitAllocatesTheLimit(t *testing.T) {
	const limit = 8 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, over, err := readChunks(io.LimitReader(zeros{}, 1<<40), limit)
	runtime.ReadMemStats(&after)
	if !over || err != nil {
		t.Fatalf("over %v, %v", over, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > limit+limit/8 {
		t.Errorf("allocated %d bytes for a limit of %d", got, limit)
	}
}

// zeros reads zero bytes without end.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
