package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules"
)

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "new",
		Usage:     "start a new tool on the SDK of the language you choose",
		ArgsUsage: "NAME",
		Description: `Writes DIR/NAME (DIR defaults to the current directory): a small tool on
agent-ctl's SDK for the language (copied into NAME/agentctl), a manifest.json
that declares its parameters once (the SDK reads them from it), a Makefile
whose 'make' builds NAME.wasm and whose 'make test' installs it into a
throwaway home and calls it through agent-ctl, and a README. A name that is
one of agent-ctl's own commands (run, install, …) is refused. Then:
  cd NAME && make && make test && agent-ctl install .`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lang", Usage: "`LANGUAGE`: " + strings.Join(modules.LanguageNames(), ", "), Value: "c"},
			&cli.StringFlag{Name: "dir", Usage: "parent `DIR` of the new tool's directory", Value: "."},
		},
		Action: func(c *cli.Context) error {
			name, err := oneArg(c, "tool name")
			if err != nil {
				return err
			}
			dir := filepath.Join(c.String("dir"), name)
			if err := modules.Scaffold(dir, name, c.String("lang")); err != nil {
				return usageError{"new: " + err.Error()}
			}
			fmt.Fprintf(c.App.Writer, "created %s (%s): cd %s && make && make test && agent-ctl install .\n", dir, c.String("lang"), dir)
			return nil
		},
	}
}
