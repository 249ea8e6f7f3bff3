package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// The fleet's commands: controller, agent, and fleet {join-token, ls,
// call}. See docs/fleet.md.

func controllerCommand() *cli.Command {
	return &cli.Command{
		Name:  "controller",
		Usage: "run the fleet's controller: an embedded NATS server that agents join",
		Description: `Runs an embedded NATS server with JetStream, its state under
$AGENTCTL_HOME/fleet. On first start it creates the fleet's operator, account and
the admin's credentials (NATS decentralized auth), and the fleet's signing key
for deploys (deploy.key, 0600). Add an agent with:
  agent-ctl fleet join-token NODE --out NODE.creds
  agent-ctl agent --nats URL --name NODE --creds NODE.creds   (on the agent's host)
The fleet commands run with this home use the admin's credentials.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "NATS client address `HOST:PORT` (port 0: any free port; off loopback only with TLS)", Value: "127.0.0.1:4222"},
			&cli.StringFlag{Name: "tls-cert", Usage: "the server's certificate `FILE` (PEM): every connection is TLS"},
			&cli.StringFlag{Name: "tls-key", Usage: "the server's key `FILE` (PEM), with --tls-cert"},
			&cli.StringFlag{Name: "cluster", Usage: "join other controllers as the cluster `NAME` (the same on every node; each node needs the first one's fleet/identity.json)"},
			&cli.StringFlag{Name: "cluster-listen", Usage: "the cluster's route address `HOST:PORT` (default 127.0.0.1:6222; off loopback only with TLS)"},
			&cli.StringFlag{Name: "routes", Usage: "the other nodes' routes: `nats-route://HOST:PORT,...` (this node's own may be listed)"},
			&cli.StringFlag{Name: "cluster-ca", Usage: "CA `FILE` that verifies the other nodes: routes are mutual TLS with --tls-cert"},
		},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			st, err := openState(c.String("home"))
			if err != nil {
				return err
			}
			var routes []string
			if r := c.String("routes"); r != "" {
				routes = strings.Split(r, ",")
			}
			ctl, err := fleet.StartController(st.home, fleet.ControllerOptions{
				Listen: c.String("listen"), TLSCert: c.String("tls-cert"), TLSKey: c.String("tls-key"), Logger: log,
				Cluster: fleet.ClusterOptions{Name: c.String("cluster"), Listen: c.String("cluster-listen"), Routes: routes, CA: c.String("cluster-ca")},
			})
			if errors.Is(err, fleet.ErrNeedTLS) || errors.Is(err, fleet.ErrClusterNeedTLS) {
				return usageError{err.Error()}
			}
			if err != nil {
				return err
			}
			defer ctl.Close()
			if ctl.Created {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: created the fleet's identity in %s\n", fleet.Dir(st.home))
			}
			fmt.Fprintf(c.App.ErrWriter, "agent-ctl: controller listening on %s\nadd an agent: agent-ctl fleet join-token NODE --out NODE.creds, then on its host: agent-ctl agent --nats %s --name NODE --creds NODE.creds\n", ctl.URL(), ctl.URL())
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
}

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "join a fleet and serve this host's installed tools to its controller",
		Description: `Serves the installed tools as a NATS micro service on subjects of this node's
own, through the same grants, limits and workers as a local call. Reconnects by
itself. On SIGTERM, calls in flight get --shutdown-grace to finish.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nats", Usage: "the fleet's NATS `URL`", Required: true},
			&cli.StringFlag{Name: "name", Usage: "this node's `NAME` (as its join token names it)", Required: true},
			&cli.StringFlag{Name: "creds", Usage: "credentials `FILE` from 'agent-ctl fleet join-token'", Required: true},
			&cli.StringSliceFlag{Name: "label", Usage: "describe this node: `KEY=VALUE` (repeatable)"},
			&cli.StringFlag{Name: "tls-ca", Usage: "CA `FILE` that verifies the NATS server"},
			&cli.IntFlag{Name: "concurrency", Usage: "calls run at once; more are refused", Value: 4},
			&cli.IntFlag{Name: "pool", Usage: "workers prepared ahead for each tool in use (each still serves one call); 0 disables", Value: 2},
			&cli.DurationFlag{Name: "shutdown-grace", Usage: "on SIGTERM, how long calls in flight may take", Value: 10 * time.Second},
		},
		Action: func(c *cli.Context) error {
			labels, err := parseLabels(c.StringSlice("label"))
			if err != nil {
				return err
			}
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			st, cat, err := openCatalog(c)
			if err != nil {
				return err
			}
			if c.Int("pool") < 0 {
				return usageError{"--pool: want 0 (no pool) or more"}
			}
			cliapp.ExtendStopGrace(c.Duration("shutdown-grace"))
			var pool *supervisor.PoolOptions
			if n := c.Int("pool"); n > 0 {
				pool = &supervisor.PoolOptions{PerTool: n}
			}
			sup, err := supervisor.New(&supervisor.Options{Home: st.home, Logger: log, Pool: pool, Audit: auditOptions(c)})
			if err != nil {
				return err
			}
			defer sup.Close()
			if c.Bool("no-audit") {
				fmt.Fprintln(c.App.ErrWriter, auditNotice)
			}
			a, err := fleet.StartAgent(&fleet.Local{Catalog: cat, Supervisor: sup}, fleet.AgentOptions{
				URL: c.String("nats"), Name: c.String("name"), Creds: c.String("creds"), Labels: labels,
				TLSCA: c.String("tls-ca"), Version: version, Concurrency: c.Int("concurrency"), Logger: log,
				StateDir: fleet.Dir(st.home),
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "agent-ctl: node %s joined the fleet at %s\n", c.String("name"), c.String("nats"))
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			select {
			case <-ctx.Done():
			case <-a.Lost():
				// Its calls are cancelled already; a process that stayed
				// would look joined and serve nothing.
				return fmt.Errorf("leaving the fleet: the connection to %s closed for good: %w", c.String("nats"), a.Err())
			}
			grace, cancel := context.WithTimeout(context.Background(), c.Duration("shutdown-grace"))
			defer cancel()
			return a.Close(grace)
		},
	}
}

func parseLabels(ss []string) (map[string]string, error) {
	labels := map[string]string{}
	for _, s := range ss {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Sprintf("--label %q: want KEY=VALUE", s)}
		}
		labels[k] = v
	}
	return labels, nil
}

// fleetFlags are how a fleet command finds the fleet: the controller's
// home by default, or any fleet by URL and credentials.
func fleetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "nats", Usage: "the fleet's NATS `URL` (default: the controller run with this home)"},
		&cli.StringFlag{Name: "creds", Usage: "credentials `FILE` (default: the controller's admin credentials)"},
		&cli.StringFlag{Name: "tls-ca", Usage: "CA `FILE` that verifies the NATS server"},
	}
}

// fleetRequestTimeout bounds one request to the fleet (a listing, a kill):
// a controller that does not answer must not hang the command.
const fleetRequestTimeout = 30 * time.Second

// fleetRequest dials the fleet for one request: the client and a context
// bounded by fleetRequestTimeout; done closes both.
func fleetRequest(c *cli.Context) (cl *fleet.Client, ctx context.Context, done func(), err error) {
	cl, err = dialFleet(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, fleetRequestTimeout)
	return cl, ctx, func() { cancel(); cl.Close() }, nil
}

func dialFleet(c *cli.Context) (*fleet.Client, error) {
	url, creds := c.String("nats"), c.String("creds")
	if url == "" || creds == "" {
		st, err := openState(c.String("home"))
		if err != nil {
			return nil, err
		}
		u, cr, err := fleet.Endpoint(st.home)
		if err != nil {
			return nil, err
		}
		url, creds = cmp.Or(url, u), cmp.Or(creds, cr)
	}
	return fleet.Dial(url, creds, c.String("tls-ca"))
}

func fleetCommand() *cli.Command {
	return &cli.Command{
		Name:  "fleet",
		Usage: "manage and call the fleet's nodes (see 'agent-ctl controller')",
		Subcommands: []*cli.Command{
			{
				Name:      "join-token",
				Usage:     "write the credentials one agent joins with: it may answer its own calls and deploys and publish its own status, nothing else; they carry the fleet's public signing key",
				ArgsUsage: "NODE",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Usage: "write to `FILE` (mode 0600) instead of stdout"},
					&cli.DurationFlag{Name: "expires", Usage: "lifetime of the credentials (0: they never expire)"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{"fleet join-token: want one NODE (see 'agent-ctl fleet join-token --help')"}
					}
					if c.Duration("expires") < 0 {
						return usageError{"--expires: want 0 or more"}
					}
					_, id, err := fleetIdentity(c)
					if err != nil {
						return err
					}
					b, err := id.JoinToken(c.Args().First(), c.Duration("expires"))
					if err != nil {
						return usageError{err.Error()}
					}
					if out := c.String("out"); out != "" {
						if err := statefile.WriteFile(out, b, 0o600); err != nil {
							return fmt.Errorf("writing %s: %w", out, err)
						}
						fmt.Fprintf(c.App.ErrWriter, "agent-ctl: wrote the credentials of node %s to %s\n", c.Args().First(), out)
						return nil
					}
					_, err = c.App.Writer.Write(b)
					return err
				},
			},
			{
				Name:  "ls",
				Usage: "list the fleet's nodes: labels, tools with versions and digests, last seen",
				Flags: append(fleetFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
				Action: func(c *cli.Context) error {
					cl, ctx, done, err := fleetRequest(c)
					if err != nil {
						return err
					}
					defer done()
					nodes, err := cl.Nodes(ctx)
					if err != nil {
						return err
					}
					rollouts, err := cl.Rollouts(ctx, nodes)
					if err != nil {
						// The nodes are still worth showing.
						fmt.Fprintf(c.App.ErrWriter, "agent-ctl: warning: %s\n", plain(err))
					}
					if c.Bool("json") {
						if nodes == nil {
							nodes = []fleet.Node{}
						}
						return writeJSON(c, nodes)
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NODE\tSTATE\tLAST SEEN\tLABELS\tTOOLS")
					for _, n := range nodes {
						state := "online"
						if !n.Online {
							state = "offline"
						}
						var labels, tools []string
						for k, v := range n.Labels {
							labels = append(labels, untrusted.Show(k+"="+v)) // the node's words
						}
						slices.Sort(labels)
						for _, t := range n.Tools {
							s := untrusted.Show(t.Name + "@" + t.Version)
							switch {
							case t.Error != "":
								s = untrusted.Show(t.Name) + "(broken)"
							case slices.Contains(n.Killed, t.Digest):
								s += "(killed)"
							}
							tools = append(tools, s)
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", untrusted.Show(n.Node), state, n.Time.Local().Format(time.DateTime), strings.Join(labels, ","), strings.Join(tools, " "))
					}
					if err := w.Flush(); err != nil {
						return err
					}
					return printRollouts(c.App.Writer, rollouts)
				},
			},
			fleetCallCommand(),
			fleetRevokeCommand(),
			fleetKillCommand(),
			fleetDeployCommand(),
		},
	}
}

func fleetCallCommand() *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "call a tool on several nodes at once and collect one result per node",
		ArgsUsage: "TOOL [-- ARGS...]",
		Description: `ARGS are the tool's arguments as 'agent-ctl TOOL ARGS' takes them; each node
