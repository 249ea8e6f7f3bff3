//go:build linux && cgo

package isolation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer/configs"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/agent-ctl/agent-ctl/isolation/jail"
)

// The jail engine starts a container worker in one step: the supervisor
// clones the worker straight into its namespaces (os/exec), with every bind
// mount of its root already made as a detached mount (open_tree, flags and
// ID mapping set with mount_setattr) and its cgroup made while the worker
// starts; package jail's constructor, in the worker binary, builds the root
// from those mounts, waits to be in its cgroup, and drops every privilege
// before the Go runtime starts. Where libcontainer runs its own Go init
// between the two (a second Go program start, its mounts made one by one
// from inside, a cgroup per v1 controller made on the call's path), the
// jail gives the same walls for a fraction of the time; see
// docs/isolation.md for the measurements.

// landlockABI is the kernel's Landlock ABI version, 0 where it has none.
func landlockABI() int {
	// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1)
	if errno != 0 {
		return 0
	}
	return int(abi)
}

// jailControllers are the cgroup v1 controllers a jail worker joins: those
// its limits are set in. Making, joining and removing a cgroup in each of
// the others (ten hierarchies on these machines) would cost kernel time on
// every start and limit nothing.
var jailControllers = []string{"memory", "pids", "cpu", "devices"}

// jailCgroup returns the manager of a jail worker's cgroup: on cgroup v1,
// in the hierarchies of jailControllers only.
func jailCgroup(cg *cgroups.Cgroup) (cgroups.Manager, error) {
	if cgroups.IsCgroup2UnifiedMode() {
		return manager.New(cg)
	}
	paths, err := jailCgroupPaths(cg.Path)
	if err != nil {
		return nil, err
	}
	return manager.NewWithPaths(cg, paths)
}

// jailCgroupPaths returns the directories of the v1 cgroup at path (as in
// cgroups.Cgroup.Path) in the hierarchies of jailControllers: those of its
// parent, found once per parent and kept, joined with its name. Finding
// them is what a manager does on creation, for every hierarchy, by reading
// /proc/self/cgroup and the mount table each time: 7% of a busy
// supervisor's CPU.
func jailCgroupPaths(path string) (map[string]string, error) {
	parent, name := filepath.Split(path)
	if parent == "" {
		parent = "."
	}
	bases, err := jailCgroupBases(filepath.Clean(parent))
	if err != nil {
		return nil, err
	}
	paths := make(map[string]string, len(bases))
	for c, b := range bases {
		paths[c] = filepath.Join(b, name)
	}
	return paths, nil
}

// jailParents caches jailCgroupBases by parent path.
var jailParents sync.Map // string → map[string]string

// jailCgroupBases returns the directories of the cgroup parent in the
// hierarchies of jailControllers, as a cgroup manager finds them.
func jailCgroupBases(parent string) (map[string]string, error) {
	if b, ok := jailParents.Load(parent); ok {
		return b.(map[string]string), nil
	}
	mgr, err := manager.New(&cgroups.Cgroup{Path: parent, Resources: &cgroups.Resources{}})
	if err != nil {
		return nil, err
	}
	all := mgr.GetPaths()
	bases := map[string]string{}
	for _, c := range jailControllers {
		p, ok := all[c]
		if !ok {
			return nil, fmt.Errorf("%w: no %s cgroup hierarchy", ErrUnavailable, c)
		}
		bases[c] = p
	}
	jailParents.Store(parent, bases)
	return bases, nil
}

// cgroupSetMu serialises cgroup managers' Set (see startJail).
var cgroupSetMu sync.Mutex

// confineTimeout bounds how long Start waits for a released worker to
// report that it is confined: a few system calls, well under a millisecond.
const confineTimeout = 10 * time.Second

// jailWorkerFile, in a jail's directory, says that its worker was started.
const jailWorkerFile = "worker"

