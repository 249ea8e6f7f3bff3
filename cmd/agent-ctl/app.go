package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/cmd/internal/daemon"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// version is agent-ctl's version (cliapp.Version, which the build sets).
var version = cliapp.Version

// exitError carries an exit code out of a cli action; its message, if any,
// has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError is bad input on the command line: agent-ctl's own error.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// ownError is err with the shared package's usage error (cliapp.UsageError)
// as this package's, which the CLI prints as such.
func ownError(err error) error {
	var ue cliapp.UsageError
	if errors.As(err, &ue) {
		return usageError{ue.Msg}
	}
	return err
}

// run is the whole CLI behind main, testable in-process: it parses args,
// runs the command and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	app.Commands = append(app.Commands, devCommands()...) // the author's loop: dev.go
	home, cmd := globalFlags(app, args)
	strict(app.Commands, "")
	if needsTools(app, args, cmd) {
		app.Commands = append(app.Commands, toolCommands(home)...)
	}
	setCompletion(app, args)
	// urfave/cli answers an unknown command with its help action, which
	// hands the name to CommandNotFound (else prints "No help topic"):
	// the one place that learns a name is neither a command nor a tool.
	var notFound string
	app.CommandNotFound = func(c *cli.Context, name string) {
		if (name == "help" || name == "h") && c.NArg() <= 1 && (c.Command == nil || c.Command.Name == c.App.Name) {
			// agent-ctl help: the hidden help command answers as
			// --help does (it was "no tool or command named help").
			_ = cli.ShowAppHelp(c)
			return
		}
		if (name == "help" || name == "h") && c.NArg() > 1 {
			// agent-ctl help NAME: the help command is hidden, and
			// urfave/cli then looks "help" itself up as the topic.
			name = c.Args().Get(1)
			if c.App.Command(name) != nil {
				_ = cli.ShowCommandHelp(c, name)
				return
			}
		}
		notFound = name
		if c.Command != nil && c.Command.Name != c.App.Name {
			notFound = c.Command.Name + " " + name
		}
	}
	err := app.RunContext(ctx, nameLast(args, cmd))
	var ee exitError
	var ue usageError
	switch {
	case err == nil && notFound != "":
		fmt.Fprintf(stderr, "agent-ctl: no tool or command named %s (see 'agent-ctl --help'; installed tools: 'agent-ctl list')\n", notFound)
		return supervisor.ExitNotFound
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "agent-ctl: %s\n", asTyped(ue.msg, args))
		return supervisor.ExitInternal
	default:
		fmt.Fprintf(stderr, "agent-ctl: %s\n", plain(err))
		return supervisor.ExitInternal
	}
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                      "agent-ctl",
		Version:                   version,
		Usage:                     "run untrusted WebAssembly modules as commands, each in a fresh sandboxed worker",
		Reader:                    stdin,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideHelpCommand:           true,
		EnableBashCompletion:      true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		Flags: cliapp.GlobalFlags(),
		// Container isolation reads the walls' flags from the environment,
		// as doctor does: a flag given on the command line is put there.
		Before: func(c *cli.Context) error { return ownError(cliapp.Before(c)) },
		Commands: []*cli.Command{cliapp.RunCommand(runAction), installCommand(), listCommand(), describeCommand(),
			removeCommand(), grantCommand(), revokeCommand(), newCommand(), mcpCommand(), serveCommand(), tokenCommand(),
			doctorCommand(), completionCommand(), historyCommand(), rollbackCommand(), signCommand(), keyCommand(), trustCommand(), publishCommand(), auditCommand(), controllerCommand(), agentCommand(), fleetCommand()},
	}
}

// newSupervisor returns a supervisor for the --home and --log-level given.
func newSupervisor(c *cli.Context) (*supervisor.Supervisor, error) {
	log, err := newLogger(c)
	if err != nil {
		return nil, err
	}
	return supervisor.New(&supervisor.Options{Home: c.String("home"), Logger: log, Audit: auditOptions(c)})
}

