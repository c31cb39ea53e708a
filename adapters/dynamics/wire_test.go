package dynamics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// wireDate reads a date exactly as ports.Date does, only faster; a
// date-time (an RFC 3339 time) is kept for its date in a zone, and
// anything else is marked bad instead of failing the whole page.
func TestWireDateMatchesPortsDate(t *testing.T) {
	for _, in := range []string{
		`"2025-03-01"`, `"2024-02-29"`, `"2023-02-29"`, `"2100-02-29"`, `"2000-02-29"`, `"2026-04-31"`,
		`"2026-12-31"`, `"2026-13-01"`, `"2026-00-10"`, `"2026-01-00"`, `"0000-01-01"`, `"9999-12-31"`,
		`null`, `""`, `"2026-1-01"`, `"2026/01/01"`, `"20a6-01-01"`, `"+026-01-01"`,
		`20260101`, `"2026-01-01 "`, `"2026-06-31"`, `"2026-09-30"`, `"2026-11-31"`, `{}`, `["2026-01-01"]`, `true`,
	} {
		var w wireDate
		var p ports.Date
		if err := json.Unmarshal([]byte(in), &w); err != nil {
			t.Errorf("%s: %v; a wireDate never fails the page", in, err)
		}
		perr := json.Unmarshal([]byte(in), &p)
		got, ok := w.date(utcDates, "hlf_expireson")
		if ok != (perr == nil) || got != p {
			t.Errorf("%s: wireDate %v (ok %v), ports.Date %v (%v)", in, got, ok, p, perr)
		}
	}
}

// A date column whose Dataverse behaviour is "User local" or "Time zone
// independent" sends a date-time; its date is the one in the configured
// zone.
func TestWireDateTimeTakesItsDateInTheZone(t *testing.T) {
	zurich := time.FixedZone("CEST", 2*3600)
	newYork := time.FixedZone("EDT", -4*3600)
	for _, tt := range []struct {
		in   string
		loc  *time.Location
		want ports.Date
	}{
		{`"2024-06-12T22:00:00Z"`, time.UTC, ports.Date{Year: 2024, Month: 6, Day: 12}},
		{`"2024-06-12T22:00:00Z"`, zurich, ports.Date{Year: 2024, Month: 6, Day: 13}},
		{`"2024-06-13T00:00:00Z"`, newYork, ports.Date{Year: 2024, Month: 6, Day: 12}},
		{`"2024-06-12T23:30:00.123+02:00"`, time.UTC, ports.Date{Year: 2024, Month: 6, Day: 12}},
		{`"2024-06-12T23:30:00+02:00"`, zurich, ports.Date{Year: 2024, Month: 6, Day: 12}},
	} {
		var w wireDate
		if err := json.Unmarshal([]byte(tt.in), &w); err != nil {
			t.Fatal(err)
		}
		if got, ok := w.date(func(string) *time.Location { return tt.loc }, "hlf_expireson"); !ok || got != tt.want {
			t.Errorf("%s in %s: %v (ok %v), want %v", tt.in, tt.loc, got, ok, tt.want)
		}
	}
}

// A page as a real environment sends it when hlf_expireson is a "User
// local" column: every date is a date-time, read as the configured zone's
// date. A value that is no date at all is invalidResponse naming the
// column and the record.
func TestPageWithDateTimeColumns(t *testing.T) {
	page := `{"@odata.context":"https://hlf.crm4.dynamics.com/api/data/v9.2/$metadata#hlf_certifications(hlf_certificationid,hlf_issuedon,hlf_expireson)",` +
		`"value":[{"@odata.etag":"W/\"48377\"","hlf_certificationid":"` + certID + `","hlf_name":"Peer mentor refresher",` +
		`"hlf_issuedon":"2023-12-10","hlf_expireson":"2024-06-12T22:00:00Z","statecode":0,"modifiedon":"2026-10-02T11:40:12Z"}]}`
	f := &fakeNet{api: okJSON(page)}
	c := newNetClient(t, f, Options{Location: time.FixedZone("CEST", 2*3600)})
	p, err := c.ListCertifications(t.Context(), ports.PageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Items[0].ExpiresOn; got != (ports.Date{Year: 2024, Month: 6, Day: 13}) {
		t.Errorf("ExpiresOn = %v, want 2024-06-13 (22:00 UTC is the next day in the zone)", got)
	}
	utc := newNetClient(t, f)
	if p, err := utc.ListCertifications(t.Context(), ports.PageQuery{}); err != nil || p.Items[0].ExpiresOn != (ports.Date{Year: 2024, Month: 6, Day: 12}) {
		t.Errorf("default zone: %v, %v; want 2024-06-12 in UTC", p.Items, err)
	}

	bad := strings.Replace(page, `"2024-06-12T22:00:00Z"`, `"12.06.2024"`, 1)
	_, err = newNetClient(t, &fakeNet{api: okJSON(bad)}).ListCertifications(t.Context(), ports.PageQuery{})
	pe := wantCode(t, err, ports.CodeInvalidResponse)
	if !strings.Contains(pe.Message, "hlf_expireson") || !strings.Contains(pe.Message, certID) {
		t.Errorf("message %q does not name the column and the record", pe.Message)
	}
	one := strings.TrimSuffix(strings.SplitN(bad, `"value":[`, 2)[1], "]}")
	_, err = newNetClient(t, &fakeNet{api: okJSON(one)}).GetCertification(t.Context(), certID)
	if pe := wantCode(t, err, ports.CodeInvalidResponse); !strings.Contains(pe.Message, "hlf_expireson") {
		t.Errorf("GetCertification: message %q does not name the column", pe.Message)
	}
}

func FuzzWireDate(f *testing.F) {
	for _, s := range []string{`"2025-03-01"`, `"2024-02-29"`, `null`, `"2026-13-01"`, `"2024-06-12T22:00:00Z"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var w wireDate
		var p ports.Date
		if err := w.UnmarshalJSON([]byte(in)); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		perr := p.UnmarshalJSON([]byte(in))
		got, ok := w.date(utcDates, "hlf_expireson")
		if perr == nil && (!ok || got != p) {
			t.Fatalf("%q: wireDate %v (ok %v), ports.Date %v", in, got, ok, p)
		}
		if perr != nil && ok && w.at.IsZero() {
			t.Fatalf("%q: wireDate took %v, ports.Date refused it (%v)", in, got, perr)
		}
	})
}
