package cli

import (
	"io"
	"sync"
)

// gate is the command's stderr for everything but its final line: logs,
// progress, notices. Run closes it when the command's work returns, before
// it prints the final line, so that a record written later (by work
// detached from its caller, such as a token fetch abandoned at its time
// limit and logging once its request is cancelled) is dropped instead of
// landing after the line scripts read.
type gate struct {
	mu       sync.Mutex
	w        io.Writer
	closed   bool
	terminal bool // w is a terminal, for the progress line
}

func newGate(w io.Writer) *gate { return &gate{w: w, terminal: isTerminal(w)} }

// Write writes p to the command's stderr, or drops it once the gate is
// closed.
func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

// close drops every later write. A write in progress ends first.
func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
