package main

import (
	"slices"

	"github.com/urfave/cli/v2"
)

// needsTools reports whether a command line can reach an installed
// tool's command, and so whether every installed tool must be loaded to
// make it one: not for agent-ctl's own commands (list, install, run, …),
// which would otherwise load each installed tool at every invocation
// (cli_version_vs_version_empty in docs/performance.md), nor for
// `--version` alone. Help, completion, a bare agent-ctl
// and any other name (a tool's) still get them all.
// cmd is the index of the command's name in args (globalFlags).
func needsTools(app *cli.App, args []string, cmd int) bool {
	if n := len(args); n > 1 && args[n-1] == "--generate-bash-completion" {
		return true
	}
	if cmd >= len(args) {
		// No command: help, unless only the version is asked for.
		has := func(names ...string) bool {
			return slices.ContainsFunc(args[1:], func(a string) bool { return slices.Contains(names, a) })
		}
		return !has("--version", "-v") || has("--help", "-h")
	}
	name := args[cmd]
	if name == "help" || name == "h" {
		return true
	}
	return !slices.ContainsFunc(app.Commands, func(c *cli.Command) bool { return c.HasName(name) })
}
