// Package cli is the portalsync command line: its commands, settings,
// output and exit statuses. The main package only wires it to the process;
// tests run it in process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/ports"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitStub   = 3 // check answered by the stub
)

// command is one subcommand of portalsync.
type command struct {
	name    string
	summary string
	// run executes the command after its flags are parsed.
	run func(ctx context.Context, e *env, args []string) error
	// flags declares the command's own flags.
	flags func(fs *flag.FlagSet, e *env)
	// portal is true for commands that talk to the portal and take the
	// connection settings.
	portal bool
}

// env is what a command runs with.
type env struct {
	stdout, stderr io.Writer
	settings       settings
	list           listOptions
	sync           syncOptions
	emulator       emulatorOptions
	serve          serveOptions
	store          storeOptions
	// extraStop lengthens the app's stop timeout (serve's grace period).
	extraStop time.Duration
	// metricReaders are extra OpenTelemetry metric readers for the
	// module's metrics, such as the Prometheus exporter serve puts behind
	// /metrics.
	metricReaders []sdkmetric.Reader
	// live is set once the module has started: true when the flag chose
	// the live portal, false for the stub.
	live bool
	// demoStore is demo --store.
	demoStore bool
	// liveOnly makes open refuse the stub before starting (serve without
	// --allow-stub).
	liveOnly bool
}

var commands = []command{
	{name: "check", summary: "fetch a token and call WhoAmI; print the identity", run: runCheck, portal: true},
	{name: "certifications", summary: "list certification records as JSON lines", run: runCertifications, flags: listFlags, portal: true},
	{name: "assignments", summary: "list assignment records as JSON lines", run: runAssignments, flags: listFlags, portal: true},
	{name: "sync", summary: "run one certification sync pass and print its report", run: runSync, flags: syncStoreFlags, portal: true},
	{name: "emulator", summary: "serve the local portal emulator until interrupted", run: runEmulator, flags: emulatorFlags},
	{name: "demo", summary: "run a sync pass against an in-process emulator; --store: into a throwaway Supabase-shaped database", run: runDemo, flags: demoFlags},
	{name: "serve", summary: "run the nightly sync on River until SIGTERM (needs DATABASE_URL)", run: runServe, flags: serveFlags, portal: true},
	{name: "enqueue", summary: "insert one sync job now; a no-op when one is pending or running", run: runEnqueue, flags: databaseFlags},
	{name: "migrate", summary: "apply the status store's and River's migrations to DATABASE_URL; --sql DIR: write them as SQL files", run: runMigrate, flags: migrateFlags},
	{name: "statuses", summary: "print what one backend user may see of the status store, as JSON lines", run: runStatuses, flags: statusesFlags},
	{name: "version", summary: "print the version", run: runVersion},
}

// usageError is bad usage found while parsing the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run executes portalsync with args (without the program name) and returns
// the exit status: 0 on success, 1 when the work failed, 2 for bad usage or
// configuration, 3 for a check the stub answered (the portal flag is off).
// The last line written to stderr on failure is
// "portalsync: <code>: <detail>".
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return fail(stderr, usageError{"no command given"})
		}
		return exitOK
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		printUsage(stderr)
		return fail(stderr, usageError{fmt.Sprintf("unknown command %q", args[0])})
	}

	fs := flag.NewFlagSet("portalsync "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if cmd.portal || cmd.name == "demo" {
		e.settings.declare(fs, cmd.portal)
	}
	if cmd.flags != nil {
		cmd.flags(fs, e)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: portalsync %s [flags]\n\n%s\n\nflags:\n", cmd.name, cmd.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return fail(stderr, usageError{err.Error()})
	}
	if fs.NArg() > 0 {
		return fail(stderr, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))})
	}
	logs := newGate(stderr)
	e.stderr = logs
	err := cmd.run(ctx, e, fs.Args())
	// Nothing of the command's own is written after its final line: work it
	// left behind, still winding down, writes into the closed gate.
	logs.close()
	return fail(stderr, err)
}

// fail prints err as the last stderr line and returns the exit status.
func fail(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errStubAnswered) {
		fmt.Fprintf(stderr, "portalsync: stub: %s\n", err)
		return exitStub
	}
	name := app.ErrorName(err)
	var ue usageError
	if errors.As(err, &ue) {
		name = "config"
	}
	detail := strings.TrimPrefix(err.Error(), name+": ")
	detail = strings.TrimPrefix(detail, ports.ErrInvalidConfig.Error()+": ")
	// One line: the last stderr line is what scripts read.
	detail = strings.Join(strings.Fields(detail), " ")
	fmt.Fprintf(stderr, "portalsync: %s: %s\n", name, detail)
	if name == "config" {
		return exitUsage
	}
	return exitFailed
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: portalsync <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "portalsync <command> --help" for a command's flags.`)
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w io.Writer) bool {
	if g, ok := w.(*gate); ok {
		return g.terminal
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