checks them against its installed manifest. Exit code: 0 when every node's call
exited 0, else the first failing node's code (125 for a node that did not answer).`,
		Flags: append(fleetFlags(),
			&cli.StringFlag{Name: "nodes", Usage: "call these nodes: `A,B,...`"},
			&cli.BoolFlag{Name: "all", Usage: "call every online node"},
			&cli.StringSliceFlag{Name: "label", Usage: "call the online nodes with this label: `KEY=VALUE` (repeatable: all must match)"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for each node; a node stops the call when it runs out", Value: time.Minute},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON array of results"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return usageError{"fleet call: missing TOOL (see 'agent-ctl fleet call --help')"}
			}
			tool, argv := c.Args().First(), c.Args().Tail()
			if tool == "" {
				return usageError{"fleet call: TOOL is empty"}
			}
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			choice, err := chooseNodes(c, "fleet call")
			if err != nil {
				return err
			}
			if c.Duration("timeout") <= 0 {
				return usageError{"--timeout: want a positive duration"}
			}
			cl, nodes, err := choice.dial(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			results := cl.Call(c.Context, nodes, fleet.CallRequest{Tool: tool, Argv: argv}, c.Duration("timeout"))
			code := 0
			for _, r := range results {
				if r.ExitCode != 0 && code == 0 {
					code = r.ExitCode
				}
			}
			if c.Bool("json") {
				if err := writeJSON(c, results); err != nil {
					return err
				}
				return exitError{code}
			}
			for _, r := range results {
				// The node's name and its error are a remote host's words,
				// shown escaped; the tool's stdout and stderr pass through.
				r.Node, r.Error = untrusted.Show(r.Node), untrusted.Show(r.Error)
				fmt.Fprintf(c.App.Writer, "== %s: exit %d in %.2fs\n", r.Node, r.ExitCode, r.Duration)
				c.App.Writer.Write([]byte(r.Stdout))
				if r.Stdout != "" && !strings.HasSuffix(r.Stdout, "\n") {
					fmt.Fprintln(c.App.Writer)
				}
				c.App.ErrWriter.Write([]byte(r.Stderr))
				if r.Truncated {
					fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s: output cut at the fleet's reply limit\n", r.Node)
				}
				if r.Error != "" {
					fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s: %s\n", r.Node, r.Error)
				}
			}
			return exitError{code}
		},
	}
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// fleetIdentity opens the controller's home and its fleet identity, for
// the commands that act as the controller (join-token, revoke).
func fleetIdentity(c *cli.Context) (*state, *fleet.Identity, error) {
	st, err := openState(c.String("home"))
	if err != nil {
		return nil, nil, err
	}
	id, _, err := fleet.LoadIdentity(fleet.Dir(st.home))
	if err != nil {
		return nil, nil, err
	}
	return st, id, nil
}

func fleetRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke every join token issued for a node: its connection is closed and refused from then on",
		ArgsUsage: "NODE",
		Description: `Records the revocation in the controller's fleet directory (run it with the
controller's home) and asks the running controller to apply it at once. A
controller that is not running applies it when it starts. A new join token
for the same node name is valid again.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tls-ca", Usage: "CA `FILE` that verifies the NATS server"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{"fleet revoke: want one NODE (see 'agent-ctl fleet revoke --help')"}
			}
			st, id, err := fleetIdentity(c)
			if err != nil {
				return err
			}
			node := c.Args().First()
			n, err := id.Revoke(node)
			if err != nil {
				return usageError{err.Error()}
			}
			fmt.Fprintf(c.App.Writer, "revoked %d join token(s) of node %s\n", n, node)
			url, creds, err := fleet.Endpoint(st.home)
			var cl *fleet.Client
			if err == nil {
				cl, err = fleet.Dial(url, creds, c.String("tls-ca"))
			}
			if err != nil {
				// No controller runs: no agent is connected, and the
				// controller applies the revocation when it starts.
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: no controller reachable (%s); it applies the revocation when it starts\n", plain(err))
				return nil
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
			defer cancel()
			if err := cl.Reload(ctx); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s; it applies the revocation when it restarts\n", plain(err))
				return exitError{1}
			}
			fmt.Fprintln(c.App.Writer, "the controller applied it: the node is disconnected and refused")
			return nil
		},
	}
}

func fleetKillCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "kill a module fleet-wide: every agent refuses it from then on and stops its running calls",
		ArgsUsage: "sha256:DIGEST",
		Description: `The controller records the digest in the fleet's kill list and announces
it; each agent stops the calls of that module at once, refuses it from then on
(after a restart too: it keeps the list), and shows it in 'agent-ctl fleet ls'.
An agent that was away gets the list when it reconnects. Digests are as
'agent-ctl fleet ls --json' shows them. There is no un-kill: install another
module.`,
		Flags: append(fleetFlags(), &cli.StringFlag{Name: "reason", Usage: "why, kept in the kill list (`TEXT`)"}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{"fleet kill: want one sha256:DIGEST (see 'agent-ctl fleet kill --help')"}
			}
			digest := c.Args().First()
			if err := fleet.CheckDigest(digest); err != nil {
				return usageError{err.Error()}
			}
			cl, ctx, done, err := fleetRequest(c)
			if err != nil {
				return err
			}
			defer done()
			if err := cl.Kill(ctx, digest, c.String("reason")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "killed %s fleet-wide\n", digest)
			return nil
		},
	}
}
