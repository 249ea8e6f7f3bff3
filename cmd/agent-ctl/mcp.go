package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/cmd/internal/daemon"
	"github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// mcpServer builds the MCP server over the installed tools of --home, and
// its metrics.
func mcpServer(c *cli.Context) (*mcp.Server, *state, *callMetrics, error) {
	if err := checkFleetFlags(c); err != nil {
		return nil, nil, nil, err
	}
	if c.Bool("fleet") {
		return mcpFleetServer(c)
	}
	st, cat, err := openCatalog(c)
	if err != nil {
		return nil, nil, nil, err
	}
	log, err := newLogger(c)
	if err != nil {
		return nil, nil, nil, err
	}
	var pool *supervisor.PoolOptions
	if n := c.Int("pool"); n > 0 {
		pool = &supervisor.PoolOptions{PerTool: n, Total: c.Int("pool-total"), Spawners: c.Int("pool-spawners")}
	} else if n < 0 {
		return nil, nil, nil, usageError{"--pool: want 0 (no pool) or more"}
	}
	if c.Int("pool-total") < 0 || c.Int("pool-spawners") < 0 || c.Int("max-starts") < 0 {
		return nil, nil, nil, usageError{"--pool-total, --pool-spawners and --max-starts: want 0 (the default) or more"}
	}
	m := newCallMetrics()
	sup, err := supervisor.New(&supervisor.Options{Home: st.home, Logger: log, Pool: pool, MaxStarts: c.Int("max-starts"),
		Audit: auditOptions(c), OnCall: m.ObserveCall})
	if err != nil {
		return nil, nil, nil, err
	}
	buffered, err := policies.ParseSize(c.String("max-buffered-output"))
	if err != nil || buffered <= 0 {
		return nil, nil, nil, usageError{fmt.Sprintf("--max-buffered-output %q: want a positive size such as 256MiB", c.String("max-buffered-output"))}
	}
	if c.Duration("shutdown-grace") < 0 {
		return nil, nil, nil, usageError{"--shutdown-grace: want 0 or more"}
	}
	cliapp.ExtendStopGrace(c.Duration("shutdown-grace"))
	srv := mcp.New(cat, sup, &mcp.Options{Version: version, Logger: log, MaxBufferedOutput: buffered})
	m.bind(sup, srv)
	auditStartNote(c, c.App.ErrWriter)
	return srv, st, m, nil
}

// poolFlags size the warm pool of the long-running front-ends and cap
// the workers they start at once.
func poolFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "pool", Usage: "workers prepared ahead for each tool in use (spawned, confined, module loaded; each still serves one call); 0 disables", Value: 2},
		&cli.IntFlag{Name: "pool-total", Usage: "cap on prepared workers of all tools together", Value: 8},
		&cli.IntFlag{Name: "pool-spawners", Usage: "workers prepared at once in the background (0: one per two CPUs, at least one)"},
		&cli.IntFlag{Name: "max-starts", Usage: "workers started at once for calls that find none prepared; more calls wait their turn (0: two per CPU)"},
		&cli.StringFlag{Name: "max-buffered-output", Usage: "cap on the module output held by all calls in flight together (`SIZE`); a call whose output does not fit fails and says so", Value: "256MiB"},
		&cli.DurationFlag{Name: "shutdown-grace", Usage: "on SIGTERM (or stdin's end for mcp), how long calls in flight may take to finish before they are cancelled", Value: 10 * time.Second},
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func mcpCommand() *cli.Command {
	return &cli.Command{
		Name:  "mcp",
		Usage: "serve the installed tools to an MCP client over stdin/stdout",
		Description: `Speaks the Model Context Protocol on stdin and stdout, for Claude Desktop,
Claude Code, VS Code, Cursor or any MCP client that starts a local server.
Every installed tool is published with its manifest's schema; every call runs
in a fresh sandboxed worker with only what 'agent-ctl grant' gave the tool.
Installing, replacing or removing a tool, or changing its grants, reaches
connected clients as notifications/tools/list_changed. Logs go to stderr.

With --fleet (run with the controller's home, or --nats and --creds): the
fleet's tools instead, each once, with a 'nodes' (and 'label') selector; a
call runs on every selected node and answers one result per node.

'agent-ctl mcp config CLIENT' prints the snippet for a client's config file.`,
		Subcommands: []*cli.Command{mcpConfigCommand()},
		Flags:       append(append(poolFlags(), watchFlag(), metricsListenFlag), mcpFleetFlags()...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError{fmt.Sprintf("mcp: unknown argument %q (did you mean 'agent-ctl mcp config %s'?)", c.Args().First(), c.Args().First())}
			}
			srv, st, m, err := mcpServer(c)
			if err != nil {
				return err
			}
			// Metrics over stdio's side listener take the tokens serve takes.
			url, stopMetrics, err := serveMetrics(c, srv, m, &mcp.HTTPOptions{Tokens: mcp.OpenTokens(mcp.TokensPath(st.home))})
			if err != nil {
				srv.Close()
				return err
			}
			defer stopMetrics()
			if url != "" {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: metrics at %s (bearer token of 'agent-ctl token create')\n", url)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			go srv.Watch(ctx)
			if err := startWatch(ctx, c, st, srv); err != nil {
				srv.Close()
				return err
			}
			// RunStdio stops gracefully at stdin's end or a signal: calls
			// in flight get --shutdown-grace, then workers are removed.
			return srv.RunStdio(ctx, io.NopCloser(c.App.Reader), nopWriteCloser{c.App.Writer}, c.Duration("shutdown-grace"))
		},
	}
}

