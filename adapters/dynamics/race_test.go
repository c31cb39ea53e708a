//go:build race

package dynamics

// raceEnabled is true when the tests run under the race detector, where
// sync.Pool drops what is put in it at random, so allocation counts vary
// from run to run. Tests that count allocations assert only without it
// (scripts/cover.sh runs them so).
const raceEnabled = true
