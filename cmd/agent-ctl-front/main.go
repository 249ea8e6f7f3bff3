// Command agent-ctl-front is the executable users run as agent-ctl: a lean
// front that hands `agent-ctl run` to a running `agent-ctl serve` of the
// same home through its daemon socket, and replaces itself with the full
// CLI (agent-ctl-full, beside it) for everything else.
//
// Go runs the init of every package a binary links before main, and the
// full CLI links the OCI client, gRPC and protobuf (through go-plugin),
// NATS, Prometheus, the MCP SDK and wasmtime: three quarters of its start
// goes to packages a call through the daemon never uses. This executable
// links only urfave/cli, policies and the daemon's client
// (cmd/internal/cliapp, shared with the full CLI, so both parse and decide
// alike); see docs/why.md.
//
// It handles a call only when it is sure to do exactly what the full CLI
// would: a well-formed `run` of container isolation, a daemon of this home
// that accepts it. In every other case (no socket, a refusal, --no-daemon,
// any other command, help, a flag error, completion, --isolation process)
// it execs agent-ctl-full with the same arguments and environment, having
// read nothing of stdin and written nothing.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/policies"
)

// FullName is the file name of the full CLI, which the front expects beside
// its own executable.
const FullName = "agent-ctl-full"

func main() {
	// Before anything changes it: the full CLI gets the environment the
	// front was given (cliapp.Before sets variables).
	env := os.Environ()
	ctx, stop := cliapp.SignalContext()
	code, handled := front(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	var se cliapp.SignalError
	interrupted := errors.As(context.Cause(ctx), &se)
	stop()
	if handled {
		os.Exit(code)
	}
	if interrupted {
		// Interrupted before any call was handed over (a daemon slow to
		// answer): the user asked to stop, so nothing runs, and the exit
		// code is the full CLI's for a cancelled call (130, 143). Not
		// re-raised: a signal ignored at start (a background job's
		// SIGINT) would be ignored again.
		os.Exit(se.ExitCode())
	}
	os.Exit(execFull(os.Args, env, os.Stderr))
}

// errFallThrough stops the front's app: the full CLI takes the command.
var errFallThrough = errors.New("for the full CLI")

// front runs the command line args if it asks for the version or is a
// `run` that a daemon of this home accepts, and returns its exit code with
// handled true. Otherwise it has read nothing of stdin and written nothing,
// and the full CLI must run args.
func front(ctx context.Context, args []string, stdin, stdout, stderr *os.File) (code int, handled bool) {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return 0, false
	}
	// The version flag: urfave/cli answers it after the global flags
	// parsed and before help or Before, in the full CLI as here; only
	// what it prints goes to the real stdout.
	var version bool
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintf(stdout, "%s version %s\n", c.App.Name, c.App.Version)
		version = true
	}
	fallThrough := func(*cli.Context, error, bool) error { return errFallThrough }
	run := cliapp.RunCommand(func(c *cli.Context) error {
		module, modArgs, pol, err := cliapp.ParseRun(c)
		// Process isolation prints a note before the call: the full CLI
		// says it, so that it is said once and before the module's output.
		if err != nil || pol.Isolation == policies.IsolationProcess || c.Bool("no-daemon") {
			return errFallThrough
		}
		log, err := cliapp.NewLogger(c, stderr)
		if err != nil {
			return errFallThrough
		}
		req := cliapp.RunRequest(c, module, modArgs, pol)
		var ok bool
		if code, ok, _ = cliapp.HandOff(c, req, cliapp.ModuleStdin(stdin), stdout, stderr, log); !ok {
			return errFallThrough
		}
		handled = true
		return nil
	})
	run.OnUsageError = fallThrough
	// The full CLI's app, as far as `run` goes: the same global flags,
	// checks and settings; whatever it would print (help, usage) goes
	// nowhere, and the full CLI prints it instead.
	app := &cli.App{
		Name:                      "agent-ctl",
		Version:                   cliapp.Version,
		Reader:                    stdin,
		Writer:                    io.Discard,
		ErrWriter:                 io.Discard,
		HideHelpCommand:           true,
		EnableBashCompletion:      true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError:              fallThrough,
		CommandNotFound:           func(*cli.Context, string) {},
		Flags:                     cliapp.GlobalFlags(),
		Before:                    cliapp.Before,
		Commands:                  []*cli.Command{run},
	}
	err := app.RunContext(ctx, args)
	switch {
	case version && err == nil:
		return 0, true
	case err != nil || !handled:
		return 0, false
	}
	return code, true
}

// fullPath is the full CLI beside this executable (symbolic links
// resolved, as the supervisor finds agent-ctl-worker).
func fullPath() (string, error) {
	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		return "", fmt.Errorf("finding the full CLI (%s): %w", FullName, err)
	}
	p := filepath.Join(filepath.Dir(self), FullName+exeSuffix)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 && exeSuffix == "" {
		return "", fmt.Errorf("finding the full CLI: no executable %s beside %s: install agent-ctl, %s and agent-ctl-worker together", p, self, FullName)
	}
	return p, nil
}