// startJail starts one worker with the jail engine.
func (s *containerSpawner) startJail(spec *Spec) (_ Process, err error) {
	t0 := time.Now()
	s.marked("start")
	plan, err := s.planMounts(spec)
	if err != nil {
		return nil, err
	}
	id := "agent-ctl-" + randomID()
	cg := s.cgroupConfig(spec, id)
	mgr, err := jailCgroup(cg)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	dir, root, err := s.callDir()
	if err != nil {
		return nil, err
	}
	var toClose []*os.File
	defer func() { closeFiles(toClose...) }()
	cgDone := make(chan error, 1)
	cgResult := sync.OnceValue(func() error { return <-cgDone })
	cgStarted := false
	defer func() {
		if err != nil {
			if cgStarted {
				_ = cgResult()
				_ = mgr.Destroy()
			}
			_ = os.RemoveAll(dir)
		}
	}()
	// Where the cgroups will be, before they are made: a supervisor killed
	// from here on leaves them for the next one's sweep.
	if err := writeCgroupsFile(dir, mgr.GetPaths()); err != nil {
		return nil, err
	}
	// Making cgroups is the slowest step of a start (an RCU grace period
	// per controller on some kernels): it runs while the worker starts.
	cgStarted = true
	go func() {
		warmMigration()
		err := mgr.Apply(-1)
		if err == nil {
			// The v1 manager's controllers are package-level values, and
			// its blkio controller caches a file name in one on first use
			// without a lock (opencontainers/cgroups v0.1.0): one Set at a
			// time. A Set takes 0.3 ms.
			cgroupSetMu.Lock()
			err = mgr.Set(cg.Resources)
			cgroupSetMu.Unlock()
		}
		cgDone <- err
	}()

	if err := s.chownPipes(spec); err != nil {
		return nil, err
	}
	// The worker's descriptors: the Spec's first (3, 4, …), then the
	// configuration, the seccomp program, the sync and status pipes, the
	// user namespace and the mounts.
	files := append([]*os.File(nil), spec.ExtraFiles...)
	fdOf := func(f *os.File) int {
		files = append(files, f)
		return 2 + len(files)
	}
	cfg := jail.Config{Root: root, Proc: true, Hostname: "agent-ctl", Landlock: s.landlockABI > 0,
		Rlimits: []jail.Rlimit{
			{Resource: unix.RLIMIT_CORE},
			{Resource: unix.RLIMIT_NOFILE, Soft: s.o.MaxOpenFiles, Hard: s.o.MaxOpenFiles},
		},
	}
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the sync pipe: %w", err)
	}
	toClose = append(toClose, syncR)
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the status pipe: %w", err)
	}
	toClose = append(toClose, statusW)
	defer closeFiles(statusR)
	defer func() {
		if err != nil {
			closeFiles(syncW) // the worker reads end of file and gives up
		}
	}()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating worker stdout: %w", err)
	}
	toClose = append(toClose, outW)
	errR, errW, err := os.Pipe()
	if err != nil {
		closeFiles(outR)
		return nil, fmt.Errorf("creating worker stderr: %w", err)
	}
	toClose = append(toClose, errW)
	readers := []*os.File{outR, errR}
	defer func() {
		if err != nil {
			closeFiles(readers...)
		}
	}()
	cfgFile, err := memfd("agent-ctl-jail")
	if err != nil {
		return nil, err
	}
	toClose = append(toClose, cfgFile)
	cfgFD := fdOf(cfgFile)
	cfg.Seccomp = fdOf(s.jailFilter)
	cfg.Sync = fdOf(syncR)
	cfg.Status = fdOf(statusW)
	// The worker's user namespace maps its root to the worker's host IDs:
	// the same mapping as an ID-mapped mount of root's files, so the same
	// namespace serves.
	userns, err := s.idmapUsernsFile(0, 0)
	if err != nil {
		return nil, err
	}
	cfg.Userns = fdOf(userns)
	for _, w := range plan {
		f, err := s.detachedMount(w)
		if err != nil {
			return nil, err
		}
		toClose = append(toClose, f)
		cfg.Mounts = append(cfg.Mounts, jail.Mount{FD: fdOf(f), Target: w.dst, Dir: w.dir, Access: w.access()})
	}
	for d, access := range map[string]jail.Access{"/dev/null": jail.ReadWrite, "/dev/urandom": jail.ReadOnly} {
		f, err := openMount(d, false, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, nil)
		if err != nil {
			return nil, err
		}
		toClose = append(toClose, f)
		cfg.Mounts = append(cfg.Mounts, jail.Mount{FD: fdOf(f), Target: d, Access: access})
	}
	if _, err := cfgFile.Write(cfg.Encode()); err != nil {
		return nil, fmt.Errorf("writing the worker's configuration: %w", err)
	}
	// The constructor acts only on a sealed configuration (see package
	// jail): nothing can change it once the worker may read it.
	if err := seal(cfgFile); err != nil {
		return nil, fmt.Errorf("sealing the worker's configuration: %w", err)
	}

	env := s.workerEnv(spec, jail.Env+"="+strconv.Itoa(cfgFD))
	cmd := &exec.Cmd{
		Path: spec.Path, Args: append([]string{spec.Path}, spec.Args...), Env: env, Dir: "/",
		Stdout: outW, Stderr: errW, ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			// No new user namespace here: the worker enters one last,
			// from its constructor. Without it Go clones with CLONE_VM and
			// CLONE_VFORK; with it, a full fork of the supervisor, whose
			// page-table copy and copy-on-write faults were a third of a
			// busy supervisor's CPU time.
			Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS,
			// No supplementary groups of the supervisor's.
			Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	s.marked("prepared")
	tRun := time.Now()
	onSpawnThread(func() { err = cmd.Start() })
	if err != nil {
		return nil, fmt.Errorf("starting worker %s in a container: %w", spec.Path, err)
	}
	s.marked("ran")
	closeFiles(toClose...) // the worker has its own copies; keep syncW
	toClose = nil
	fail := func(err error) (Process, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// A worker that could not confine itself said why on stderr.
		if b, _ := io.ReadAll(io.LimitReader(errR, 4096)); len(b) > 0 {
			err = fmt.Errorf("%w; the worker said: %s", err, bytes.TrimSpace(b))
		}
		return nil, err
	}
	if err := cgResult(); err != nil {
		return fail(fmt.Errorf("creating the worker's cgroup: %w", err))
	}
	if err := mgr.AddPid("", cmd.Process.Pid); err != nil {
		return fail(fmt.Errorf("moving the worker into its cgroup: %w", err))
	}
	if err := setOOMScoreAdj(cmd.Process.Pid); err != nil {
		return fail(err)
	}
	// The write fails if the worker already gave up; either way its status
	// pipe says whether it is confined.
	_, _ = syncW.Write([]byte{1})
	_ = statusR.SetReadDeadline(time.Now().Add(confineTimeout))
	if n, err := statusR.Read(make([]byte, 1)); n != 1 {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fail(fmt.Errorf("the worker was not confined within %s", confineTimeout))
		}
		return fail(errors.New("the worker ended while it was being confined"))
	}
	s.marked("released")
	// From now on an empty cgroup means a dead worker (see sweep).
	if err := os.WriteFile(filepath.Join(dir, jailWorkerFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return fail(fmt.Errorf("recording the worker: %w", err))
	}
	p := &jailProcess{
		containerEnd: newContainerEnd(id, cmd.Process.Pid, s.log, outR, errR,
			containerTimings{Prepare: tRun.Sub(t0), Run: time.Since(tRun)}),
		cmd: cmd, mgr: mgr, dir: dir, lifeline: syncW,
	}
	go p.reap()
	s.log.Debug("container started", "engine", EngineJail, "container_id", id, "worker_pid", cmd.Process.Pid,
		"prepare_us", p.timings.Prepare.Microseconds(), "run_us", p.timings.Run.Microseconds())
	return p, nil
}

