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

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/cmd/internal/daemon"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// noDaemonEnv forces one-shot calls to spawn, as --no-daemon does.
const noDaemonEnv = cliapp.NoDaemonEnv

// viaDaemon hands a call to a running `agent-ctl serve` of this home, if
// there is one that takes it (cliapp.HandOff). ok is false when the call is
// still to be run here: no daemon, refused, or --no-daemon; nothing was
// written and nothing read then. Otherwise the returned error carries the
// exit code.
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
	code, handled, reason := cliapp.HandOff(c, req, cliapp.ModuleStdin(c.App.Reader), stdout, stderr, log)
	if !handled {
		if reason != nil {
			log.Debug("daemon not used: spawning the worker here", "socket", daemonSocket(c), "reason", reason.Error())
		}
		return nil, false
	}
	return exitError{code}, true
}

// daemonSocket is the daemon socket of this home, for messages.
func daemonSocket(c *cli.Context) string {
	home, err := homeDir(c)
	if err != nil {
		return ""
	}
	return daemon.SocketPath(home)
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
	ds, err := daemon.Listen(path, h.serve, &daemon.ServerOptions{Version: version, Settings: cliapp.Settings(c), Logger: log})
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
