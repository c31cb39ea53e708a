package core

import (
	"context"
	"time"
)

// WithClock gives a pass of o the clock now and the wait sleep, for tests
// that control time.
func WithClock(o *SyncOptions, now func() time.Time, sleep func(context.Context, time.Duration) error) {
	o.now, o.sleep = now, sleep
}
