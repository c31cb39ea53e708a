package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Version is set at build time with
// -ldflags "-X github.com/hlf/dynamicsportal/internal/cli.Version=v1.2.3";
// otherwise the module version from the build information is printed.
var Version = ""

func runVersion(_ context.Context, e *env, _ []string) error {
	_, err := fmt.Fprintf(e.stdout, "portalsync %s\n", version())
	return err
}

// version is Version, or the module version from the build information.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
