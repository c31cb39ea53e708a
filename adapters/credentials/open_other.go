//go:build !unix

package credentials

import "os"

// openFlags opens a credential file for reading.
const openFlags = os.O_RDONLY
