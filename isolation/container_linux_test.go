//go:build linux && cgo

package isolation

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agent-ctl/agent-ctl/tests/procfs"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// The tests re-execute the test binary as a small hostile worker (the
// go-plugin TestHelperProcess pattern): helperEnv names what it does.
const helperEnv = "AGENT_CTL_ISOLATION_HELPER"

func TestMain(m *testing.M) {
	Init() // the container's init is this binary too
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// ---- the helper, inside the walls ----

func runHelper(mode string, args []string) int {
	switch {
	case mode == "hello":
		fmt.Println("hello")
		time.Sleep(time.Hour)
	case mode == "sleep":
		time.Sleep(time.Hour)
	case mode == "probe":
		return probe(args)
	case mode == "escape":
		return escapeHelper(args)
	case mode == "nolandlock":
		return noLandlockHelper(args)
	case mode == "killpid":
		return killPidHelper(args)
	case mode == "owners":
		// The owner of each path as the worker sees it, then a file made
		// in the first.
		for _, a := range args {
			var st unix.Stat_t
			if err := unix.Lstat(a, &st); err != nil {
				fmt.Println(a, err)
				continue
			}
			fmt.Println(a, st.Uid, st.Gid)
		}
		fmt.Println("made", os.WriteFile(filepath.Join(args[0], "made"), []byte("x"), 0o644))
		time.Sleep(time.Hour)
	case mode == "supervise":
		// A supervisor that is about to die: args are its state directory.
		sp, err := NewContainer(&ContainerOptions{StateDir: args[0]})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		exe, _ := os.Executable()
		return superviseHello(sp, exe)
	case strings.HasPrefix(mode, "kill:"):
		err := forbidden(strings.TrimPrefix(mode, "kill:"))
		fmt.Printf("survived: %v\n", err)
	case mode == "threads":
		// Each goroutine locked to its thread holds one OS thread.
		for i := 1; ; i++ {
			started := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				close(started)
				time.Sleep(time.Hour)
			}()
			<-started
			fmt.Println(i)
		}
	case mode == "fork":
		// Plain fork, no exec: the jail engine kills a worker that
		// executes anything. Each child only waits.
		for n := 0; ; n++ {
			pid, _, errno := syscall.RawSyscall(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0)
			if errno != 0 {
				fmt.Printf("started %d: %v\n", n, errno)
				// Stay alive with the children: the helper is the container's
				// init, and its exit would end them all before the test looks.
				time.Sleep(time.Hour)
				return 0
			}
			if pid == 0 {
				for {
					syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
				}
			}
			if n > 1000 {
				fmt.Println("no limit")
				return 0
			}
		}
	case mode == "alloc":
		allocateInSteps()
	case mode == "mapexec":
		return mapExecHelper(args)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	return 0
}

// forbidden makes one call that the seccomp filter answers by killing.
func forbidden(what string) error {
	var err error
	switch what {
	case "ptrace":
		_, _, e := unix.Syscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
		err = e
	case "mount":
		err = unix.Mount("none", "/", "tmpfs", 0, "")
	case "unshare":
		err = unix.Unshare(unix.CLONE_NEWUSER)
	case "setns":
		f, ferr := os.Open("/proc/self/ns/uts")
		if ferr != nil {
			return ferr
		}
		err = unix.Setns(int(f.Fd()), 0)
	case "bpf":
		_, _, e := unix.Syscall(unix.SYS_BPF, 0, 0, 0)
		err = e
	case "keyctl":
		_, err = unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 1, 0, 0)
	case "perf_event_open":
		_, _, e := unix.Syscall6(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0, 0)
		err = e
	case "init_module":
		_, _, e := unix.Syscall(unix.SYS_INIT_MODULE, 0, 0, 0)
		err = e
	case "kexec_load":
		_, _, e := unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0, 0, 0)
		err = e
	case "execve":
		err = unix.Exec("/proc/self/exe", []string{"x"}, nil)
	default:
		err = fmt.Errorf("unknown call %q", what)
	}
	return err
}

// probe tries what the walls must stop and what the worker must still be
// able to do, reports every outcome as one JSON line on stdout, then
// serves on its socket until killed.
// args: ro dir, rw dir, abstract socket name, loopback TCP port, host PID of the test.
func probe(args []string) int {
	roDir, rwDir, abstract, port, hostPid := args[0], args[1], args[2], args[3], args[4]
	res := map[string]string{}
	try := func(name string, err error) {
		if err == nil {
			res[name] = "ok"
		} else {
			res[name] = err.Error()
		}
	}
	read := func(p string) error { _, err := os.ReadFile(p); return err }
	try("read /etc/passwd", read("/etc/passwd"))
	_, err := os.ReadDir("/root")
	try("list /root", err)
	_, err = os.ReadDir("/home")
	try("list /home", err)
	try("read /sys", read("/sys/kernel/hostname"))
	ents, _ := os.ReadDir("/")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	res["root entries"] = strings.Join(names, " ")

	try("read ro file", read(filepath.Join(roDir, "data")))
	try("write ro mount", os.WriteFile(filepath.Join(roDir, "new"), []byte("x"), 0o644))
	try("write rw mount", os.WriteFile(filepath.Join(rwDir, "made-inside"), []byte("x"), 0o644))
	try("chmod rw file", os.Chmod(filepath.Join(rwDir, "made-inside"), 0o755))
	// os.Chmod would drop the bits: 04000 is not os.ModeSetuid.
	try("chmod setuid", unix.Chmod(filepath.Join(rwDir, "made-inside"), 0o4755))
	try("chmod setgid", unix.Fchmodat(unix.AT_FDCWD, filepath.Join(rwDir, "made-inside"), 0o2755, 0))
	fd, err := unix.Open(filepath.Join(rwDir, "setuid-at-birth"), unix.O_CREAT|unix.O_WRONLY, 0o4755)
	if err == nil {
		unix.Close(fd)
	}
	try("create setuid", err)
	try("write root", os.WriteFile("/new", []byte("x"), 0o644))
	try("write /proc", os.WriteFile("/proc/self/comm", []byte("x"), 0o644))
	try("read /proc/sys", read("/proc/sys/kernel/hostname"))

	for _, fam := range []struct {
		name string
		af   int
	}{{"inet", unix.AF_INET}, {"inet6", unix.AF_INET6}, {"netlink", unix.AF_NETLINK}, {"packet", unix.AF_PACKET}} {
		fd, err := unix.Socket(fam.af, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd)
		}
		try("socket "+fam.name, err)
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
	if err == nil {
		c.Close()
	}
	try("dial host loopback", err)
	c, err = net.DialTimeout("unix", "@"+abstract, time.Second)
	if err == nil {
		c.Close()
	}
	try("dial host abstract socket", err)
	c, err = net.DialTimeout("unix", filepath.Join(rwDir, "host.sock"), time.Second)
	if err == nil {
		c.Close()
	}
	try("dial socket in rw grant", err)

	try("open /dev/null", read("/dev/null"))
	f, err := os.Open("/dev/urandom")
	if err == nil {
		_, err = f.Read(make([]byte, 8))
		f.Close()
	}
	try("read /dev/urandom", err)
	try("open /dev/zero", read("/dev/zero"))
	try("mknod", unix.Mknod(filepath.Join(rwDir, "null2"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	try("host pid visible", read("/proc/"+hostPid+"/status"))
	var pids []string
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, e.Name())
		}
	}
	res["proc pids"] = strings.Join(pids, " ")
	try("setuid 1", unix.Setuid(1))
	try("chown", os.Chown(filepath.Join(rwDir, "made-inside"), 1, 1))
	try("clone newuser", cloneNewUser())
	res["hostname"], _ = os.Hostname()

	// A socket made in a writable grant is a door for host processes that
	// trust that directory: Landlock (the jail, where the kernel has it)
	// allows sockets only in go-plugin's directory.
	if gl, err := net.Listen("unix", filepath.Join(rwDir, "grant.sock")); err == nil {
		gl.Close()
		try("socket in rw grant", nil)
	} else {
		try("socket in rw grant", err)
	}
	try("rename in rw grant", os.Rename(filepath.Join(rwDir, "made-inside"), filepath.Join(rwDir, "renamed")))
	try("rename back", os.Rename(filepath.Join(rwDir, "renamed"), filepath.Join(rwDir, "made-inside")))
	try("mkdir in rw grant", os.Mkdir(filepath.Join(rwDir, "sub"), 0o755))
	try("rmdir in rw grant", os.Remove(filepath.Join(rwDir, "sub")))

	// The worker's stdio path: /proc/self/fd/3 of a pipe it was given.
	try("write fd 3", os.WriteFile("/proc/self/fd/3", []byte("through fd 3\n"), 0))

	// go-plugin's server: a unix socket in the 0700 directory it is given.
	l, err := net.Listen("unix", filepath.Join(os.Getenv(pluginSocketDirEnv), "plugin.sock"))
	try("listen in socket dir", err)
	if err == nil {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, "hi from inside")
				c.Close()
			}
		}()
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	time.Sleep(time.Hour)
	return 0
}

