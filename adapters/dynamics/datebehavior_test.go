package dynamics

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

// metadataAnswer is the portal's answer to the date-column metadata read
// of hlf_certification, with the given behaviours.
func metadataAnswer(behaviors map[string]string) string {
	var parts []string
	for col, b := range behaviors {
		format := "DateOnly"
		if b == "UserLocal" {
			format = "DateAndTime"
		}
		parts = append(parts, fmt.Sprintf(`{"@odata.type":"#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata","LogicalName":%q,"DateTimeBehavior":{"Value":%q},"Format":%q,"MetadataId":"a1b2c3d4-0000-4000-8000-000000000001"}`, col, b, format))
	}
	return `{"@odata.context":"https://hlf.crm4.dynamics.com/api/data/v9.2/$metadata#EntityDefinitions('hlf_certification')/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata(LogicalName,DateTimeBehavior,Format)","value":[` + strings.Join(parts, ",") + `]}`
}

// portalWithDates answers the metadata read with meta and every other
// request with page, counting the metadata reads.
func portalWithDates(meta http.HandlerFunc, page string, reads *int, mu *sync.Mutex) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "EntityDefinitions(") {
			mu.Lock()
			*reads++
			mu.Unlock()
			meta(w, r)
			return
		}
		okJSON(page)(w, r)
	}
}

func datedPage(issued, expires string) string {
	return `{"value":[{"hlf_certificationid":"` + certID + `","hlf_name":"Course","hlf_issuedon":` + issued +
		`,"hlf_expireson":` + expires + `,"statecode":0,"modifiedon":"2026-10-02T11:40:12Z"}]}`
}

// Each behaviour, in the zones UTC-8, UTC, UTC+1 and UTC+14, with a value
// on each side of midnight UTC: DateOnly and TimeZoneIndependent read the
// date as written, UserLocal the date in the configured zone.
func TestDateColumnsByTheirBehaviour(t *testing.T) {
	zones := []*time.Location{time.FixedZone("UTC-8", -8*3600), time.UTC, time.FixedZone("UTC+1", 3600), time.FixedZone("UTC+14", 14*3600)}
	values := []struct{ wire, dateOnly string }{
		{`"2023-10-15T07:30:00Z"`, `"2023-10-15"`}, // morning UTC
		{`"2023-10-14T23:30:00Z"`, `"2023-10-14"`}, // just before midnight UTC
	}
	for _, behavior := range []string{"DateOnly", "TimeZoneIndependent", "UserLocal"} {
		for _, zone := range zones {
			for _, v := range values {
				t.Run(behavior+" "+zone.String()+" "+v.wire, func(t *testing.T) {
					value := v.wire
					if behavior == "DateOnly" {
						value = v.dateOnly
					}
					var mu sync.Mutex
					reads := 0
					meta := okJSON(metadataAnswer(map[string]string{"hlf_issuedon": "DateOnly", "hlf_expireson": behavior}))
					c := newNetClient(t, &fakeNet{api: portalWithDates(meta, datedPage(`"2020-01-01"`, value), &reads, &mu)}, Options{Location: zone})
					p, err := c.ListCertifications(t.Context(), ports.PageQuery{})
					if err != nil {
						t.Fatal(err)
					}
					at, _ := time.Parse(time.RFC3339, strings.Trim(v.wire, `"`))
					want, _ := ports.ParseDate(strings.Trim(v.dateOnly, `"`)) // the date as written
					if behavior == "UserLocal" {
						want = ports.DateOf(at.In(zone))
					}
					if got := p.Items[0].ExpiresOn; got != want {
						t.Errorf("hlf_expireson %s (%s) in %s: %v, want %v", value, behavior, zone, got, want)
					}
					wantReads := 1
					if behavior == "DateOnly" {
						wantReads = 0 // plain dates need no behaviour
					}
					if reads != wantReads {
						t.Errorf("%d metadata reads, want %d", reads, wantReads)
					}
				})
			}
		}
	}
}

