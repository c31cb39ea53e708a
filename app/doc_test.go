package app_test

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs go list with args and returns the fields of its output.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Skipf("go list is not available here: %v", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		t.Fatalf("go list %s listed nothing", strings.Join(args, " "))
	}
	return fields
}

// A host that adds app.Module links neither River nor goose (nor pgx):
// the store's and the scheduler's fx modules live in storefx and riverfx.
func TestModuleLinksNeitherRiverNorGoose(t *testing.T) {
	for _, dep := range goList(t, "-deps", "github.com/hlf/dynamicsportal/app") {
		for _, banned := range []string{"github.com/riverqueue/", "github.com/pressly/goose", "github.com/jackc/pgx",
			"github.com/hlf/dynamicsportal/adapters/postgres", "github.com/hlf/dynamicsportal/adapters/schedule"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("package app depends on %s", dep)
			}
		}
	}
}

// test/ holds suites only: no package outside it imports one of its
// packages, so nothing that ships depends on a test suite.
func TestNoPackageImportsATestSuite(t *testing.T) {
	const suites = "github.com/hlf/dynamicsportal/test/"
	lines := goList(t, "-f", "{{.ImportPath}}:{{join .Imports \",\"}}", "github.com/hlf/dynamicsportal/...")
	for _, line := range lines {
		pkg, imports, _ := strings.Cut(line, ":")
		if strings.HasPrefix(pkg, suites) {
			continue
		}
		for _, imp := range strings.Split(imports, ",") {
			if strings.HasPrefix(imp, suites) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}
