// Package cliapp is what the two agent-ctl executables share of the command
// line: the global flags and `run`'s, the policy and the daemon request
// built from them, the hand-off of a call to a running `agent-ctl serve`,
// and the signals that cancel it.
//
// The lean front (cmd/agent-ctl-front, installed as agent-ctl) answers
// `agent-ctl run` through the daemon with this package alone; the full CLI
// (cmd/agent-ctl, installed as agent-ctl-full) uses the same code for its
// own flags and its own hand-off, so the two cannot parse or decide
// differently. This package must stay light: the front links it, and a test
// of the front fails if its dependencies grow to include oras, gRPC,
// protobuf, NATS, Prometheus, wasmtime, libcontainer or go-plugin. It may
// import only urfave/cli, policies and cmd/internal/daemon of the
// project's dependencies.
package cliapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/daemon"
	"github.com/agent-ctl/agent-ctl/policies"
)

// Version is agent-ctl's version, set at build time with
// -ldflags "-X github.com/agent-ctl/agent-ctl/cmd/internal/cliapp.Version=…":
// the front and the full CLI carry the same, and the daemon refuses a
// client of another.
var Version = "0.1.0-dev"

// Environment variables behind global flags. The isolation package reads
// the first three itself; they are spelled here too because the front must
// not link isolation (a test in cmd/agent-ctl checks that they agree).
const (
	WorkerIDEnv        = "AGENT_CTL_WORKER_ID"
	AllowNoLandlockEnv = "AGENT_CTL_ALLOW_NO_LANDLOCK"
	EngineEnv          = "AGENT_CTL_CONTAINER_ENGINE"
	// DefaultWorkerID is isolation.DefaultWorkerID, for --worker-id's help.
	DefaultWorkerID = 2415919104
	NoAuditEnv      = "AGENT_CTL_NO_AUDIT"
	AuditSyncEnv    = "AGENT_CTL_AUDIT_SYNC"
	// NoDaemonEnv forces one-shot calls to spawn, as --no-daemon does.
	NoDaemonEnv = "AGENTCTL_NO_DAEMON"
)

// Exit codes of agent-ctl's own outcomes that this package gives
// (supervisor.ExitInternal; a test in cmd/agent-ctl checks that they agree).
const ExitInternal = 125

// UsageError is bad input on the command line: agent-ctl's own error,
// printed as one line and exit code 125.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// GlobalFlags are the flags before the command, in the order help lists
// them. Each call returns new flags: urfave/cli records in a flag whether
// its environment variable set it.
func GlobalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "home", Usage: "state directory (installed tools, policy, compiled-module cache)", EnvVars: []string{"AGENTCTL_HOME"}, DefaultText: "~/.agent-ctl"},
		&cli.StringFlag{Name: "log-level", Usage: "log level on stderr: debug, info, warn, error", Value: "warn"},
		&cli.StringFlag{Name: "worker-id", Usage: "host user and group `ID` container workers run as; no host user, group or subordinate range (/etc/subuid, /etc/subgid) may have it",
			EnvVars: []string{WorkerIDEnv}, DefaultText: strconv.Itoa(DefaultWorkerID)},
		&cli.BoolFlag{Name: "allow-no-landlock", Usage: "let container workers run without Landlock where the kernel has none (without it, container isolation refuses to start there)",
			EnvVars: []string{AllowNoLandlockEnv}},
		&cli.BoolFlag{Name: "no-audit", Usage: "record no call in the audit log ($AGENTCTL_HOME/audit); doctor and serve say so", EnvVars: []string{NoAuditEnv}},
		&cli.StringFlag{Name: "audit-sync", Usage: "when the audit log is fsync'd: line (before each call's result) or batch (at most every 100ms; a host crash may lose the last lines)",
			Value: "line", EnvVars: []string{AuditSyncEnv}},
		&cli.BoolFlag{Name: "no-daemon", Usage: "run and tool commands start their own worker even when 'agent-ctl serve' of this home is running", EnvVars: []string{NoDaemonEnv}},
	}
}

// Before checks the global flags for every command (a bad value must never
// pass silently) and puts the walls' settings given as flags into the
// environment, where container isolation reads them.
func Before(c *cli.Context) error {
	if _, err := NewLogger(c, io.Discard); err != nil {
		return err
	}
	if s := c.String("audit-sync"); s != "line" && s != "batch" {
		return UsageError{fmt.Sprintf("--audit-sync %q: want line or batch", s)}
	}
	if c.IsSet("worker-id") {
		os.Setenv(WorkerIDEnv, c.String("worker-id"))
	}
	if c.Bool("allow-no-landlock") {
		os.Setenv(AllowNoLandlockEnv, "1")
	}
	return nil
}

// NewLogger is the logger of --log-level, writing to w.
func NewLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, UsageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", c.String("log-level"))}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}

