package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// processPage classifies the page's records and writes the sync metadata
// of those that need it. It returns the page as the sink gets it.
func (p *pass) processPage(ctx context.Context, items []ports.Certification, rep *Report) ([]ports.SyncRecord, error) {
	today := ports.DateOf(p.opts.now().In(p.opts.Location))
	windowEnd := today.AddDays(p.windowDays)
	records := make([]ports.SyncRecord, len(items))
	writes := 0
	for i := range items {
		r := &records[i]
		r.Certification = items[i]
		r.Computed = classify(items[i], today, windowEnd)
		switch {
		case needsWrite(&items[i], r.Computed):
			writes++ // Action is set when the write settles.
		case rep.Resumed && !r.LastSyncedOn.Before(rep.StartedAt):
			// The record already carries its status, stamped at or after
			// the start of this pass: this pass wrote it before it was
			// interrupted, on the page that was in flight. Count it as a
			// write done, so that the totals of a resumed pass equal what
			// the pass wrote. (A write by another pass in the same second
			// as this pass's start would be counted too.)
			r.Action = ports.ActionWritten
		default:
			r.Action = ports.ActionUnchanged
		}
	}
	if writes == 0 {
		return records, nil
	}
	return records, p.writeAll(ctx, records, writes)
}

// needsWrite reports whether c's sync metadata must be written: its status
// changed, or it was never synced.
func needsWrite(c *ports.Certification, computed ports.SyncStatus) bool {
	return c.SyncStatus != computed || c.SyncStatus == ports.SyncStatusNone || c.LastSyncedOn.IsZero()
}

// writeAll writes the records without an action, in batches of about
// WriteBatch (of equal size), at most Concurrency requests at a time, and
// returns when every write has settled. The first write that stops the
// pass stops the others from starting, or from waiting out a throttle,
// but lets those already sent finish: a write cut off on the wire may
// still be applied by the portal, unseen, after Run has returned, and a
// pass run again at once would then read the record before the write
// lands and write it a second time.
func (p *pass) writeAll(ctx context.Context, records []ports.SyncRecord, writes int) error {
	stop, halt := context.WithCancel(ctx)
	defer halt()
	batches := (writes + p.opts.WriteBatch - 1) / p.opts.WriteBatch
	units := make([][]*ports.SyncRecord, 0, batches)
	unit := make([]*ports.SyncRecord, 0, (writes+batches-1)/batches)
	for i := range records {
		if records[i].Action != "" {
			continue
		}
		unit = append(unit, &records[i])
		// Batch b of n ends after record ⌈(b+1)·writes/n⌉: equal sizes.
		if len(units) < batches && len(unit) == (len(units)+1)*writes/batches-len(units)*writes/batches {
			units = append(units, unit)
			unit = make([]*ports.SyncRecord, 0, cap(unit))
		}
	}
	var (
		next  atomic.Int64 // index of the next unit to write
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(p.opts.Concurrency, len(units)) {
		wg.Go(func() {
			for stop.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(units) {
					return
				}
				var err error
				if p.opts.WriteBatch == 1 {
					err = p.write(ctx, stop, units[i][0])
				} else {
					err = p.writeBatch(ctx, stop, units[i])
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
						halt()
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return canceled(err) // the caller cancelled: records are left unwritten
	}
	return nil
}

// write writes the sync metadata of one record and sets its action. It
// returns an error only for a failure that stops the pass. Once stop is
// done it sends nothing more; a call already sent ends only with ctx.
func (p *pass) write(ctx, stop context.Context, r *ports.SyncRecord) error {
	var m ports.SyncMetadata
	resp, err := retry(ctx, stop, p, func() (ports.SyncResponse, error) {
		m = p.metadata(r)
		return p.portal.WriteSyncMetadata(ctx, r.ID, m)
	})
	return p.settle(ctx, r, m, resp, err)
}

// metadata is what a write of r sends now.
func (p *pass) metadata(r *ports.SyncRecord) ports.SyncMetadata {
	return ports.SyncMetadata{Status: r.Computed, LastSyncedOn: p.opts.now().UTC().Truncate(time.Second)}
}

// writeBatch writes the sync metadata of records in batched requests and
// sets their actions. Writes the portal answered with rateLimited make the
// pass wait as it asks, then go again in a smaller batch of their own;
// those that succeeded are never sent again. It returns an error only for
// a failure that stops the pass.
func (p *pass) writeBatch(ctx, stop context.Context, records []*ports.SyncRecord) error {
	writes := make([]ports.SyncWrite, 0, len(records))
	for len(records) > 0 {
		results, err := retry(ctx, stop, p, func() ([]ports.SyncWriteResult, error) {
			writes = writes[:0]
			for _, r := range records {
				writes = append(writes, ports.SyncWrite{ID: r.ID, Metadata: p.metadata(r)})
			}
			return p.portal.WriteSyncMetadataBatch(ctx, writes)
		})
		if err == nil && len(results) != len(writes) {
			err = &ports.PortalError{Code: ports.CodeInvalidResponse, Op: "WriteSyncMetadataBatch",
				Message: fmt.Sprintf("%d results for %d writes", len(results), len(writes))}
		}
		if err != nil {
			return fmt.Errorf("write sync metadata of %d certifications (%s … %s): %w", len(records), records[0].ID, records[len(records)-1].ID, err)
		}
		again := records[:0:0]
		var throttled *ports.PortalError
		for i, res := range results {
			if pe, ok := errors.AsType[*ports.PortalError](res.Err); ok && pe.Code == ports.CodeRateLimited {
				again = append(again, records[i])
				if throttled == nil || pe.RetryAfter > throttled.RetryAfter {
					throttled = pe
				}
				continue
			}
			if err := p.settle(ctx, records[i], writes[i].Metadata, res.Response, res.Err); err != nil {
				return err
			}
		}
		if throttled != nil {
			if err := p.pause(ctx, stop, throttled); err != nil {
				return err
			}
		}
		records = again
	}
	return nil
}

// settle sets r's action from the answer to a write of m. It returns an
// error only for a failure that stops the pass.
func (p *pass) settle(ctx context.Context, r *ports.SyncRecord, m ports.SyncMetadata, resp ports.SyncResponse, err error) error {
	code := ports.CodeOf(err)
	switch {
	case err == nil:
		r.Action = ports.ActionWritten
		r.SyncStatus, r.LastSyncedOn = m.Status, m.LastSyncedOn
		if resp.ETag != "" {
			r.ETag = resp.ETag
		}
		return nil
	case code == ports.CodeNotFound:
		// Deleted since it was read: there is nothing left to write.
		r.Action = ports.ActionDeleted
		p.logger.LogAttrs(ctx, slog.LevelInfo, "sync metadata not written: the record was deleted meanwhile",
			slog.String("id", r.ID))
		return nil
	case code == ports.CodeInvalidRequest:
		r.Action = ports.ActionFailed
		p.logger.LogAttrs(ctx, slog.LevelWarn, "sync metadata write failed; the pass goes on",
			slog.String("id", r.ID), slog.String("code", code.String()), slog.String("error", err.Error()))
		return nil
	default:
		return fmt.Errorf("write sync metadata of certification %s: %w", r.ID, err)
	}
}
