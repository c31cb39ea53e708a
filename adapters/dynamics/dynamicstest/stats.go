package dynamicstest

import (
	"maps"
	"sync"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// Stats are the emulator's counters since Start or the last ResetStats.
type Stats struct {
	// Requests counts requests per route, whatever their answer (faults,
	// 401s and 429s included). Requests to no route are not counted.
	Requests map[Route]int
	// TokenRequests is Requests[RouteToken].
	TokenRequests int
	// TokensIssued counts the tokens the token endpoint handed out.
	TokensIssued int
	// Connections counts the TCP connections the server accepted.
	Connections int
	// Unauthorized counts the Web API's 401 answers to missing, unknown,
	// expired or revoked tokens.
	Unauthorized int
	// Throttled counts the 429 answers of the service protection limits
	// (injected 429 faults are counted in Faults).
	Throttled int
	// Faults counts the injected faults served, per route; a fault drawn
	// by a $batch part counts on RoutePatch.
	Faults map[Route]int
	// BatchParts counts the $batch parts served (each is also one
	// operation of the execution-time limit).
	BatchParts int
	// Writes counts the applied writes per certification id.
	Writes map[string]int
}

// TotalWrites is the number of applied writes.
func (s Stats) TotalWrites() int {
	n := 0
	for _, w := range s.Writes {
		n += w
	}
	return n
}

// TotalFaults is the number of injected faults served.
func (s Stats) TotalFaults() int {
	n := 0
	for _, f := range s.Faults {
		n += f
	}
	return n
}

// Write is one applied PATCH of a certification.
type Write struct {
	// ID is the certification's key.
	ID string
	// Status and LastSyncedOn are the sync columns after the write
	// (LastSyncedOn zero when null).
	Status       ports.SyncStatus
	LastSyncedOn time.Time
	// Created is true when the PATCH created the record (an upsert
	// without If-Match).
	Created bool
	// ETag is the row version after the write.
	ETag string
	// At is the emulator clock's time of the write, the new modifiedon.
	At time.Time
	// CorrelationID is the request's correlation header (see
	// Options.CorrelationHeader).
	CorrelationID string
}

// counters are the request counters behind Stats.
type counters struct {
	mu           sync.Mutex
	requests     map[Route]int
	faults       map[Route]int
	tokensIssued int
	connections  int
	refused      int // 401s
	throttles    int // 429s
	parts        int // $batch parts
}

func (c *counters) request(r Route) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests == nil {
		c.requests = map[Route]int{}
	}
	c.requests[r]++
}

func (c *counters) fault(r Route) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faults == nil {
		c.faults = map[Route]int{}
	}
	c.faults[r]++
}

func (c *counters) add(n *int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*n++
}

func (c *counters) tokenIssued()  { c.add(&c.tokensIssued) }
func (c *counters) connection()   { c.add(&c.connections) }
func (c *counters) unauthorized() { c.add(&c.refused) }
func (c *counters) throttled()    { c.add(&c.throttles) }
func (c *counters) part()         { c.add(&c.parts) }

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	c := &e.stats
	c.mu.Lock()
	s := Stats{
		Requests:      maps.Clone(c.requests),
		TokenRequests: c.requests[RouteToken],
		TokensIssued:  c.tokensIssued,
		Connections:   c.connections,
		Unauthorized:  c.refused,
		Throttled:     c.throttles,
		Faults:        maps.Clone(c.faults),
		BatchParts:    c.parts,
	}
	c.mu.Unlock()
	if s.Requests == nil {
		s.Requests = map[Route]int{}
	}
	if s.Faults == nil {
		s.Faults = map[Route]int{}
	}
	s.Writes = e.store.writeCounts()
	return s
}

// Writes returns every applied write since Start or the last ResetStats,
// in the order they were applied.
func (e *Emulator) Writes() []Write { return e.store.writeLog() }

// ResetStats zeroes the counters and empties the write log. The data stay.
func (e *Emulator) ResetStats() {
	c := &e.stats
	c.mu.Lock()
	c.requests, c.faults = nil, nil
	c.tokensIssued, c.connections, c.refused, c.throttles, c.parts = 0, 0, 0, 0, 0
	c.mu.Unlock()
	e.store.resetWrites()
}
