//go:build !agentctl_worker || windows

// The supervisor's half of the wire (go-plugin's client), left out of a
// unix worker built with the agentctl_worker tag, which links neither
// go-plugin nor, through it, gRPC and protobuf (see serve_unix.go).

package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
)

// handshake keeps a stray agent-ctl binary from being mistaken for a worker
// and refuses workers of another protocol version.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  protocolVersion,
	MagicCookieKey:   cookieKey,
	MagicCookieValue: cookieValue,
}

// workerPlugin adapts Worker to go-plugin's net/rpc plugin interface.
type workerPlugin struct{ impl Worker }

var _ plugin.Plugin = (*workerPlugin)(nil)

func (p *workerPlugin) Server(b *plugin.MuxBroker) (interface{}, error) {
	return &rpcServer{impl: p.impl, broker: b}, nil
}

func (p *workerPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &rpcClient{c: c, broker: b}, nil
}

type rpcClient struct {
	c      *rpc.Client
	broker *plugin.MuxBroker
}

// StartFunc starts a worker process for cmd, which names the executable,
// its arguments and the environment go-plugin needs. It must not start
// anything that outlives Kill.
type StartFunc func(cmd *exec.Cmd) (Process, error)

// DialOptions configures Dial.
type DialOptions struct {
	// Path is the worker executable; Args are its arguments after argv[0].
	Path string
	Args []string
	// Start starts the process; required.
	Start StartFunc
	// Stderr receives the worker's own stderr; nil discards it.
	Stderr io.Writer
	// StartTimeout bounds spawn plus handshake; zero means 10s.
	StartTimeout time.Duration
	// SocketDir is the existing directory in which go-plugin makes the
	// worker's socket directory (plugin-dir…); empty means os.TempDir().
	// Kill removes the socket directory; a supervisor killed before it
	// leaves it behind, so a supervisor gives a directory it sweeps.
	SocketDir string
	// Channel, if not nil, is the supervisor's end of the worker's call
	// channel (NewChannel): Run goes over it. The Conn owns it from Dial
	// on, and closes it on Kill (or at once if Dial fails).
	Channel *Channel
}

// Conn is a connected worker.
type Conn struct {
	client *plugin.Client
	rpc    *rpcClient
	runner *processRunner
	ch     *Channel
}

// Dial starts a worker and completes the go-plugin handshake. Cancelling
// ctx kills a worker that is still starting.
func Dial(ctx context.Context, o *DialOptions) (*Conn, error) {
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	stderr := o.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	pr := &processRunner{start: o.Start, exited: make(chan struct{})}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          plugin.PluginSet{pluginName: &workerPlugin{}},
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		StartTimeout:     timeout,
		Stderr:           stderr,
		Logger:           hclog.NewNullLogger(),
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: o.SocketDir},
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
			pr.socketDir = socketDir
			// With a RunnerFunc, go-plugin's cmd only carries the
			// environment it needs; the executable is ours to name.
			full := exec.Command(o.Path, o.Args...)
			full.Env = cmd.Env
			pr.cmd = full
			return pr, nil
		},
	})
	conn := &Conn{client: client, runner: pr, ch: o.Channel}
	done := make(chan error, 1)
	go func() {
		rc, err := client.Client()
		if err == nil {
			var raw interface{}
			raw, err = rc.Dispense(pluginName)
			if err == nil {
				conn.rpc = raw.(*rpcClient)
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			conn.Kill()
			return nil, fmt.Errorf("starting worker: %w", err)
		}
		return conn, nil
	case <-ctx.Done():
		_ = pr.Kill(context.Background())
		<-done
		conn.Kill()
		return nil, ctx.Err()
	}
}

// Pid is the worker's process ID as the host sees it.
func (c *Conn) Pid() int {
	p := c.runner.process()
	if p == nil {
		return 0
	}
	return p.Pid()
}

