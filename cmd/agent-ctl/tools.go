package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// toolCommands makes each installed tool a command whose flags come from
// its manifest. A tool that does not load is still a command, one that
// reports why (and exits 126), so that its name never reads as unknown;
// and a state directory that cannot be opened leaves only agent-ctl's own
// commands, whose errors say why.
func toolCommands(home string) []*cli.Command {
	st, err := openState(home)
	if err != nil {
		return nil
	}
	names, _ := st.store.Names()
	var cmds []*cli.Command
	for _, n := range names {
		t, err := st.store.Get(n)
		if err != nil {
			cmds = append(cmds, brokenToolCommand(n, err))
			continue
		}
		cmds = append(cmds, toolCommand(t))
	}
	return cmds
}

// toolCategory groups the installed tools in help and tells them from
// agent-ctl's own commands.
const toolCategory = "installed tools"

// brokenToolCommand stands for an installed tool that does not load.
func brokenToolCommand(name string, err error) *cli.Command {
	return &cli.Command{
		Name:            name,
		Usage:           "(damaged: see 'agent-ctl " + name + "')",
		Category:        toolCategory,
		SkipFlagParsing: true,
		Action:          func(c *cli.Context) error { return toolErr(c, err) },
	}
}

func toolCommand(t *store.Tool) *cli.Command {
	m := t.Manifest()
	var flags []cli.Flag
	var positional []string
	for _, p := range shownParams(t.Tool) {
		if p.Position >= 0 {
			positional = append(positional, strings.ToUpper(p.Name))
			continue
		}
		usage := strings.TrimPrefix(paramLine(p), "--"+p.Name+" ")
		switch p.Type {
		case "boolean":
			flags = append(flags, &cli.BoolFlag{Name: p.Name, Usage: usage})
		case "array":
			flags = append(flags, &cli.StringSliceFlag{Name: p.Name, Usage: usage + " (repeatable)"})
		default:
			flags = append(flags, &cli.StringFlag{Name: p.Name, Usage: usage})
		}
	}
	return &cli.Command{
		Name:      m.Name,
		Usage:     m.Description,
		Category:  toolCategory,
		ArgsUsage: strings.Join(positional, " "),
		Flags:     flags,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{fmt.Sprintf("%s: %s (see 'agent-ctl %s --help')", m.Name, err, m.Name)}
		},
		Action: func(c *cli.Context) error { return runTool(c, t) },
	}
}

// toolArgs reads a tool's command line (c, parsed with toolCommand's
// flags) into arguments typed by its schema: the one reading of a tool's
// flags, for its calls and for try.
func toolArgs(c *cli.Context, t *store.Tool) (map[string]any, error) {
	m := t.Manifest()
	values := map[string][]string{}
	for _, p := range t.Params() {
		if p.Position >= 0 || !c.IsSet(p.Name) {
			continue
		}
		switch p.Type {
		case "boolean":
			values[p.Name] = []string{fmt.Sprint(c.Bool(p.Name))}
		case "array":
			values[p.Name] = c.StringSlice(p.Name)
		default:
			values[p.Name] = []string{c.String(p.Name)}
		}
	}
	if extra := t.AssignPositional(values, c.Args().Slice()); len(extra) > 0 {
		return nil, usageError{fmt.Sprintf("%s: unexpected argument %q (see 'agent-ctl %s --help')", m.Name, extra[0], m.Name)}
	}
	typed, err := t.ParseFlags(values)
	if err != nil {
		return nil, argsError(m.Name, err)
	}
	return typed, nil
}

func runTool(c *cli.Context, t *store.Tool) error {
	m := t.Manifest()
	typed, err := toolArgs(c, t)
	if err != nil {
		return err
	}
	st, err := openState(c.String("home"))
	if err != nil {
		return err
	}
	cat, err := catalog.Open(st.home)
	if err != nil {
		return err
	}
	p, err := cat.Call(m.Name, typed)
	if errors.Is(err, catalog.ErrArgs) {
		return argsError(m.Name, err)
	}
	if errors.Is(err, store.ErrNotInstalled) || errors.Is(err, store.ErrDamaged) || errors.Is(err, catalog.ErrGrantsHeld) {
		return toolErr(c, err)
	}
	if err != nil {
		return err
	}
	g, err := cat.Grants(m.Name)
	if err != nil {
		return err
	}
	for _, missing := range ungranted(m, g) {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s: not granted: %s\n", m.Name, missing)
	}
	if err, ok := viaDaemon(c, toolRequest(m.Name, typed, g)); ok {
		return err
	}
	return invoke(c, &supervisor.Call{Module: p.Module, Name: p.Name, Args: p.Args, Policy: p.Policy, Digest: p.Digest,
		Frontend: "cli", Version: p.Version, Params: p.Params})
}

// argsError words a refused argument for the command line.
func argsError(tool string, err error) error {
	return usageError{fmt.Sprintf("%s: %s (see 'agent-ctl %s --help')", tool, strings.TrimPrefix(err.Error(), manifest.ErrArgs.Error()+": "), tool)}
}

// ungranted lists the capabilities a manifest asks for that the operator
// has not granted, each with the command that would grant it.
func ungranted(m *manifest.Manifest, g *policies.ToolGrants) []string {
	var out []string
	for _, c := range capabilities(g.Unaddressed(m.Asks())) {
		out = append(out, fmt.Sprintf("%s (%s)", c.desc, c.grant))
	}
	return out
}
