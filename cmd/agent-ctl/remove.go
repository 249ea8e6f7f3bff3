package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/policies"
)

func removeCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Usage:     "uninstall a tool and forget what it was granted",
		ArgsUsage: "TOOL",
		Action: func(c *cli.Context) error {
			st, name, err := toolNameArg(c)
			if err != nil {
				return err
			}
			// Only the tool's link is needed: a tool whose files are
			// damaged is removed all the same. The policy file is checked
			// first so that a damaged one stops the remove before anything
			// changed, rather than leaving grants behind for the name.
			if _, err := st.grants(); err != nil {
				return fmt.Errorf("not removing %s: %w", name, err)
			}
			if err := st.store.Remove(name); err != nil {
				return toolErr(c, err)
			}
			if err := policies.UpdateGrants(policyPath(st.home), func(g *policies.Grants) error {
				delete(g.Tools, name)
				return nil
			}); err != nil {
				return fmt.Errorf("removed %s but not its grants: %w", name, err)
			}
			fmt.Fprintf(c.App.Writer, "removed %s\n", name)
			return nil
		},
	}
}