// warmMigration moves the supervisor into the cgroup it is already in. That
// changes nothing, but it is a cgroup migration: on kernels where
// cgroup_threadgroup_rwsem favours readers (no favordynmods), the first
// migration after a quiet spell waits an RCU grace period (9 ms measured
// here) and the ones right after it do not. Paying it while the worker is
// being cloned takes most of it off the start. Best effort: on failure the
// worker's own move pays instead.
func warmMigration() {
	if dir := ownCgroup(); dir != "" {
		_ = cgroups.WriteCgroupProc(dir, os.Getpid())
	}
}

// ownCgroupDir caches ownCgroup; placeCgroups updates it when it moves the
// supervisor.
var ownCgroupDir atomic.Pointer[string]

// ownCgroup is the supervisor's own cgroup directory in the pids hierarchy
// (cgroup v1) or the unified one (v2), found once; empty if unknown.
func ownCgroup() string {
	if d := ownCgroupDir.Load(); d != nil {
		return *d
	}
	dir := ""
	if own, err := cgroups.ParseCgroupFile("/proc/self/cgroup"); err == nil {
		if cgroups.IsCgroup2UnifiedMode() {
			dir = filepath.Join("/sys/fs/cgroup", own[""])
		} else if mnt, err := cgroups.FindCgroupMountpoint("", "pids"); err == nil {
			dir = filepath.Join(mnt, own["pids"])
		}
	}
	ownCgroupDir.CompareAndSwap(nil, &dir)
	return *ownCgroupDir.Load()
}

