//go:build linux && cgo

package isolation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/agent-ctl/agent-ctl/isolation/jail"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
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
