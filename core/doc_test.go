package core_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The core's import rule (doc.go, and the architecture): it depends on the
// ports and the OpenTelemetry API only; never on an adapter, River, fx,
// pgx, goose, the OpenTelemetry SDK or net/http.
func TestCoreImportsNoAdapterOrInfrastructure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/hlf/dynamicsportal/core").Output()
	if err != nil {
		t.Skipf("go list is not available here: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/hlf/dynamicsportal/adapters/", "github.com/riverqueue/", "go.uber.org/fx", "go.uber.org/dig",
			"github.com/jackc/pgx", "github.com/pressly/goose", "go.opentelemetry.io/otel/sdk",
		} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("core depends on %s", dep)
			}
		}
		if dep == "net/http" {
			t.Error("core depends on net/http")
		}
	}
}
