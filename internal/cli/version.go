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
	v := Version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	_, err := fmt.Fprintf(e.stdout, "portalsync %s\n", v)
	return err
}
