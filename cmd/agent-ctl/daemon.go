package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/daemon"
	"github.com/agent-ctl/agent-ctl/isolation"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// noDaemonEnv forces one-shot calls to spawn, as --no-daemon does.
const noDaemonEnv = "AGENTCTL_NO_DAEMON"

// daemonFlags are the global flags of the daemon socket.
func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "no-daemon", Usage: "run and tool commands start their own worker even when 'agent-ctl serve' of this home is running", EnvVars: []string{noDaemonEnv}},
	}
}

// daemonSettings are what must be the same in a client and the daemon for
// the daemon to run the client's call: what changes its walls or its
// record. Flags given on the command line are in the environment by now
// (the app's Before puts them there).
func daemonSettings(c *cli.Context) map[string]string {
	return map[string]string{
		"worker_id":         os.Getenv(isolation.WorkerIDEnv),
		"allow_no_landlock": strconv.FormatBool(os.Getenv(isolation.AllowNoLandlockEnv) == "1"),
		"engine":            os.Getenv(isolation.EngineEnv),
		"no_audit":          strconv.FormatBool(c.Bool("no-audit")),
		"audit_sync":        c.String("audit-sync"),
	}
}

// viaDaemon hands a call to a running `agent-ctl serve` of this home, if
// there is one that takes it. ok is false when the call is still to be
// run here: no daemon, refused, or --no-daemon; nothing was written and
// nothing read then. Otherwise the returned error carries the exit code.
func viaDaemon(c *cli.Context, req *daemon.Request) (err error, ok bool) {
	log, lerr := newLogger(c)
	if lerr != nil {
		return lerr, true
	}
	if c.Bool("no-daemon") {
		log.Debug("daemon not used: --no-daemon or " + noDaemonEnv)
		return nil, false
	}
	// Only a process's own stdio can be handed over (in-process callers,
	// such as tests and dev, write to buffers).
	stdout, ok1 := c.App.Writer.(*os.File)
	stderr, ok2 := c.App.ErrWriter.(*os.File)
	if !ok1 || !ok2 {
		return nil, false
	}
	home, herr := homeDir(c)
	if herr != nil {
		return nil, false
	}
	req.Version, req.Settings = version, daemonSettings(c)
	path := daemon.SocketPath(home)
	code, derr := daemon.Call(c.Context, path, req, moduleStdin(c.App.Reader), stdout, stderr)
	switch {
	case errors.Is(derr, daemon.ErrNoDaemon), errors.Is(derr, daemon.ErrRefused):
		log.Debug("daemon not used: spawning the worker here", "socket", path, "reason", derr.Error())
		return nil, false
	case derr != nil:
		fmt.Fprintf(stderr, "agent-ctl: %s\n", derr)
		return exitError{supervisor.ExitInternal}, true
	}
	log.Debug("call ran in the daemon", "socket", path, "exit_code", code)
	return exitError{code}, true
}

// runRequest is `agent-ctl run`'s call for the daemon: paths made absolute
// here as the supervisor would make them (against this process's working
// directory, not cleaned), host variables already read.
func runRequest(c *cli.Context, module string, args []string, pol policies.Policy) *daemon.Request {
	r := &daemon.RunRequest{Module: absNotCleaned(module), Args: args, Net: c.StringSlice("net"),
		Memory: pol.Memory, Output: pol.MaxOutput, Time: pol.Timeout, Isolation: string(pol.Isolation)}
	for _, d := range pol.Dirs {
		r.Dirs = append(r.Dirs, daemon.Dir{Host: absNotCleaned(d.Host), Guest: d.Guest, Writable: d.Writable})
	}
	for _, e := range pol.Env {
		r.Env = append(r.Env, e.Key+"="+e.Value)
	}
	return &daemon.Request{Run: r}
}

// absNotCleaned is p against the working directory, with its ".." left
// in: the kernel must resolve it as it is (see policies.Dir).
func absNotCleaned(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		return p // relative: the daemon refuses it, and the call spawns
	}
	return wd + "/" + p
}

// toolRequest is an installed tool's call for the daemon: the arguments as
// parsed here, and this process's values of the variables its grants pass
// from the host. The daemon computes the policy itself.
func toolRequest(name string, args map[string]any, g *policies.ToolGrants) *daemon.Request {
	r := &daemon.ToolRequest{Name: name, Args: args}
	for _, e := range g.Env {
		if v, ok := os.LookupEnv(e.Key); ok && e.FromHost {
			if r.HostEnv == nil {
				r.HostEnv = map[string]string{}
			}
			r.HostEnv[e.Key] = v
		}
	}
	return &daemon.Request{Tool: r}
}