// chownPipes gives the worker's user the pipes it is handed: the worker
// reopens them through /proc/self/fd/N, which checks the pipe's owner.
// (Both engines.)
func (s *containerSpawner) chownPipes(spec *Spec) error {
	for _, f := range spec.ExtraFiles {
		if f == nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return fmt.Errorf("checking file %s for the worker: %w", f.Name(), err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFIFO {
			if err := unix.Fchown(int(f.Fd()), s.o.HostUID, s.o.HostGID); err != nil {
				return fmt.Errorf("giving pipe %s to the worker: %w", f.Name(), err)
			}
		}
	}
	return nil
}

// access is what Landlock lets the worker do below planned mount w.
func (w plannedMount) access() jail.Access {
	switch {
	case w.socket:
		return jail.Sockets
	case w.writable:
		return jail.ReadWrite
	}
	return jail.ReadOnly
}

// detachedMount makes planned mount w as a detached mount tree, with its
// flags and, if it asks for one, its ID mapping set.
func (s *containerSpawner) detachedMount(w plannedMount) (*os.File, error) {
	var ns *os.File
	if w.idmap {
		var err error
		if ns, err = s.idmapUsernsFile(w.uid, w.gid); err != nil {
			return nil, err
		}
	}
	if w.file != nil {
		return openMountFile(w.src, w.file, w.dir, w.mountAttr(), ns)
	}
	return openMount(w.src, w.dir, w.mountAttr(), ns)
}

// openMount clones the mount tree at src (open_tree) and sets attr on all
// of it, with the ID mapping of user namespace ns if not nil.
func openMount(src string, recursive bool, attr uint64, ns *os.File) (*os.File, error) {
	return openTree(unix.AT_FDCWD, src, src, 0, recursive, attr, ns)
}

// openMountFile is openMount of the file open as f (named src in
// messages): the tree is cloned from the descriptor, not by name.
func openMountFile(src string, f *os.File, recursive bool, attr uint64, ns *os.File) (*os.File, error) {
	return openTree(int(f.Fd()), "", src, unix.AT_EMPTY_PATH, recursive, attr, ns)
}

func openTree(dirfd int, path, src string, atFlags int, recursive bool, attr uint64, ns *os.File) (*os.File, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | atFlags
	setFlags := unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(dirfd, path, uint(flags))
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", src, &os.PathError{Op: "open_tree", Path: src, Err: err})
	}
	ma := &unix.MountAttr{Attr_set: attr}
	if ns != nil {
		ma.Attr_set |= unix.MOUNT_ATTR_IDMAP
		ma.Userns_fd = uint64(ns.Fd())
	}
	if err := unix.MountSetattr(fd, "", uint(setFlags), ma); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount %s: %w", src, &os.PathError{Op: "mount_setattr", Path: src, Err: err})
	}
	return os.NewFile(uintptr(fd), "mount:"+src), nil
}

func memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// cachedJailFilter returns the jail's seccomp program, compiled once per
// profile, libseccomp version and architecture and kept in the state
// directory (which only root may write) as the raw program followed by its
// sha256. An entry that does not check out is compiled again and replaced.
func (s *containerSpawner) cachedJailFilter() (*os.File, error) {
	sc := jailSeccomp()
	profile, err := json.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	major, minor, micro := libseccomp.GetLibraryVersion()
	key := sha256.Sum256(fmt.Appendf(profile, "\x00libseccomp %d.%d.%d %s jail-bpf-2", major, minor, micro, runtime.GOARCH))
	path := filepath.Join(s.o.StateDir, "seccomp-"+hex.EncodeToString(key[:12])+".bpf")
	if b, err := os.ReadFile(path); err == nil && len(b) > sha256.Size {
		prog, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
		if h := sha256.Sum256(prog); len(prog)%8 == 0 && bytes.Equal(h[:], sum) {
			return sealedProgram(prog)
		}
		s.log.Warn("seccomp program cache entry corrupt: compiling again", "path", path)
	}
	f, err := jailFilterFile(sc)
	if err != nil {
		return nil, err
	}
	prog, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the seccomp program: %w", err)
	}
	h := sha256.Sum256(prog)
	tmp, err := os.CreateTemp(s.o.StateDir, ".seccomp-*")
	if err == nil {
		_, err = tmp.Write(append(prog, h[:]...))
		err = errors.Join(err, tmp.Close())
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}
	if err != nil { // only a cache: the program is good
		s.log.Warn("seccomp program not cached", "error", err)
	}
	return f, nil
}

