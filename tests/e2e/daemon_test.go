//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// ranInDaemon is the client's debug line for a call the daemon ran.
const ranInDaemon = `msg="call ran in the daemon"`

// daemonLog is a running serve's stderr, kept for the tests to read.
type daemonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *daemonLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// startDaemon starts `agent-ctl serve` on home and waits until its daemon
// socket answers.
func startDaemon(tb testing.TB, home string, args ...string) (*daemonLog, int) {
	tb.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home, "--log-level", "debug", "serve", "--listen", "127.0.0.1:0", "--no-auth"}, args...)...)
	errp := testutil.StartPiped(tb, cmd, testutil.Pipes{Stderr: true}).Stderr
	log := &daemonLog{}
	r := bufio.NewReader(errp)
	for {
		line, err := r.ReadString('\n')
		log.mu.Lock()
		log.buf.WriteString(line)
		log.mu.Unlock()
		if strings.Contains(line, "daemon socket at") {
			go func() {
				for {
					line, err := r.ReadString('\n')
					log.mu.Lock()
					log.buf.WriteString(line)
					log.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			return log, cmd.Process.Pid
		}
		if err != nil {
			tb.Fatalf("serve opened no daemon socket: %v\n%s", err, log.String())
		}
	}
}

// paths are the two ways a one-shot call runs: spawning its own worker
// (no daemon on this home), and handed to a running serve.
var paths = []struct {
	name   string
	daemon bool
}{{"spawn", false}, {"daemon", true}}

// oneShot runs agent-ctl with args on home and checks which path the call
// took.
func oneShot(t *testing.T, home string, daemon bool, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home, "--log-level", "debug"}, args...)...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got := strings.Contains(errb.String(), ranInDaemon); got != daemon {
		t.Fatalf("ran in the daemon: %v, want %v; stderr:\n%s", got, daemon, errb.String())
	}
	return out.String(), errb.String(), code
}

// TestDaemon_exitCodes: the same command lines give the same output and
// exit codes whether the call spawns its worker or a serve runs it.
func TestDaemon_exitCodes(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB through stdin and back
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			home := installHello(t)
			if p.daemon {
				startDaemon(t, home)
			}
			for _, tc := range []struct {
				name           string
				args           []string
				stdin          string
				code           int
				stdout, stderr string // stdout exact unless empty; stderr a substring
			}{
				{"hello", []string{"run", fixtures.Path("hello.wasm")}, "", 0, "hello, world\n", ""},
				{"exit code", []string{"run", fixtures.Path("exit.wasm"), "--", "7"}, "", 7, "", ""},
				{"both streams", []string{"run", fixtures.Path("stdout_stderr.wasm")}, "", 7, "out 1\nout 2\n", "err 1\nerr 2\n"},
				{"stdin", []string{"run", fixtures.Path("cat.wasm")}, big, 0, big, ""},
				{"not found", []string{"run", "/nonexistent/x.wasm"}, "", 127, "", "module not found"},
				{"relative path", []string{"run", "../testdata/hello.wasm"}, "", 0, "hello, world\n", ""},
				{"invalid", []string{"run", fixtures.Path("notwasm.wasm")}, "", 126, "", "not a WebAssembly module"},
				{"trap", []string{"run", fixtures.Path("trap.wasm")}, "", 132, "", "trap"},
				{"timeout", []string{"run", "--timeout", "1s", fixtures.Path("loop.wasm")}, "", 124, "", "time limit of 1s"},
				{"output limit", []string{"run", "--max-output", "1KiB", fixtures.Path("flood.wasm")}, "", 141, strings.Repeat(strings.Repeat("A", 63)+"\n", 16), "output limit"},
				{"memory limit", []string{"run", "--memory", "1MiB", fixtures.Path("memgrow.wasm")}, "", 137, "", "memory"},
				{"protected dir", []string{"run", "--dir", "/proc:/p", fixtures.Path("hello.wasm")}, "", 125, "", "/proc"},
				{"tool", []string{"hello", "--name", "daemon"}, "", 0, "hello, daemon\n", ""},
				{"tool bad flag", []string{"hello", "--bogus"}, "", 125, "", "--bogus"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					// A usage error never reaches either path.
					wantDaemon := p.daemon && tc.code != 125 || p.daemon && tc.name == "protected dir"
					out, errs, code := oneShot(t, home, wantDaemon, strings.NewReader(tc.stdin), tc.args...)
					if code != tc.code {
						t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errs)
					}
					if tc.stdout != "" && out != tc.stdout {
						t.Errorf("stdout %.80q (%d bytes), want %.80q (%d bytes)", out, len(out), tc.stdout, len(tc.stdout))
					}
					if !strings.Contains(errs, tc.stderr) {
						t.Errorf("stderr does not say %q:\n%s", tc.stderr, errs)
					}
				})
			}
		})
	}
}

