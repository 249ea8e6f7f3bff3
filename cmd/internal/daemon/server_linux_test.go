package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// echo is the handler of these tests: it copies the call's stdin to its
// stdout, writes the tool's name to stderr, and exits with the number of
// arguments; a tool named "block" waits for its cancellation and exits
// with the signal's code.
type echo struct {
	calls  atomic.Int32
	causes chan error
}

func newEcho() *echo { return &echo{causes: make(chan error, 16)} }

func (e *echo) serve(ctx context.Context, req *Request, stdio Stdio, peer Peer) int {
	e.calls.Add(1)
	if req.Tool != nil && req.Tool.Name == "block" {
		<-ctx.Done()
		cause := context.Cause(ctx)
		e.causes <- cause
		var in Interrupted
		if errors.As(cause, &in) {
			return in.ExitCode()
		}
		return 125
	}
	if stdio.Stdin != nil {
		io.Copy(stdio.Stdout, stdio.Stdin)
	}
	if req.Run != nil {
		fmt.Fprint(stdio.Stderr, req.Run.Module)
		return len(req.Run.Args)
	}
	fmt.Fprint(stdio.Stderr, req.Tool.Name)
	return len(req.Tool.Args)
}

// cause waits for the next "block" call to be cancelled and returns its
// cause; the test fails when none is within 30s (a loaded CI machine).
func (e *echo) cause(t *testing.T) error {
	t.Helper()
	select {
	case got := <-e.causes:
		return got
	case <-time.After(30 * time.Second):
		t.Fatal("the handler was not cancelled")
		return nil
	}
}

var testSettings = map[string]string{"worker_id": "", "no_audit": "false"}

func listen(t *testing.T, h Handler, o *ServerOptions) *Server {
	t.Helper()
	if o == nil {
		o = &ServerOptions{}
	}
	o.Version, o.Settings = "test", testSettings
	path := SocketPath(t.TempDir())
	s, err := Listen(path, h, o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func request() *Request {
	return &Request{Version: "test", Protocol: ProtocolVersion, Settings: testSettings, Run: &RunRequest{Module: "/m.wasm", Args: []string{"a", "b"}}}
}

// outputs are a call's stdout and stderr as files, read back after.
type outputs struct{ out, err *os.File }

func newOutputs(t *testing.T) outputs {
	t.Helper()
	dir := t.TempDir()
	o, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := os.Create(filepath.Join(dir, "err"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(); e.Close() })
	return outputs{o, e}
}

func (o outputs) read(t *testing.T) (string, string) {
	t.Helper()
	a, _ := os.ReadFile(o.out.Name())
	b, _ := os.ReadFile(o.err.Name())
	return string(a), string(b)
}

func TestListen_modes(t *testing.T) {
	s := listen(t, newEcho().serve, nil)
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{{filepath.Dir(s.Addr()), os.ModeDir | 0o700}, {s.Addr(), os.ModeSocket | 0o600}} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode(), tc.want)
		}
	}
}

// TestListen_existing: a stale socket (its server gone) is replaced; one
// that answers is left to its server.
func TestListen_existing(t *testing.T) {
	s := listen(t, newEcho().serve, nil)
	if _, err := Listen(s.Addr(), newEcho().serve, nil); !errors.Is(err, os.ErrExist) {
		t.Errorf("second server on a live socket: %v, want ErrExist", err)
	}
	stale := filepath.Join(t.TempDir(), "run", "daemon.sock")
	os.MkdirAll(filepath.Dir(stale), 0o700)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Call(context.Background(), stale, request(), nil, os.Stdout, os.Stderr); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("call on a stale socket: %v, want ErrNoDaemon", err)
	}
	s2, err := Listen(stale, newEcho().serve, nil)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	s2.Close(context.Background())
}

