//go:build linux && cgo

package isolation

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func TestCheckHostIDs(t *testing.T) {
	fix := func(subuid string) idFiles {
		return idFiles{passwd: "testdata/hostids/passwd", group: "testdata/hostids/group",
			subuid: "testdata/hostids/" + subuid, subgid: "testdata/hostids/subgid"}
	}
	tests := []struct {
		name     string
		files    idFiles
		uid, gid int
		want     string // "" for no error, else a substring of it
	}{
		// The old default: the first subordinate range useradd hands out.
		{"old default 100000", fix("subuid"), 100000, 100000, "alice (subordinate range 100000-165535)"},
		{"inside the second range", fix("subuid"), 200000, 300000, "bob (subordinate range 165536-231071)"},
		{"gid in a subgid range", fix("subuid"), 300000, 100001, "gid 100001 is alice (subordinate range 100000-165535)"},
		{"a host user's uid", fix("subuid"), 1000, 300000, "uid 1000 is alice's"},
		{"a host group's gid", fix("subuid"), 300000, 1000, "gid 1000 is alice's"},
		{"default, covered by a wide range", fix("subuid"), DefaultWorkerID, DefaultWorkerID, "wide (subordinate range"},
		{"free", fix("subuid"), 300000, 300000, ""},
		{"unreadable subuid line", fix("subuid.bad"), 300000, 300000, "line 1: want owner:start:count"},
		{"missing files", idFiles{passwd: "testdata/hostids/none", group: "testdata/hostids/none",
			subuid: "testdata/hostids/none", subgid: "testdata/hostids/none"}, DefaultWorkerID, DefaultWorkerID, ""},
		{"zero", fix("subuid"), 0, 300000, "want an ID from 1"},
		{"(uid_t)-1", fix("subuid"), 1<<32 - 1, 300000, "want an ID from 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHostIDs(tt.files, tt.uid, tt.gid)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkHostIDs(%d, %d): %v, want no error", tt.uid, tt.gid, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkHostIDs(%d, %d): %v, want an error saying %q", tt.uid, tt.gid, err, tt.want)
			}
		})
	}
}

// TestCheckHostIDs_thisHost: the default worker IDs are free on this host.
func TestCheckHostIDs_thisHost(t *testing.T) {
	if err := checkHostIDs(hostIDFiles, DefaultWorkerID, DefaultWorkerID); err != nil {
		t.Errorf("the default worker IDs on this host: %v", err)
	}
}

// TestNewContainer_refusesTakenHostIDs: the start refuses worker IDs a
// subordinate range covers, as the reproduction had them.
func TestNewContainer_refusesTakenHostIDs(t *testing.T) {
	saved := hostIDFiles
	t.Cleanup(func() { hostIDFiles = saved })
	hostIDFiles = idFiles{passwd: "testdata/hostids/passwd", group: "testdata/hostids/group",
		subuid: "testdata/hostids/subuid", subgid: "testdata/hostids/subgid"}
	for _, o := range []*ContainerOptions{{HostUID: 100000, HostGID: 100000}, {}} {
		_, err := NewContainer(&ContainerOptions{StateDir: t.TempDir(), HostUID: o.HostUID, HostGID: o.HostGID})
		if err == nil || !strings.Contains(err.Error(), "subordinate range") {
			t.Errorf("NewContainer with IDs %d/%d against the fixtures: %v, want a refusal naming the range", o.HostUID, o.HostGID, err)
		}
	}
	t.Setenv(WorkerIDEnv, "300000")
	if id, err := WorkerID(); err != nil || id != 300000 {
		t.Errorf("WorkerID() with %s=300000: %d, %v", WorkerIDEnv, id, err)
	}
	for _, bad := range []string{"0", "-1", "4294967295", "x"} {
		os.Setenv(WorkerIDEnv, bad)
		if _, err := WorkerID(); err == nil {
			t.Errorf("WorkerID() with %s=%s: no error", WorkerIDEnv, bad)
		}
	}
}

