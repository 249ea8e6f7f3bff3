//go:build linux

package procfs_test

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/procfs"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestDescendants: a child and a grandchild of this process are listed,
// with their names and parents; this process and its parent are not.
func TestDescendants(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 300 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var got []procfs.Proc
	found := func(name string, ppid int) bool {
		return slices.ContainsFunc(got, func(p procfs.Proc) bool { return p.Name == name && (ppid == 0 || p.PPID == ppid) })
	}
	testutil.Eventually(t, time.Minute, func() bool {
		got = procfs.Descendants(os.Getpid())
		return found("sh", os.Getpid()) && found("sleep", cmd.Process.Pid)
	}, "no sh child and sleep grandchild below this test")
	for _, p := range got {
		if p.PID == os.Getpid() || p.PID == os.Getppid() || p.State == "" {
			t.Errorf("listed %+v", p)
		}
	}
	if d := procfs.Descendants(cmd.Process.Pid); len(d) != 1 || d[0].Name != "sleep" {
		t.Errorf("below sh: %+v, want sleep alone", d)
	}
}
