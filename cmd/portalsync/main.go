// Command portalsync runs the HLF certification sync against the Dynamics
// 365 portal from a shell or a cron job, lists what the portal holds, and
// serves a local portal emulator.
//
//	portalsync check
//	portalsync certifications [--modified-since T] [--page-size N]
//	portalsync assignments [--modified-since T] [--page-size N]
//	portalsync sync [--page-size N] [--checkpoint FILE] [--out FILE] [--budget D] [--expiring-within D]
//	portalsync emulator [--addr A] [--seed N] [--certifications N] [--fault SPEC]…
//	portalsync demo
//	portalsync serve [--schedule SPEC] [--listen ADDR] [--shutdown-grace D]
//	portalsync enqueue
//	portalsync version
//
// Settings come from the environment (DYNAMICS_BASE_URL, AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST,
// PORTALSYNC_FLAGS_FILE, PORTALSYNC_CORRELATION_HEADER,
// DYNAMICS_CERTIFICATION_SET, DYNAMICS_ASSIGNMENT_SET, PORTALSYNC_TIMEZONE,
// LOG_LEVEL, LOG_FORMAT) or from the matching flags, which win. The flag
// dynamics-portal-enabled chooses the live portal or the no-op stub.
//
// Exit status: 0 on success; 1 when the work failed, with the last stderr
// line "portalsync: <code>: <detail>"; 2 for bad usage or configuration
// found before any network call, with "portalsync: config: <detail>"; 3
// for a check answered by the stub (the portal flag is off).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // PORTALSYNC_TIMEZONE works on a host without a zone database

	"github.com/hlf/dynamicsportal/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