func newLogger(c *cli.Context) (*slog.Logger, error) {
	log, err := cliapp.NewLogger(c, c.App.ErrWriter)
	return log, ownError(err)
}

func runAction(c *cli.Context) error {
	module, modArgs, pol, err := cliapp.ParseRun(c)
	if err != nil {
		return ownError(err)
	}
	if pol.Isolation == policies.IsolationProcess {
		fmt.Fprintln(c.App.ErrWriter, cliapp.ProcessNote)
	}
	if err, ok := viaDaemon(c, cliapp.RunRequest(c, module, modArgs, pol)); ok {
		return err
	}
	return invoke(c, &supervisor.Call{Module: module, Args: modArgs, Policy: pol, TimeoutCoversLoad: true, Frontend: "run"})
}

// invoke runs a call with the CLI's stdio and turns its outcome into
// agent-ctl's exit code and, when agent-ctl stopped the module, a message.
func invoke(c *cli.Context, call *supervisor.Call) error {
	stderr := c.App.ErrWriter
	sup, err := newSupervisor(c)
	if err != nil {
		return err
	}
	defer sup.Close() // the worker's teardown ends before agent-ctl does
	// The walls' set-up runs while Invoke checks the call.
	sup.Prewarm(call.Policy.Isolation)
	call.Stdin, call.Stdout, call.Stderr = cliapp.ModuleStdin(c.App.Reader), c.App.Writer, stderr
	return exitError{runCall(c.Context, sup, call, stderr)}
}

// runCall runs a call on sup, prints agent-ctl's message about its
// outcome, if any, on stderr and returns its exit code: the CLI's own
// calls and the daemon socket's alike.
func runCall(ctx context.Context, sup *supervisor.Supervisor, call *supervisor.Call, stderr io.Writer) int {
	res, err := sup.Invoke(ctx, call)
	code := supervisor.ExitCode(res, err)
	if err != nil {
		fmt.Fprintf(stderr, "agent-ctl: %s\n", plain(err))
		return code
	}
	if res.Outcome == supervisor.Cancelled {
		var se signalError
		var di daemon.Interrupted
		switch cause := context.Cause(ctx); {
		case errors.As(cause, &se):
			code = se.ExitCode()
		case errors.As(cause, &di):
			code = di.ExitCode()
		}
	}
	if msg := res.Describe(); msg != "" {
		fmt.Fprintf(stderr, "agent-ctl: %s\n", msg)
	}
	return code
}

// plain renders an error for a person at a terminal (cliapp.Plain).
func plain(err error) string { return cliapp.Plain(err) }

// strict makes agent-ctl's own commands (path: their parent's names) answer
// bad input with one line on stderr and exit 125: a flag error names the
// command and points at its help (urfave/cli would print the whole help to
// stdout), and a command that takes no arguments refuses any.
func strict(cmds []*cli.Command, path string) {
	for _, cmd := range cmds {
		name := strings.TrimSpace(path + " " + cmd.Name)
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
				return usageError{fmt.Sprintf("%s: %s (see 'agent-ctl %s --help')", name, err, name)}
			}
		}
		strict(cmd.Subcommands, name)
		requireFlags(cmd, name)
		if act := cmd.Action; act != nil && cmd.ArgsUsage == "" && len(cmd.Subcommands) == 0 && !cmd.SkipFlagParsing {
			cmd.Action = func(c *cli.Context) error {
				if c.Args().Present() {
					return usageError{fmt.Sprintf("%s: unexpected argument %q: it takes none (see 'agent-ctl %s --help')", name, c.Args().First(), name)}
				}
				return act(c)
			}
		}
	}
}

