package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hlf/dynamicsportal/ports"
)

// mirrorAssignments reads every assignment, page by page in key order, into
// the assignment sink, within the pass's budget and throttling. It counts
// them in rep.Assignments, which nothing else touches while it runs. A
// sweep the sink held on the last page is kept in p.held: the pass goes
// on, and tells it when it finishes.
func (p *pass) mirrorAssignments(ctx context.Context, rep *Report) error {
	pages := 0
	read := func(ctx context.Context, q ports.PageQuery) (ports.Page[ports.Assignment], error) {
		if err := p.goOn(ctx); err != nil {
			return ports.Page[ports.Assignment]{}, err
		}
		page, err := retry(ctx, ctx, p, func() (ports.Page[ports.Assignment], error) {
			return p.portal.ListAssignments(ctx, q)
		})
		if err != nil {
			return page, fmt.Errorf("read assignments page %d: %w", pages+1, err)
		}
		return page, nil
	}
	for page, err := range Pages(ctx, ports.PageQuery{PageSize: p.opts.PageSize}, read) {
		if err != nil {
			return err
		}
		pages++
		last := page.Next == ""
		if err := p.opts.Assignments.WriteAssignments(ctx, page.Items, last); err != nil {
			if !last || !errors.Is(err, ports.ErrDeletionsHeld) {
				return fmt.Errorf("assignment sink: %w", err)
			}
			p.held = err
		}
		rep.Assignments += len(page.Items)
	}
	p.logger.LogAttrs(ctx, slog.LevelDebug, "assignments mirrored", slog.Int("assignments", rep.Assignments), slog.Int("pages", pages))
	return nil
}
