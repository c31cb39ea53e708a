package core

import (
	"context"

	"github.com/hlf/dynamicsportal/ports"
)

// committer is the pass store's Commit, moved beside the pass: each page is
// committed in the background while the pass reads and writes the next
// one. Pages are committed one at a time and in order.
type committer struct {
	store   ports.PassStore
	pending *background // the page being committed; nil: none
}

// Commit waits until the page before is committed, then commits page and
// next in the background and calls then with the outcome there; then's
// error is the commit's. It returns the failure of the commit before.
func (c *committer) Commit(ctx context.Context, page []ports.SyncRecord, next ports.Checkpoint, then func(error) error) error {
	if err := c.pending.wait(); err != nil {
		return err
	}
	c.pending = goBackground(func() error { return then(c.store.Commit(ctx, page, next)) })
	return nil
}

// wait returns once the last page handed to Commit is committed, with the
// commit's error.
func (c *committer) wait() error { return c.pending.wait() }

// failed returns the error of a commit that has failed, without waiting.
func (c *committer) failed() error { return c.pending.failed() }

// background is work that runs beside a pass: committing a page, or
// mirroring the assignments.
type background struct {
	done chan struct{}
	err  error
}

func goBackground(work func() error) *background {
	b := &background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = work()
	}()
	return b
}

// wait returns the work's error once it has finished; nil for no work.
func (b *background) wait() error {
	if b == nil {
		return nil
	}
	<-b.done
	return b.err
}

// failed returns the work's error if it has finished with one, without
// waiting.
func (b *background) failed() error {
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
		return b.err
	default:
		return nil
	}
}
