//go:build linux

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/isolation/jail"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// TestJailVariableOutsideAJail: with the jail's variable inherited by a
// process the supervisor did not start as a worker, agent-ctl runs as if
// the constructor were absent (it printed "configuration: truncated" and
// exited 125), and a worker refuses to serve unconfined.
func TestJailVariableOutsideAJail(t *testing.T) {
	out, err := exec.Command("env", jail.Env+"=3", bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "agent-ctl version ") {
		t.Errorf("%s=3 agent-ctl --version: %v, %q; want the version", jail.Env, err, out)
	}
	for _, exe := range []string{bin, filepath.Join(filepath.Dir(bin), "agent-ctl-worker")} {
		cmd := exec.Command(exe, protocol.WorkerArg)
		cmd.Env = []string{jail.Env + "=3"}
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "not confined") {
			t.Errorf("%s as a worker with %s=3: %v, %q; want exit 125 and a refusal", filepath.Base(exe), jail.Env, err, out)
		}
	}
}