// clientConfigs are the config snippets `agent-ctl mcp config` prints.
var clientConfigs = map[string]struct{ file, httpFile, key string }{
	"claude": {"claude_desktop_config.json (Claude Desktop) or .mcp.json (Claude Code)", ".mcp.json (Claude Code; Claude Desktop adds remote servers as connectors in its settings, not in a file)", "mcpServers"},
	"cursor": {"~/.cursor/mcp.json or .cursor/mcp.json", "~/.cursor/mcp.json or .cursor/mcp.json", "mcpServers"},
	"vscode": {".vscode/mcp.json", ".vscode/mcp.json", "servers"},
}

// tokenEnv is the environment variable the HTTP snippets read the token
// from: a snippet never holds the secret itself.
const tokenEnv = "AGENT_CTL_TOKEN"

func mcpConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "config",
		Usage:     "print the JSON to add to an MCP client's configuration",
		ArgsUsage: "[--http [--url URL]] claude|vscode|cursor",
		Description: `Without --http: the client starts 'agent-ctl mcp' itself (stdio).
With --http: the client connects to 'agent-ctl serve' at --url and sends
'Authorization: Bearer TOKEN', the token read from $` + tokenEnv + ` (VS Code
prompts for it once and stores it as a secret).`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "http", Usage: "print the form for a running 'agent-ctl serve' (Streamable HTTP) instead of stdio"},
			&cli.StringFlag{Name: "url", Usage: "`URL` of serve's MCP endpoint, with --http", Value: "http://127.0.0.1:8765/mcp"},
		},
		Action: func(c *cli.Context) error {
			client := c.Args().First()
			cc, ok := clientConfigs[client]
			if c.NArg() > 1 && strings.HasPrefix(c.Args().Get(1), "-") {
				return usageError{fmt.Sprintf("mcp config: flags go before the client: agent-ctl mcp config %s %s", strings.Join(c.Args().Tail(), " "), client)}
			}
			if !ok || c.NArg() != 1 {
				return usageError{"mcp config: name one client: claude, vscode or cursor"}
			}
			if c.Bool("http") {
				return printHTTPConfig(c, client, cc.httpFile, cc.key)
			}
			if c.IsSet("url") {
				return usageError{"mcp config: --url goes with --http"}
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			args := []string{"mcp"}
			if h := c.String("home"); h != "" {
				st, err := openState(h)
				if err != nil {
					return err
				}
				args = []string{"--home", st.home, "mcp"}
			}
			server := map[string]any{"command": exe, "args": args}
			if client == "vscode" {
				server["type"] = "stdio"
			}
			b, _ := json.MarshalIndent(map[string]any{cc.key: map[string]any{"agent-ctl": server}}, "", "  ")
			fmt.Fprintf(c.App.ErrWriter, "# add to %s\n", cc.file)
			fmt.Fprintln(c.App.Writer, string(b))
			return nil
		},
	}
}