func TestCall(t *testing.T) {
	e := newEcho()
	s := listen(t, e.serve, nil)
	big := strings.Repeat("stdin!", 100_000)
	stdinFile := filepath.Join(t.TempDir(), "in")
	os.WriteFile(stdinFile, []byte(big), 0o600)
	for _, tc := range []struct {
		name  string
		stdin func() io.Reader
		want  string
	}{
		{"no stdin", func() io.Reader { return nil }, ""},
		{"a reader, pumped", func() io.Reader { return strings.NewReader(big) }, big},
		{"a regular file, passed", func() io.Reader { f, _ := os.Open(stdinFile); return f }, big},
		{"/dev/null, passed", func() io.Reader { f, _ := os.Open(os.DevNull); return f }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutputs(t)
			code, err := Call(context.Background(), s.Addr(), request(), tc.stdin(), o.out, o.err)
			if err != nil || code != 2 {
				t.Fatalf("Call = %d, %v; want 2", code, err)
			}
			out, errs := o.read(t)
			if out != tc.want || errs != "/m.wasm" {
				t.Errorf("stdout %d bytes (want %d), stderr %q", len(out), len(tc.want), errs)
			}
		})
	}
}

// TestCall_refused: what a server refuses comes back as ErrRefused before
// the handler runs, so that the client spawns.
func TestCall_refused(t *testing.T) {
	e := newEcho()
	s := listen(t, e.serve, nil)
	for _, tc := range []struct {
		name   string
		change func(*Request)
		want   string
	}{
		{"version", func(r *Request) { r.Version = "other" }, "agent-ctl other, server is test"},
		{"setting", func(r *Request) { r.Settings = map[string]string{"worker_id": "7", "no_audit": "false"} }, "setting worker_id differs"},
		{"missing setting", func(r *Request) { r.Settings = map[string]string{"worker_id": ""} }, "settings differ"},
		{"both kinds", func(r *Request) { r.Tool = &ToolRequest{Name: "x"} }, "exactly one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutputs(t)
			req := request()
			tc.change(req)
			_, err := Call(context.Background(), s.Addr(), req, nil, o.out, o.err)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Call: %v, want ErrRefused saying %q", err, tc.want)
			}
		})
	}
	if n := e.calls.Load(); n != 0 {
		t.Errorf("handler ran %d times", n)
	}
}