// cloneNewUser tries clone(CLONE_NEWUSER) the way a thread would be made.
func cloneNewUser() error {
	r, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_NEWUSER|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if r == 0 { // the child, should it ever exist
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return nil
}

// ---- the tests, outside ----

// testSpawner returns a container spawner with its own state directory.
func testSpawner(t testing.TB, o *ContainerOptions) *containerSpawner {
	t.Helper()
	if err := CheckContainer(o); err != nil {
		// Container isolation is the default wall: its tests must run, not
		// skip, on every machine this project supports.
		t.Fatalf("container isolation is unavailable here: %v", err)
	}
	dir, err := os.MkdirTemp(testStateBase(t), "agent-ctl-state-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ents := stateEntries(dir); len(ents) != 0 {
			t.Errorf("state directory not empty after the tests: %v", ents)
		}
		os.RemoveAll(dir)
	})
	if o == nil {
		o = &ContainerOptions{}
	}
	oo := *o
	oo.StateDir = dir
	sp, err := NewContainer(&oo)
	if err != nil {
		t.Fatal(err)
	}
	return sp.(*containerSpawner)
}

// stateEntries lists what a state directory holds besides the jail's cache
// of its seccomp program, which stays.
func stateEntries(dir string) []os.DirEntry {
	ents, _ := os.ReadDir(dir)
	return slices.DeleteFunc(ents, func(e os.DirEntry) bool {
		return strings.HasPrefix(e.Name(), "seccomp-") && strings.HasSuffix(e.Name(), ".bpf")
	})
}

// testStateBase is where the tests' state directories go: beside the
// default one, on the same file system (a tmpfs, as in production), or in
// $AGENT_CTL_TEST_STATE_BASE to measure another.
func testStateBase(t testing.TB) string {
	if b := os.Getenv("AGENT_CTL_TEST_STATE_BASE"); b != "" {
		return b
	}
	base := filepath.Dir(defaultStateDirs()[0])
	if err := os.MkdirAll(base, 0o711); err != nil {
		t.Fatal(err)
	}
	return base
}