// HomeDir is the state directory: --home, else $AGENTCTL_HOME (through the
// flag's own variable), else ~/.agent-ctl, as supervisor.DefaultHome has it.
func HomeDir(c *cli.Context) (string, error) {
	home := c.String("home")
	if home == "" {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding home directory (set AGENTCTL_HOME): %w", err)
		}
		home = filepath.Join(u, ".agent-ctl")
	}
	return filepath.Abs(home)
}

// RunCommand is `agent-ctl run` with action as its action.
func RunCommand(action cli.ActionFunc) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a WASI command module with the capabilities given on the command line",
		ArgsUsage: "FILE.wasm [-- ARGS...]",
		Description: `Runs FILE.wasm in a fresh worker process. Nothing is granted unless asked for:
no directories, no environment variables, no network. Arguments after FILE.wasm
(optionally after --) are passed to the module. stdin, stdout and stderr stream
live; the module's exit code becomes agent-ctl's. agent-ctl's own outcomes use
exit codes 124-143 (see docs/exit-codes.md): 124 time limit, 125 agent-ctl error,
126 invalid module, 127 module not found, 130/143 interrupted, 132 trap,
137 memory limit, 141 output limit.

Examples:
  agent-ctl run modules/hello/hello.wasm -- --name world
  agent-ctl run --dir ./logs:/logs:ro --env TZ=UTC grep.wasm -- ERROR /logs/app.log
  agent-ctl run --memory 64MiB --timeout 5s --max-output 1MiB tool.wasm`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "dir", Usage: "grant a host directory at a guest path: `HOST:GUEST[:ro|rw]` (ro when the mode is left out; repeatable)"},
			&cli.StringSliceFlag{Name: "env", Usage: "set `KEY=VALUE`, or pass the host's value of KEY (repeatable)"},
			&cli.StringSliceFlag{Name: "net", Usage: "allow connections through the agent_ctl host functions to `HOST:PORT[,PORT...]` (HOST: a CIDR, an address or a hostname; repeatable)"},
			&cli.StringFlag{Name: "memory", Usage: "cap on the module's linear memory (`SIZE`, e.g. 64MiB, 1GiB)", Value: policies.FormatSize(policies.DefaultMemory)},
			&cli.StringFlag{Name: "timeout", Usage: "wall-clock limit of the whole call: starting the worker, loading or compiling the module, and its run (`DURATION`, e.g. 500ms, 30s, 2m)", Value: policies.DefaultTimeout.String()},
			&cli.StringFlag{Name: "max-output", Usage: "cap on stdout and stderr bytes together (`SIZE`)", Value: policies.FormatSize(policies.DefaultMaxOutput)},
			&cli.StringFlag{Name: "isolation", Usage: "walls around the worker (`KIND`): container (namespaces, cgroups, seccomp) or process (the WASM sandbox alone)", DefaultText: "container"},
		},
		Action: action,
	}
}

