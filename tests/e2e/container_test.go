//go:build linux

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
)

// TestContainerWalls inspects a live worker of the default isolation from
// the host while its module runs: the kernel's second wall is there.
func TestContainerWalls(t *testing.T) {
	grant := t.TempDir()
	os.WriteFile(filepath.Join(grant, "notes.txt"), []byte("x"), 0o644)
	s := start(t, "run", "--dir", grant+":/data:ro", fixtures.Path("sleep.wasm"), "--", "60000")
	pid := s.workerPid(t)
	s.expectLine(t, "sleeping\n")

	st := procfs.Status(t, pid)
	for k, want := range map[string]string{
		"Seccomp": "2", "NoNewPrivs": "1",
		"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000",
	} {
		if st[k] != want {
			t.Errorf("%s = %q, want %q", k, st[k], want)
		}
	}
	if uid := strings.Fields(st["Uid"]); len(uid) == 0 || uid[0] == "0" {
		t.Errorf("worker runs as host uid %v, want an unprivileged one", uid)
	}
	for _, ns := range []string{"user", "pid", "net", "mnt", "ipc", "uts"} {
		mine, _ := os.Readlink("/proc/self/ns/" + ns)
		its, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil || its == mine {
			t.Errorf("%s namespace %q is the host's %q (%v)", ns, its, mine, err)
		}
	}
	// The worker's cgroups carry memory and pids limits: the module's
	// default 128MiB plus the worker's 256MiB, and 64 tasks.
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	limits := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[1] == "memory":
			limits["memory"] = readTrim("/sys/fs/cgroup/memory" + f[2] + "/memory.limit_in_bytes")
		case f[1] == "pids":
			limits["pids"] = readTrim("/sys/fs/cgroup/pids" + f[2] + "/pids.max")
		case f[1] == "" && f[0] == "0" && f[2] != "/":
			if v := readTrim("/sys/fs/cgroup" + f[2] + "/memory.max"); v != "" {
				limits["memory"] = v
				limits["pids"] = readTrim("/sys/fs/cgroup" + f[2] + "/pids.max")
			}
		}
	}
	if limits["memory"] != fmt.Sprint(384<<20) || limits["pids"] != "64" {
		t.Errorf("worker cgroup limits %v, want memory %d and pids 64:\n%s", limits, 384<<20, cg)
	}
	// Its mount table: the grant is read-only at the same path, and host
	// directories are absent.
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	var grantLine string
	for _, l := range strings.Split(string(mi), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == grant {
			grantLine = l
		}
		if len(f) > 4 && (f[4] == "/etc" || f[4] == "/home" || f[4] == "/root" || f[4] == "/sys") {
			t.Errorf("host path mounted in the worker: %s", l)
		}
	}
	if grantLine == "" || !strings.Contains(strings.Fields(grantLine)[5], "ro") {
		t.Errorf("grant %s is not a read-only mount in the worker:\n%s", grant, mi)
	}
	root := fmt.Sprintf("/proc/%d/root/", pid)
	for _, p := range []string{"etc/passwd", "root", "home", "sys/kernel"} {
		if _, err := os.Stat(root + p); err == nil {
			t.Errorf("the worker can see /%s", p)
		}
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	if code := s.exitCode(t); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130", code)
	}
	waitGone(t, pid)
}

// TestContainerSupervisorKilled: a confined worker dies with its
// supervisor too.
func TestContainerSupervisorKilled(t *testing.T) {
	s := start(t, "run", fixtures.Path("sleep.wasm"), "--", "60000")
	pid := s.workerPid(t)
	s.expectLine(t, "sleeping\n")
	s.cmd.Process.Kill()
	waitGone(t, pid)
}

// TestDoctor: the host check passes here, and says what it checked.
func TestDoctor(t *testing.T) {
	s := start(t, "doctor")
	out := bufio.NewScanner(s.stdout)
	var lines []string
	for out.Scan() {
		lines = append(lines, out.Text())
	}
	if code := s.exitCode(t); code != 0 {
		t.Fatalf("doctor exit %d:\n%s", code, strings.Join(lines, "\n"))
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"user namespaces", "cgroup memory controller", "seccomp", "container isolation", "webassembly engine",
		"worker cgroups", "cgroup swap cap", "worker oom_score_adj", "1000: the kernel's OOM killer takes workers"} {
		if !strings.Contains(all, want) {
			t.Errorf("doctor does not report %q:\n%s", want, all)
		}
	}
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// stateLeft reports container directories left for a container ID, in
// either default state directory (see isolation.ContainerOptions.StateDir): libcontainer's
// state for the ID, or a call directory whose recorded cgroups are the ID's
// (the jail's, and libcontainer's before its state is saved).
func stateLeft(id string) []string {
	var left []string
	for _, dir := range []string{"/run/agent-ctl/containers", "/dev/shm/agent-ctl-containers"} {
		l, _ := filepath.Glob(filepath.Join(dir, "call-*", "state", id))
		left = append(left, l...)
		calls, _ := filepath.Glob(filepath.Join(dir, "call-*", "cgroups.json"))
		for _, c := range calls {
			if b, _ := os.ReadFile(c); strings.Contains(string(b), id) {
				left = append(left, filepath.Dir(c))
			}
		}
	}
	return left
}

// TestContainerCleanup: however a confined call ends, its worker, cgroups
// and state are gone afterwards, and the next call works.
func TestContainerCleanup(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		end  func(t *testing.T, s *started, pid int)
	}{
		// The time limit covers the start too (run's --timeout): long
		// enough for a start on a loaded machine, so that the worker is
		// seen running before the limit ends it.
		{"timeout", []string{"--timeout", "8s", fixtures.Path("sleep.wasm"), "--", "60000"}, nil},
		{"memory kill", []string{"--memory", "8MiB", fixtures.Path("malloc.wasm")}, nil},
		{"worker SIGKILL", []string{fixtures.Path("sleep.wasm"), "--", "60000"}, func(t *testing.T, s *started, pid int) {
			syscall.Kill(pid, syscall.SIGKILL)
		}},
		{"SIGTERM", []string{fixtures.Path("sleep.wasm"), "--", "60000"}, func(t *testing.T, s *started, pid int) {
			s.cmd.Process.Signal(syscall.SIGTERM)
		}},
		{"supervisor SIGKILL", []string{fixtures.Path("sleep.wasm"), "--", "60000"}, func(t *testing.T, s *started, pid int) {
			s.cmd.Process.Kill()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, append([]string{"run"}, tc.args...)...)
			pid := s.workerPid(t)
			if s.containerID == "" {
				t.Fatal("no container ID in the log")
			}
			cgs, err := procfs.CgroupDirs(pid)
			if err != nil {
				t.Fatal(err)
			}
			if len(stateLeft(s.containerID)) == 0 { // else the check below could not fail
				t.Fatalf("the running container %s has no directory that stateLeft finds", s.containerID)
			}
			if tc.end != nil {
				if tc.args[0] != "--memory" {
					s.expectLine(t, "sleeping\n")
				}
				tc.end(t, s, pid)
			}
			s.exitCode(t)
			waitGone(t, pid)
			// The next call: it works, and its start sweeps what a killed
			// supervisor could not remove itself.
			next := exec.Command(bin, "run", fixtures.Path("hello.wasm"))
			next.Env = append(os.Environ(), "AGENTCTL_HOME="+t.TempDir())
			if out, err := next.CombinedOutput(); err != nil || string(out) != "hello, world\n" {
				t.Fatalf("next call: %v %q", err, out)
			}
			for _, d := range cgs {
				if _, err := os.Stat(d); err == nil {
					t.Errorf("cgroup %s left behind", d)
				}
			}
			if left := stateLeft(s.containerID); len(left) != 0 {
				t.Errorf("container state left behind: %v", left)
			}
		})
	}
}

// TestNoSilentFallback builds agent-ctl without seccomp support: the default
// isolation must then refuse to run, naming what is missing and the opt-out,
// never quietly run with fewer walls.
func TestNoSilentFallback(t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", dir+"/",
		"github.com/agent-ctl/agent-ctl/cmd/agent-ctl", "github.com/agent-ctl/agent-ctl/cmd/agent-ctl-worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building without seccomp: %v\n%s", err, out)
	}
	weak := filepath.Join(dir, "agent-ctl")
	cmd := exec.Command(weak, "run", fixtures.Path("hello.wasm"))
	cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 || strings.Contains(string(out), "hello, world") ||
		!strings.Contains(string(out), "-tags seccomp") || !strings.Contains(string(out), "--isolation process") {
		t.Errorf("default isolation without seccomp: %v\n%s", err, out)
	}
	doctor := exec.Command(weak, "doctor")
	out, err = doctor.CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "seccomp") {
		t.Errorf("doctor without seccomp: %v\n%s", err, out)
	}
	// Asked for explicitly, process isolation still runs, and says so.
	cmd = exec.Command(weak, "run", "--isolation", "process", fixtures.Path("hello.wasm"))
	cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+t.TempDir())
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello, world") || !strings.Contains(string(out), "the WASM sandbox is the only wall") {
		t.Errorf("explicit process isolation: %v\n%s", err, out)
	}
}
