//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// installFixture installs a test fixture as a tool into home.
func installFixture(tb testing.TB, home, name, wasm, extra string) {
	tb.Helper()
	dir := fixtures.ToolDir(tb, name, wasm, extra)
	if out, err := exec.Command(bin, "--home", home, "install", "--yes", dir).CombinedOutput(); err != nil {
		tb.Fatalf("install %s: %v\n%s", name, err, out)
	}
}

const sleepTool = `"inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}}, "args": {"positional": ["ms"]}, "limits": {"timeout": "5m"}`

// descendants lists the live processes below pid (its workers).
func descendants(pid int) []int {
	var out []int
	for _, p := range procfs.Descendants(pid) {
		if p.State != "Z" {
			out = append(out, p.PID)
		}
	}
	return out
}

func waitDescendants(t *testing.T, pid, n int) []int {
	t.Helper()
	var d []int
	if !testutil.Poll(60*time.Second, func() bool { d = descendants(pid); return len(d) >= n }) {
		t.Fatalf("serve %d has %d descendants, want %d", pid, len(d), n)
	}
	return d
}

// TestServeStop: SIGTERM lets a short call finish, cancels a long one at
// --shutdown-grace with an isError "server shutting down", kills the
// workers and leaves no call directory; an idle connected client does
// not make a stop wait.
func TestServeStop(t *testing.T) {
	home := t.TempDir()
	installFixture(t, home, "sleep", "sleep.wasm", sleepTool)
	tok, err := exec.Command(bin, "--home", home, "token", "create", "stop").Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	connect := func(url string, opts *mcp.ClientOptions) *mcp.ClientSession {
		return mcptest.Connect(t, "e2e", url, mcptest.Bearer{Token: token}, opts)
	}
	stop := func(pid int) time.Duration {
		start := time.Now()
		syscall.Kill(pid, syscall.SIGTERM)
		// 3 minutes: a bound past the 15 s grace, not a timing.
		testutil.Eventually(t, 3*time.Minute, func() bool { return syscall.Kill(pid, 0) != nil || zombie(pid) },
			"serve did not exit after SIGTERM")
		return time.Since(start)
	}

	// An idle client only: the stop does not wait for the grace (10
	// minutes, so that a slow stop on a loaded machine is not taken for
	// one that waited).
	url, pid := startServePid(t, home, "--shutdown-grace", "10m")
	idle := connect(url, nil)
	if _, err := idle.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if took := stop(pid); took > 2*time.Minute {
		t.Errorf("stop with an idle client (grace 10m) took %s", took)
	}

	// Calls in flight. The stop comes once both modules run (their
	// progress counts a line of output), not once their workers exist: a
	// worker still starting on a loaded machine can use up the grace
	// before its call begins (TestStdioShutdown's did at load 37). The
	// grace is 15 s, 15 times the short call; the long one sleeps 10
	// minutes.
	url, pid = startServePid(t, home, "--shutdown-grace", "15s")
	connect(url, nil) // idle, its event stream open
	running := mcptest.NewRunning()
	cs := connect(url, &mcp.ClientOptions{ProgressNotificationHandler: running.Handler})
	long := mcptest.Start(cs, "long", "sleep", map[string]any{"ms": 600000})
	waitDescendants(t, pid, 1)
	short := mcptest.Start(cs, "short", "sleep", map[string]any{"ms": 1000})
	workers := waitDescendants(t, pid, 2)
	running.Wait(t, map[string]<-chan struct{}{"long": nil, "short": short.Done()})
	var cgroups []string
	for _, w := range workers {
		dirs, _ := procfs.CgroupDirs(w)
		for _, d := range dirs {
			if strings.Contains(d, "agent-ctl") {
				cgroups = append(cgroups, d)
			}
		}
	}
	if len(cgroups) == 0 {
		t.Fatal("the workers have no cgroups of their own to check")
	}
	took := stop(pid)
	t.Logf("stop with 2 calls in flight (grace 15s) took %s", took)
	if took > 2*time.Minute { // far under the long call's 10 minutes
		t.Errorf("stop took %s, grace 15s", took)
	}
	if res, err := short.Answer(); err != nil || res.IsError || mcptest.Text(res) != "sleeping\nawake\n" {
		t.Errorf("the call that ends within the grace: %v %+v", err, res)
	}
	if res, err := long.Answer(); err != nil || !res.IsError || !strings.Contains(mcptest.Text(res), "server shutting down") {
		t.Errorf("the call cancelled at the grace: %v %+v", err, res)
	}
	for _, w := range workers {
		if syscall.Kill(w, 0) == nil && !zombie(w) {
			t.Errorf("worker %d outlived serve", w)
		}
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left behind", d)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(home, "tmp", "call-*")); len(left) > 0 {
		t.Errorf("call directories left behind: %v", left)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || strings.Contains(string(b), ") Z ")
}

// TestMCPStop: `agent-ctl mcp` at stdin's end, and on SIGTERM, answers the
// call in flight "server shutting down" at --shutdown-grace, then exits
// with its workers gone.
func TestMCPStop(t *testing.T) {
	home := t.TempDir()
	installFixture(t, home, "sleep", "sleep.wasm", sleepTool)
	for _, how := range []string{"eof", "sigterm"} {
		t.Run(how, func(t *testing.T) {
			cmd := exec.Command(bin, "--home", home, "mcp", "--shutdown-grace", "2s")
			p := testutil.StartPiped(t, cmd, testutil.Pipes{Stdin: true, Stdout: true})
			in, out := p.Stdin, bufio.NewReader(p.Stdout)
			fmt.Fprintln(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`)
			if _, err := out.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			fmt.Fprintln(in, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":120000}}}`)
			workers := waitDescendants(t, cmd.Process.Pid, 1)
			start := time.Now()
			if how == "eof" {
				in.Close()
			} else {
				cmd.Process.Signal(syscall.SIGTERM)
			}
			rest, _ := io.ReadAll(out)
			err := cmd.Wait()
			t.Logf("exited %s after %s (%v)", how, time.Since(start), err)
			if err != nil {
				t.Errorf("exit: %v", err)
			}
			if !strings.Contains(string(rest), `"id":2`) || !strings.Contains(string(rest), "server shutting down") {
				t.Errorf("the call in flight was not answered \"server shutting down\":\n%s", rest)
			}
			for _, w := range workers {
				if syscall.Kill(w, 0) == nil && !zombie(w) {
					t.Errorf("worker %d outlived agent-ctl mcp", w)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(home, "tmp", "call-*")); len(left) > 0 {
				t.Errorf("call directories left behind: %v", left)
			}
		})
	}
}
