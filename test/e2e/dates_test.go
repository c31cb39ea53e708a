package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

// Date columns by their behaviour, end to end: the emulator sends
// hlf_expireson as TimeZoneIndependent (midnight UTC) and the assignments'
// dates as UserLocal in Europe/Oslo (midnight there, in UTC), and serves
// the metadata that says so. The command, with PORTALSYNC_TIMEZONE set to
// Oslo or to UTC-8, reads every date as the portal holds it: a
// TimeZoneIndependent date is the date as written in any zone.
func TestDateColumnsByTheirBehaviourEndToEnd(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	e := startEmulator(t, func(o *dynamicstest.Options) {
		o.Certifications, o.Mentors = 40, 12
		o.DateBehaviors = map[string]string{"hlf_expireson": "TimeZoneIndependent", "hlf_startdate": "UserLocal", "hlf_enddate": "UserLocal"}
		o.UserLocalZone = oslo
	})
	want := map[string]ports.Date{}
	for _, c := range e.Certifications() {
		want[c.ID] = c.ExpiresOn
	}
	wantStart := map[string]ports.Date{}
	for _, a := range e.Assignments() {
		wantStart[a.ID] = a.StartDate
	}
	// The certifications' expiry: as written, whatever the zone.
	for _, zone := range []string{"Europe/Oslo", "Etc/GMT+8"} {
		r := runBinary(t, append(binaryEnv(e), "PORTALSYNC_TIMEZONE="+zone), "certifications")
		r.wantExit(t, 0, "")
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var c ports.Certification
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if c.ExpiresOn != want[c.ID] {
				t.Errorf("in %s: %s expires %v, want %v as written", zone, c.ID, c.ExpiresOn, want[c.ID])
			}
			n++
		}
		if n != 40 {
			t.Errorf("in %s: %d certifications, want 40", zone, n)
		}
	}
	// The assignments' UserLocal dates: right in the users' zone.
	r := runBinary(t, append(binaryEnv(e), "PORTALSYNC_TIMEZONE=Europe/Oslo"), "assignments")
	r.wantExit(t, 0, "")
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var a ports.Assignment
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if a.StartDate != wantStart[a.ID] {
			t.Errorf("assignment %s starts %v, want %v", a.ID, a.StartDate, wantStart[a.ID])
		}
		checked++
	}
	if checked == 0 {
		t.Error("no assignment listed")
	}
}

// When the metadata read is refused, the command warns once, naming the
// setting, and DYNAMICS_DATE_BEHAVIORS decides.
func TestRefusedDateMetadataUsesTheSetting(t *testing.T) {
	e := startEmulator(t, func(o *dynamicstest.Options) {
		o.Certifications = 20
		o.DateBehaviors = map[string]string{"hlf_expireson": "TimeZoneIndependent"}
	})
	route, fault, err := dynamicstest.ParseFault("metadata:403,times=always")
	if err != nil {
		t.Fatal(err)
	}
	e.Inject(route, fault)
	want := map[string]ports.Date{}
	for _, c := range e.Certifications() {
		want[c.ID] = c.ExpiresOn
	}
	r := runBinary(t, append(binaryEnv(e), "PORTALSYNC_TIMEZONE=Etc/GMT+8", "DYNAMICS_DATE_BEHAVIORS=hlf_expireson=TimeZoneIndependent"), "certifications")
	r.wantExit(t, 0, "")
	if strings.Count(r.stderr, "DYNAMICS_DATE_BEHAVIORS") != 1 || !strings.Contains(r.stderr, "hlf_issuedon") {
		t.Errorf("stderr: %s; want one warning naming the setting and the column left unknown", r.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var c ports.Certification
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		if c.ExpiresOn != want[c.ID] {
			t.Errorf("%s expires %v, want %v: the setting says TimeZoneIndependent", c.ID, c.ExpiresOn, want[c.ID])
		}
	}
}
