package main

import (
	"strings"
	"testing"
)

const config = `{"config":{"protocol_version":"v1.0.0","go_version":"go1.26.8","db":"file:///tmp/db"}}`

func stdlibFinding(id, fixed, pkg, fn string) string {
	return `{"finding":{"osv":"` + id + `","fixed_version":"` + fixed + `","trace":[{"module":"stdlib","version":"v1.26.8","package":"` + pkg + `","function":"` + fn + `"}]}}`
}

func TestStdlibFindingsAreListedNotFailing(t *testing.T) {
	in := config +
		`{"osv":{"id":"GO-2026-6809","summary":"Distrust compromised intermediates"}}` +
		stdlibFinding("GO-2026-6809", "v1.26.10", "", "") +
		stdlibFinding("GO-2026-6809", "v1.26.10", "crypto/x509", "") +
		stdlibFinding("GO-2026-6809", "v1.26.10", "crypto/x509", "Verify") +
		stdlibFinding("GO-2026-6609", "v1.26.9", "net/http", "") +
		stdlibFinding("GO-2026-6610", "v1.26.9", "net/http", "RoundTrip")
	var out strings.Builder
	code, err := report(strings.NewReader(in), &out)
	if code != 0 || err != nil {
		t.Fatalf("report = %d, %v; want 0\n%s", code, err, out.String())
	}
	for _, want := range []string{
		"standard library: 3 vulnerabilities",
		"GO-2026-6809   called   fixed in v1.26.10  Distrust compromised intermediates",
		"GO-2026-6609   imported fixed in v1.26.9",
		"build production binaries with Go 1.26.10 or later",
		"third-party modules: 0 vulnerabilities",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// A vulnerable third-party module fails the run, even when the code only
// requires it.
func TestThirdPartyFindingsFail(t *testing.T) {
	for _, trace := range []string{
		`{"module":"golang.org/x/net","version":"v0.1.0","package":"golang.org/x/net/html","function":"Parse"}`,
		`{"module":"golang.org/x/net","version":"v0.1.0","package":"golang.org/x/net/html"}`,
		`{"module":"golang.org/x/net","version":"v0.1.0"}`,
	} {
		in := config + `{"finding":{"osv":"GO-2099-0001","fixed_version":"v0.2.0","trace":[` + trace + `]}}`
		var out strings.Builder
		code, err := report(strings.NewReader(in), &out)
		if code != 1 || err != nil || !strings.Contains(out.String(), "golang.org/x/net@v0.1.0, fixed in v0.2.0") {
			t.Errorf("trace %s: report = %d, %v; want 1 naming the module\n%s", trace, code, err, out.String())
		}
	}
}

func TestUnreadableInput(t *testing.T) {
	for _, in := range []string{"", "not json", `{"progress":{"message":"x"}}`} {
		if code, err := report(strings.NewReader(in), &strings.Builder{}); code != 2 || err == nil {
			t.Errorf("input %q: report = %d, %v; want 2 and an error", in, code, err)
		}
	}
}