func self(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// run starts the helper in mode and returns its process and stdout lines.
func startHelper(t testing.TB, sp Spawner, spec *Spec, mode string, args ...string) (Process, *bufio.Scanner) {
	t.Helper()
	spec.Path = self(t)
	spec.Args = args
	spec.Env = append(spec.Env, helperEnv+"="+mode)
	p, err := sp.Start(spec)
	if err != nil {
		t.Fatalf("starting helper %s: %v", mode, err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	go io.Copy(io.Discard, p.Stderr())
	return p, bufio.NewScanner(p.Stdout())
}

func TestContainer_walls(t *testing.T) {
	sp := testSpawner(t, nil)
	const memLimit = 256 << 20

	roDir, rwDir := t.TempDir(), t.TempDir() // 0700, root's: the worker gets in through ID-mapped mounts
	writeFile(t, filepath.Join(roDir, "data"), []byte("data"))
	socketDir, err := os.MkdirTemp("", "plugin-dir") // as go-plugin makes it: 0700, root's
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(socketDir)
	tcp := listen(t, "tcp", "127.0.0.1:0")
	// A host service's socket inside a granted directory: the worker
	// never connects anywhere (go-plugin only listens), so connect is denied.
	listen(t, "unix", filepath.Join(rwDir, "host.sock"))
	abstract := fmt.Sprintf("agent-ctl-test-%d", os.Getpid())
	listen(t, "unix", "@"+abstract)
	fd3r, fd3w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer fd3r.Close()

	spec := &Spec{
		Env:         []string{pluginSocketDirEnv + "=" + socketDir},
		ExtraFiles:  []*os.File{fd3w},
		Mounts:      []Mount{{Source: roDir}, {Source: rwDir, Writable: true}},
		MemoryLimit: memLimit,
	}
	p, out := startHelper(t, sp, spec, "probe", roDir, rwDir, abstract,
		strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port), strconv.Itoa(os.Getpid()))
	fd3w.Close()
	if !out.Scan() {
		t.Fatalf("no report from the helper: %v; wait: %v", out.Err(), p.Kill())
	}
	var res map[string]string
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("report %q: %v", out.Text(), err)
	}
	t.Logf("report: %v", res)

	denied := map[string]string{ // check → what the error must say
		"read /etc/passwd":          "no such file",
		"list /root":                "no such file",
		"list /home":                "no such file",
		"read /sys":                 "no such file",
		"write ro mount":            "read-only file system",
		"write root":                "read-only file system",
		"write /proc":               "read-only file system",
		"chmod setuid":              "operation not permitted",
		"chmod setgid":              "operation not permitted",
		"create setuid":             "operation not permitted",
		"socket inet":               "operation not permitted",
		"socket inet6":              "operation not permitted",
		"socket netlink":            "operation not permitted",
		"socket packet":             "operation not permitted",
		"dial host loopback":        "operation not permitted",
		"dial host abstract socket": "operation not permitted",
		"dial socket in rw grant":   "operation not permitted",
		"open /dev/zero":            "no such file",
		"mknod":                     "operation not permitted",
		"host pid visible":          "no such file",
		"setuid 1":                  "operation not permitted",
		"chown":                     "operation not permitted",
		"clone newuser":             "operation not permitted",
	}
	if sp.o.Engine == EngineJail {
		// The jail's procfs has only process directories (subset=pid);
		// libcontainer's has the rest too, read-only, and Landlock (the
		// worker's own, see confineEnv) lets it read only /proc/1.
		denied["read /proc/sys"] = "no such file"
	} else {
		denied["read /proc/sys"] = "permission denied"
	}
	if landlockABI() > 0 {
		denied["socket in rw grant"] = "permission denied"
	} else {
		t.Log("no Landlock in this kernel: the socket in a writable grant is not checked")
	}
	for check, want := range denied {
		if got := res[check]; !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want an error saying %q", check, got, want)
		}
	}
	for _, check := range []string{"read ro file", "write rw mount", "chmod rw file", "open /dev/null",
		"read /dev/urandom", "write fd 3", "listen in socket dir", "rename in rw grant", "rename back",
		"mkdir in rw grant", "rmdir in rw grant"} {
		if got := res[check]; got != "ok" {
			t.Errorf("%s: %s, want it to work", check, got)
		}
	}
	wantPids := "1"
	if sp.o.Engine == EngineLibcontainer {
		wantPids = "" // Landlock: /proc cannot be listed
	}
	if got := res["proc pids"]; got != wantPids {
		t.Errorf("pids in the worker's /proc: %q, want %q", got, wantPids)
	}
	if got := res["hostname"]; got != "agent-ctl" {
		t.Errorf("hostname %q, want agent-ctl", got)
	}
	// Only mountpoints in the root: nothing of the host's.
	for _, e := range strings.Fields(res["root entries"]) {
		if !slices.Contains([]string{"dev", "proc", "tmp", "lib", "lib64", "usr"}, e) {
			t.Errorf("unexpected entry /%s in the worker's root (all: %s)", e, res["root entries"])
		}
	}
	// What the worker made in a granted directory belongs to its owner.
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(rwDir, "made-inside"), &st); err != nil {
		t.Error(err)
	} else if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o755 {
		t.Errorf("file made inside: uid %d gid %d mode %o, want 0 0 755", st.Uid, st.Gid, st.Mode&0o7777)
	}
	if line, _ := bufio.NewReader(fd3r).ReadString('\n'); line != "through fd 3\n" {
		t.Errorf("fd 3 carried %q", line)
	}
	c, err := net.Dial("unix", filepath.Join(socketDir, "plugin.sock"))
	if err != nil {
		t.Errorf("dialing the worker's socket: %v", err)
	} else {
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if line != "hi from inside\n" {
			t.Errorf("worker's socket said %q", line)
		}
	}

	// From outside, while it runs.
	pid := p.Pid()
	status := procfs.Status(t, pid)
	for k, want := range map[string]string{
		"Seccomp": "2", "NoNewPrivs": "1",
		"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000",
		"CapInh": "0000000000000000", "CapAmb": "0000000000000000",
	} {
		if status[k] != want {
			t.Errorf("/proc/%d/status %s: %q, want %q", pid, k, status[k], want)
		}
	}
	if uids := strings.Fields(status["Uid"]); len(uids) == 0 || uids[0] != strconv.Itoa(DefaultWorkerID) {
		t.Errorf("worker runs as host uid %v, want %d", uids, DefaultWorkerID)
	}
	for _, ns := range []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"} {
		in, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		out, err2 := os.Readlink("/proc/self/ns/" + ns)
		if err1 != nil || err2 != nil || in == out {
			t.Errorf("namespace %s: worker %s, host %s (%v, %v)", ns, in, out, err1, err2)
		}
	}
	limitsFile, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{{"Max core file size", "0", "0"}, {"Max open files", "64", "64"}} {
		found := false
		for _, l := range strings.Split(string(limitsFile), "\n") {
			if rest, ok := strings.CutPrefix(l, want[0]); ok {
				found = slices.Equal(strings.Fields(rest)[:2], want[1:])
			}
		}
		if !found {
			t.Errorf("rlimit %s is not %v:\n%s", want[0], want[1:], limitsFile)
		}
	}
	cgDirs := cgroupDirs(t, pid)
	limits := cgroupLimits(t, cgDirs)
	if limits["memory"] != strconv.Itoa(memLimit) || limits["pids"] != strconv.Itoa(defaultPidsLimit) || limits["cpu"] != "100000" {
		t.Errorf("cgroup limits %v, want memory %d, pids %d, cpu quota 100000", limits, memLimit, defaultPidsLimit)
	}
	// The Go runtime cannot read its cgroup from inside: it is told the
	// quota (at least 2, see workerEnv).
	if environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err != nil || !slices.Contains(strings.Split(string(environ), "\x00"), "GOMAXPROCS=2") {
		t.Errorf("worker environment %q (%v), want GOMAXPROCS=2 for a one-core quota", environ, err)
	}

	if err := p.Kill(); err != nil {
		t.Errorf("Kill: %v", err)
	}
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait after Kill: %v, want killed", err)
	}
	if err := p.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}
	assertGone(t, sp, pid, cgDirs)
}

