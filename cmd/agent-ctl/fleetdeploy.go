package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/modules/oci"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// fleet deploy: see docs/fleet.md, "Deploy".

func fleetDeployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "sign a tool with the fleet key and install it on chosen nodes through JetStream's object store",
		ArgsUsage: "DIR|ARCHIVE.tar.gz|oci://HOST[:PORT]/REPO:TAG",
		Description: `Packs the tool (its manifest and module, as 'agent-ctl install' reads them),
signs it with the fleet's signing key (run it with the controller's home, which
holds the key), puts it into the fleet's object store and tells each chosen node.
Each node checks the notice against the fleet key its join token carried, fetches
and checks the tool, installs it as 'agent-ctl install' does (granting nothing:
grants stay the node operator's), and answers installed or refused. A node that
does not answer is pending; 'agent-ctl fleet ls' shows the rollout.
Exit code: 0 when every node installed it, 126 when any refused it, 125 when
any did not answer (and none refused).`,
		Flags: append(fleetFlags(),
			&cli.StringFlag{Name: "nodes", Usage: "deploy to these nodes: `A,B,...`"},
			&cli.BoolFlag{Name: "all", Usage: "deploy to every online node"},
			&cli.StringSliceFlag{Name: "label", Usage: "deploy to the online nodes with this label: `KEY=VALUE` (repeatable: all must match)"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for each node's answer", Value: 2 * time.Minute},
			&cli.BoolFlag{Name: "json", Usage: "print the rollout as JSON"},
			plainHTTPFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return usageError{"fleet deploy: want one module directory, archive or oci:// reference (see 'agent-ctl fleet deploy --help')"}
			}
			// Flags after the source are flags too ('fleet deploy DIR
			// --all'): the parser stops at the first argument.
			if err := trailingFlags(c); err != nil {
				return err
			}
			if c.Duration("timeout") <= 0 {
				return usageError{"--timeout: want a positive duration"}
			}
			choice, err := chooseNodes(c, "fleet deploy")
			if err != nil {
				return err
			}
			st, id, err := fleetIdentity(c)
			if err != nil {
				return err
			}
			key, err := id.DeployKey()
			if err != nil {
				return err
			}
			src := c.Args().First()
			if !oci.IsReference(src) {
				if _, err := os.Stat(src); err != nil {
					return usageError{"fleet deploy: " + err.Error()}
				}
			}
			cl, nodes, err := choice.dial(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			dir, cleanup, err := installSource(c, st, src)
			if err != nil {
				return err
			}
			defer cleanup()
			tmp := filepath.Join(st.home, "tmp")
			if err := os.MkdirAll(tmp, 0o700); err != nil {
				return fmt.Errorf("creating %s: %w", tmp, err)
			}
			work, err := os.MkdirTemp(tmp, "deploy-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			if store.IsArchive(dir) {
				if _, dir, err = store.Unpack(dir, work); err != nil {
					return fmt.Errorf("deploying %s: %w", src, err)
				}
			}
			archive := filepath.Join(work, "tool.tar.gz")
			m, module, err := fleet.Pack(dir, archive, key)
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: not deployed: %s\n", strings.ReplaceAll(plain(err), dir, src))
				return exitError{supervisor.ExitInvalid}
			}
			ro, err := cl.Deploy(c.Context, archive, m, module, key, nodes, c.Duration("timeout"))
			if err != nil {
				return err
			}
			code := 0
			for _, r := range ro.Results {
				switch {
				case r.State == fleet.DeployRefused:
					code = supervisor.ExitInvalid
				case r.State != fleet.DeployInstalled && code == 0:
					code = supervisor.ExitInternal
				}
			}
			if c.Bool("json") {
				if err := writeJSON(c, ro); err != nil {
					return err
				}
				return exitError{code}
			}
			fmt.Fprintf(c.App.Writer, "deploying %s %s (module %s), signed by the fleet key %s\n", m.Name, m.Version, short(module), key.ID())
			for _, r := range ro.Results {
				// A node's answer, shown escaped.
				r.Node, r.Reason, r.Grants = untrusted.Show(r.Node), untrusted.Show(r.Reason), untrusted.Show(r.Grants)
				switch r.State {
				case fleet.DeployInstalled:
					fmt.Fprintf(c.App.Writer, "== %s: installed\n", r.Node)
					if r.Grants != "" {
						fmt.Fprintf(c.App.Writer, "   %s\n", r.Grants)
					}
				default:
					fmt.Fprintf(c.App.Writer, "== %s: %s: %s\n", r.Node, untrusted.Show(r.State), r.Reason)
				}
			}
			return exitError{code}
		},
	}
}