// Prepare asks the worker to load or compile the module, and to wait for
// its call on the call channel if it has one.
func (c *Conn) Prepare(req *Request) (*Prepared, error) {
	var reply PrepareReply
	r := *req
	if c.ch != nil {
		r.CallFD = FDCall
	}
	if err := c.rpc.c.Call("Plugin.Prepare", r, &reply); err != nil {
		return nil, callErr(err)
	}
	if reply.Err != nil {
		return &reply.Prepared, reply.Err
	}
	return &reply.Prepared, nil
}

// Run asks the worker to run the prepared module for one call, over the
// call channel if the worker has one, else over the RPC.
func (c *Conn) Run(args *RunArgs) (*Result, error) {
	if c.ch != nil {
		return c.ch.run(args)
	}
	return c.RunRPC(args)
}

// RunRPC is Run over go-plugin's RPC even when the worker has a call
// channel (which then goes unused): the path of Windows workers, kept on
// unix so that benchmarks can measure the channel against it.
func (c *Conn) RunRPC(args *RunArgs) (*Result, error) {
	var reply RunReply
	if err := c.rpc.c.Call("Plugin.Run", *args, &reply); err != nil {
		return nil, callErr(err)
	}
	if reply.Err != nil {
		return &reply.Result, reply.Err
	}
	return &reply.Result, nil
}

// callErr words an RPC failure; a dropped connection means the worker
// process is gone.
func callErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, rpc.ErrShutdown) {
		return fmt.Errorf("worker process ended unexpectedly: %w", err)
	}
	return fmt.Errorf("calling worker: %w", err)
}

// Kill ends the worker at once. There is no graceful goodbye over the RPC:
// a worker serves one call and holds nothing worth saving, and a goodbye to
// a dead worker makes yamux log noise. The socket directory is removed at
// once; the worker is reaped in the background (Exited reports when), so a
// caller is not held up by the teardown of a process it has killed.
func (c *Conn) Kill() {
	_ = c.runner.Kill(context.Background())
	if c.ch != nil {
		c.ch.Close()
	}
	if c.runner.socketDir != "" {
		_ = os.RemoveAll(c.runner.socketDir)
	}
}

// Exited is closed once the worker process has been reaped.
func (c *Conn) Exited() <-chan struct{} { return c.runner.exited }

// ServeNetwork offers n to the worker for the coming Run and returns the
// stream ID to put in RunArgs. The worker dials it as Run starts; the
// stream lives on the connection the call already has, so the worker needs
// no socket of its own. Serving ends when the worker goes away.
func (c *Conn) ServeNetwork(n Network) uint32 {
	b := c.rpc.broker
	id := b.NextId()
	go func() {
		conn, err := b.Accept(id)
		if err != nil {
			return // the worker never asked: it ended before running
		}
		srv := rpc.NewServer()
		_ = srv.RegisterName("Net", &netService{n: n})
		srv.ServeConn(conn)
	}()
	return id
}

// processRunner adapts a Process to go-plugin's runner.Runner.
type processRunner struct {
	start     StartFunc
	cmd       *exec.Cmd
	socketDir string
	exited    chan struct{} // closed once go-plugin has reaped the process

	mu     sync.Mutex
	p      Process
	killed bool
}

var _ runner.Runner = (*processRunner)(nil)

func (r *processRunner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.killed {
		return errors.New("worker killed before it started")
	}
	p, err := r.start(r.cmd)
	if err != nil {
		return err
	}
	r.p = p
	return nil
}

func (r *processRunner) process() Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p
}

func (r *processRunner) Kill(context.Context) error {
	r.mu.Lock()
	r.killed = true
	p := r.p
	r.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Kill()
}

func (r *processRunner) Diagnose(context.Context) string { return "" }
func (r *processRunner) Stdout() io.ReadCloser           { return r.p.Stdout() }
func (r *processRunner) Stderr() io.ReadCloser           { return r.p.Stderr() }
func (r *processRunner) Name() string                    { return r.cmd.Path }
func (r *processRunner) Wait(context.Context) error {
	defer close(r.exited)
	return r.p.Wait()
}
func (r *processRunner) ID() string { return fmt.Sprint(r.p.Pid()) }

func (r *processRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *processRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }
