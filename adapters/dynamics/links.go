package dynamics

import (
	"hash/maphash"
	"sync"
)

// maxLinks is how many links a client remembers per collection before it
// starts a new generation (the previous one is still looked at).
const maxLinks = 1 << 18

// pageLinks remembers which page links to which, for the links of one
// collection the client has read, so that nextLinks that come back round
// (A→B→A, or A→B→C→B, not only A→A) are refused instead of read for ever.
//
// A new link from page X to page Y is refused when X can be reached from Y
// by the links already known: following it would read X's page again. A
// listing read again (the next pass, a pass resumed from its checkpoint,
// a page read twice because a pass stopped in its middle) follows links
// already known and is never refused, however many listings of the
// collection are read at once. Links are kept as 64-bit hashes, at most
// about 2×maxLinks of them (a few tens of megabytes); a cycle longer than
// maxLinks pages may be followed that many times before it is caught.
type pageLinks struct {
	mu   sync.Mutex
	seed maphash.Seed
	cur  map[uint64]uint64 // page → next page, newest generation
	prev map[uint64]uint64 // the generation before
}

func newPageLinks() *pageLinks {
	return &pageLinks{seed: maphash.MakeSeed(), cur: map[uint64]uint64{}}
}

// follow records that the page read from `from` (empty for a listing's
// first page, which no link can lead back to) links to next. It reports
// false, recording nothing, when next leads back to from.
func (l *pageLinks) follow(from, next string) bool {
	y := maphash.String(l.seed, next)
	if from == "" {
		return true
	}
	x := maphash.String(l.seed, from)
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.next(x); ok && s == y {
		return true // known: a listing read again
	}
	for p, steps := y, 0; steps <= 2*maxLinks; steps++ {
		if p == x {
			return false
		}
		var ok bool
		if p, ok = l.next(p); !ok {
			break
		}
	}
	if len(l.cur) >= maxLinks {
		l.prev, l.cur = l.cur, make(map[uint64]uint64)
	}
	l.cur[x] = y
	return true
}

// next returns the page p is known to link to. The caller holds mu.
func (l *pageLinks) next(p uint64) (uint64, bool) {
	if n, ok := l.cur[p]; ok {
		return n, true
	}
	n, ok := l.prev[p]
	return n, ok
}
