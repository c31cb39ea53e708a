package ports_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

func TestParseDate(t *testing.T) {
	d, err := ports.ParseDate("2025-03-01")
	if err != nil || d != (ports.Date{Year: 2025, Month: time.March, Day: 1}) {
		t.Fatalf("ParseDate = %+v, %v", d, err)
	}
	for _, bad := range []string{"", "2025-3-1", "01.03.2025", "2025-02-30", "2025-03-01T00:00:00Z"} {
		if _, err := ports.ParseDate(bad); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
			t.Errorf("ParseDate(%q) = %v", bad, err)
		}
	}
}

func TestDateMethods(t *testing.T) {
	d := ports.DateOf(time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("X", -5*3600)))
	if d != (ports.Date{Year: 2026, Month: 12, Day: 31}) || d.String() != "2026-12-31" || d.IsZero() {
		t.Errorf("DateOf = %+v (%s)", d, d)
	}
	next := d.AddDays(1)
	if next.String() != "2027-01-01" || !next.After(d) || next.Before(d) || !d.Before(next) || d.After(next) {
		t.Errorf("AddDays/Before/After: %s vs %s", next, d)
	}
	if d.AddDays(-365).String() != "2025-12-31" || d.After(d) || d.Before(d) {
		t.Errorf("AddDays(-365) = %s", d.AddDays(-365))
	}
	var zero ports.Date
	if !zero.IsZero() || zero.String() != "" {
		t.Errorf("zero Date: %v %q", zero.IsZero(), zero.String())
	}
}

func TestDateJSON(t *testing.T) {
	type rec struct {
		A ports.Date `json:"a"`
		B ports.Date `json:"b"`
	}
	b, err := json.Marshal(rec{A: ports.Date{Year: 2027, Month: 3, Day: 1}})
	if err != nil || string(b) != `{"a":"2027-03-01","b":null}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var r rec
	r.B = ports.Date{Year: 1, Month: 1, Day: 1}
	if err := json.Unmarshal([]byte(`{"a":"2025-03-01","b":null}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.A != (ports.Date{Year: 2025, Month: 3, Day: 1}) || !r.B.IsZero() {
		t.Errorf("Unmarshal = %+v", r)
	}
	for _, bad := range []string{`{"a":20250301}`, `{"a":"2025-13-01"}`, `{"a":"x"}`, `{"a":true}`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
	var d ports.Date
	if err := d.UnmarshalJSON([]byte(`"`)); err == nil {
		t.Errorf("a lone quote accepted")
	}
}
