package core

import (
	"context"
	"iter"

	"github.com/hlf/dynamicsportal/ports"
)

// Pages returns the pages of a listing in order, from q's continuation on:
// list is called for each page when the loop asks for it, with q's page
// size and the continuation of the page before. The sequence ends after
// the page with no continuation, or with the first error, which it yields
// with a zero page; a loop that stops early reads no further page.
//
//	for page, err := range core.Pages(ctx, q, portal.ListAssignments) {
//		if err != nil {
//			return err
//		}
//		use(page.Items)
//	}
func Pages[T any](ctx context.Context, q ports.PageQuery, list func(context.Context, ports.PageQuery) (ports.Page[T], error)) iter.Seq2[ports.Page[T], error] {
	return func(yield func(ports.Page[T], error) bool) {
		for {
			page, err := list(ctx, q)
			if err != nil {
				yield(ports.Page[T]{}, err)
				return
			}
			if !yield(page, nil) || page.Next == "" {
				return
			}
			q.Continuation = page.Next
		}
	}
}
