package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// grantFlagDefs are grant's flags, and try's and dev's, which grant for
// one call (scope " for this call") what grant grants for every call: one
// set of flags, read and checked by grantFlags for all three.
func grantFlagDefs(scope string) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "dir", Usage: "grant `HOST:GUEST[:ro|rw]`" + scope + " (repeatable)"},
		&cli.StringSliceFlag{Name: "env", Usage: "grant `KEY` (the host's value) or KEY=VALUE" + scope + " (repeatable)"},
		&cli.StringSliceFlag{Name: "net", Usage: "grant `HOST:PORT[,PORT...]` (HOST: a CIDR, an address or a hostname)" + scope + " (repeatable)"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit `SIZE` (only lowers the manifest's)"},
		&cli.StringFlag{Name: "timeout", Usage: "time limit `DURATION` (only lowers the manifest's)"},
		&cli.StringFlag{Name: "max-output", Usage: "output limit `SIZE` (only lowers the manifest's)"},
		&cli.BoolFlag{Name: "force", Usage: "grant a directory or a limit the manifest does not ask for"},
	}
}

func tryCommand() *cli.Command {
	return &cli.Command{
		Name:      "try",
		Usage:     "run a tool directory through its manifest, without installing it",
		ArgsUsage: "DIR [-- FLAGS...]",
		Description: `Runs the tool in DIR as if it were installed: FLAGS are the tool's own flags
and arguments, read and checked against its manifest exactly as 'agent-ctl
NAME FLAGS' reads them, and the exit codes are the same. It is granted only
what --dir, --env, --net and the limits give here, checked as grant checks
them; nothing is written to the policy or the store. The directory is
validated first (as validate --no-compile); the module is compiled into the
cache on the first try. 'agent-ctl try DIR -- --help' shows the tool's flags.

Example:
  agent-ctl try ./greet --dir ./data:/data -- --name world`,
		SkipFlagParsing: true,
		HideHelpCommand: true,
		Flags:           grantFlagDefs(" for this call"),
		Action: func(c *cli.Context) error {
			fc, dir, after, err := dirArg(c)
			if fc == nil {
				return err
			}
			return tryDir(fc, dir, after)
		},
	}
}

// tryDir runs the tool in dir with the tool flags args, granted what c's
// flags give.
func tryDir(c *cli.Context, dir string, args []string) error {
	r := checkDir(dir)
	if !r.Valid {
		r.printProblems(c.App.ErrWriter)
		return exitError{r.exitCode()}
	}
	t, m := r.tool, r.tool.Manifest()
	typed, err := parseAsTool(c, t, dir, args)
	if typed == nil || err != nil {
		return err // nil: the tool's help was shown
	}
	// What catalog.Call makes of an installed tool's arguments.
	if err := t.Validate(typed); err != nil {
		return tryHint(argsError(m.Name, err), m.Name, dir)
	}
	argv, err := t.Argv(typed)
	if err != nil {
		return tryHint(argsError(m.Name, err), m.Name, dir)
	}
	home, err := homeDir(c)
	if err != nil {
		return err
	}
	var tg policies.ToolGrants
	var notes []string
	if err := grantFlags(c, &state{home: home}, m, &tg, &notes); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return usageError{"try: " + strings.TrimPrefix(ue.msg, "grant: ")}
		}
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: note: %s\n", n)
	}
	pol, err := tg.Policy(policies.Requested{Memory: m.MemoryLimit(), Timeout: m.TimeoutLimit(), MaxOutput: m.OutputLimit()}, nil)
	if err != nil {
		return usageError{"try: " + plain(err)}
	}
	for _, cp := range capabilities(tg.Unaddressed(m.Asks())) {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s: not granted: %s (%s)\n", m.Name, cp.desc, strings.TrimPrefix(cp.grant, "agent-ctl grant "+m.Name+" "))
	}
	return invoke(c, &supervisor.Call{Module: t.Module, Name: m.Name, Args: argv, Policy: pol, Digest: t.Digest})
}

// parseAsTool reads args with the command an installed tool gets
// (toolCommand) and the same reading of its flags (toolArgs), in an app of
// its own: try's FLAGS are exactly what 'agent-ctl NAME' would take. It
// returns nil arguments and no error when it showed the tool's help.
func parseAsTool(c *cli.Context, t *store.Tool, dir string, args []string) (map[string]any, error) {
	m := t.Manifest()
	var typed map[string]any
	cmd := toolCommand(t)
	cmd.HelpName, cmd.Category = "try "+dir+" --", "" // the app prefixes "agent-ctl"
	cmd.Action = func(tc *cli.Context) error {
		var err error
		typed, err = toolArgs(tc, t)
		return err
	}
	app := &cli.App{
		Name:                      "agent-ctl",
		Reader:                    c.App.Reader,
		Writer:                    c.App.Writer,
		ErrWriter:                 c.App.ErrWriter,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		Commands:                  []*cli.Command{cmd},
	}
	if err := app.RunContext(c.Context, append([]string{app.Name, m.Name}, args...)); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			err = usageError{asTyped(ue.msg, args)} // --nme, as typed, not -nme
		}
		return nil, tryHint(err, m.Name, dir)
	}
	return typed, nil
}

// tryHint points a usage error's "see 'agent-ctl NAME --help'" at try's
// way to that help: NAME is not installed.
func tryHint(err error, name, dir string) error {
	var ue usageError
	if !errors.As(err, &ue) {
		return err
	}
	return usageError{strings.ReplaceAll(ue.msg, "'agent-ctl "+name+" --help'", "'agent-ctl try "+dir+" -- --help'")}
}

// homeDir is the state directory, resolved as openState does but not
// created: try only needs to know it, to refuse granting it.
func homeDir(c *cli.Context) (string, error) { return cliapp.HomeDir(c) }

// exitCodeOf is the exit code run gives err, printing its message as run
// does: dev reports each round's outcome and carries on.
func exitCodeOf(w io.Writer, err error) int {
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(w, "agent-ctl: %s\n", ue.msg)
	default:
		fmt.Fprintf(w, "agent-ctl: %s\n", plain(err))
	}
	return supervisor.ExitInternal
}
