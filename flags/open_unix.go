//go:build unix

package flags

import (
	"os"
	"syscall"
)

// openFlags opens the flags file for reading without blocking, so a FIFO
// at its path is refused instead of waiting for a writer.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