// assertGone checks that nothing of a worker is left after Kill.
func assertGone(t *testing.T, sp *containerSpawner, pid int, cgDirs []string) {
	t.Helper()
	if pid != 0 {
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("worker %d still there after Kill: %v", pid, err)
		}
	}
	for _, d := range cgDirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind (%v)", d, err)
		}
	}
	if ents := stateEntries(sp.o.StateDir); len(ents) != 0 {
		t.Errorf("state left behind in %s: %v", sp.o.StateDir, ents)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), sp.o.StateDir) {
		t.Errorf("mounts left behind under %s", sp.o.StateDir)
	}
}

// cgroupDirs returns the host directories of pid's cgroups that carry the
// memory, pids and cpu controllers, and checks they are the worker's own.
func cgroupDirs(t *testing.T, pid int) []string {
	t.Helper()
	dirs, err := procfs.CgroupDirs(pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !strings.Contains(d, "agent-ctl-") {
			t.Errorf("worker in cgroup %s, not its own", d)
		}
	}
	return dirs
}

// cgroupLimits reads the memory, pids and CPU limits in dirs.
func cgroupLimits(t *testing.T, dirs []string) map[string]string {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	m := map[string]string{}
	for _, d := range dirs {
		if cgroups.IsCgroup2UnifiedMode() {
			m["memory"] = read(filepath.Join(d, "memory.max"))
			m["pids"] = read(filepath.Join(d, "pids.max"))
			m["cpu"], _, _ = strings.Cut(read(filepath.Join(d, "cpu.max")), " ")
			continue
		}
		if v := read(filepath.Join(d, "memory.limit_in_bytes")); v != "" {
			m["memory"] = v
		}
		if v := read(filepath.Join(d, "pids.max")); v != "" {
			m["pids"] = v
		}
		if v := read(filepath.Join(d, "cpu.cfs_quota_us")); v != "" {
			m["cpu"] = v
		}
	}
	return m
}

// TestContainer_seccompKills checks that the calls that only serve an
// escape kill the worker instead of failing.
func TestContainer_seccompKills(t *testing.T) {
	sp := testSpawner(t, nil)
	calls := []string{"ptrace", "mount", "unshare", "setns", "bpf", "keyctl", "perf_event_open", "init_module", "kexec_load"}
	if sp.o.Engine == EngineJail {
		calls = append(calls, "execve") // libcontainer's init needs it after the filter is loaded
	}
	for _, call := range calls {
		t.Run(call, func(t *testing.T) {
			p, out := startHelper(t, sp, &Spec{}, "kill:"+call)
			var lines []string
			for out.Scan() {
				lines = append(lines, out.Text())
			}
			err := p.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != unix.SIGSYS {
				t.Errorf("%s: worker ended with %v (said %q), want killed by SIGSYS", call, err, lines)
			}
		})
	}
}

// TestContainer_pidsLimit checks that neither threads nor processes can
// grow past the pids limit.
func TestContainer_pidsLimit(t *testing.T) {
	const limit = 24
	sp := testSpawner(t, &ContainerOptions{PidsLimit: limit})
	t.Run("threads", func(t *testing.T) {
		spec := &Spec{Path: self(t), Env: []string{helperEnv + "=threads"}}
		p, err := sp.Start(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Kill()
		errOut := make(chan string, 1)
		go func() { b, _ := io.ReadAll(p.Stderr()); errOut <- string(b) }()
		out := bufio.NewScanner(p.Stdout())
		n := 0
		for out.Scan() {
			n, _ = strconv.Atoi(out.Text())
		}
		werr := p.Wait()
		stderr := <-errOut
		if n == 0 || n >= limit {
			t.Errorf("made %d threads, want some and fewer than %d", n, limit)
		}
		if werr == nil || !strings.Contains(stderr, "Resource temporarily unavailable") && !strings.Contains(stderr, "errno=11") {
			t.Errorf("worker ended with %v, stderr %.300q; want it to fail creating a thread", werr, stderr)
		}
		t.Logf("%d threads, then %v", n, werr)
	})
	t.Run("processes", func(t *testing.T) {
		p, out := startHelper(t, sp, &Spec{}, "fork")
		if !out.Scan() {
			t.Fatalf("no report: %v", p.Wait())
		}
		line := out.Text()
		if !strings.Contains(line, "resource temporarily unavailable") {
			t.Errorf("fork bomb: %q, want it stopped by the pids limit", line)
		}
		t.Log(line)
		_ = p.Kill()
	})
}

// TestContainer_memoryLimit checks that the worker cannot allocate past its
// memory limit.
func TestContainer_memoryLimit(t *testing.T) {
	sp := testSpawner(t, nil)
	const limit = 64 << 20
	p, out := startHelper(t, sp, &Spec{MemoryLimit: limit}, "alloc")
	last := ""
	for out.Scan() {
		last = out.Text()
	}
	err := p.Wait()
	if last == "allocated all" || err == nil {
		t.Fatalf("allocated past the %d-byte limit (last line %q, %v)", limit, last, err)
	}
	t.Logf("stopped after %s MiB: %v", last, err)
}

// TestContainer_killTakesAll checks that Kill ends every process of the
// worker, not just the first.
func TestContainer_killTakesAll(t *testing.T) {
	sp := testSpawner(t, nil)
	p, out := startHelper(t, sp, &Spec{}, "fork")
	// The fork bomb stops at the pids limit and then waits with its
	// children alive.
	if !out.Scan() {
		t.Fatalf("no report: %v", p.Wait())
	}
	dirs := cgroupDirs(t, p.Pid())
	var procs []string
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil && len(procs) == 0 {
			procs = strings.Fields(string(b))
		}
	}
	if len(procs) < 2 {
		t.Fatalf("want the helper's children in its cgroup, found %v", procs)
	}
	pid := p.Pid()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, s := range procs {
		n, _ := strconv.Atoi(s)
		if err := unix.Kill(n, 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("process %d of the worker survived Kill: %v", n, err)
		}
	}
	assertGone(t, sp, pid, dirs)
}

