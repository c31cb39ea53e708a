package dynamicstest

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

func TestSeedIsDeterministic(t *testing.T) {
	clk := newClock()
	a := start(t, Options{Seed: 9, Now: clk.Now})
	b := start(t, Options{Seed: 9, Now: clk.Now})
	c := start(t, Options{Seed: 10, Now: clk.Now})
	if !reflect.DeepEqual(a.Certifications(), b.Certifications()) || !reflect.DeepEqual(a.Assignments(), b.Assignments()) ||
		a.Identity() != b.Identity() {
		t.Error("the same seed gave different data")
	}
	if reflect.DeepEqual(a.Certifications(), c.Certifications()) || a.Identity() == c.Identity() {
		t.Error("different seeds gave the same data")
	}
	if n := len(a.Certifications()); n != DefaultCertifications {
		t.Errorf("%d certifications by default", n)
	}
	if n := len(start(t, Options{Certifications: -1}).Certifications()); n != 0 {
		t.Errorf("%d certifications with Certifications -1", n)
	}
}

// The seeded data hold every case a sync pass and a demo need.
func TestNeverSynced(t *testing.T) {
	e := start(t, Options{Certifications: 50, NeverSynced: true})
	for _, c := range e.Certifications() {
		if c.SyncStatus != ports.SyncStatusNone || !c.LastSyncedOn.IsZero() {
			t.Fatalf("%s: status %v, last synced %v; want none", c.ID, c.SyncStatus, c.LastSyncedOn)
		}
	}
}

func TestSeedCoversEveryCase(t *testing.T) {
	clk := newClock()
	e := start(t, Options{Certifications: 1000, Now: clk.Now})
	today := ports.DateOf(clk.Now())
	computed := func(c ports.Certification) ports.SyncStatus {
		switch {
		case c.State == ports.StateInactive:
			return ports.SyncStatusInactive
		case c.ExpiresOn.IsZero():
			return ports.SyncStatusValid
		case c.ExpiresOn.Before(today):
			return ports.SyncStatusExpired
		case !c.ExpiresOn.After(today.AddDays(30)):
			return ports.SyncStatusExpiring
		}
		return ports.SyncStatusValid
	}
	kinds := map[string]int{}
	mentors := map[string]bool{}
	for _, c := range e.Certifications() {
		s := computed(c)
		kinds["computed "+s.String()]++
		if c.ExpiresOn.IsZero() {
			kinds["no expiry"]++
		}
		switch {
		case c.SyncStatus == ports.SyncStatusNone:
			kinds["never synced"]++
			if !c.LastSyncedOn.IsZero() {
				t.Errorf("%s: never synced but last synced %v", c.ID, c.LastSyncedOn)
			}
		case c.SyncStatus == s:
			kinds["current"]++
		default:
			kinds["stale"]++
		}
		if c.IssuedOn.After(today) || c.ModifiedOn.After(clk.Now()) || c.Name == "" || c.Type < 1 || c.Type > 3 {
			t.Errorf("implausible record %+v", c)
		}
		mentors[c.ContactID] = true
	}
	for _, k := range []string{"computed valid", "computed expiring", "computed expired", "computed inactive", "no expiry", "never synced", "current", "stale"} {
		if kinds[k] < 50 {
			t.Errorf("%d records %s of 1000", kinds[k], k)
		}
	}
	assigned := map[string]bool{}
	for _, a := range e.Assignments() {
		assigned[a.MentorID] = true
		if a.CoordinatorID == "" || a.ChapterID == "" || a.Status < 1 || a.Status > 3 || (a.Status == 3) != !a.EndDate.IsZero() {
			t.Errorf("implausible assignment %+v", a)
		}
	}
	if len(mentors) != 500 || !reflect.DeepEqual(mentors, assigned) {
		t.Errorf("%d mentors with certifications, %d with assignments", len(mentors), len(assigned))
	}
}

func TestStatsAndConnections(t *testing.T) {
	ts := newTester(t, Options{Certifications: 5})
	for range 3 {
		wantStatus(t, ts.get("WhoAmI"), http.StatusOK)
	}
	wantStatus(t, ts.get("hlf_assignments"), http.StatusOK)
	wantStatus(t, ts.api(http.MethodPatch, "hlf_certifications("+ts.e.Certifications()[0].ID+")", syncBody, "If-Match", "*"), http.StatusNoContent)
	s := ts.e.Stats()
	want := map[Route]int{RouteToken: 1, RouteWhoAmI: 3, RouteAssignments: 1, RoutePatch: 1}
	if !reflect.DeepEqual(s.Requests, want) || s.TokenRequests != 1 || s.Connections != 1 || s.TotalWrites() != 1 {
		t.Errorf("stats %+v", s)
	}

	ts.e.ResetStats()
	if s := ts.e.Stats(); len(s.Requests) != 0 || s.Connections != 0 || len(s.Writes) != 0 || len(ts.e.Writes()) != 0 {
		t.Errorf("after ResetStats: %+v", s)
	}
	// Concurrent requests open connections of their own.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := ts.fresh()
			wantStatus(t, c.get("WhoAmI"), http.StatusOK)
		})
	}
	wg.Wait()
	if s := ts.e.Stats(); s.Connections != 4 || s.Requests[RouteWhoAmI] != 4 {
		t.Errorf("4 clients: %+v", s)
	}
}

