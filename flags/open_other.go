//go:build !unix

package flags

import "os"

// openFlags opens the flags file for reading.
const openFlags = os.O_RDONLY
