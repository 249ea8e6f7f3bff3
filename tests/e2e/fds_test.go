//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestInheritedDescriptors: a descriptor that agent-ctl inherits without
// close-on-exec (a shell or a parent can leak them) never reaches a worker.
// main marks such descriptors close-on-exec before it spawns anything; the
// test hands agent-ctl one at a high number and looks at the running
// worker's descriptors through /proc.
func TestInheritedDescriptors(t *testing.T) {
	for _, iso := range []string{"process", "container"} {
		t.Run(iso, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "inherited-marker")
			f, err := os.Create(marker)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd := exec.Command(bin, "--log-level", "debug", "run", "--isolation", iso, fixtures.Path("sleep.wasm"), "--", "60000")
			cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+t.TempDir())
			// Descriptor 9 in agent-ctl, without close-on-exec (3 to 8
			// closed): above what a worker is given on purpose.
			const fd = 9
			cmd.ExtraFiles = make([]*os.File, fd-2)
			cmd.ExtraFiles[fd-3] = f
			s := startCmd(t, cmd)
			pid := s.workerPid(t)
			s.expectLine(t, "sleeping\n")

			// The set-up is sound: agent-ctl holds the marker at fd.
			if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", cmd.Process.Pid, fd)); got != marker {
				t.Fatalf("agent-ctl's descriptor %d is %q, want the marker %s: the test passed nothing", fd, got, marker)
			}
			if leaked := openFiles(t, pid)[marker]; len(leaked) > 0 {
				t.Errorf("worker %d holds the descriptor agent-ctl inherited, as %v", pid, leaked)
			}
		})
	}
}

// openFiles maps what each of pid's descriptors refers to to their numbers.
func openFiles(t *testing.T, pid int) map[string][]int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("listing the worker's descriptors: %v", err)
	}
	files := map[string][]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			files[target] = append(files[target], n)
		}
	}
	if len(files) == 0 {
		t.Fatalf("worker %d has no descriptors to look at", pid)
	}
	return files
}