// requireFlags checks cmd's required flags itself, so that a missing one
// is a usage error that names the command, as every other is (urfave/cli
// answers "Required flag \"key\" not set", without the command, and its
// error type is unexported). Only string flags are marked required here.
func requireFlags(cmd *cli.Command, name string) {
	var required []string
	for _, f := range cmd.Flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Required {
			sf.Required = false
			required = append(required, sf.Name)
		}
	}
	act := cmd.Action
	if len(required) == 0 || act == nil {
		return
	}
	cmd.Action = func(c *cli.Context) error {
		var missing []string
		for _, f := range required {
			if !c.IsSet(f) {
				missing = append(missing, "--"+f)
			}
		}
		if len(missing) > 0 {
			return usageError{fmt.Sprintf("%s: missing %s (see 'agent-ctl %s --help')", name, strings.Join(missing, ", "), name)}
		}
		return act(c)
	}
}

// typedFlag finds the flag names in Go's flag package errors, which it
// writes with one dash whatever the user typed.
var typedFlag = regexp.MustCompile(`((?:defined|argument): |for flag )-([A-Za-z0-9][A-Za-z0-9_.-]*)`)

// asTyped shows the flags a message names as args wrote them: --bogus for
// --bogus, not the -bogus of Go's flag package.
func asTyped(msg string, args []string) string {
	return typedFlag.ReplaceAllStringFunc(msg, func(m string) string {
		sub := typedFlag.FindStringSubmatch(m)
		long := "--" + sub[2]
		for _, a := range args {
			if a == "--" {
				break
			}
			if a == long || strings.HasPrefix(a, long+"=") {
				return sub[1] + long
			}
		}
		return m
	})
}

// globalFlags reads the flags before the command with the app's own flag
// definitions, as the app will when it runs: the --home they give (else
// $AGENTCTL_HOME, through the flag's own EnvVars), so that installed tools
// can be offered as commands, and the index in args of the command
// (len(args) when there is none). On a flag error it gives the environment's
// home and no command: the app then reports the error itself.
func globalFlags(app *cli.App, args []string) (home string, cmd int) {
	fs := flag.NewFlagSet(app.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range app.Flags {
		if err := f.Apply(fs); err != nil {
			return os.Getenv("AGENTCTL_HOME"), len(args)
		}
	}
	if len(args) < 2 {
		return os.Getenv("AGENTCTL_HOME"), len(args)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return os.Getenv("AGENTCTL_HOME"), len(args)
	}
	if f := fs.Lookup("home"); f != nil {
		home = f.Value.String()
	}
	return home, len(args) - fs.NArg()
}

// nameLast lets `agent-ctl grant logs --dir …` be written the natural way:
// urfave/cli stops reading flags at the first argument, so the tool name
// that follows these commands (args[cmd]) is moved behind their flags.
func nameLast(args []string, cmd int) []string {
	if cmd >= len(args) || args[len(args)-1] == "--generate-bash-completion" {
		// Completing: what is typed stays in order.
		return args
	}
	switch args[cmd] {
	case "grant", "revoke", "describe", "remove", "install", "new", "history", "rollback", "sign":
		if i := cmd; i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			return append(append(append([]string{}, args[:i+1]...), args[i+2:]...), args[i+1])
		}
	case "trust": // trust add PUBKEY --name N
		if i := cmd + 1; i+1 < len(args) && args[i] == "add" && !strings.HasPrefix(args[i+1], "-") {
			return append(append(append([]string{}, args[:i+1]...), args[i+2:]...), args[i+1])
		}
	case "fleet":
		// fleet join-token NODE [flags], fleet call TOOL [flags] -- ARGS:
		// the name goes after the flags, before the tool's own arguments.
		if i := cmd + 1; i+1 < len(args) && (args[i] == "join-token" || args[i] == "call" || args[i] == "revoke" || args[i] == "kill") && !strings.HasPrefix(args[i+1], "-") {
			rest := args[i+2:]
			end := slices.Index(rest, "--")
			if end < 0 {
				end = len(rest)
			}
			out := append([]string{}, args[:i+1]...)
			out = append(out, rest[:end]...)
			out = append(out, args[i+1])
			return append(out, rest[end:]...)
		}
	}
	return args
}