func TestEnvAndCA(t *testing.T) {
	e, err := Start(&Options{Certifications: 1})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(e.Env(), "\n")
	for _, want := range []string{
		"DYNAMICS_BASE_URL=" + e.BaseURL(),
		"AZURE_TENANT_ID=" + DefaultTenantID,
		"AZURE_AUTHORITY_HOST=" + e.AuthorityHost(),
		"AZURE_CLIENT_ID=" + DefaultClientID,
		"AZURE_CLIENT_SECRET=" + DefaultClientSecret,
		"SSL_CERT_FILE=" + e.CAFile(),
		"FEATURE_DYNAMICS_PORTAL_ENABLED=true",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %s", want)
		}
	}
	if !strings.HasPrefix(e.BaseURL(), "https://127.0.0.1:") {
		t.Errorf("BaseURL %s", e.BaseURL())
	}
	b, err := os.ReadFile(e.CAFile())
	if err != nil || !bytes.Equal(b, e.CAPEM()) {
		t.Fatalf("CA file: %v", err)
	}
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
		t.Error("CA file is not a PEM certificate")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.CAFile()); !os.IsNotExist(err) {
		t.Errorf("CA file after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOtherCertHosts(t *testing.T) {
	ts := newTester(t, Options{Certifications: 3, CertHosts: []string{"localhost", "127.0.0.1"}})
	port := ts.e.BaseURL()[strings.LastIndex(ts.e.BaseURL(), ":"):]
	local := "https://localhost" + port
	// A client that calls the emulator by another covered name gets links
	// and a scope on that name.
	form := ts.tokenForm()
	form.Set("scope", local+"/.default")
	wantStatus(t, ts.postToken(form), http.StatusOK)
	p, _ := ts.certPage(local+APIPath+"hlf_certifications", "Prefer", "odata.maxpagesize=1")
	if !strings.HasPrefix(p.NextLink, local+APIPath) || !strings.HasPrefix(p.Context, local) {
		t.Errorf("nextLink %q, context %q", p.NextLink, p.Context)
	}
}

func TestLoggerNeverSeesSecrets(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	ts := newTester(t, Options{Certifications: 3, Logger: slog.New(h)})
	wantStatus(t, ts.get("WhoAmI", "x-correlation-id", "c0ffee00-0000-4000-8000-000000000002"), http.StatusOK)
	form := ts.tokenForm()
	form.Set("client_secret", "wrong-secret-value")
	ts.postToken(form)
	if err := ts.e.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, secret := range []string{ts.e.ClientSecret(), "wrong-secret-value", ts.token} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a secret: %s", out)
		}
	}
	if !strings.Contains(out, `"route":"whoami"`) || !strings.Contains(out, `"correlation_id":"c0ffee00-0000-4000-8000-000000000002"`) ||
		!strings.Contains(out, `"status":401`) {
		t.Errorf("log lacks the requests: %s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestStartFails(t *testing.T) {
	if _, err := Start(&Options{Addr: "256.0.0.1:0"}); err == nil {
		t.Error("Start on a bad address: want an error")
	}
	if _, err := Start(&Options{Limits: Limits{Requests: -1}}); err == nil {
		t.Error("Start with a negative limit: want an error")
	}
}

func ExampleStart() {
	emu, err := Start(&Options{Certifications: 12, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer emu.Close()

	// The emulator's own client trusts its CA.
	client := emu.HTTPClient()
	resp, err := client.PostForm(emu.TokenURL(), map[string][]string{
		"grant_type":    {"client_credentials"},
		"client_id":     {emu.ClientID()},
		"client_secret": {emu.ClientSecret()},
		"scope":         {emu.BaseURL() + "/.default"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("token:", resp.Status)
	fmt.Println("certifications:", len(emu.Certifications()))
	// Output:
	// token: 200 OK
	// certifications: 12
}

func ExampleParseFault() {
	route, fault, err := ParseFault("certifications:503,retry-after=2,times=2")
	fmt.Println(route, fault.Status, fault.RetryAfter, fault.Times, err)
	// Output: certifications 503 2s 2 <nil>
}

func TestEndAssignment(t *testing.T) {
	clk := newClock()
	e := start(t, Options{Seed: 3, Certifications: 40, Now: clk.Now})
	before := e.Assignments()
	target := before[len(before)/2]
	yesterday := ports.DateOf(clk.Now().UTC()).AddDays(-1)
	if !e.EndAssignment(strings.ToUpper(target.ID), yesterday) {
		t.Fatal("EndAssignment of an existing assignment: false")
	}
	if e.EndAssignment("00000000-0000-4000-8000-000000000000", yesterday) {
		t.Error("EndAssignment of a missing assignment: true")
	}
	after := e.Assignments()
	for i := range after {
		a := after[i]
		if a.ID != target.ID {
			if !reflect.DeepEqual(a, before[i]) {
				t.Errorf("assignment %s changed too", a.ID)
			}
			continue
		}
		if a.EndDate != yesterday || a.Status != 3 || a.State != ports.StateInactive || a.ETag == target.ETag {
			t.Errorf("ended assignment %+v, want end %s, status 3, inactive, a new version", a, yesterday)
		}
	}
}

// A date behaviour is taken for a date column only, and of the three
// behaviours Dataverse has.
func TestStartRefusesABadDateBehaviour(t *testing.T) {
	for _, b := range []map[string]string{{"modifiedon": "UserLocal"}, {"hlf_name": "DateOnly"}, {"hlf_expireson": "Local"}} {
		if e, err := Start(&Options{DateBehaviors: b}); err == nil {
			_ = e.Close()
			t.Errorf("Start with date behaviours %v: no error", b)
		}
	}
	e, err := Start(&Options{DateBehaviors: map[string]string{"hlf_expireson": "TimeZoneIndependent", "hlf_startdate": "UserLocal"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Close()
}
