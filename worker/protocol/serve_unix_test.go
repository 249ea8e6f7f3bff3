//go:build unix && !agentctl_worker

// The test drives the worker's server with go-plugin's real client, which
// the agentctl_worker build leaves out; it runs in the default build.

package protocol

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// serveEnv makes the test binary a worker serving testWorker (TestMain).
const serveEnv = "_PROTOCOL_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		Serve(testWorker{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testWorker stands in for the wasm host, which is not what these tests
// are about: the wire between go-plugin's client and the worker's own
// server is. Its Run uses the supervisor's network service when the call
// has one, so that the broker's streams are crossed both ways.
type testWorker struct{}

func (testWorker) Prepare(req *Request) (*Prepared, error) {
	if req.ModulePath == "bad" {
		return &Prepared{CacheProblem: "seen"}, &Error{Kind: KindModuleInvalid, Msg: "bad module"}
	}
	return &Prepared{CacheHit: true, LoadTime: time.Duration(len(req.ModulePath))}, nil
}

func (testWorker) Run(args *RunArgs, network Network) (*Result, error) {
	r := &Result{ExitCode: int32(len(args.Args)), Message: strings.Join(args.Env, ",")}
	if network != nil {
		h, errno := network.Connect(args.Args[0], 7, time.Second)
		if errno != OK {
			return nil, errors.New("connect: " + errno.String())
		}
		data, _ := network.Recv(h, 100, time.Second)
		r.Trap = string(data)
	}
	return r, nil
}

// execProcess is a plain child process as a Process.
type execProcess struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
}

func (p *execProcess) Stdout() io.ReadCloser { return p.stdout }
func (p *execProcess) Stderr() io.ReadCloser { return p.stderr }
func (p *execProcess) Wait() error           { return p.cmd.Wait() }
func (p *execProcess) Kill() error           { return p.cmd.Process.Kill() }
func (p *execProcess) Pid() int              { return p.cmd.Process.Pid }

// dialTest starts the test binary as a worker through go-plugin's client,
// as the supervisor does, with its sockets in dir.
func dialTest(t *testing.T, dir string, ch *Channel, extra ...*os.File) *Conn {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := Dial(context.Background(), &DialOptions{
		Path:         exe,
		SocketDir:    dir,
		Channel:      ch,
		StartTimeout: time.Minute, // a loaded CI machine
		Start: func(cmd *exec.Cmd) (Process, error) {
			cmd.Env = append(cmd.Env, serveEnv+"=1")
			cmd.ExtraFiles = extra
			p := &execProcess{cmd: cmd}
			var err error
			if p.stdout, err = cmd.StdoutPipe(); err != nil {
				return nil, err
			}
			if p.stderr, err = cmd.StderrPipe(); err != nil {
				return nil, err
			}
			return p, cmd.Start()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Kill()
		<-conn.Exited()
	})
	return conn
}

// testNetwork answers Connect with a handle and Recv with what it was
// asked to connect to.
type testNetwork struct{ host string }

func (n *testNetwork) Connect(host string, port int, _ time.Duration) (int32, Errno) {
	n.host = host
	return int32(port), OK
}
func (n *testNetwork) Send(int32, []byte) (int, Errno) { return 0, OK }
func (n *testNetwork) Recv(h int32, _ int, _ time.Duration) ([]byte, Errno) {
	return []byte(n.host + ":" + string(rune('0'+h))), OK
}
func (n *testNetwork) Close(int32) Errno                           { return OK }
func (n *testNetwork) Probe(string, time.Duration) ([]byte, Errno) { return nil, OK }

// TestServe_goPluginClient: go-plugin's client, as the supervisor uses it,
// starts, prepares and runs a worker served by the worker's own server,
// over the RPC and over the call channel, with the network service dialled
// back through the broker, and typed errors intact.
func TestServe_goPluginClient(t *testing.T) {
	tests := []struct {
		name    string
		channel bool
		net     bool
	}{
		{name: "rpc"},
		{name: "rpc with network", net: true},
		{name: "channel", channel: true},
		{name: "channel with network", channel: true, net: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ch *Channel
			var extra []*os.File
			if tc.channel {
				var w *os.File
				var err error
				if ch, w, err = NewChannel(); err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				// The worker's end as FDCall: 3 to 5 are the module's stdio.
				null, err := os.Open(os.DevNull)
				if err != nil {
					t.Fatal(err)
				}
				defer null.Close()
				extra = []*os.File{null, null, null, w}
			}
			conn := dialTest(t, t.TempDir(), ch, extra...)
			p, err := conn.Prepare(&Request{ModulePath: "hello"})
			if err != nil || !p.CacheHit || p.LoadTime != 5 {
				t.Fatalf("Prepare = %+v, %v; want a cache hit and load time 5", p, err)
			}
			args := &RunArgs{Args: []string{"example.test", "x"}, Env: []string{"A=1", "B=2"}, Timeout: time.Second}
			var n *testNetwork
			if tc.net {
				n = &testNetwork{}
				args.NetID = conn.ServeNetwork(n)
			}
			run := conn.RunRPC
			if tc.channel {
				run = conn.Run
			}
			r, err := run(args)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if r.ExitCode != 2 || r.Message != "A=1,B=2" {
				t.Errorf("Run = %+v; want exit code 2 and the environment back", r)
			}
			if tc.net && (n.host != "example.test" || r.Trap != "example.test:7") {
				t.Errorf("network: connected to %q, worker read %q; want example.test and example.test:7", n.host, r.Trap)
			}
			if _, err := conn.RunRPC(args); err == nil || !strings.Contains(err.Error(), "served its call already") {
				t.Errorf("a second Run: %v; want the worker to refuse it", err)
			}
		})
	}
	t.Run("typed error", func(t *testing.T) {
		conn := dialTest(t, t.TempDir(), nil)
		p, err := conn.Prepare(&Request{ModulePath: "bad"})
		var perr *Error
		if !errors.As(err, &perr) || perr.Kind != KindModuleInvalid || p == nil || p.CacheProblem != "seen" {
			t.Fatalf("Prepare = %+v, %v; want KindModuleInvalid and the partial answer", p, err)
		}
	})
}