// listenDaemon opens serve's daemon socket under home, for sup's calls. A
// socket that cannot be opened (another serve of this home has it, a path
// too long) costs only the one-shot calls' speed: serve says why and goes
// on without it.
func listenDaemon(c *cli.Context, home string, sup *supervisor.Supervisor, log *slog.Logger) *daemon.Server {
	path := daemon.SocketPath(home)
	h := &daemonHandler{sup: sup, home: home, log: log}
	ds, err := daemon.Listen(path, h.serve, &daemon.ServerOptions{Version: version, Settings: daemonSettings(c), Logger: log})
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: note: no daemon socket: %s\n", err)
		return nil
	}
	go func() {
		if err := ds.Serve(); err != nil {
			log.Error("daemon socket stopped", "err", err)
		}
	}()
	fmt.Fprintf(c.App.ErrWriter, "agent-ctl: daemon socket at %s (run and tool commands of this home use it)\n", path)
	return ds
}

// daemonHandler runs the daemon socket's calls on serve's supervisor, each
// built as the CLI builds it and checked again here.
type daemonHandler struct {
	sup  *supervisor.Supervisor
	home string
	log  *slog.Logger
}

func (h *daemonHandler) serve(ctx context.Context, req *daemon.Request, stdio daemon.Stdio, peer daemon.Peer) int {
	call, code := h.call(req, stdio.Stderr)
	if call == nil {
		return code
	}
	call.Caller = callerName(peer.UID)
	if stdio.Stdin != nil { // never a nil *os.File in the interface
		call.Stdin = stdio.Stdin
	}
	call.Stdout, call.Stderr = stdio.Stdout, stdio.Stderr
	return runCall(ctx, h.sup, call, stdio.Stderr)
}

// call builds the supervisor's call for req, or prints why not and
// returns the exit code.
func (h *daemonHandler) call(req *daemon.Request, stderr io.Writer) (*supervisor.Call, int) {
	fail := func(code int, err error) (*supervisor.Call, int) {
		fmt.Fprintf(stderr, "agent-ctl: %s\n", plain(err))
		return nil, code
	}
	if r := req.Run; r != nil {
		if !filepath.IsAbs(r.Module) {
			return fail(supervisor.ExitInternal, fmt.Errorf("%w: module path %q is not absolute", policies.ErrInvalid, r.Module))
		}
		pol := policies.Policy{Memory: r.Memory, MaxOutput: r.Output, Timeout: r.Time}
		var err error
		if pol.Isolation, err = policies.ParseIsolation(r.Isolation); err != nil {
			return fail(supervisor.ExitInternal, err)
		}
		if pol.MaxOutput <= 0 || pol.Timeout <= 0 {
			return fail(supervisor.ExitInternal, fmt.Errorf("%w: --max-output and --timeout must be positive", policies.ErrInvalid))
		}
		for _, d := range r.Dirs {
			if !filepath.IsAbs(d.Host) {
				return fail(supervisor.ExitInternal, fmt.Errorf("%w: directory %q is not absolute", policies.ErrInvalid, d.Host))
			}
			pol.Dirs = append(pol.Dirs, policies.Dir{Host: d.Host, Guest: d.Guest, Writable: d.Writable})
		}
		for _, kv := range r.Env {
			k, v, _ := strings.Cut(kv, "=")
			pol.Env = append(pol.Env, policies.Env{Key: k, Value: v})
		}
		for _, s := range r.Net {
			n, err := policies.ParseNetGrant(s)
			if err != nil {
				return fail(supervisor.ExitInternal, err)
			}
			pol.Net = append(pol.Net, n)
		}
		// Invoke validates the rest as for a local call: the directories
		// opened without following links, the protected ones refused.
		return &supervisor.Call{Module: r.Module, Args: r.Args, Policy: pol, TimeoutCoversLoad: true, Frontend: "run"}, 0
	}
	t := req.Tool
	cat, err := catalog.Open(h.home)
	if err != nil {
		return fail(supervisor.ExitInternal, err)
	}
	lookup := func(k string) (string, bool) { v, ok := t.HostEnv[k]; return v, ok }
	p, err := cat.CallEnv(t.Name, t.Args, lookup)
	switch {
	case errors.Is(err, catalog.ErrArgs):
		return fail(supervisor.ExitInternal, argsError(t.Name, err))
	case errors.Is(err, store.ErrNotInstalled):
		return fail(supervisor.ExitNotFound, err)
	case errors.Is(err, store.ErrDamaged), errors.Is(err, catalog.ErrGrantsHeld):
		return fail(supervisor.ExitInvalid, err)
	case err != nil:
		return fail(supervisor.ExitInternal, err)
	}
	return &supervisor.Call{Module: p.Module, Name: p.Name, Args: p.Args, Policy: p.Policy, Digest: p.Digest,
		Frontend: "cli", Version: p.Version, Params: p.Params}, 0
}

// callerName is the audit log's caller of a daemon call: its client's user.
func callerName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// closeDaemon stops the daemon socket, if there is one: its calls in
// flight get grace to finish, then are cancelled.
func closeDaemon(ds *daemon.Server, grace time.Duration) {
	if ds == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	ds.Close(ctx)
}
