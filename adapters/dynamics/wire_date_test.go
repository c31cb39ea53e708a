package dynamics

import (
	"encoding/json"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

// wireDate must decode exactly as ports.Date does, only faster.
func TestWireDateMatchesPortsDate(t *testing.T) {
	for _, in := range []string{
		`"2025-03-01"`, `"2024-02-29"`, `"2023-02-29"`, `"2100-02-29"`, `"2000-02-29"`, `"2026-04-31"`,
		`"2026-12-31"`, `"2026-13-01"`, `"2026-00-10"`, `"2026-01-00"`, `"0000-01-01"`, `"9999-12-31"`,
		`null`, `""`, `"2026-1-01"`, `"2026/01/01"`, `"2026-01-01T00:00:00Z"`, `"20a6-01-01"`, `"+026-01-01"`,
		`20260101`, `"2026-01-01 "`, `"2026-06-31"`, `"2026-09-30"`, `"2026-11-31"`,
	} {
		var w wireDate
		var p ports.Date
		werr := json.Unmarshal([]byte(in), &w)
		perr := json.Unmarshal([]byte(in), &p)
		if (werr == nil) != (perr == nil) || ports.Date(w) != p {
			t.Errorf("%s: wireDate %v (%v), ports.Date %v (%v)", in, ports.Date(w), werr, p, perr)
		}
	}
}

func FuzzWireDate(f *testing.F) {
	for _, s := range []string{`"2025-03-01"`, `"2024-02-29"`, `null`, `"2026-13-01"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var w wireDate
		var p ports.Date
		werr := w.UnmarshalJSON([]byte(in))
		perr := p.UnmarshalJSON([]byte(in))
		if (werr == nil) != (perr == nil) || ports.Date(w) != p {
			t.Fatalf("%q: wireDate %v (%v), ports.Date %v (%v)", in, ports.Date(w), werr, p, perr)
		}
	})
}