// TestCall_cancel: the client's cancellation reaches the handler as the
// signal that caused it; a client that goes away cancels the call too.
func TestCall_cancel(t *testing.T) {
	e := newEcho()
	s := listen(t, e.serve, nil)
	block := blockRequest()
	for _, tc := range []struct {
		name  string
		cause error
		want  Interrupted
	}{
		{"SIGINT", sigCause{syscall.SIGINT}, Interrupted{syscall.SIGINT}},
		{"SIGTERM", sigCause{syscall.SIGTERM}, Interrupted{syscall.SIGTERM}},
		{"no signal", errors.New("plain"), Interrupted{syscall.SIGINT}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutputs(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(50*time.Millisecond, func() { cancel(tc.cause) })
			code, err := Call(ctx, s.Addr(), block, nil, o.out, o.err)
			if err != nil || code != tc.want.ExitCode() {
				t.Errorf("Call = %d, %v; want %d", code, err, tc.want.ExitCode())
			}
			if got := e.cause(t); got != tc.want {
				t.Errorf("handler's cause %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("client gone", func(t *testing.T) {
		c := rawConn(t, s)
		sendRequest(t, c, block, 2)
		expectReply(t, c, "")
		c.Close()
		if got := e.cause(t); !errors.Is(got, errClientGone) {
			t.Errorf("handler's cause %v, want errClientGone", got)
		}
	})
}

type sigCause struct{ s syscall.Signal }

func (e sigCause) Error() string     { return e.s.String() }
func (e sigCause) Signal() os.Signal { return e.s }

func rawConn(t *testing.T, s *Server) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.Addr(), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// sendRequest sends req with n descriptors (of /dev/null) on its header.
func sendRequest(t *testing.T, c *net.UnixConn, req *Request, n int) {
	t.Helper()
	b, err := encodeFrame(req)
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, c, b, n)
}

func sendRaw(t *testing.T, c *net.UnixConn, b []byte, nfds int) {
	t.Helper()
	var oob []byte
	if nfds > 0 {
		fds := make([]int, nfds)
		for i := range fds {
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
		t.Fatal(err)
	}
}

// expectReply reads the server's first answer: accepted (want "") or
// refused saying want; "EOF" means closed without a word.
func expectReply(t *testing.T, c *net.UnixConn, want string) {
	t.Helper()
	var rep Reply
	err := readFrame(c, smallFrame, &rep)
	switch {
	case want == "EOF":
		if err == nil {
			t.Errorf("got %+v, want the connection closed", rep)
		}
	case err != nil:
		t.Errorf("no reply: %v", err)
	case want == "" && !rep.Accepted:
		t.Errorf("refused (%s), want accepted", rep.Refused)
	case want != "" && !strings.Contains(rep.Refused, want):
		t.Errorf("reply %+v, want refused saying %q", rep, want)
	}
}

func frame(body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(b, body...)
}

// TestServer_hostile: malformed frames, huge lengths, wrong descriptors,
// silence: each is refused on its own connection; the handler never runs
// and the server goes on serving.
func TestServer_hostile(t *testing.T) {
	e := newEcho()
	// No collection: a descriptor left to a finalizer counts as leaked.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	s := listen(t, e.serve, &ServerOptions{RequestTimeout: 500 * time.Millisecond})
	fdsBefore := testutil.OpenFDs(t)
	good, _ := encodeFrame(request())
	for _, tc := range []struct {
		name string
		send []byte
		fds  int
		want string
	}{
		{"length 4 GiB", []byte{0xff, 0xff, 0xff, 0xff}, 2, "more than"},
		{"length one past the cap", binary.BigEndian.AppendUint32(nil, MaxFrame+1), 2, "more than"},
		{"not JSON", frame("{not json"), 2, "malformed frame"},
		{"JSON of another shape", frame(`{"version":["x"]}`), 2, "malformed frame"},
		{"no descriptors", good, 0, "0 descriptors, want 2"},
		{"one descriptor", good, 1, "1 descriptors, want 2"},
		{"too many descriptors", good, 4, "more than 3 descriptors"},
		{"many more descriptors", good, 200, "EOF"}, // the kernel refuses so many on one message: the send fails or truncates
		{"body cut short, then silence", good[:len(good)/2], 2, "i/o timeout"},
		{"header only, then silence", good[:4], 2, "i/o timeout"},
		{"nothing, silence", nil, 0, "i/o timeout"},
		{"empty body", frame(""), 2, "malformed frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, s)
			if tc.fds > 100 {
				fds := make([]int, tc.fds)
				for i := range fds {
					fds[i] = 0
				}
				if _, _, err := c.WriteMsgUnix(good, unix.UnixRights(fds...), nil); err != nil {
					return // refused at the sender: nothing reached the server
				}
				expectReply(t, c, "more than 3 descriptors")
				return
			}
			if tc.send != nil {
				sendRaw(t, c, tc.send, tc.fds)
			}
			expectReply(t, c, tc.want)
		})
	}
	if n := e.calls.Load(); n != 0 {
		t.Errorf("handler ran %d times on hostile input", n)
	}
	o := newOutputs(t)
	if code, err := Call(context.Background(), s.Addr(), request(), strings.NewReader("still here"), o.out, o.err); err != nil || code != 2 {
		t.Fatalf("a good call after them: %d, %v", code, err)
	}
	if out, _ := o.read(t); out != "still here" {
		t.Errorf("stdout %q", out)
	}
	// Every descriptor a hostile client sent, and every connection, is
	// closed again (the outputs of the good call are the test's own 2).
	testEventually(t, func() bool { return testutil.OpenFDs(t) <= fdsBefore+2 })
}

// TestServer_hugeCancelFrame: after acceptance, a cancel frame with a huge
// length is a client gone bad: the call is cancelled, nothing allocated.
func TestServer_hugeCancelFrame(t *testing.T) {
	e := newEcho()
	s := listen(t, e.serve, nil)
	c := rawConn(t, s)
	sendRequest(t, c, blockRequest(), 2)
	expectReply(t, c, "")
	c.Write([]byte{0xff, 0xff, 0xff, 0xff})
	if got := e.cause(t); !errors.Is(got, errClientGone) {
		t.Errorf("handler's cause %v, want errClientGone", got)
	}
}

// TestServer_maxConns: connections past the cap are closed at once; those
// under it are served.
func TestServer_maxConns(t *testing.T) {
	e := newEcho()
	s := listen(t, e.serve, &ServerOptions{MaxConns: 2})
	block := blockRequest()
	var held []*net.UnixConn
	for range 2 {
		c := rawConn(t, s)
		sendRequest(t, c, block, 2)
		expectReply(t, c, "")
		held = append(held, c)
	}
	o := newOutputs(t)
	if _, err := Call(context.Background(), s.Addr(), request(), nil, o.out, o.err); !errors.Is(err, ErrRefused) {
		t.Errorf("third call: %v, want ErrRefused", err)
	}
	for _, c := range held {
		c.Close()
		e.cause(t)
	}
	testEventually(t, func() bool {
		_, err := Call(context.Background(), s.Addr(), request(), nil, o.out, o.err)
		return err == nil
	})
}

func testEventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const helperEnv = "AGENTCTL_DAEMON_TEST_HELPER"

// TestHelperProcess is the other user's client of TestServer_otherUser.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("a helper, run by TestServer_otherUser")
	}
	o := outputs{os.Stdout, os.Stderr}
	_, err := Call(context.Background(), path, request(), nil, o.out, o.err)
	fmt.Printf("uid=%d result=%v\n", os.Geteuid(), err)
}

