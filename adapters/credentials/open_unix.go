//go:build unix

package credentials

import (
	"os"
	"syscall"
)

// openFlags opens a credential file for reading without blocking, so a
// FIFO (or a file that blocks on open) at its path is refused instead of
// holding a goroutine and an OS thread at every token fetch.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
