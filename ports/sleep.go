package ports

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends, and then returns ctx's error. It is the
// one sleep of the module: the sync pass's default wait for a throttled
// portal and the real adapter's wait for a pause the portal asked for both
// use it.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
