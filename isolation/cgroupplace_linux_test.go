//go:build linux && cgo

package isolation

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
)

// Lines of /proc/self/mountinfo as these hosts and others show them.
const (
	miHybrid = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 33 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
38 33 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
39 33 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
40 33 0:35 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
`
	miV2 = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	// A container without a cgroup namespace: its own cgroup is bind
	// mounted at /sys/fs/cgroup.
	miV2Subtree = `1200 1100 0:28 /system.slice/docker-abc.scope /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
`
	miV1Subtree = `1300 1100 0:34 /docker/abc /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
1301 1100 0:35 /docker/abc /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
`
	// Two cgroup2 mounts at the same place: the later one is on top.
	miV2Twice = `33 25 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
90 33 0:28 /a\040b /sys/fs/cgroup rw - cgroup2 cgroup2 rw
`
)

func TestOwnCgroupV2(t *testing.T) {
	tests := []struct {
		name, cgroup, mountinfo string
		want, wantErr           string
	}{
		{"a service", "0::/system.slice/agent-ctl.service\n", miV2, "/system.slice/agent-ctl.service", ""},
		{"the root", "0::/\n", miV2, "/", ""},
		{"hybrid lines first", "4:memory:/x\n1:name=systemd:/user.slice\n0::/user.slice/session-1.scope\n", miV2, "/user.slice/session-1.scope", ""},
		{"a mounted subtree", "0::/system.slice/docker-abc.scope/app\n", miV2Subtree, "/app", ""},
		{"the mounted subtree itself", "0::/system.slice/docker-abc.scope\n", miV2Subtree, "/", ""},
		{"outside the mounted subtree", "0::/system.slice/other.scope\n", miV2Subtree, "", "outside the part of the hierarchy mounted"},
		{"a sibling named alike", "0::/system.slice/docker-abc.scopex\n", miV2Subtree, "", "outside the part"},
		{"the mount on top, escaped", "0::/a b/c\n", miV2Twice, "/c", ""},
		{"no cgroup2 at the place", "0::/x\n", miHybrid, "", "no cgroup2 mount at /sys/fs/cgroup"},
		{"no v2 line", "4:memory:/x\n", miV2, "", "none in"},
		{"empty", "", miV2, "", "none in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ownCgroupV2([]byte(tt.cgroup), []byte(tt.mountinfo), "/sys/fs/cgroup")
			checkCgroupDir(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestOwnCgroupV1(t *testing.T) {
	const hybrid = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/ca6a\n1:cpu,cpuacct:/user.slice\n0::/\n"
	tests := []struct {
		name, cgroup, mountinfo, controller string
		want, wantErr                       string
	}{
		{"memory", hybrid, miHybrid, "memory", "/sys/fs/cgroup/memory/process_api/ca6a", ""},
		{"pids at the root", hybrid, miHybrid, "pids", "/sys/fs/cgroup/pids", ""},
		{"cpu mounted with cpuacct", hybrid, miHybrid, "cpu", "/sys/fs/cgroup/cpu,cpuacct/user.slice", ""},
		{"cpuacct is not cpu", "1:cpuacct:/a\n", miHybrid, "cpu", "", "none in"},
		{"a mounted subtree", "4:memory:/docker/abc/w\n", miV1Subtree, "memory", "/sys/fs/cgroup/memory/w", ""},
		{"outside the mounted subtree", "4:memory:/docker/other\n", miV1Subtree, "memory", "", "outside the part"},
		{"not mounted", "6:devices:/\n", miHybrid, "devices", "", "no cgroup mount of it"},
		{"v2 only", "0::/x\n", miV2, "memory", "", "none in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ownCgroupV1([]byte(tt.cgroup), []byte(tt.mountinfo), tt.controller)
			checkCgroupDir(t, got, err, tt.want, tt.wantErr)
		})
	}
}

// checkCgroupDir checks what a cgroup parser found: want, or an error
// that says wantErr when that is set.
func checkCgroupDir(t *testing.T, got string, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got %q, %v; want an error with %q", got, err, wantErr)
		}
		return
	}
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

// selfCgroupFiles reads this process's /proc/self/cgroup and mountinfo,
// what the cgroup parsers read.
func selfCgroupFiles(t *testing.T) (cgroup, mountinfo []byte) {
	t.Helper()
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return cg, mi
}

// TestOwnCgroup_host: on this host, the parsers find the directories that
// libcontainer finds (the workers' parents on v1, the supervisor's cgroup
// on v2).
func TestOwnCgroup_host(t *testing.T) {
	cg, mi := selfCgroupFiles(t)
	if cgroups.IsCgroup2UnifiedMode() {
		got, err := ownCgroupV2(cg, mi, cgroupV2Mount)
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(cg)), "0::"), "\n")
		if got != want {
			t.Errorf("own cgroup %q, want %q (no cgroup namespace or subtree mount here)", got, want)
		}
		return
	}
	for _, c := range jailControllers {
		got, err := ownCgroupV1(cg, mi, c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cgroups.GetOwnCgroupPath(c)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %s, libcontainer finds %s", c, got, want)
		}
	}
}

// TestPlaceWorkers splits real cgroup v2 cgroups: the unified hierarchy
// with the workers' controllers where the host is cgroup v2, else the
// hybrid host's controller-less one (the moves, the leaf and the refusals
// are the same; only enabling controllers is left out).
func TestPlaceWorkers(t *testing.T) {
	mnt, ctrls := cgroupV2Mount, workerControllers
	if !cgroups.IsCgroup2UnifiedMode() {
		mnt, ctrls = "/sys/fs/cgroup/unified", nil
		if _, err := os.Stat(filepath.Join(mnt, "cgroup.procs")); err != nil {
			t.Skipf("no cgroup2 hierarchy on this host (%v): TestPlaceWorkers runs in make test-cgroup2", err)
		}
	} else if err := enableControllers(mnt, ctrls); err != nil {
		// The test's own cgroups hang from the root.
		t.Fatal(err)
	}
	// unit makes a cgroup below the root holding n sleeping processes and
	// returns its path (from the mount's root) and their PIDs.
	unit := func(t *testing.T, n int) (string, []int) {
		t.Helper()
		name := "/agent-ctl-test-" + randomID()
		dir := filepath.Join(mnt, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var pids []int
		t.Cleanup(func() {
			for _, p := range pids {
				_ = cgroups.WriteCgroupProc(mnt, p)
			}
			for _, d := range []string{supervisorLeaf, workersCgroup, ""} {
				if err := os.Remove(filepath.Join(dir, d)); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("removing a test cgroup: %v", err)
				}
			}
		})
		for range n {
			cmd := exec.Command("sleep", "600")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			pids = append(pids, cmd.Process.Pid)
			if err := cgroups.WriteCgroupProc(dir, cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
		}
		return name, pids
	}
	cgroupOf := func(t *testing.T, pid int) string {
		t.Helper()
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if p, ok := strings.CutPrefix(l, "0::"); ok {
				return p
			}
		}
		t.Fatalf("process %d: no cgroup v2 line in %q", pid, b)
		return ""
	}

	t.Run("alone: moved into a leaf, workers beside the leaf", func(t *testing.T) {
		own, pids := unit(t, 1)
		p, err := placeWorkers(mnt, own, pids[0], ctrls, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := (cgroupPlacement{parent: own + "/workers", moved: own + "/supervisor"}); p != want {
			t.Fatalf("placement %+v, want %+v", p, want)
		}
		if got := cgroupOf(t, pids[0]); got != own+"/supervisor" {
			t.Errorf("supervisor in %s, want %s/supervisor", got, own)
		}
		for _, d := range []string{own, own + "/workers"} {
			if got := readFields(filepath.Join(mnt, d, "cgroup.subtree_control")); !hasAll(got, ctrls) {
				t.Errorf("%s gives %v to its children, want %v", d, got, ctrls)
			}
		}
		// A second supervisor started from the leaf shares the split.
		again, err := placeWorkers(mnt, own+"/supervisor", pids[0], ctrls, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := (cgroupPlacement{parent: own + "/workers"}); again != want {
			t.Errorf("placement from the leaf %+v, want %+v", again, want)
		}
	})
	t.Run("shared: workers beside, nothing moved", func(t *testing.T) {
		own, pids := unit(t, 3)
		p, err := placeWorkers(mnt, own, pids[0], ctrls, true)
		if err != nil {
			t.Fatal(err)
		}
		if p.parent != "" || p.moved != "" || !strings.Contains(p.why, "holds 2 other processes") {
			t.Errorf("placement %+v, want none, and why with %q", p, "holds 2 other processes")
		}
		for _, pid := range pids {
			if got := cgroupOf(t, pid); got != own {
				t.Errorf("process %d moved to %s", pid, got)
			}
		}
		if isDir(filepath.Join(mnt, own, supervisorLeaf)) || isDir(filepath.Join(mnt, own, workersCgroup)) {
			t.Error("cgroups made in a cgroup that cannot be split")
		}
	})
	t.Run("doctor: decides, changes nothing", func(t *testing.T) {
		own, pids := unit(t, 1)
		p, err := placeWorkers(mnt, own, pids[0], ctrls, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.parent != own+"/workers" || p.why != "" {
			t.Errorf("placement %+v, want workers in %s/workers", p, own)
		}
		if got := cgroupOf(t, pids[0]); got != own {
			t.Errorf("supervisor moved to %s by a dry run", got)
		}
		if isDir(filepath.Join(mnt, own, supervisorLeaf)) {
			t.Error("a dry run made the leaf")
		}
	})
	t.Run("the root: nothing moves", func(t *testing.T) {
		p, err := placeWorkers(mnt, "/", os.Getpid(), ctrls, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := (cgroupPlacement{parent: "/agent-ctl-workers"}); p != want {
			t.Errorf("placement %+v, want %+v", p, want)
		}
	})
	if ctrls == nil {
		t.Run("missing controllers: beside", func(t *testing.T) {
			own, pids := unit(t, 1)
			p, err := placeWorkers(mnt, own, pids[0], []string{"memory"}, false)
			if err != nil {
				t.Fatal(err)
			}
			if p.parent != "" || !strings.Contains(p.why, "does not have the memory controller") {
				t.Errorf("placement %+v, want none, and why naming the memory controller", p)
			}
		})
	}
}

// TestCgroup_workerBelowSupervisor: a worker's cgroup is below the
// supervisor's own (on cgroup v2, below the cgroup it was in before it
// moved into its leaf), in every hierarchy that limits it.
func TestCgroup_workerBelowSupervisor(t *testing.T) {
	cg, mi := selfCgroupFiles(t)
	sp := testSpawner(t, nil)
	p, _ := startHelper(t, sp, &Spec{}, "sleep")
	dirs := cgroupDirs(t, p.Pid())
	if cgroups.IsCgroup2UnifiedMode() {
		// The spawner may have moved this process: its cgroup before is
		// the leaf's parent.
		own, err := ownCgroupV2(cg, mi, cgroupV2Mount)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(own) == supervisorLeaf {
			own = filepath.Dir(own)
		}
		want := filepath.Join(cgroupV2Mount, own)
		switch {
		case sp.cgroupParent == "":
			// Others share this process's cgroup (go test's, say): it
			// cannot be split, and workers go beside it, as doctor says.
			p, err := placeWorkers(cgroupV2Mount, own, os.Getpid(), workerControllers, false)
			if err != nil || p.why == "" {
				t.Fatalf("workers beside the supervisor's cgroup %s, and no reason given (%+v, %v)", own, p, err)
			}
			t.Logf("beside: %s", p.why)
			want = filepath.Dir(want)
		case own == "/":
			want = filepath.Join(cgroupV2Mount, rootWorkers)
		}
		for _, d := range dirs {
			if !under(d, want) || d == want {
				t.Errorf("worker's cgroup %s, want one below %s", d, want)
			}
		}
		t.Logf("worker in %v; supervisor was in %s, now in %s", dirs, own, ownCgroup())
		return
	}
	for _, d := range dirs {
		ctrl := strings.Split(strings.TrimPrefix(d, "/sys/fs/cgroup/"), "/")[0]
		want, err := ownCgroupV1(cg, mi, ctrl)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(d) != want {
			t.Errorf("worker's %s cgroup %s, want one right below the supervisor's %s", ctrl, d, want)
		}
	}
	t.Logf("worker in %v", dirs)
}

// TestCgroup_workerOOMScoreAdj: the kernel's OOM killer takes a worker
// first (oom_score_adj 1000), and the supervisor keeps its own.
func TestCgroup_workerOOMScoreAdj(t *testing.T) {
	sp := testSpawner(t, nil)
	before, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startHelper(t, sp, &Spec{}, "sleep")
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(workerOOMScoreAdj) {
		t.Errorf("worker's oom_score_adj %s, want %d", got, workerOOMScoreAdj)
	}
	after, _ := os.ReadFile("/proc/self/oom_score_adj")
	if string(after) != string(before) {
		t.Errorf("supervisor's oom_score_adj changed from %s to %s", before, after)
	}
}

// TestSwapCap_said: a memory controller that cannot cap swap is said at
// Info level and by doctor, never left unsaid; one that can is not logged.
func TestSwapCap_said(t *testing.T) {
	for _, swap := range []bool{false, true} {
		var buf bytes.Buffer
		logSwap(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), swap)
		c := swapCheck(swap)
		switch {
		case !swap && (!strings.Contains(buf.String(), "level=INFO") || !strings.Contains(buf.String(), "cannot cap swap") || !strings.Contains(buf.String(), "swap accounting")):
			t.Errorf("no swap cap: logged %q, want an Info line saying why", buf.String())
		case swap && buf.Len() != 0:
			t.Errorf("swap cap: logged %q, want nothing", buf.String())
		case c.OK != swap || !strings.Contains(c.Detail, map[bool]string{false: "covers RAM only", true: "memory and swap together"}[swap]):
			t.Errorf("swap cap %v: doctor says %+v", swap, c)
		}
	}
	// This host's answer, for the record: v1 memsw files or v2's
	// memory.swap.max.
	t.Logf("swap accounting here: %v", swapAccounting(""))
}
