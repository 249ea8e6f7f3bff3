// Package daemon is the local socket through which a one-shot `agent-ctl
// run` or installed-tool command hands its call to a running `agent-ctl
// serve` of the same state directory, so that the call borrows serve's warm
// pool instead of starting a supervisor and a worker of its own.
//
// The socket is $AGENTCTL_HOME/run/daemon.sock, mode 0600 in a 0700
// directory; the server also checks each peer's credentials (SO_PEERCRED):
// only its own user, or root, is served. The client passes its stdout and
// stderr (and stdin, or a pipe it feeds from it) as descriptors
// (SCM_RIGHTS), so the module's output reaches them as it would from a
// local call, not through the socket. What crosses the socket is framed: a
// 4-byte big-endian length (at most MaxFrame) and that many bytes of JSON.
//
//	client                                   server (agent-ctl serve)
//	Request frame + descriptors   ────────►  check peer, version, settings
//	                              ◄────────  Reply{Accepted} or Reply{Refused}
//	Cancel frame (on a signal)    ────────►  cancels the call (as a signal would)
//	                              ◄────────  Reply{Exit}
//
// A client that is refused, or finds no socket, runs the call itself: it
// has written nothing and read nothing of stdin by then. Once accepted, the
// call is the server's; a client that goes away cancels it.
//
// The server runs no policy of the client's unchecked: the handler (in
// cmd/agent-ctl) builds the call from the request as the CLI would and
// lets the supervisor validate it; an installed tool's policy comes from
// the server's own catalog. This package carries calls; it decides nothing.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ProtocolVersion changes whenever a frame's meaning does; a client and a
// server of different versions do not talk (the client spawns).
const ProtocolVersion = 1

// MaxFrame bounds one frame's JSON: a request carries arguments and
// environment (a worker's limit is 1 MiB of them together); anything
// longer is refused before it is read.
const MaxFrame = 2 << 20

var (
	// ErrNoDaemon means there is no server to hand the call to (no
	// socket, nobody listening, or this platform has none): spawn.
	ErrNoDaemon = errors.New("no daemon")
	// ErrRefused means a server answered and refused the call before
	// touching it (another version, other settings, not this user): spawn.
	ErrRefused = errors.New("daemon refused the call")
	// ErrLost means the server went away after it accepted the call: the
	// call's outcome is unknown, and it must not be run again.
	ErrLost = errors.New("daemon connection lost")
	// ErrFrame is a malformed or oversized frame.
	ErrFrame = errors.New("malformed frame")
)

// SocketPath is the daemon socket of a state directory.
func SocketPath(home string) string { return filepath.Join(home, "run", "daemon.sock") }

// Request is one call, as the client's command line gave it.
type Request struct {
	// Version is the client's agent-ctl version; the server refuses any
	// other than its own (the two must parse and check alike).
	Version string `json:"version"`
	// Protocol is ProtocolVersion.
	Protocol int `json:"protocol"`
	// Settings are the client's process-wide settings that change the
	// walls or the record of a call (worker ID, Landlock opt-out, engine,
	// auditing). The server refuses a request whose settings differ from
	// its own: it must not run a call with other walls than the CLI would.
	Settings map[string]string `json:"settings"`
	// Stdin says whether the first descriptor is the module's stdin;
	// false means an empty stdin, and only stdout and stderr come.
	Stdin bool `json:"stdin"`

	// Run is set for `agent-ctl run FILE.wasm`.
	Run *RunRequest `json:"run,omitempty"`
	// Tool is set for an installed tool's command.
	Tool *ToolRequest `json:"tool,omitempty"`
}

// RunRequest is `agent-ctl run`: the module and the capabilities its flags
// asked for. Paths are absolute, made so by the client from its own
// working directory (the server's is not the client's), and not cleaned:
// the supervisor must see a symbolic link in them to refuse it.
type RunRequest struct {
	Module string        `json:"module"`
	Args   []string      `json:"args"`
	Dirs   []Dir         `json:"dirs,omitempty"`
	Env    []string      `json:"env,omitempty"` // KEY=VALUE, host values already read by the client
	Net    []string      `json:"net,omitempty"` // as given to --net, parsed again by the server
	Memory int64         `json:"memory"`
	Output int64         `json:"maxOutput"`
	Time   time.Duration `json:"timeout"`
	// Isolation is the walls asked for; the server never runs with less.
	Isolation string `json:"isolation"`
}

// Dir is a directory grant of `run --dir`.
type Dir struct {
	Host     string `json:"host"`
	Guest    string `json:"guest"`
	Writable bool   `json:"writable"`
}

// ToolRequest is an installed tool's command: its name and its arguments
// as the tool's flags gave them. The server computes the policy from its own
// catalog (the operator's grants), never from the client.
type ToolRequest struct {
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
	// HostEnv holds the client's values of the variables the tool's grants
	// pass from the host (`grant --env KEY`): they are the client's, not
	// the server's. A variable granted otherwise is never read from here.
	HostEnv map[string]string `json:"hostEnv,omitempty"`
}

// Reply is the server's answer: first Accepted or Refused, then, for an
// accepted call, Exit.
type Reply struct {
	Accepted bool   `json:"accepted,omitempty"`
	Refused  string `json:"refused,omitempty"`
	Exit     *int   `json:"exit,omitempty"`
}

// Interrupted is the cause of a call's context that the client cancelled:
// the signal it received.
type Interrupted struct{ Signal syscall.Signal }

func (e Interrupted) Error() string { return fmt.Sprintf("client received %s", e.Signal) }

// ExitCode is 128 plus the signal number, as shells report it.
func (e Interrupted) ExitCode() int { return 128 + int(e.Signal) }

// Peer is the process at the other end of a connection, from SO_PEERCRED.
type Peer struct{ PID, UID, GID int }

// Stdio are the client's descriptors, received with the request. The
// handler must not close them; the server does once the handler returns.
type Stdio struct {
	Stdin          *os.File // nil: an empty stdin
	Stdout, Stderr *os.File
}

// Handler runs one accepted call and returns its exit code. ctx is
// cancelled when the client asks (the cause is an Interrupted) or goes
// away.
type Handler func(ctx context.Context, req *Request, stdio Stdio, peer Peer) int

// ServerOptions configures a Server. The zero value of each field is a
// default.
type ServerOptions struct {
	// Version is the agent-ctl version requests must carry.
	Version string
	// Settings are the server's own (see Request.Settings); a request must
	// carry the same.
	Settings map[string]string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// MaxConns caps the connections served at once (each holds a call, or
	// is about to); past it a new connection is closed at once. Zero means
	// 64.
	MaxConns int
	// RequestTimeout bounds the wait for a connection's request frame.
	// Zero means 10 seconds.
	RequestTimeout time.Duration
}