// The behaviours are read once per client and table, and apply to the
// assignments' dates too; the request is exactly the documented one.
func TestDateBehavioursAreReadOncePerTable(t *testing.T) {
	var mu sync.Mutex
	reads := 0
	var seenURL []string
	meta := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenURL = append(seenURL, r.URL.String())
		mu.Unlock()
		okJSON(metadataAnswer(map[string]string{"hlf_startdate": "TimeZoneIndependent", "hlf_enddate": "UserLocal"}))(w, r)
	}
	assignPage := `{"value":[{"hlf_assignmentid":"` + certID + `","hlf_startdate":"2023-10-14T23:30:00Z","hlf_enddate":"2023-10-14T23:30:00Z","statecode":0,"modifiedon":"2026-10-02T11:40:12Z"}]}`
	c := newNetClient(t, &fakeNet{api: portalWithDates(meta, assignPage, &reads, &mu)}, Options{Location: time.FixedZone("UTC+1", 3600)})
	for range 3 {
		p, err := c.ListAssignments(t.Context(), ports.PageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if a := p.Items[0]; a.StartDate != (ports.Date{Year: 2023, Month: 10, Day: 14}) || a.EndDate != (ports.Date{Year: 2023, Month: 10, Day: 15}) {
			t.Errorf("start %v (TimeZoneIndependent: as written), end %v (UserLocal in UTC+1)", a.StartDate, a.EndDate)
		}
	}
	want := testBase + "/api/data/v9.2/EntityDefinitions(LogicalName='hlf_assignment')/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata?$select=LogicalName,DateTimeBehavior,Format"
	if reads != 1 || len(seenURL) != 1 || seenURL[0] != want {
		t.Errorf("metadata reads %d: %q, want one of %s", reads, seenURL, want)
	}
}

// When the metadata read is refused (an application user without the
// privilege to read metadata), one warning names the override setting, and
// the override, else the documented default, holds.
func TestRefusedDateMetadataWarnsOnceAndUsesTheOverride(t *testing.T) {
	var mu sync.Mutex
	reads := 0
	refused := status(http.StatusForbidden, `{"error":{"code":"0x80040220","message":"Principal user is missing prvReadEntity privilege"}}`)
	page := datedPage(`"2023-10-14T23:30:00Z"`, `"2023-10-14T23:30:00Z"`)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	c := newLoggedClient(t, &fakeNet{api: portalWithDates(refused, page, &reads, &mu)}, log,
		Options{Location: time.FixedZone("UTC+1", 3600), DateBehaviors: map[string]DateBehavior{"hlf_expireson": TimeZoneIndependent}})
	for range 2 {
		p, err := c.ListCertifications(t.Context(), ports.PageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if it := p.Items[0]; it.ExpiresOn != (ports.Date{Year: 2023, Month: 10, Day: 14}) || it.IssuedOn != (ports.Date{Year: 2023, Month: 10, Day: 15}) {
			t.Errorf("expires %v (the override: as written), issued %v (the default, UserLocal, in UTC+1)", it.ExpiresOn, it.IssuedOn)
		}
	}
	if n := strings.Count(logs.String(), "DYNAMICS_DATE_BEHAVIORS"); n != 1 || !strings.Contains(logs.String(), `"columns":"hlf_issuedon"`) {
		t.Errorf("%d warnings naming the setting, want one naming hlf_issuedon:\n%s", n, logs.String())
	}
	if reads != 1 {
		t.Errorf("%d metadata reads, want 1", reads)
	}
}

func TestParseDateBehaviors(t *testing.T) {
	got, err := ParseDateBehaviors(" hlf_expireson=TimeZoneIndependent, hlf_startdate=UserLocal ,")
	if err != nil || got["hlf_expireson"] != TimeZoneIndependent || got["hlf_startdate"] != UserLocal || len(got) != 2 {
		t.Errorf("ParseDateBehaviors = %v, %v", got, err)
	}
	for _, bad := range []string{"hlf_expireson", "hlf_name=DateOnly", "hlf_expireson=Local"} {
		if _, err := ParseDateBehaviors(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
