package supervisor

// Tests of the module's stdio on Windows (named pipes, stdio_windows.go)
// and of whole calls through them, under both isolations. `make
// test-windows` runs them under Wine (all but container isolation, which
// Wine cannot give: see docs/isolation.md); the rest needs a Windows
// runner (`go test ./supervisor/`).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/testutil"

	"golang.org/x/sys/windows"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/workertest"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// pipeHelperEnv makes the test binary open the pipe it names and wait:
// a process other than the worker that got there first.
const pipeHelperEnv = "AGENT_CTL_PIPE_HELPER"

// TestMain lets the test binary serve as the worker executable, and as a
// pipe squatter.
func TestMain(m *testing.M) {
	if name := os.Getenv(pipeHelperEnv); name != "" {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("opened")
		time.Sleep(time.Hour)
		f.Close()
		os.Exit(0)
	}
	workertest.Main(m)
}

func pipePrefix(t *testing.T, p *stdioPipes) string {
	t.Helper()
	prefix, ok := strings.CutPrefix(p.workerEnv()[0], protocol.StdioPipesEnv+"=")
	if !ok || !protocol.ValidPipePrefix(prefix) {
		t.Fatalf("worker environment %q does not name the pipes", p.workerEnv())
	}
	return prefix
}

func newTestStdio(t *testing.T) (*stdioPipes, string) {
	t.Helper()
	p, err := newStdio()
	if err != nil {
		t.Fatal(err)
	}
	return p, pipePrefix(t, p)
}

// openOutput opens a pipe as the worker opens stdout and stderr.
func openOutput(t *testing.T, prefix string, fd int) *os.File {
	t.Helper()
	f, err := os.OpenFile(protocol.PipeName(prefix, fd), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// openStdin opens stdin as wasmtime does (Rust's File::open).
func openStdin(prefix string) (*os.File, error) {
	name, err := windows.UTF16PtrFromString(protocol.PipeName(prefix, protocol.FDStdin))
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(name, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), "stdin"), nil
}

// TestStdioPipes: bytes flow both ways through the pipes of a worker
// (this process, here), and each stream ends when its writer closes it.
func TestStdioPipes(t *testing.T) {
	p, prefix := newTestStdio(t)
	defer p.close()
	out := openOutput(t, prefix, protocol.FDStdout)
	errOut := openOutput(t, prefix, protocol.FDStderr)
	if err := p.connect(os.Getpid(), make(chan struct{})); err != nil {
		t.Fatal(err)
	}

	go func() {
		fmt.Fprint(out, "to stdout")
		out.Close()
		fmt.Fprint(errOut, "to stderr")
		errOut.Close()
	}()
	for name, r := range map[string]io.Reader{"stdout": p.stdout(), "stderr": p.stderr()} {
		b, err := io.ReadAll(r)
		if err != nil || string(b) != "to "+name {
			t.Errorf("%s: %q, %v; want %q and its end", name, b, err, "to "+name)
		}
	}

	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(p.stdin(), "to stdin")
		p.stdin().Close()
		wrote <- err
	}()
	time.Sleep(100 * time.Millisecond) // the first write waits for the worker
	in, err := openStdin(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	b, err := io.ReadAll(in)
	if err != nil || string(b) != "to stdin" {
		t.Errorf("stdin: %q, %v; want %q and its end", b, err, "to stdin")
	}
	if err := <-wrote; err != nil {
		t.Errorf("writing stdin: %v", err)
	}
}

// TestStdioPipes_notOpened: a worker that did not open stdout and stderr
// before its handshake is refused at once.
func TestStdioPipes_notOpened(t *testing.T) {
	p, _ := newTestStdio(t)
	defer p.close()
	err := p.connect(os.Getpid(), make(chan struct{}))
	if err == nil || !strings.Contains(err.Error(), "did not open") {
		t.Errorf("connect without the worker's pipes: %v, want it refused", err)
	}
}

// TestStdioPipes_otherClient: a pipe opened by another process than the
// worker is refused before a byte is read.
func TestStdioPipes_otherClient(t *testing.T) {
	p, prefix := newTestStdio(t)
	defer p.close()
	squatter := exec.Command(os.Args[0])
	squatter.Env = []string{pipeHelperEnv + "=" + protocol.PipeName(prefix, protocol.FDStdout),
		"SYSTEMROOT=" + os.Getenv("SYSTEMROOT")}
	stdout := testutil.StartPiped(t, squatter, testutil.Pipes{Stdout: true}).Stdout
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "opened\n" {
		t.Fatalf("squatter said %q", line)
	}
	openOutput(t, prefix, protocol.FDStderr)
	err := p.connect(os.Getpid(), make(chan struct{}))
	if want := fmt.Sprintf("opened by process %d", squatter.Process.Pid); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("connect with a squatter on stdout: %v, want %q", err, want)
	}
}

// TestStdioPipes_oneClient: once the worker has a pipe, nobody else can
// open it; and a pipe of the same name cannot be created again.
func TestStdioPipes_oneClient(t *testing.T) {
	p, prefix := newTestStdio(t)
	defer p.close()
	openOutput(t, prefix, protocol.FDStdout)
	if f, err := os.OpenFile(protocol.PipeName(prefix, protocol.FDStdout), os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Error("a second client opened stdout")
	}
	sa, err := pipeSecurity()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := createPipe(protocol.PipeName(prefix, protocol.FDStderr), true, sa); err == nil {
		s.close()
		t.Error("created a second instance of stderr")
	}
}

