package e2e

import (
	"context"

	"github.com/hlf/dynamicsportal/internal/cli"
)

// runInProcess runs a portalsync command in this process through the
// command line's own entry point and returns its exit status and output,
// so that a test sees the goroutines the run leaves behind.
func runInProcess(ctx context.Context, args ...string) result {
	var stdout, stderr lockedBuffer
	code := cli.Run(ctx, args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