// TestDaemon_signals: SIGINT and SIGTERM to agent-ctl cancel the call and
// exit 130 and 143 on both paths; the module's output streams before.
func TestDaemon_signals(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			home := t.TempDir()
			if p.daemon {
				startDaemon(t, home)
			}
			for _, tc := range []struct {
				sig  syscall.Signal
				code int
			}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
				t.Run(tc.sig.String(), func(t *testing.T) {
					cmd := exec.Command(bin, "--home", home, "--log-level", "debug", "run", fixtures.Path("sleep.wasm"), "--", "60000")
					s := startCmd(t, cmd)
					s.expectLine(t, "sleeping\n") // streamed while the module runs
					s.cmd.Process.Signal(tc.sig)
					rest, _ := io.ReadAll(s.stderr)
					if code := s.exitCode(t); code != tc.code {
						t.Errorf("exit %d, want %d", code, tc.code)
					}
					if got := strings.Contains(string(rest), ranInDaemon); got != p.daemon {
						t.Errorf("ran in the daemon: %v, want %v:\n%s", got, p.daemon, rest)
					}
				})
			}
		})
	}
}

// TestDaemon_clientKilled: a client that dies (SIGKILL: nothing forwarded)
// cancels its call in the daemon; the daemon goes on serving.
func TestDaemon_clientKilled(t *testing.T) {
	home := t.TempDir()
	log, _ := startDaemon(t, home)
	s := startCmd(t, exec.Command(bin, "--home", home, "run", fixtures.Path("sleep.wasm"), "--", "60000"))
	s.expectLine(t, "sleeping\n")
	s.cmd.Process.Kill()
	s.cmd.Wait()
	testutil.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(log.String(), `msg="call finished" module=sleep.wasm outcome=cancelled`)
	}, "the daemon did not cancel the call of a killed client:\n%s", log.String())
	if out, _, code := oneShot(t, home, true, nil, "run", fixtures.Path("hello.wasm")); code != 0 || out != "hello, world\n" {
		t.Errorf("next call: exit %d, %q", code, out)
	}
}

// TestDaemon_spawns: with a daemon running, a call spawns its own worker
// and says why at debug level when told to (--no-daemon,
// AGENTCTL_NO_DAEMON=1), and when its walls would differ from the
// daemon's (here another worker ID), which the daemon refuses.
func TestDaemon_spawns(t *testing.T) {
	home := t.TempDir()
	startDaemon(t, home)
	for _, tc := range []struct {
		name string
		args []string
		env  string
		why  string
	}{
		{"flag", []string{"--no-daemon"}, "", "daemon not used"},
		{"env", nil, "AGENTCTL_NO_DAEMON=1", "daemon not used"},
		{"settings differ", []string{"--worker-id", "2415919200"}, "", "setting worker_id differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(append([]string{"--home", home, "--log-level", "debug"}, tc.args...), "run", fixtures.Path("hello.wasm"))...)
			cmd.Env = append(cmd.Environ(), tc.env)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			out, err := cmd.Output()
			if err != nil || string(out) != "hello, world\n" {
				t.Fatalf("%v %q\n%s", err, out, errb.String())
			}
			if strings.Contains(errb.String(), ranInDaemon) || !strings.Contains(errb.String(), tc.why) {
				t.Errorf("stderr, want %q:\n%s", tc.why, errb.String())
			}
		})
	}
}

// TestDaemon_toolHostEnv: a tool's variable granted from the host takes
// the client's value, not the daemon's; a fixed one is the grant's; no
// other variable of either reaches the module.
func TestDaemon_toolHostEnv(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			home := t.TempDir()
			installFixture(t, home, "envtool", "env.wasm", `"inputSchema": {"type": "object", "properties": {}}`)
			for _, g := range [][]string{{"--env", "FROMHOST"}, {"--env", "FIXED=grant"}} {
				if out, err := exec.Command(bin, append([]string{"--home", home, "grant", "envtool"}, g...)...).CombinedOutput(); err != nil {
					t.Fatalf("grant %v: %v\n%s", g, err, out)
				}
			}
			if p.daemon {
				t.Setenv("FROMHOST", "daemon's")
				t.Setenv("ELSE", "daemon's")
				startDaemon(t, home)
			}
			t.Setenv("FROMHOST", "client's")
			t.Setenv("ELSE", "client's")
			t.Setenv("FIXED", "client's")
			out, errs, code := oneShot(t, home, p.daemon, nil, "envtool")
			want := "FROMHOST=client's\nFIXED=grant\nenv: 2 variables\n"
			if code != 0 || !sameLines(out, want) {
				t.Errorf("exit %d, stdout:\n%s\nwant the lines of:\n%s\nstderr:\n%s", code, out, want, errs)
			}
		})
	}
}

func sameLines(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	seen := map[string]int{}
	for _, l := range la {
		seen[l]++
	}
	for _, l := range lb {
		seen[l]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}