// TestStdioPipes_closeFirst: stdin closed before the worker opened it (a
// call without stdin) is still there to open, and empty.
func TestStdioPipes_closeFirst(t *testing.T) {
	p, prefix := newTestStdio(t)
	defer p.close()
	openOutput(t, prefix, protocol.FDStdout)
	openOutput(t, prefix, protocol.FDStderr)
	if err := p.connect(os.Getpid(), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	p.stdin().Close()
	time.Sleep(100 * time.Millisecond)
	in, err := openStdin(prefix)
	if err != nil {
		t.Fatalf("opening stdin after the supervisor closed it: %v", err)
	}
	defer in.Close()
	if b, err := io.ReadAll(in); err != nil || len(b) != 0 {
		t.Errorf("stdin: %q, %v; want it empty", b, err)
	}
}

// TestStdioPipes_security: the pipes' DACL allows this user and nobody
// else.
func TestStdioPipes_security(t *testing.T) {
	p, _ := newTestStdio(t)
	defer p.close()
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*pipeServer{p.in.p, p.out, p.errOut} {
		sd, err := windows.GetSecurityInfo(s.h, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			t.Fatal(err)
		}
		sddl := sd.String()
		if !strings.HasPrefix(sddl, "D:P") || strings.Count(sddl, "(A;") != 1 || !strings.Contains(sddl, ";"+user.User.Sid.String()+")") {
			t.Errorf("%s: DACL %s, want one entry, for %s", s.name, sddl, user.User.Sid)
		}
	}
}

// TestInvoke_windows runs whole calls through real workers (this test
// binary): stdin, stdout and stderr through the named pipes, the exit
// code, the output cap, and no worker left after.
func TestInvoke_windows(t *testing.T) {
	for _, iso := range []policies.Isolation{policies.IsolationProcess, policies.IsolationContainer} {
		t.Run(string(iso), func(t *testing.T) {
			if iso == policies.IsolationContainer {
				testutil.SkipUnderWine(t, "the job object limits that container isolation checks it holds (see isolation's TestContainer_wine)")
			}
			s, err := New(&Options{Home: testutil.TempDir(t)})
			if err != nil {
				t.Fatal(err)
			}
			invoke := func(module string, stdin io.Reader, pol policies.Policy, args ...string) (*Result, string, string) {
				t.Helper()
				var out, errb testutil.SyncBuffer
				pol.Isolation = iso
				res, err := s.Invoke(context.Background(), &Call{Module: fixtures.Path(module), Args: args, Policy: pol,
					Stdin: stdin, Stdout: &out, Stderr: &errb})
				if err != nil {
					t.Fatalf("%s: %v", module, err)
				}
				return res, out.String(), errb.String()
			}

			res, out, errs := invoke("cat.wasm", strings.NewReader("through the pipes\n"), policies.Policy{})
			if res.Outcome != Exited || res.ExitCode != 0 || out != "through the pipes\n" {
				t.Errorf("cat: %v exit %d, stdout %q, stderr %q", res.Outcome, res.ExitCode, out, errs)
			}
			wantWalls := map[policies.Isolation]string{policies.IsolationProcess: "process", policies.IsolationContainer: "job object"}[iso]
			if res.Isolation != wantWalls {
				t.Errorf("ran behind %q, want %q", res.Isolation, wantWalls)
			}

			res, out, errs = invoke("cat.wasm", nil, policies.Policy{})
			if res.Outcome != Exited || res.ExitCode != 0 || out != "" {
				t.Errorf("cat without stdin: %v exit %d, stdout %q, stderr %q", res.Outcome, res.ExitCode, out, errs)
			}

			res, out, errs = invoke("stdout_stderr.wasm", nil, policies.Policy{})
			if res.ExitCode != 7 || out != "out 1\nout 2\n" || errs != "err 1\nerr 2\n" {
				t.Errorf("stdout_stderr: exit %d, stdout %q, stderr %q", res.ExitCode, out, errs)
			}

			res, out, _ = invoke("flood.wasm", nil, policies.Policy{MaxOutput: 4096})
			if res.Outcome != OutputLimit || len(out) != 4096 {
				t.Errorf("flood: %v with %d bytes, want the output limit at exactly 4096", res.Outcome, len(out))
			}

			// The worker is killed as Close tears it down; its end is
			// waited for on the process itself, not polled against a
			// deadline (under Wine at load 38, 5 s of polling was once too
			// few). The handle is opened first: a process that has
			// already ended cannot be opened, which passes too.
			pid := res.WorkerPid
			h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(pid))
			s.Close()
			if err == nil {
				defer windows.CloseHandle(h)
				// 10 minutes only guards against a hang: it is not a timing.
				if ev, err := windows.WaitForSingleObject(h, uint32((10 * time.Minute).Milliseconds())); ev != windows.WAIT_OBJECT_0 {
					t.Fatalf("worker %d still runs 10 minutes after the supervisor closed (wait: %#x, %v)", pid, ev, err)
				}
			}
		})
	}
}