// TestContainer_supervisorDies checks that a worker dies with its
// supervisor, even one killed with SIGKILL, and that the next supervisor
// removes what was left.
func TestContainer_supervisorDies(t *testing.T) {
	sp := testSpawner(t, nil)
	cmd := exec.Command(self(t), sp.o.StateDir)
	cmd.Env = []string{helperEnv + "=supervise"}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var hello string
	if _, err := fmt.Fscan(out, &pid, &hello); err != nil || hello != "hello" {
		cmd.Process.Kill()
		t.Fatalf("supervisor said %d %q: %v", pid, hello, err)
	}
	dirs := cgroupDirs(t, pid)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for unix.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("worker %d outlived its supervisor", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The next supervisor on the same state directory sweeps up.
	if _, err := NewContainer(&ContainerOptions{StateDir: sp.o.StateDir}); err != nil {
		t.Fatal(err)
	}
	assertGone(t, sp, pid, dirs)
}

// TestContainer_concurrent starts several workers at once.
func TestContainer_concurrent(t *testing.T) {
	sp := testSpawner(t, nil)
	const n = 6
	type started struct {
		p    Process
		dirs []string
		err  error
	}
	ch := make(chan started, n)
	for range n {
		go func() {
			p, err := sp.Start(&Spec{Path: self(t), Env: []string{helperEnv + "=hello"}})
			if err != nil {
				ch <- started{err: err}
				return
			}
			go io.Copy(io.Discard, p.Stderr())
			line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
			if err == nil && line != "hello\n" {
				err = fmt.Errorf("helper said %q", line)
			}
			ch <- started{p: p, err: err}
		}()
	}
	var ps []started
	for range n {
		s := <-ch
		if s.err != nil {
			t.Error(s.err)
		}
		if s.p != nil {
			s.dirs = cgroupDirs(t, s.p.Pid())
			ps = append(ps, s)
		}
	}
	for _, s := range ps {
		pid := s.p.Pid()
		if err := s.p.Kill(); err != nil {
			t.Error(err)
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("worker %d survived Kill", pid)
		}
		for _, d := range s.dirs {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cgroup %s left behind", d)
			}
		}
	}
	assertGone(t, sp, 0, nil)
}