// ParseRun reads `agent-ctl run`'s arguments and flags: the module, its
// arguments and the call's policy. Every error is a UsageError naming what
// was wrong.
func ParseRun(c *cli.Context) (module string, args []string, pol policies.Policy, err error) {
	all := c.Args().Slice()
	if len(all) == 0 {
		return "", nil, pol, UsageError{"run: missing FILE.wasm (see 'agent-ctl run --help')"}
	}
	module, args = all[0], all[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if pol, err = policyFromFlags(c); err != nil {
		return "", nil, pol, UsageError{Plain(err)}
	}
	return module, args, pol, nil
}

// policyFromFlags builds the call's policy; every error names the flag.
func policyFromFlags(c *cli.Context) (policies.Policy, error) {
	var p policies.Policy
	for _, s := range c.StringSlice("dir") {
		d, err := policies.ParseDir(s)
		if err != nil {
			return p, err
		}
		p.Dirs = append(p.Dirs, d)
	}
	for _, s := range c.StringSlice("net") {
		n, err := policies.ParseNetGrant(s)
		if err != nil {
			return p, err
		}
		p.Net = append(p.Net, n)
	}
	for _, s := range c.StringSlice("env") {
		e, err := policies.ParseEnv(s, os.LookupEnv)
		if err != nil {
			return p, err
		}
		p.Env = append(p.Env, e)
	}
	var err error
	if p.Memory, err = policies.ParseSize(c.String("memory")); err != nil {
		return p, fmt.Errorf("--memory: %w", err)
	}
	if p.MaxOutput, err = policies.ParseSize(c.String("max-output")); err != nil {
		return p, fmt.Errorf("--max-output: %w", err)
	}
	if p.MaxOutput == 0 {
		return p, errors.New("--max-output: must be at least 1 byte")
	}
	if p.Timeout, err = time.ParseDuration(c.String("timeout")); err != nil || p.Timeout <= 0 {
		return p, fmt.Errorf("--timeout %q: want a positive duration such as 500ms, 30s or 2m", c.String("timeout"))
	}
	if p.Isolation, err = policies.ParseIsolation(c.String("isolation")); err != nil {
		return p, err
	}
	return p, nil
}

// ProcessNote is what `run --isolation process` says before the call.
const ProcessNote = "agent-ctl: note: --isolation process: no kernel confinement; the WASM sandbox is the only wall"

// Plain renders an error for a person at a terminal: the "invalid policy"
// classification is for code (errors.Is), not for reading.
func Plain(err error) string {
	return strings.Replace(err.Error(), policies.ErrInvalid.Error()+": ", "", 1)
}

// Settings are what must be the same in a client and the daemon for the
// daemon to run the client's call: what changes its walls or its record.
// They are read from the flags, which take the environment's values where
// no flag is given, so they are the same before and after Before.
func Settings(c *cli.Context) map[string]string {
	return map[string]string{
		"worker_id":         c.String("worker-id"),
		"allow_no_landlock": strconv.FormatBool(c.Bool("allow-no-landlock")),
		"engine":            os.Getenv(EngineEnv),
		"no_audit":          strconv.FormatBool(c.Bool("no-audit")),
		"audit_sync":        c.String("audit-sync"),
	}
}

// RunRequest is `agent-ctl run`'s call for the daemon: paths made absolute
// here as the supervisor would make them (against this process's working
// directory, not cleaned), host variables already read.
func RunRequest(c *cli.Context, module string, args []string, pol policies.Policy) *daemon.Request {
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

// HandOff hands req to a running `agent-ctl serve` of this home, with stdin
// (the module's, see ModuleStdin), stdout and stderr. handled is false when
// the call is still to be run by the caller: no daemon, or one that refused
// it (reason says why); nothing was written and nothing read then.
// Otherwise code is the call's exit code; a daemon lost mid-call has been
// reported on stderr, with ExitInternal. --no-daemon is the caller's to
// check: the two executables say different things about it.
func HandOff(c *cli.Context, req *daemon.Request, stdin io.Reader, stdout, stderr *os.File, log *slog.Logger) (code int, handled bool, reason error) {
	home, err := HomeDir(c)
	if err != nil {
		return 0, false, err
	}
	req.Version, req.Settings = Version, Settings(c)
	path := daemon.SocketPath(home)
	code, err = daemon.Call(c.Context, path, req, stdin, stdout, stderr)
	switch {
	case errors.Is(err, daemon.ErrNoDaemon), errors.Is(err, daemon.ErrRefused):
		return 0, false, err
	case err != nil:
		fmt.Fprintf(stderr, "agent-ctl: %s\n", err)
		return ExitInternal, true, nil
	}
	log.Debug("call ran in the daemon", "socket", path, "exit_code", code)
	return code, true, nil
}

// SignalError is the cause of a context cancelled by a signal.
type SignalError struct{ Sig os.Signal }

func (e SignalError) Error() string { return fmt.Sprintf("received %s", e.Sig) }

// ExitCode is 128 plus the signal number, as shells report it.
func (e SignalError) ExitCode() int {
	if s, ok := e.Sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// Signal is the signal received: a daemon call is cancelled as it would be.
func (e SignalError) Signal() os.Signal { return e.Sig }

// StopGrace is how long a command has to end after the first SIGINT or
// SIGTERM before agent-ctl exits anyway (with 128 plus the signal, as a
// second signal does): a command stuck where the cancelled context does
// not reach (a lock another process holds, a read of a file that never
// ends) must not leave `timeout` or a service manager with only SIGKILL.
// It is longer than the 10 s the front and the daemon give a hand-off, so
// no wait they were designed for is cut short. A worker left running is
// killed all the same: by its parent-death signal.
const StopGrace = 15 * time.Second

// extraGrace is what ExtendStopGrace added to StopGrace.
var extraGrace atomic.Int64

// ExtendStopGrace gives the command d more than StopGrace to end after
// the first signal: a server's --shutdown-grace, for which calls in
// flight are let finish.
func ExtendStopGrace(d time.Duration) { extraGrace.Store(int64(max(d, 0))) }

// SignalContext returns a context cancelled, with a SignalError as its
// cause, on the first SIGINT or SIGTERM. A second signal of either kind
// exits at once, and so does the first once StopGrace (and what
// ExtendStopGrace added) has passed.
func SignalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	stopped := make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		var sig os.Signal
		select {
		case sig = <-ch:
		case <-stopped:
			return
		}
		cancel(SignalError{sig})
		grace := StopGrace + time.Duration(extraGrace.Load())
		stuck := time.NewTimer(grace)
		select {
		case sig = <-ch:
		case <-stuck.C:
			fmt.Fprintf(os.Stderr, "agent-ctl: still running %s after %s: exiting\n", grace, sig)
		case <-stopped:
			return
		}
		os.Exit(SignalError{sig}.ExitCode())
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { signal.Stop(ch); close(stopped); cancel(nil) }) }
}
