package core_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

// listing pages the numbers 1…n, size a page, and fails the read of the
// page at failAt (0: never).
func listing(n, size, failAt int, reads *[]string) func(context.Context, ports.PageQuery) (ports.Page[int], error) {
	return func(_ context.Context, q ports.PageQuery) (ports.Page[int], error) {
		*reads = append(*reads, q.Continuation)
		start := 0
		if q.Continuation != "" {
			start = int(q.Continuation[0] - '0')
		}
		if start/size+1 == failAt {
			return ports.Page[int]{}, errors.New("boom")
		}
		var page ports.Page[int]
		for i := start; i < min(start+size, n); i++ {
			page.Items = append(page.Items, i+1)
		}
		if start+size < n {
			page.Next = string(rune('0' + start + size))
		}
		return page, nil
	}
}

func TestPagesReadsEveryPageInOrder(t *testing.T) {
	var reads []string
	var got []int
	for page, err := range core.Pages(t.Context(), ports.PageQuery{PageSize: 3}, listing(7, 3, 0, &reads)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Items...)
	}
	if !slices.Equal(got, []int{1, 2, 3, 4, 5, 6, 7}) || !slices.Equal(reads, []string{"", "3", "6"}) {
		t.Errorf("items %v after reads %q", got, reads)
	}
}

func TestPagesStartsAtTheQuerysContinuation(t *testing.T) {
	var reads []string
	n := 0
	for page, err := range core.Pages(t.Context(), ports.PageQuery{Continuation: "6"}, listing(7, 3, 0, &reads)) {
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
	}
	if n != 1 || !slices.Equal(reads, []string{"6"}) {
		t.Errorf("%d items after reads %q, want the last page only", n, reads)
	}
}

func TestPagesEndsWithTheFirstError(t *testing.T) {
	var reads []string
	var errs []error
	pages := 0
	for page, err := range core.Pages(t.Context(), ports.PageQuery{}, listing(9, 3, 2, &reads)) {
		if err != nil {
			errs = append(errs, err)
			if len(page.Items) != 0 {
				t.Errorf("the error came with items %v", page.Items)
			}
			continue
		}
		pages++
	}
	if pages != 1 || len(errs) != 1 || len(reads) != 2 {
		t.Errorf("%d pages, errors %v, reads %q: want page 1, then page 2's error, and no read after it", pages, errs, reads)
	}
}

func TestPagesReadsNoFurtherPageAfterABreak(t *testing.T) {
	var reads []string
	for range core.Pages(t.Context(), ports.PageQuery{}, listing(9, 3, 0, &reads)) {
		break
	}
	if len(reads) != 1 {
		t.Errorf("reads %q, want one", reads)
	}
}
