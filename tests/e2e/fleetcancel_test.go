//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// hasChild reports whether process pid has a child process now.
func hasChild(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != "" {
			return true
		}
	}
	return false
}

// TestFleet_interrupt: Ctrl-C on `fleet call` (SIGINT to the real
// binary) sends the node a cancel: the node stops the call (before the
// old code's end, the tool's 30 s time limit: "timed out"), and its audit
// log says it was cancelled by the controller.
func TestFleet_interrupt(t *testing.T) {
	ctlHome := t.TempDir()
	url := startController(t, ctlHome)
	home := t.TempDir()
	installFixture(t, home, "sleep", "sleep.wasm", `"inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}}, "args": {"positional": ["ms"]}`)
	// No pool: a worker child of the agent means a call is running.
	agent, _ := joinAgent(t, ctlHome, url, "n1", home, "--pool", "0")

	call := exec.Command(bin, "--home", ctlHome, "fleet", "call", "sleep", "--nodes", "n1", "--timeout", "10m", "--", "120000")
	var errb strings.Builder
	call.Stderr = &errb
	if err := call.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- call.Wait() }()
	pollFleet(t, 2*time.Minute, func() string {
		if !hasChild(agent.cmd.Process.Pid) {
			return "the agent runs no worker: the call did not start"
		}
		return ""
	})
	t0 := time.Now()
	if err := call.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("an interrupted fleet call exited 0; stderr:\n%s", errb.String())
		}
	case <-time.After(time.Minute):
		call.Process.Kill()
		t.Fatalf("fleet call did not end within a minute of SIGINT; stderr:\n%s", errb.String())
	}
	var rec *audit.Record
	pollFleet(t, time.Minute, func() string {
		rec = nil
		_ = audit.Read(supervisor.AuditDir(home), nil, func(r *audit.Record, _ []byte) error {
			if r.Tool == "sleep" {
				rec = r
			}
			return nil
		})
		if rec == nil {
			return "the node's audit log has no line for the interrupted call"
		}
		return ""
	})
	if rec.Outcome != "cancelled" || rec.Error != "cancelled by the controller" || rec.CallID == "" {
		t.Errorf("the node's audit line: %+v, want cancelled by the controller, with the call id", rec)
	}
	if d := time.Since(t0); d > 90*time.Second {
		t.Errorf("the node stopped the call %s after the interrupt", d)
	}
	if !strings.Contains(errb.String(), "cancelled") {
		t.Errorf("fleet call's stderr does not say the call was cancelled:\n%s", errb.String())
	}
}