// sealedProgram puts a BPF program in a sealed memfd.
func sealedProgram(prog []byte) (*os.File, error) {
	f, err := memfd("agent-ctl-seccomp")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(prog); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the seccomp program: %w", err)
	}
	if err := seal(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the seccomp program: %w", err)
	}
	return f, nil
}

// seal forbids any change to memfd f's contents, and any further seal.
func seal(f *os.File) error {
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		return fmt.Errorf("fcntl F_ADD_SEALS: %w", err)
	}
	return nil
}

// jailFilterFile compiles the worker's seccomp profile to a classic BPF
// program in a sealed memfd that every jail start hands to its worker.
func jailFilterFile(sc *configs.Seccomp) (*os.File, error) {
	f, err := memfd("agent-ctl-seccomp")
	if err != nil {
		return nil, err
	}
	if err := exportSeccomp(sc, f); err != nil {
		f.Close()
		return nil, err
	}
	if err := seal(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the seccomp program: %w", err)
	}
	return f, nil
}

// exportSeccomp writes sc as a BPF program for this architecture, the way
// libcontainer's seccomp package reads the same profile; a syscall this
// architecture does not have is left out, as libcontainer leaves it.
func exportSeccomp(sc *configs.Seccomp, f *os.File) error {
	action := func(a configs.Action, errno *uint) (libseccomp.ScmpAction, error) {
		switch a {
		case configs.Allow:
			return libseccomp.ActAllow, nil
		case configs.KillProcess:
			return libseccomp.ActKillProcess, nil
		case configs.Errno:
			if errno == nil {
				return libseccomp.ActErrno.SetReturnCode(int16(unix.EPERM)), nil
			}
			return libseccomp.ActErrno.SetReturnCode(int16(*errno)), nil
		}
		return 0, fmt.Errorf("seccomp action %v not supported", a)
	}
	def, err := action(sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return err
	}
	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	defer filter.Release()
	// A call through another ABI (i386's int $0x80, x32's numbers) kills
	// the worker: libseccomp's default kills only the thread, which
	// leaves a Go program stuck.
	if err := filter.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	for _, c := range sc.Syscalls {
		nr, err := libseccomp.GetSyscallFromName(c.Name)
		if err != nil {
			continue
		}
		act, err := action(c.Action, c.ErrnoRet)
		if err != nil {
			return err
		}
		var conds []libseccomp.ScmpCondition
		for _, a := range c.Args {
			var op libseccomp.ScmpCompareOp
			switch a.Op {
			case configs.EqualTo:
				op = libseccomp.CompareEqual
			case configs.MaskEqualTo:
				op = libseccomp.CompareMaskedEqual
			default:
				return fmt.Errorf("seccomp: operator %v not supported", a.Op)
			}
			cond, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
			if err != nil {
				return fmt.Errorf("seccomp rule for %s: %w", c.Name, err)
			}
			conds = append(conds, cond)
		}
		if len(conds) == 0 {
			err = filter.AddRule(nr, act)
		} else {
			err = filter.AddRuleConditional(nr, act, conds)
		}
		if err != nil {
			return fmt.Errorf("seccomp rule for %s: %w", c.Name, err)
		}
	}
	if err := filter.ExportBPF(f); err != nil {
		return fmt.Errorf("seccomp: exporting the filter: %w", err)
	}
	return nil
}

// jailSeccomp is the worker's profile for the jail engine: the same as
// libcontainer's, except that no init runs after the filter is loaded, so
// executing a program is never needed and kills the worker.
func jailSeccomp() *configs.Seccomp {
	sc := workerSeccomp()
	for _, c := range sc.Syscalls {
		if c.Name == "execve" || c.Name == "execveat" {
			c.Action = configs.KillProcess
		}
	}
	return sc
}

type jailProcess struct {
	containerEnd
	cmd      *exec.Cmd
	mgr      cgroups.Manager
	dir      string
	lifeline *os.File // the sync pipe's write end: the worker checks it is open
}

// reap waits for the worker, PID 1 of its namespace (when it dies the
// kernel kills and reaps everything else in it first), then removes its
// cgroup and directory.
func (p *jailProcess) reap() {
	err := p.cmd.Wait()
	closeFiles(p.lifeline)
	p.ended(err, p.dir, func() error {
		if err := p.mgr.Destroy(); err != nil {
			return fmt.Errorf("removing cgroup: %w", err)
		}
		return nil
	})
}

// Kill kills the worker and everything in its namespaces, and returns once
// its cgroup and directory are removed.
func (p *jailProcess) Kill() error {
	return p.kill(func() { _ = p.cmd.Process.Signal(unix.SIGKILL) })
}
