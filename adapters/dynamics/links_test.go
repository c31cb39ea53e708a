package dynamics

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

// loopPortal serves pages whose nextLinks are given by next: the page
// with paging token k links to next[k]; "" ends the listing.
func loopPortal(next map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("$skiptoken")
		body := `{"value":[{"hlf_certificationid":"` + certID + `"}]`
		if n := next[tok]; n != "" {
			body += `,"@odata.nextLink":"` + certPage(n) + `"`
		}
		writeJSON(w, http.StatusOK, body+"}")
	}
}

// readAll follows a listing from q for at most 20 pages and returns the
// pages read and the error that ended it.
func readAll(t *testing.T, c *Client, q ports.PageQuery) (int, error) {
	for pages := 1; pages <= 20; pages++ {
		p, err := c.ListCertifications(t.Context(), q)
		if err != nil {
			return pages, err
		}
		if p.Next == "" {
			return pages, nil
		}
		q.Continuation = p.Next
	}
	t.Fatal("the listing did not end within 20 pages")
	return 0, nil
}

// nextLinks that come back round are refused, not only one that repeats
// the page just read.
func TestNextLinkCycleIsRefused(t *testing.T) {
	for name, tt := range map[string]struct {
		next  map[string]string
		start string // a continuation to start from, or "" for the first page
		pages int    // the page whose nextLink is refused
	}{
		"A→B→A from the first page":      {map[string]string{"": "A", "A": "B", "B": "A"}, "", 3},
		"A→B→C→B":                        {map[string]string{"": "A", "A": "B", "B": "C", "C": "B"}, "", 4},
		"A→A":                            {map[string]string{"": "A", "A": "A"}, "", 2},
		"from a checkpoint: A→B→A":       {map[string]string{"A": "B", "B": "A"}, "A", 2},
		"from a checkpoint: A→B→C→A":     {map[string]string{"A": "B", "B": "C", "C": "A"}, "A", 3},
		"a continuation answered itself": {map[string]string{"A": "A"}, "A", 1},
	} {
		t.Run(name, func(t *testing.T) {
			c := newNetClient(t, &fakeNet{api: loopPortal(tt.next)})
			q := ports.PageQuery{}
			if tt.start != "" {
				q.Continuation = certPage(tt.start)
			}
			pages, err := readAll(t, c, q)
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if !strings.Contains(pe.Message, "already read") || pages != tt.pages {
				t.Errorf("page %d: %+v; want the nextLink of page %d refused", pages, pe, tt.pages)
			}
		})
	}
}

// Reading a listing again (the next pass), or two listings at once, is no
// cycle.
func TestListingReadAgainIsNoCycle(t *testing.T) {
	c := newNetClient(t, &fakeNet{api: loopPortal(map[string]string{"": "A", "A": "B"})})
	for pass := range 3 {
		if pages, err := readAll(t, c, ports.PageQuery{}); err != nil || pages != 3 {
			t.Fatalf("pass %d: %d pages, %v", pass, pages, err)
		}
	}
	first, err := c.ListCertifications(t.Context(), ports.PageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if pages, err := readAll(t, c, ports.PageQuery{}); err != nil || pages != 3 {
		t.Fatalf("a second listing meanwhile: %d pages, %v", pages, err)
	}
	if pages, err := readAll(t, c, ports.PageQuery{Continuation: first.Next}); err != nil || pages != 2 {
		t.Fatalf("the first listing resumed: %d pages, %v", pages, err)
	}
}

// The memory is bounded: past maxLinks links a new generation starts, and
// a cycle across the two generations is still caught.
func TestPageLinksGenerations(t *testing.T) {
	l := newPageLinks()
	if !l.follow("a0", "a1") || !l.follow("a1", "a2") {
		t.Fatal("a chain refused")
	}
	for i := range maxLinks {
		l.follow("x"+strconv.Itoa(i), "x"+strconv.Itoa(i+1))
	}
	if len(l.cur) > maxLinks || len(l.prev) != maxLinks {
		t.Fatalf("generations of %d and %d links", len(l.cur), len(l.prev))
	}
	if l.follow("a2", "a0") {
		t.Fatal("a cycle across generations was followed")
	}
	if !l.follow("a0", "a1") {
		t.Fatal("a known link was refused")
	}
}