// nodeChoice is what --nodes, --all or --label chose for fleet call and
// fleet deploy.
type nodeChoice struct {
	nodes  []string          // --nodes, each name checked; nil otherwise
	labels map[string]string // --label; empty with --all
}

// chooseNodes reads the --nodes, --all and --label selectors (exactly one
// of them) for the command cmd. It runs before the fleet is dialled: a
// usage error needs no fleet.
func chooseNodes(c *cli.Context, cmd string) (nodeChoice, error) {
	labels, err := parseLabels(c.StringSlice("label"))
	if err != nil {
		return nodeChoice{}, err
	}
	picked := 0
	for _, on := range []bool{c.String("nodes") != "", c.Bool("all"), len(labels) > 0} {
		if on {
			picked++
		}
	}
	if picked != 1 {
		return nodeChoice{}, usageError{cmd + ": give exactly one of --nodes, --all or --label"}
	}
	ch := nodeChoice{labels: labels}
	if s := c.String("nodes"); s != "" {
		for _, n := range strings.Split(s, ",") {
			if err := fleet.CheckNode(n); err != nil {
				return nodeChoice{}, usageError{"--nodes: " + err.Error()}
			}
			ch.nodes = append(ch.nodes, n)
		}
	}
	return ch, nil
}

// dial dials the fleet and returns the client, which the caller closes,
// and the nodes chosen: the --nodes names as given, or the online nodes
// whose labels match (every online node for --all).
func (ch nodeChoice) dial(c *cli.Context) (*fleet.Client, []string, error) {
	cl, err := dialFleet(c)
	if err != nil {
		return nil, nil, err
	}
	if ch.nodes != nil {
		return cl, ch.nodes, nil
	}
	nodes, err := ch.online(c.Context, cl)
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return cl, nodes, nil
}

// online returns the online nodes whose labels match.
func (ch nodeChoice) online(ctx context.Context, cl *fleet.Client) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, fleetRequestTimeout)
	defer cancel()
	all, err := cl.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, n := range all {
		if n.Online && matches(n.Labels, ch.labels) {
			nodes = append(nodes, n.Node)
		}
	}
	if len(nodes) == 0 {
		return nil, errors.New("no online node matches")
	}
	return nodes, nil
}

// printRollouts is fleet ls's rollout table: each tool's last rollout,
// one line per chosen node.
func printRollouts(w io.Writer, ro []fleet.Rollout) error {
	if len(ro) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPLOYED\tVERSION\tMODULE\tWHEN\tNODE\tSTATE")
	for _, r := range ro {
		for _, x := range r.Results {
			state := x.State
			if x.Reason != "" {
				state += ": " + x.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", untrusted.Show(r.Tool), untrusted.Show(r.Version), untrusted.Show(short(strings.TrimPrefix(r.Module, "sha256:"))),
				r.Time.Local().Format(time.DateTime), untrusted.Show(x.Node), untrusted.Show(state))
		}
	}
	return tw.Flush()
}

// trailingFlags sets the flags written after a command's one argument,
// which the parser leaves among the arguments.
func trailingFlags(c *cli.Context) error {
	rest := c.Args().Tail()
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name == "" {
			return usageError{fmt.Sprintf("%s: want one argument, got %q after %q (see 'agent-ctl %s --help')", "fleet "+c.Command.Name, a, c.Args().First(), "fleet "+c.Command.Name)}
		}
		var flag cli.Flag
		for _, f := range c.Command.Flags {
			if slices.Contains(f.Names(), name) {
				flag = f
			}
		}
		if flag == nil {
			return usageError{fmt.Sprintf("%s: flag provided but not defined: %s", "fleet "+c.Command.Name, a)}
		}
		if _, isBool := flag.(*cli.BoolFlag); isBool && !hasVal {
			val = "true"
		} else if !hasVal {
			if i+1 == len(rest) {
				return usageError{fmt.Sprintf("%s: flag needs an argument: %s", "fleet "+c.Command.Name, a)}
			}
			i++
			val = rest[i]
		}
		if err := c.Set(name, val); err != nil {
			return usageError{fmt.Sprintf("%s: %s: %v", "fleet "+c.Command.Name, a, err)}
		}
	}
	return nil
}