// TestServer_otherUser: a process of another user (65534) is kept out by
// the directory's mode; with the modes opened up (a misconfiguration),
// the peer check still closes its connection without a word, and the
// handler never runs.
func TestServer_otherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	e := newEcho()
	// Everything on the way must be reachable by the other user, and the
	// test binary executable by it.
	base, err := os.MkdirTemp("", "daemon-peer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	self, _ := os.Executable()
	exe := filepath.Join(base, "daemon.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Listen(filepath.Join(base, "home", "run", "daemon.sock"), e.serve, &ServerOptions{Version: "test", Settings: testSettings})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close(context.Background())
	os.Chmod(filepath.Join(base, "home"), 0o755)
	asNobody := func() string {
		cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Dir = "/"
		cmd.Env = []string{helperEnv + "=" + s.Addr()}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := asNobody(); !strings.Contains(out, "uid=65534") || !strings.Contains(out, "no daemon") || !strings.Contains(out, "permission denied") {
		t.Errorf("with the socket's own modes, the other user got:\n%s", out)
	}
	os.Chmod(filepath.Dir(s.Addr()), 0o755)
	os.Chmod(s.Addr(), 0o666)
	if out := asNobody(); !strings.Contains(out, "uid=65534") || !strings.Contains(out, "daemon refused the call: ") || strings.Contains(out, "accepted") {
		t.Errorf("past the modes, the other user got:\n%s", out)
	}
	if n := e.calls.Load(); n != 0 {
		t.Errorf("handler ran %d times for another user", n)
	}
	// Root, the same server: served.
	o := newOutputs(t)
	if code, err := Call(context.Background(), s.Addr(), request(), nil, o.out, o.err); err != nil || code != 2 {
		t.Errorf("root: %d, %v", code, err)
	}
}

func blockRequest() *Request {
	return &Request{Version: "test", Protocol: ProtocolVersion, Settings: testSettings, Tool: &ToolRequest{Name: "block"}}
}