// TestServe_oneConnection: once the supervisor is connected, nothing else
// can connect to the worker: its socket is gone from the socket directory
// and its listener closed. (go-plugin's own server keeps accepting.)
func TestServe_oneConnection(t *testing.T) {
	dir := t.TempDir()
	conn := dialTest(t, dir, nil)
	// go-plugin's client made the worker a socket directory of its own.
	if dirs, _ := filepath.Glob(filepath.Join(dir, "plugin-dir*")); len(dirs) != 1 {
		t.Fatalf("socket directories %v; want one plugin-dir", dirs)
	}
	socks, err := filepath.Glob(filepath.Join(dir, "plugin-dir*", "plugin*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if c, err := net.Dial("unix", s); err == nil {
			c.Close()
			t.Errorf("a second connection to %s was accepted", s)
		}
	}
	// The supervisor's own connection still works.
	if _, err := conn.Prepare(&Request{ModulePath: "x"}); err != nil {
		t.Fatalf("Prepare after the probe: %v", err)
	}
}

// TestWorkerBuild_links: the worker executable as `make build` builds it
// (tag agentctl_worker) links none of the supervisor's half of the wire:
// not go-plugin, and so not gRPC and protobuf, whose package initialisation
// every worker would pay, nor net/rpc's HTTP and TLS.
func TestWorkerBuild_links(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the worker's packages with")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-tags", "seccomp,urfave_cli_no_docs,agentctl_worker",
		"github.com/agent-ctl/agent-ctl/cmd/agent-ctl-worker").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/bytecodealliance/wasmtime-go/v39") {
		t.Fatalf("the worker's packages do not include wasmtime-go: not the list of a worker\n%s", out)
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "google.golang.org/protobuf",
			"github.com/hashicorp/go-hclog", "net/rpc", "net/http", "crypto/tls"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("the worker links %s", d)
			}
		}
	}
}

// TestServe_noCookie: started by anything but agent-ctl, the worker says
// what it is on stderr, writes nothing on stdout and ends with status 1.
func TestServe_noCookie(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{serveEnv + "=1", cookieKey + "=wrong"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit: %v; want status 1", err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "agent-ctl's worker") {
		t.Errorf("stdout %q, stderr %q; want nothing, and a line saying what this is", stdout.String(), stderr.String())
	}
}

// TestListen_ownDirectory: in the worker's own socket directory the socket
// has a fixed name and nothing else is made there (no temporary file made
// and removed first, two disk operations at every start); anything already
// at that name fails the listen instead of being reused. Without a
// directory, the name is a fresh one in the temporary directory.
func TestListen_ownDirectory(t *testing.T) {
	dir := t.TempDir()
	l, err := listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, want := l.Addr().String(), filepath.Join(dir, socketName); got != want {
		t.Errorf("socket at %s, want %s", got, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the socket directory holds %v, want the socket alone", ents)
	}
	if l2, err := listen(dir); err == nil {
		l2.Close()
		t.Error("a second listen in the same directory succeeded, want it refused")
	}

	t.Setenv("TMPDIR", t.TempDir())
	a, err := listen("")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := listen("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Addr().String() == b.Addr().String() || filepath.Dir(a.Addr().String()) != os.Getenv("TMPDIR") {
		t.Errorf("sockets %s and %s in the temporary directory, want two fresh names in %s", a.Addr(), b.Addr(), os.Getenv("TMPDIR"))
	}
}