// noLandlockHelper is a supervisor on a kernel without Landlock: its own
// seccomp filter answers landlock_create_ruleset with ENOSYS, as such a
// kernel does. It tries NewContainer with args[0] as its state directory
// and, if that works, a start; it prints what happened.
func noLandlockHelper(args []string) int {
	f, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err == nil {
		var nr libseccomp.ScmpSyscall
		if nr, err = libseccomp.GetSyscallFromName("landlock_create_ruleset"); err == nil {
			if err = f.AddRule(nr, libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err == nil {
				err = f.Load()
			}
		}
	}
	if err != nil {
		fmt.Println("filter:", err)
		return 1
	}
	if landlockABI() != 0 {
		fmt.Println("the filter did not hide Landlock")
		return 1
	}
	sp, err := NewContainer(&ContainerOptions{StateDir: args[0]})
	if err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	exe, _ := os.Executable()
	p, err := sp.Start(&Spec{Path: exe, Env: []string{helperEnv + "=hello"}})
	if err != nil {
		fmt.Println("start:", err)
		return 1
	}
	line, _ := bufio.NewReader(p.Stdout()).ReadString('\n')
	_ = p.Kill()
	fmt.Println("started:", strings.TrimSpace(line))
	return 0
}

func TestNewContainer_landlockRequired(t *testing.T) {
	if landlockABI() == 0 {
		t.Fatal("this kernel has no Landlock: the test hides it from a helper and needs it to be there first")
	}
	for _, tt := range []struct {
		name, env, want string
	}{
		{"refused", "", "refused: isolation unavailable: this kernel has no Landlock"},
		{"allowed by the operator", AllowNoLandlockEnv + "=1", "started: hello"},
		{"not 1", AllowNoLandlockEnv + "=yes", "refused:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := os.MkdirTemp(testStateBase(t), "agent-ctl-state-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			if err := os.Chmod(dir, 0o711); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(self(t), dir)
			cmd.Env = append(os.Environ(), helperEnv+"=nolandlock", tt.env)
			out, err := cmd.Output()
			if err != nil || !strings.Contains(string(out), tt.want) {
				t.Errorf("supervisor without Landlock: %v, said %q, want %q", err, out, tt.want)
			}
		})
	}
}

// BenchmarkNewUserns is what a distinct host ID per worker would add to
// every start: a user namespace mapping 0 to that ID (the jail's workers
// share one, made once per spawner), before any ID-mapped mount of its
// own.
func BenchmarkNewUserns(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	id := DefaultWorkerID
	for b.Loop() {
		var f *os.File
		var err error
		onSpawnThread(func() { f, err = newUserns(0, 0, id, id) })
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		id++
	}
}

// TestContainer_hostUserCannotSignal is the reproduction: a process of the
// host user whose subordinate range useradd starts at 100000 (a rootless
// container of that user runs as it) sent SIGKILL to workers, which ran as
// 100000. It must get EPERM, and the worker must live on.
func TestContainer_hostUserCannotSignal(t *testing.T) {
	sp := testSpawner(t, nil)
	p, out := startHelper(t, sp, &Spec{}, "hello")
	if !out.Scan() {
		t.Fatal("the worker did not start")
	}
	cmd := exec.Command(self(t), strconv.Itoa(p.Pid()), "100000")
	cmd.Env = []string{helperEnv + "=killpid"}
	said, err := cmd.Output()
	if err != nil || string(said) != "operation not permitted\n" {
		t.Errorf("SIGKILL from host uid 100000: %v, %q; want EPERM", err, said)
	}
	if err := unix.Kill(p.Pid(), 0); err != nil {
		t.Errorf("the worker after SIGKILL from host uid 100000: %v", err)
	}
}

// killPidHelper becomes host user and group args[1] (it starts as root:
// the test binary may sit where others cannot execute it), sends SIGKILL
// to the PID in args[0] and says what happened.
func killPidHelper(args []string) int {
	id, err := strconv.Atoi(args[1])
	if err == nil {
		err = syscall.Setgroups(nil)
	}
	if err == nil {
		err = syscall.Setgid(id)
	}
	if err == nil {
		err = syscall.Setuid(id)
	}
	if err != nil {
		fmt.Println("becoming", args[1], err)
		return 1
	}
	pid, err := strconv.Atoi(args[0])
	if err == nil {
		err = unix.Kill(pid, unix.SIGKILL)
	}
	if err == nil {
		fmt.Println("delivered")
	} else {
		fmt.Println(err)
	}
	return 0
}
