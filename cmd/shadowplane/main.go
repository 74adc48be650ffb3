// Command shadowplane is an Envoy xDS control plane that serves mirror and
// weighted-split routes from policy files. main only parses the command line
// and wires components; the behaviour lives in the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/shadowplane/shadowplane/admin/api"
)

// command is one subcommand. It returns errUsage for bad arguments and
// exitError to choose a non-zero exit code without printing twice.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve":     {"serve xDS and the admin API from a policy directory", runServe},
	"validate":  {"check policy files; exit 1 on any problem", runValidate},
	"render":    {"print the xDS resources a proxy would receive", runRender},
	"bootstrap": {"print an Envoy bootstrap that uses shadowplane over ADS", runBootstrap},
	"status":    {"show experiments: stage, weights, objectives, and why", runStatus},
	"version":   {"print the version", runVersion},
	"pause":     controlCommand(api.ActionPause, "freeze an experiment's weights where they are"),
	"resume":    controlCommand(api.ActionResume, "resume a paused experiment"),
	"abort":     controlCommand(api.ActionAbort, "end an experiment and roll its route back at once"),
	"promote":   controlCommand(api.ActionPromote, "skip an experiment's remaining steps and promote (--write: into the policy file)"),
	"approve":   controlCommand(api.ActionApprove, "let an experiment waiting at an approval gate go on"),
	"retry":     controlCommand(api.ActionRetry, "start an ended experiment again"),
}

// errUsage marks an error in the command line itself.
var errUsage = errors.New("usage")

// exitError carries an exit code for a failure already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "shadowplane: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "shadowplane %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: shadowplane <command> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'shadowplane <command> -h' for the flags of a command.")
}