// printHTTPConfig prints the snippet for a client that connects to serve,
// each in the syntax its config file has for a secret from elsewhere.
func printHTTPConfig(c *cli.Context, client, file, key string) error {
	u, err := url.Parse(c.String("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("mcp config: --url %q: want http(s)://HOST:PORT/mcp", c.String("url"))}
	}
	if u.Scheme == "http" && !mcp.IsLoopback(u.Host) && u.Hostname() != "localhost" {
		return usageError{fmt.Sprintf("mcp config: --url %q: serve answers plain http only on loopback; use https", c.String("url"))}
	}
	server := map[string]any{"type": "http", "url": u.String()}
	doc := map[string]any{key: map[string]any{"agent-ctl": server}}
	switch client {
	case "claude": // Claude Code expands ${VAR} in .mcp.json
		server["headers"] = map[string]string{"Authorization": "Bearer ${" + tokenEnv + "}"}
	case "cursor": // Cursor expands ${env:VAR}
		server["headers"] = map[string]string{"Authorization": "Bearer ${env:" + tokenEnv + "}"}
	case "vscode": // VS Code prompts for an input once and keeps it as a secret
		server["headers"] = map[string]string{"Authorization": "Bearer ${input:agent-ctl-token}"}
		doc["inputs"] = []map[string]any{{"type": "promptString", "id": "agent-ctl-token",
			"description": "agent-ctl token ('agent-ctl token create NAME')", "password": true}}
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	fmt.Fprintf(c.App.ErrWriter, "# add to %s\n", file)
	if client != "vscode" {
		fmt.Fprintf(c.App.ErrWriter, "# the token comes from $%s: 'agent-ctl token create NAME' prints one\n", tokenEnv)
	}
	fmt.Fprintln(c.App.Writer, string(b))
	return nil
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve the installed tools over MCP Streamable HTTP (at /mcp; /healthz for probes)",
		Description: `Every request to /mcp needs a bearer token ('agent-ctl token create NAME'),
on loopback too: other local users and web pages can reach loopback. A
non-loopback address also needs TLS (--tls-cert, --tls-key). --no-auth is
accepted only on a loopback address, and says so.

With --oauth-issuer and --audience, JWT access tokens of that OAuth
authorization server for this server are accepted too (signature by the
issuer's published keys, issuer, audience, expiry checked), and
/.well-known/oauth-protected-resource tells clients where to get one.

With --fleet (run with the controller's home, or --nats and --creds): the
fleet's tools instead, each once, with a 'nodes' (and 'label') selector; a
call runs on every selected node and answers one result per node.`,
		Flags: append(append(poolFlags(),
			&cli.StringFlag{Name: "listen", Usage: "`ADDR` to listen on", Value: "127.0.0.1:8765"},
			&cli.StringFlag{Name: "tls-cert", Usage: "TLS certificate `FILE` (PEM)"},
			&cli.StringFlag{Name: "tls-key", Usage: "TLS private key `FILE` (PEM)"},
			&cli.BoolFlag{Name: "no-auth", Usage: "accept requests without a token (loopback addresses only)"},
			&cli.StringSliceFlag{Name: "allow-origin", Usage: "browser `ORIGIN` allowed to call (scheme://host[:port]; repeatable); other cross-origin browser requests are refused"},
			&cli.IntFlag{Name: "per-token", Usage: "tool calls one token may have in flight (each holds a worker)", Value: 16},
			&cli.StringFlag{Name: "max-body", Usage: "cap on a request body (`SIZE`)", Value: "4MiB"},
			&cli.DurationFlag{Name: "read-timeout", Usage: "time a request body may take to arrive (not a limit on the call: its answer still streams)", Value: 30 * time.Second},
			&cli.DurationFlag{Name: "idle-timeout", Usage: "close a keep-alive connection idle this long", Value: 60 * time.Second},
			&cli.IntFlag{Name: "max-conns", Usage: "open connections at most; past it the longest idle one is closed, or the new one if none is idle", Value: 512},
			&cli.DurationFlag{Name: "session-idle", Usage: "end an MCP session without requests for this long (0: never)", Value: 30 * time.Minute},
			&cli.StringFlag{Name: "oauth-issuer", Usage: "also accept JWT access tokens of the OAuth authorization server whose issuer is `URL` (https; its metadata names its keys)"},
			&cli.StringFlag{Name: "audience", Usage: "with --oauth-issuer: this server's resource identifier (`URI`, normally its https://.../mcp URL), required in a token's aud"},
			watchFlag(),
			metricsListenFlag,
		), mcpFleetFlags()...),
		Action: serveAction,
	}
}

func serveAction(c *cli.Context) error {
	addr := c.String("listen")
	loopback := mcp.IsLoopback(addr)
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if (cert == "") != (key == "") {
		return usageError{"serve: --tls-cert and --tls-key go together"}
	}
	useTLS := cert != ""
	if !loopback && !useTLS {
		return usageError{fmt.Sprintf("serve: %s is not a loopback address: refusing to serve without TLS (give --tls-cert and --tls-key)", addr)}
	}
	if (c.String("oauth-issuer") == "") != (c.String("audience") == "") {
		return usageError{"serve: --oauth-issuer and --audience go together"}
	}
	if c.Bool("no-auth") && c.String("oauth-issuer") != "" {
		return usageError{"serve: --no-auth and --oauth-issuer contradict each other"}
	}
	if c.Bool("no-auth") && !loopback {
		return usageError{fmt.Sprintf("serve: --no-auth is accepted only on a loopback address, not %s", addr)}
	}
	maxBody, err := policies.ParseSize(c.String("max-body"))
	if err != nil || maxBody <= 0 {
		return usageError{fmt.Sprintf("serve: --max-body %q: want a positive size such as 4MiB", c.String("max-body"))}
	}
	if c.Duration("read-timeout") <= 0 || c.Duration("idle-timeout") <= 0 || c.Int("max-conns") <= 0 || c.Duration("session-idle") < 0 {
		return usageError{"serve: --read-timeout, --idle-timeout and --max-conns: want more than 0; --session-idle: 0 or more"}
	}
	srv, st, m, err := mcpServer(c)
	if err != nil {
		return err
	}
	idle := c.Duration("session-idle")
	if idle == 0 {
		idle = -1 // never
	}
	opts := &mcp.HTTPOptions{MaxBody: maxBody, PerToken: c.Int("per-token"), AllowedOrigins: c.StringSlice("allow-origin"),
		BodyTimeout: c.Duration("read-timeout"), IdleTimeout: c.Duration("idle-timeout"), MaxConns: c.Int("max-conns"), SessionIdle: idle}
	if c.Bool("no-auth") {
		fmt.Fprintln(c.App.ErrWriter, "agent-ctl: warning: --no-auth: anyone who can reach "+addr+" can run the installed tools")
	} else {
		opts.Tokens = mcp.OpenTokens(mcp.TokensPath(st.home))
		if list, err := opts.Tokens.List(); err != nil {
			srv.Close()
			return err
		} else if len(list) == 0 && c.String("oauth-issuer") == "" {
			fmt.Fprintln(c.App.ErrWriter, "agent-ctl: note: no tokens yet: every request will be refused until 'agent-ctl token create NAME'")
		}
	}
	if issuer := c.String("oauth-issuer"); issuer != "" {
		// The issuer's metadata and keys are fetched now: a server that
		// could verify no token does not start.
		log, _ := newLogger(c) // its flag was checked by mcpServer
		oa, err := mcp.NewOAuth(c.Context, mcp.OAuthOptions{Issuer: issuer, Audience: c.String("audience"), Logger: log})
		if err != nil {
			srv.Close()
			return fmt.Errorf("serve: %w", err)
		}
		opts.OAuth = oa
	}
	if useTLS {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			srv.Close()
			return fmt.Errorf("serve: loading TLS certificate: %w", err)
		}
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	metricsURL, stopMetrics, err := serveMetrics(c, srv, m, opts)
	if err != nil {
		srv.Close()
		return err
	}
	defer stopMetrics()
	if metricsURL == "" {
		opts.Metrics = m.Handler()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("serve: %w", err)
	}
	hs := srv.NewHTTPServer(opts)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go srv.Watch(ctx)
	if err := startWatch(ctx, c, st, srv); err != nil {
		ln.Close()
		srv.Close()
		return err
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	fmt.Fprintf(c.App.ErrWriter, "agent-ctl: serving MCP at %s://%s/mcp\n", scheme, ln.Addr())
	if metricsURL == "" {
		metricsURL = fmt.Sprintf("%s://%s/metrics", scheme, ln.Addr())
	}
	fmt.Fprintf(c.App.ErrWriter, "agent-ctl: metrics at %s\n", metricsURL)
	// The daemon socket: one-shot run and tool commands of this home
	// borrow this supervisor and its warm pool (daemon.go).
	var ds *daemon.Server
	if sup := m.sup.Load(); sup != nil {
		log, _ := newLogger(c) // its flag was checked by mcpServer
		ds = listenDaemon(c, st.home, sup, log)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		closeDaemon(ds, 0)
		srv.Shutdown(0)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		// Stop accepting, end event streams, let calls finish for the
		// grace, cancel the rest, remove every worker, then exit.
		grace := c.Duration("shutdown-grace")
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: stopping (calls in flight have %s to finish)\n", grace)
		// The socket's calls first: they run on the supervisor that
		// the HTTP side's shutdown closes.
		deadline := time.Now().Add(grace)
		closeDaemon(ds, grace)
		hs.Shutdown(max(0, time.Until(deadline)))
		<-errc
		return nil
	}
}

func tokenCommand() *cli.Command {
	tokens := func(c *cli.Context) (*mcp.Tokens, error) {
		st, err := openState(c.String("home"))
		if err != nil {
			return nil, err
		}
		return mcp.OpenTokens(mcp.TokensPath(st.home)), nil
	}
	// named is tokens for create and revoke, which take one NAME.
	named := func(c *cli.Context) (*mcp.Tokens, string, error) {
		if c.NArg() != 1 {
			return nil, "", usageError{"token " + c.Command.Name + ": give one NAME"}
		}
		t, err := tokens(c)
		return t, c.Args().First(), err
	}
	userErr := func(err error) error {
		if errors.Is(err, mcp.ErrToken) {
			return usageError{err.Error()}
		}
		return err
	}
	return &cli.Command{
		Name:  "token",
		Usage: "manage the bearer tokens 'agent-ctl serve' accepts",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a token and print it (once: only its hash is kept)", ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					t, name, err := named(c)
					if err != nil {
						return err
					}
					secret, err := t.Create(name)
					if err != nil {
						return userErr(err)
					}
					fmt.Fprintln(c.App.Writer, secret)
					fmt.Fprintln(c.App.ErrWriter, "agent-ctl: store it now: it cannot be shown again. Clients send it as 'Authorization: Bearer TOKEN'.")
					return nil
				},
			},
			{
				Name: "list", Usage: "list token names and when they were created",
				Action: func(c *cli.Context) error {
					t, err := tokens(c)
					if err != nil {
						return err
					}
					list, err := t.List()
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tCREATED")
					for _, tok := range list {
						fmt.Fprintf(w, "%s\t%s\n", tok.Name, tok.Created.Format(time.RFC3339))
					}
					return w.Flush()
				},
			},
			{
				Name: "revoke", Usage: "revoke a token: requests with it are refused from now on", ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					t, name, err := named(c)
					if err != nil {
						return err
					}
					return userErr(t.Revoke(name))
				},
			},
		},
	}
}
