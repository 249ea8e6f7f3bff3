package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
)

// mcpFleetFlags turn `agent-ctl mcp` and `agent-ctl serve` into the
// controller's MCP face: the fleet's tools instead of the installed ones.
func mcpFleetFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.BoolFlag{Name: "fleet", Usage: "serve the fleet's tools (every online node's, each once, with a nodes selector) instead of the installed ones"},
		&cli.DurationFlag{Name: "fleet-timeout", Usage: "with --fleet: how long a call waits for each node", Value: 5 * time.Minute},
	}, fleetFlags()...)
}

// mcpFleetServer builds the MCP server over the fleet that --nats and
// --creds name (default: the controller run with --home).
func mcpFleetServer(c *cli.Context) (*mcp.Server, *state, *callMetrics, error) {
	if c.String("watch") != "" {
		return nil, nil, nil, usageError{"--watch builds and installs on this host: it does not go with --fleet (deploy with 'agent-ctl fleet deploy')"}
	}
	if c.Duration("fleet-timeout") <= 0 {
		return nil, nil, nil, usageError{"--fleet-timeout: want more than 0"}
	}
	st, err := openState(c.String("home"))
	if err != nil {
		return nil, nil, nil, err
	}
	log, err := newLogger(c)
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := dialFleet(c)
	if err != nil {
		return nil, nil, nil, err
	}
	srv := mcp.NewFleet(fleet.NewMCPFleet(cl, log), c.Duration("fleet-timeout"), &mcp.Options{Version: version, Logger: log})
	m := newCallMetrics()
	m.bind(nil, srv)
	return srv, st, m, nil
}

// checkFleetFlags refuses the fleet's connection flags without --fleet.
func checkFleetFlags(c *cli.Context) error {
	if !c.Bool("fleet") {
		for _, f := range []string{"nats", "creds", "tls-ca", "fleet-timeout"} {
			if c.IsSet(f) {
				return usageError{"--" + f + " goes with --fleet"}
			}
		}
	}
	return nil
}
