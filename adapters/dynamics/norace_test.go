//go:build !race

package dynamics

// raceEnabled: see race_test.go.
const raceEnabled = false