// TestContainer_startErrors checks that bad specs fail before anything is
// created, and leave nothing behind.
func TestContainer_startErrors(t *testing.T) {
	sp := testSpawner(t, nil)
	for _, tt := range []struct {
		want string
		spec Spec
	}{
		{"not an absolute path", Spec{Path: "agent-ctl"}},
		{"no such file", Spec{Path: self(t), Mounts: []Mount{{Source: "/nonexistent/agent-ctl"}}}},
		{"paths must be absolute", Spec{Path: self(t), Mounts: []Mount{{Source: "relative"}}}},
		{"target is reserved", Spec{Path: self(t), Mounts: []Mount{{Source: "/tmp", Target: "/proc/x"}}}},
		{"already mounted", Spec{Path: self(t), Mounts: []Mount{{Source: "/tmp", Target: "/x"}, {Source: "/var", Target: "/x"}}}},
	} {
		t.Run(tt.want, func(t *testing.T) {
			_, err := sp.Start(&tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// spawnOnce times Start → first line → Kill and reaped.
func spawnOnce(t testing.TB, sp Spawner) time.Duration {
	d, _ := spawnHello(t, sp, Spec{}, true)
	return d
}

// spawnHello starts the helper saying hello, reads its line (which must be
// right when strict), kills it and returns the time taken and the process.
func spawnHello(t testing.TB, sp Spawner, spec Spec, strict bool) (time.Duration, Process) {
	t0 := time.Now()
	p, line, err := startHello(t, sp, spec)
	if strict && line != "hello\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := p.Kill(); err != nil && strict {
		t.Fatal(err)
	}
	_ = p.Wait()
	return time.Since(t0), p
}

// startHello starts the helper saying hello under sp, with spec's walls,
// and returns it with its first line and the error reading that.
func startHello(tb testing.TB, sp Spawner, spec Spec) (Process, string, error) {
	spec.Path = self(tb)
	spec.Env = append(slices.Clip(spec.Env), helperEnv+"=hello")
	p, err := sp.Start(&spec)
	if err != nil {
		tb.Fatal(err)
	}
	go io.Copy(io.Discard, p.Stderr())
	line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
	return p, line, err
}

// BenchmarkSpawn measures a whole worker life (start, first line, kill,
// reaped, cleaned up) with each spawner; -benchtime=50x or so.
// "container-mounts" adds what a real call mounts: go-plugin's socket
// directory, a module, a cache file and a compile-output directory.
func BenchmarkSpawn(b *testing.B) {
	for _, name := range []string{"process", "container", "container-mounts"} {
		b.Run(name, func(b *testing.B) {
			var sp Spawner = NewProcess()
			var csp *containerSpawner
			var extra Spec
			if name != "process" {
				csp = testSpawner(b, nil)
				sp = csp
			}
			if name == "container-mounts" {
				extra = realMounts(b)
			}
			var all []time.Duration
			var steps containerTimings
			b.ResetTimer()
			for range b.N {
				if csp == nil {
					all = append(all, spawnOnce(b, sp))
					continue
				}
				d, st := spawnTimed(b, csp, extra)
				all = append(all, d)
				steps.Prepare += st.Prepare
				steps.Create += st.Create
				steps.Run += st.Run
				steps.Destroy += st.Destroy
			}
			b.StopTimer()
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "median-ms")
			if csp != nil {
				n := float64(b.N) * 1000
				b.ReportMetric(float64(steps.Prepare.Microseconds())/n, "prepare-ms")
				b.ReportMetric(float64(steps.Create.Microseconds())/n, "create-ms")
				b.ReportMetric(float64(steps.Run.Microseconds())/n, "run-ms")
				b.ReportMetric(float64(steps.Destroy.Microseconds())/n, "destroy-ms")
			}
		})
	}
}

// realMounts is what a real call mounts: go-plugin's socket directory, a
// module, a cache file and a compile-output directory, all root's and 0700
// or 0600.
func realMounts(t testing.TB) Spec {
	dir := t.TempDir()
	for _, f := range []string{"module.wasm", "cache.cwasm"} {
		writeFile(t, filepath.Join(dir, f), []byte("x"))
	}
	sock, tmp := filepath.Join(dir, "plugin-dir"), filepath.Join(dir, "tmp")
	for _, d := range []string{sock, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return Spec{
		Env: []string{pluginSocketDirEnv + "=" + sock},
		Mounts: []Mount{{Source: filepath.Join(dir, "module.wasm")}, {Source: filepath.Join(dir, "cache.cwasm")},
			{Source: tmp, Writable: true}},
	}
}

func spawnTimed(t testing.TB, sp *containerSpawner, spec Spec) (time.Duration, containerTimings) {
	d, p := spawnHello(t, sp, spec, true)
	switch p := p.(type) {
	case *containerProcess:
		return d, p.timings
	case *jailProcess:
		return d, p.timings
	}
	t.Fatalf("unknown process type %T", p)
	return 0, containerTimings{}
}

// TestDefaultStateDir checks that the default state directory is on a
// tmpfs wherever the host has one that only root controls, and that a
// default that cannot be used gives way to the next. What is expected is
// written out by hand, and this host's file systems are read from its
// mount table, not with the code under test.
func TestDefaultStateDir(t *testing.T) {
	for _, tt := range []struct {
		runTmpfs, shmRootTmpfs bool
		want                   []string
	}{
		{runTmpfs: true, shmRootTmpfs: true, want: []string{"/run/agent-ctl/containers"}},
		{runTmpfs: true, shmRootTmpfs: false, want: []string{"/run/agent-ctl/containers"}},
		{runTmpfs: false, shmRootTmpfs: true, want: []string{"/dev/shm/agent-ctl-containers", "/run/agent-ctl/containers"}},
		{runTmpfs: false, shmRootTmpfs: false, want: []string{"/run/agent-ctl/containers"}},
	} {
		if got := stateDirsFor(tt.runTmpfs, tt.shmRootTmpfs); !slices.Equal(got, tt.want) {
			t.Errorf("stateDirsFor(/run tmpfs %v, /dev/shm root's tmpfs %v) = %q, want %q", tt.runTmpfs, tt.shmRootTmpfs, got, tt.want)
		}
	}

	// This host, by its mount table.
	scratch := t.TempDir()
	fsType := map[string]string{}
	for _, dir := range []string{"/run", "/dev/shm", "/", "/proc", scratch} {
		fsType[dir] = mountedFSType(t, dir)
		want := fsType[dir] == "tmpfs" || fsType[dir] == "ramfs"
		if got := isTmpfs(dir); got != want {
			t.Errorf("isTmpfs(%s) = %v, but the mount table says %s", dir, got, fsType[dir])
		}
	}
	var shm unix.Stat_t
	if err := unix.Stat("/dev/shm", &shm); err != nil {
		t.Fatal(err)
	}
	shmRoot := shm.Uid == 0 && (shm.Mode&0o022 == 0 || shm.Mode&unix.S_ISVTX != 0)
	want := []string{"/run/agent-ctl/containers"}
	if fsType["/run"] != "tmpfs" && fsType["/dev/shm"] == "tmpfs" && shmRoot {
		want = []string{"/dev/shm/agent-ctl-containers", "/run/agent-ctl/containers"}
	}
	if got := defaultStateDirs(); !slices.Equal(got, want) {
		t.Errorf("default state directories %q, want %q (/run is %s, /dev/shm is %s, mode %o, uid %d)",
			got, want, fsType["/run"], fsType["/dev/shm"], shm.Mode&0o7777, shm.Uid)
	}

	// Someone else's directory where the first default would be.
	parent := t.TempDir()
	squatted := filepath.Join(parent, "squatted")
	if err := os.Mkdir(squatted, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(squatted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o711); err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(parent, "next")
	got, err := firstStateDir(slog.New(slog.DiscardHandler), []string{squatted, next})
	if err != nil || got != next {
		t.Errorf("firstStateDir: %q, %v; want %q", got, err, next)
	}
	if _, err := firstStateDir(slog.New(slog.DiscardHandler), []string{squatted}); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Errorf("firstStateDir with no usable directory: %v, want an error saying not root", err)
	}

	sticky := filepath.Join(parent, "sticky")
	if err := os.Mkdir(sticky, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{sticky: true, squatted: false, parent: true} {
		if got := rootSticky(dir); got != want {
			t.Errorf("rootSticky(%s) = %v, want %v", dir, got, want)
		}
	}
	if err := os.Chmod(sticky, 0o777); err != nil {
		t.Fatal(err)
	}
	if rootSticky(sticky) {
		t.Errorf("rootSticky(%s) without the sticky bit = true", sticky)
	}
}

// TestContainer_idmapOwners checks what ID-mapped mounts show the worker:
// each source's owner as the worker's own user, anyone else as nobody, and
// what the worker creates as the source's owner on the host. Two starts:
// the second uses the spawner's kept user namespaces.
func TestContainer_idmapOwners(t *testing.T) {
	sp := testSpawner(t, nil)
	rw, ro := t.TempDir(), t.TempDir()
	for _, f := range []struct {
		path     string
		uid, gid int
	}{{rw, 4242, 4343}, {filepath.Join(rw, "theirs"), 4242, 4343}, {filepath.Join(rw, "roots"), 0, 0}, {filepath.Join(ro, "data"), 0, 0}} {
		if f.path != rw {
			writeFile(t, f.path, []byte("x"))
		}
		if err := os.Chown(f.path, f.uid, f.gid); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		os.Remove(filepath.Join(rw, "made"))
		spec := &Spec{Mounts: []Mount{{Source: rw, Writable: true}, {Source: ro}}}
		p, out := startHelper(t, sp, spec, "owners", rw, filepath.Join(rw, "theirs"), filepath.Join(rw, "roots"), ro, filepath.Join(ro, "data"))
		var got []string
		for len(got) < 6 && out.Scan() {
			got = append(got, out.Text())
		}
		want := []string{
			rw + " 0 0", filepath.Join(rw, "theirs") + " 0 0", filepath.Join(rw, "roots") + " 65534 65534",
			ro + " 0 0", filepath.Join(ro, "data") + " 0 0", "made <nil>",
		}
		if !slices.Equal(got, want) {
			t.Errorf("round %d: the worker sees\n%s\nwant\n%s", round, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(rw, "made"), &st); err != nil || st.Uid != 4242 || st.Gid != 4343 {
			t.Errorf("round %d: file made inside: uid %d gid %d (%v), want 4242 4343", round, st.Uid, st.Gid, err)
		}
		if err := p.Kill(); err != nil {
			t.Error(err)
		}
	}
	if n := len(sp.userns); n != 2 {
		t.Errorf("%d user namespaces kept for two owners", n)
	}
}

// TestContainer_sweepUnfinishedStart: a supervisor killed after the init
// made the worker's cgroups but before libcontainer saved the container's
// state left cgroups nothing pointed to. The next spawner removes them once
// the start is a minute old, and not before.
func TestContainer_sweepUnfinishedStart(t *testing.T) {
	sp := testSpawner(t, nil)
	unfinished := func(age time.Duration) (string, map[string]string) {
		id := "agent-ctl-" + randomID()
		m, err := manager.New(sp.cgroupConfig(&Spec{}, id))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Apply(-1); err != nil { // the directories, nobody in them
			t.Fatal(err)
		}
		paths := m.GetPaths()
		t.Cleanup(func() { _ = cgroups.RemovePaths(maps.Clone(paths)) })
		dir, err := os.MkdirTemp(sp.o.StateDir, "call-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "state", id), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(filepath.Join(dir, "state", id, "exec.fifo"), 0o622); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(paths)
		writeFile(t, filepath.Join(dir, cgroupsFile), b)
		then := time.Now().Add(-age)
		if err := os.Chtimes(dir, then, then); err != nil {
			t.Fatal(err)
		}
		return dir, paths
	}
	oldDir, oldPaths := unfinished(2 * staleAge)
	newDir, newPaths := unfinished(0)
	if len(oldPaths) == 0 {
		t.Fatal("no cgroup directories made")
	}

	if _, err := NewContainer(&ContainerOptions{StateDir: sp.o.StateDir}); err != nil {
		t.Fatal(err)
	}
	for _, p := range oldPaths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s of a start a minute old left behind (%v)", p, err)
		}
	}
	if _, err := os.Stat(oldDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s of a start a minute old left behind (%v)", oldDir, err)
	}
	for _, p := range newPaths {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("cgroup %s of a start under way removed: %v", p, err)
		}
	}
	if _, err := os.Stat(newDir); err != nil {
		t.Errorf("directory of a start under way removed: %v", err)
	}
	_ = cgroups.RemovePaths(newPaths)
	_ = os.RemoveAll(newDir)
}

// TestContainer_sweepJail checks the sweep of the jail engine's call
// directories, which hold no container state: one whose worker was started
// is removed, with its cgroups, once they hold no process, and not before.
func TestContainer_sweepJail(t *testing.T) {
	sp := testSpawner(t, &ContainerOptions{Engine: EngineJail})
	id := "agent-ctl-" + randomID()
	m, err := manager.New(sp.cgroupConfig(&Spec{}, id))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	paths := m.GetPaths()
	t.Cleanup(func() { _ = cgroups.RemovePaths(maps.Clone(paths)) })
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	if err := m.AddPid("", sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(sp.o.StateDir, "call-")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(paths)
	writeFile(t, filepath.Join(dir, cgroupsFile), b)
	writeFile(t, filepath.Join(dir, jailWorkerFile), []byte("1"))
	sweep := func() {
		if _, err := NewContainer(&ContainerOptions{StateDir: sp.o.StateDir, Engine: EngineJail}); err != nil {
			t.Fatal(err)
		}
	}
	sweep()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a live worker's directory was swept: %v", err)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a live worker's cgroup %s was removed: %v", p, err)
		}
	}
	_ = sleeper.Process.Kill()
	_ = sleeper.Wait()
	sweep()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dead worker's directory is still there: %v", err)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a dead worker's cgroup %s is still there: %v", p, err)
		}
	}
}

// TestContainer_seccompCache checks the jail's cache of its seccomp program:
// a second spawner loads what the first compiled, and a corrupt entry is
// compiled again, never loaded.
func TestContainer_seccompCache(t *testing.T) {
	sp := testSpawner(t, &ContainerOptions{Engine: EngineJail})
	entries, _ := filepath.Glob(filepath.Join(sp.o.StateDir, "seccomp-*.bpf"))
	if len(entries) != 1 {
		t.Fatalf("cache entries %v, want one", entries)
	}
	want, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	program := func(sp *containerSpawner) []byte {
		b, err := io.ReadAll(io.NewSectionReader(sp.jailFilter, 0, 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := program(sp); !slices.Equal(got, want[:len(want)-32]) {
		t.Fatalf("the spawner's program (%d bytes) is not the cached one (%d)", len(got), len(want)-32)
	}
	// Corrupt one instruction: the next spawner must not load it.
	bad := slices.Clone(want)
	bad[9] ^= 0xff
	writeFile(t, entries[0], bad)
	again, err := NewContainer(&ContainerOptions{StateDir: sp.o.StateDir, Engine: EngineJail})
	if err != nil {
		t.Fatal(err)
	}
	if got := program(again.(*containerSpawner)); !slices.Equal(got, want[:len(want)-32]) {
		t.Error("a corrupt cache entry was loaded")
	}
	if b, _ := os.ReadFile(entries[0]); !slices.Equal(b, want) {
		ents, _ := os.ReadDir(sp.o.StateDir)
		t.Errorf("the corrupt cache entry was not replaced (%d bytes, want %d; %v)", len(b), len(want), ents)
	}
	// The program works: a worker started with it is confined.
	p, out := startHelper(t, again, &Spec{}, "hello")
	if !out.Scan() || out.Text() != "hello" {
		t.Fatalf("helper said %q: %v", out.Text(), p.Wait())
	}
	if st := procfs.Status(t, p.Pid()); st["Seccomp"] != "2" {
		t.Errorf("Seccomp: %q, want 2", st["Seccomp"])
	}
}

// TestContainer_nestedMounts: a mount below another, read-only one (a
// module inside a granted directory) is mounted over what is already
// there, under either engine.
func TestContainer_nestedMounts(t *testing.T) {
	sp := testSpawner(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "module.wasm")
	writeFile(t, file, []byte("module"))
	p, out := startHelper(t, sp, &Spec{Mounts: []Mount{{Source: dir}, {Source: file}}}, "hello")
	if !out.Scan() || out.Text() != "hello" {
		t.Fatalf("helper said %q: %v", out.Text(), p.Wait())
	}
}

// TestContainer_confinementFails: a worker that cannot be confined ends
// before it runs, and Start says why, in the worker's words.
func TestContainer_confinementFails(t *testing.T) {
	sp := testSpawner(t, &ContainerOptions{Engine: EngineJail})
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A file target below a read-only mount, where no such file exists:
	// its mount point cannot be made.
	ghost := filepath.Join(dir, "ghost")
	other := filepath.Join(t.TempDir(), "other")
	writeFile(t, other, nil)
	spec := &Spec{Path: self(t), Env: []string{helperEnv + "=hello"},
		Mounts: []Mount{{Source: dir}, {Source: other, Target: ghost}}}
	p, err := sp.Start(spec)
	if err == nil {
		p.Kill()
		t.Fatal("Start succeeded")
	}
	if !strings.Contains(err.Error(), "agent-ctl jail: creating "+ghost) || !strings.Contains(strings.ToLower(err.Error()), "read-only file system") {
		t.Errorf("Start: %v, want the worker's own words on the mount point", err)
	}
	if ents := stateEntries(sp.o.StateDir); len(ents) != 0 {
		t.Errorf("state left behind: %v", ents)
	}
}

// TestContainer_symlinkInGrant: a symbolic link that a module left in a
// writable grant, pointing at a host path, does not lead the making of a
// mount point below the grant out of the worker's root: nothing appears on
// the host, whatever becomes of the start.
func TestContainer_symlinkInGrant(t *testing.T) {
	sp := testSpawner(t, nil)
	grant, hostDir := t.TempDir(), t.TempDir()
	if err := os.Symlink(hostDir, filepath.Join(grant, "link")); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &Spec{Path: self(t), Env: []string{helperEnv + "=hello"},
		Mounts: []Mount{{Source: grant, Writable: true}, {Source: src, Target: filepath.Join(grant, "link", "planted")}}}
	p, err := sp.Start(spec)
	if err == nil {
		_ = p.Kill()
	}
	t.Logf("Start: %v", err)
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Errorf("the start made %v in the host directory the link points to", ents)
	}
}

func TestWorkerEnv(t *testing.T) {
	for _, tc := range []struct {
		name       string
		optionCPUs float64
		spec       Spec
		want       []string
	}{
		{"default one core", 1, Spec{Env: []string{"A=b"}}, []string{"A=b", "GOMAXPROCS=2", "X=y"}},
		{"a core and a half", 1, Spec{CPUs: 1.5}, []string{"GOMAXPROCS=2", "X=y"}},
		{"options", 3, Spec{}, []string{"GOMAXPROCS=3", "X=y"}},
		{"two and a half cores", 1, Spec{CPUs: 2.5}, []string{"GOMAXPROCS=3", "X=y"}},
		{"below one core", 1, Spec{CPUs: 0.25}, []string{"GOMAXPROCS=2", "X=y"}},
		{"set by the caller", 1, Spec{Env: []string{"GOMAXPROCS=4"}}, []string{"GOMAXPROCS=4", "X=y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &containerSpawner{o: ContainerOptions{CPUs: tc.optionCPUs}}
			spec := tc.spec
			before := slices.Clone(spec.Env)
			if got := s.workerEnv(&spec, "X=y"); !slices.Equal(got, tc.want) {
				t.Errorf("workerEnv = %q, want %q", got, tc.want)
			}
			if !slices.Equal(spec.Env, before) {
				t.Errorf("spec.Env changed to %q", spec.Env)
			}
		})
	}
}

// TestJailCgroupPaths: the jail's cgroup directories, from its parent's
// found once, are those a cgroup manager finds for the cgroup itself.
func TestJailCgroupPaths(t *testing.T) {
	if cgroups.IsCgroup2UnifiedMode() {
		t.Skip("cgroup v2 host: the jail uses the manager's own paths there")
	}
	for _, path := range []string{"agent-ctl-x1", "agent-ctl-parent/agent-ctl-x2", "/agent-ctl-abs/agent-ctl-x3", "a/b/agent-ctl-x4"} {
		t.Run(path, func(t *testing.T) {
			for range 2 { // found, then from the cache
				got, err := jailCgroupPaths(path)
				if err != nil {
					t.Fatal(err)
				}
				mgr, err := manager.New(&cgroups.Cgroup{Path: path, Resources: &cgroups.Resources{}})
				if err != nil {
					t.Fatal(err)
				}
				all := mgr.GetPaths()
				if len(got) != len(jailControllers) {
					t.Fatalf("paths for %v, want %v", got, jailControllers)
				}
				for _, c := range jailControllers {
					if got[c] != all[c] || got[c] == "" {
						t.Errorf("%s: %q, the manager says %q", c, got[c], all[c])
					}
				}
			}
		})
	}
}

// TestContainer_mountFromDescriptor: a Mount with a File is mounted from
// that descriptor and ID-mapped to its owner, even after its name was
// swapped for a link to a root-only directory (issue 11, items 1 and 2).
func TestContainer_mountFromDescriptor(t *testing.T) {
	sp := testSpawner(t, nil)
	base := t.TempDir()
	grant, moved, secret := filepath.Join(base, "grant"), filepath.Join(base, "moved"), filepath.Join(base, "secret")
	for _, d := range []string{grant, secret} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(secret, "key"), []byte("secret"))
	if err := os.Chown(grant, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(grant, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The name now leads to the root-only directory.
	if err := os.Rename(grant, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, grant); err != nil {
		t.Fatal(err)
	}
	spec := &Spec{Mounts: []Mount{{Source: grant, File: f, Writable: true}}}
	if sp.o.Engine == EngineLibcontainer {
		// libcontainer mounts by name (it cannot clone our descriptor's
		// mount from its namespace): the start checks what it mounted and
		// fails, before the worker does anything.
		spec.Path, spec.Args = self(t), []string{grant}
		spec.Env = []string{helperEnv + "=owners"}
		p, err := sp.Start(spec)
		if err == nil {
			_ = p.Kill()
			t.Fatal("libcontainer started a worker with a mount that is not the descriptor's directory")
		}
		if !strings.Contains(err.Error(), "was replaced") {
			t.Errorf("Start: %v, want the replaced mount named", err)
		}
		if ents, _ := os.ReadDir(secret); len(ents) != 1 {
			t.Errorf("the root-only directory holds %v, want only its key", ents)
		}
		// With the name back, the same descriptor mounts.
		if err := os.Remove(grant); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(moved, grant); err != nil {
			t.Fatal(err)
		}
		moved = grant
	}
	p, out := startHelper(t, sp, spec, "owners", grant, filepath.Join(grant, "key"))
	var got []string
	for len(got) < 3 && out.Scan() {
		got = append(got, out.Text())
	}
	want := []string{grant + " 0 0", filepath.Join(grant, "key") + " no such file or directory", "made <nil>"}
	if !slices.Equal(got, want) {
		t.Errorf("the worker sees\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_ = p.Kill()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(moved, "made"), &st); err != nil || st.Uid != 4242 || st.Gid != 4343 {
		t.Errorf("file made inside: uid %d gid %d (%v), want it in the checked directory as 4242:4343", st.Uid, st.Gid, err)
	}
	if ents, _ := os.ReadDir(secret); len(ents) != 1 {
		t.Errorf("the root-only directory holds %v, want only its key", ents)
	}
}

// mountedFSType is the type of the file system path is on, from the last
// mount in /proc/self/mountinfo whose mount point is path or above it.
func mountedFSType(t *testing.T, path string) string {
	t.Helper()
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	best, fs := "", ""
	for line := range strings.Lines(string(b)) {
		// ID parent major:minor root mount-point options [optional...] - type source super-options
		pre, post, ok := strings.Cut(line, " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postFields) < 1 {
			t.Fatalf("mountinfo line %q", line)
		}
		mnt := fields[4]
		if (mnt == "/" || path == mnt || strings.HasPrefix(path, mnt+"/")) && len(mnt) >= len(best) {
			best, fs = mnt, postFields[0]
		}
	}
	return fs
}
