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

// startJail starts one worker with the jail engine, in five stages:
//
//	plan     what the worker's root holds and where its cgroup goes; acquires nothing
//	cgroup   the call's directory, and in it the worker's cgroup, made while the next stages run
//	files    the worker's descriptors: pipes, detached mounts, its sealed configuration
//	launch   the worker, cloned straight into its namespaces
//	release  the worker moved into its cgroup, let go and confined
//
// Each stage owns what it opens: if it fails, it releases what it opened
// itself and returns nothing. What the stages returned is kept in a
// jailStart, whose undo releases exactly that, last first, when a later
// stage fails.
func (s *containerSpawner) startJail(spec *Spec) (Process, error) {
	t0 := time.Now()
	s.marked("start")
	j := &jailStart{}
	var err error
	if j.plan, err = s.planJail(spec); err != nil {
		return nil, err
	}
	if err := s.stageDone("plan", j); err != nil {
		return nil, j.undo(err)
	}
	if j.dir, j.root, err = s.callDir(); err != nil {
		return nil, err
	}
	if j.cgroup, err = s.startJailCgroup(j.plan, j.dir); err != nil {
		return nil, j.undo(err)
	}
	if err := s.stageDone("cgroup", j); err != nil {
		return nil, j.undo(err)
	}
	if j.files, err = s.jailFiles(spec, j.plan, j.root); err != nil {
		return nil, j.undo(err)
	}
	if err := s.stageDone("files", j); err != nil {
		return nil, j.undo(err)
	}
	s.marked("prepared")
	tRun := time.Now()
	if j.cmd, err = launchJail(spec, s.workerEnv(spec, jail.Env+"="+strconv.Itoa(j.files.cfgFD)), j.files); err != nil {
		return nil, j.undo(err)
	}
	s.marked("ran")
	if err := s.stageDone("launch", j); err != nil {
		return nil, j.undo(err)
	}
	if err := s.releaseJail(j); err != nil {
		return nil, j.undo(err)
	}
	if err := s.stageDone("release", j); err != nil {
		return nil, j.undo(err)
	}
	s.marked("released")
	p := &jailProcess{
		containerEnd: newContainerEnd(j.plan.id, j.cmd.Process.Pid, s.log, j.files.outR, j.files.errR,
			containerTimings{Prepare: tRun.Sub(t0), Run: time.Since(tRun)}),
		cmd: j.cmd, mgr: j.cgroup.mgr, dir: j.dir, lifeline: j.files.syncW,
	}
	j.files.closeStatus()
	go p.reap()
	s.log.Debug("container started", "engine", EngineJail, "container_id", j.plan.id, "worker_pid", j.cmd.Process.Pid,
		"prepare_us", p.timings.Prepare.Microseconds(), "run_us", p.timings.Run.Microseconds())
	return p, nil
}

// stageDone calls the test hook that may fail a start after stage.
func (s *containerSpawner) stageDone(stage string, j *jailStart) error {
	if s.stageHook == nil {
		return nil
	}
	return s.stageHook(stage, j)
}

// jailStart is what the stages of one jail start acquired so far.
type jailStart struct {
	plan   jailPlan
	dir    string     // the call's directory (cgroup stage)
	root   string     // the worker's root, in dir
	cgroup *jailGroup // cgroup stage
	files  *jailFiles // files stage
	cmd    *exec.Cmd  // launch stage
}

// undo releases what the start acquired, last first, and returns err, with
// what a launched worker said on stderr on its way out (a worker that could
// not confine itself says why there).
func (j *jailStart) undo(err error) error {
	if j.cmd != nil {
		_ = j.cmd.Process.Kill()
		_ = j.cmd.Wait()
		// The worker's copy of the pipe died with it, ours was closed at
		// launch: this reads to the end of what it wrote.
		if b, _ := io.ReadAll(io.LimitReader(j.files.errR, 4096)); len(b) > 0 {
			err = fmt.Errorf("%w; the worker said: %s", err, bytes.TrimSpace(b))
		}
	}
	if j.files != nil {
		j.files.close()
	}
	if j.cgroup != nil {
		// Nothing is in it: a failed start's worker is dead and reaped.
		_ = j.cgroup.remove()
	}
	if j.dir != "" {
		_ = os.RemoveAll(j.dir)
	}
	return err
}

// jailPlan is what a jail start will make.
type jailPlan struct {
	id     string
	mounts []plannedMount
	cg     *cgroups.Cgroup
	mgr    cgroups.Manager // cg's manager; made, not applied
}

// planJail is the plan stage: it checks spec and says what the worker gets.
func (s *containerSpawner) planJail(spec *Spec) (jailPlan, error) {
	mounts, err := s.planMounts(spec)
	if err != nil {
		return jailPlan{}, err
	}
	id := "agent-ctl-" + randomID()
	cg := s.cgroupConfig(spec, id)
	mgr, err := jailCgroup(cg)
	if err != nil {
		return jailPlan{}, fmt.Errorf("cgroup: %w", err)
	}
	return jailPlan{id: id, mounts: mounts, cg: cg, mgr: mgr}, nil
}

// jailGroup is a worker's cgroup, being made.
type jailGroup struct {
	mgr  cgroups.Manager
	done chan error // the result of making it; read once by wait
	err  func() error
}

// startJailCgroup is the cgroup stage, once the call's directory dir is
// made: it records in dir where the worker's cgroups will be, before they
// are made (a supervisor killed from here on leaves them to the next one's
// sweep), then starts making them. That is the slowest part of a start (an RCU
// grace period per controller on some kernels): it runs while the worker
// is prepared and cloned.
func (s *containerSpawner) startJailCgroup(plan jailPlan, dir string) (*jailGroup, error) {
	if err := writeCgroupsFile(dir, plan.mgr.GetPaths()); err != nil {
		return nil, err
	}
	g := &jailGroup{mgr: plan.mgr, done: make(chan error, 1)}
	g.err = sync.OnceValue(func() error { return <-g.done })
	go func() {
		warmMigration()
		err := g.mgr.Apply(-1)
		if err == nil {
			// The v1 manager's controllers are package-level values, and
			// its blkio controller caches a file name in one on first use
			// without a lock (opencontainers/cgroups v0.1.0): one Set at a
			// time.
			cgroupSetMu.Lock()
			err = g.mgr.Set(plan.cg.Resources)
			cgroupSetMu.Unlock()
		}
		g.done <- err
	}()
	return g, nil
}

// wait returns once the cgroup is made, with what went wrong making it.
func (g *jailGroup) wait() error { return g.err() }

// remove waits for the cgroup to be made (or to fail) and removes it.
func (g *jailGroup) remove() error {
	_ = g.wait()
	return g.mgr.Destroy()
}

// jailFiles are the descriptors of one jail start: the worker's, handed to
// it at launch, and the supervisor's ends of its pipes.
type jailFiles struct {
	// extra are the worker's descriptors from 3 on: the Spec's first,
	// then the configuration, the seccomp program, the sync and status
	// pipes, the user namespace and the mounts. Only those in child are
	// this start's to close.
	extra  []*os.File
	cfgFD  int        // the configuration's number in the worker
	child  []*os.File // the worker's copies: closed once it is launched
	outW   *os.File   // the worker's stdout and stderr (in child)
	errW   *os.File
	outR   *os.File // the supervisor's ends
	errR   *os.File
	syncW  *os.File // kept open while the worker lives: its lifeline
	status *os.File // read once, when the worker says it is confined
}

// close closes every descriptor of the start: the worker, if it was
// launched, is dead or going (it reads end of file on the sync pipe and
// gives up).
func (f *jailFiles) close() {
	f.closeChild()
	closeFiles(f.outR, f.errR, f.syncW)
	f.closeStatus()
}

// closeChild closes the supervisor's copies of the worker's descriptors:
// once it is launched, the worker has its own, and ours would keep the
// readers of its output from ever seeing end of file.
func (f *jailFiles) closeChild() {
	closeFiles(f.child...)
	f.child = nil
}

func (f *jailFiles) closeStatus() {
	if f.status != nil {
		_ = f.status.Close()
		f.status = nil
	}
}

// jailFiles is the files stage: it gives the Spec's pipes to the worker's
// user and opens, writes and seals everything the worker is handed, the
// configuration that tells it what each is last.
func (s *containerSpawner) jailFiles(spec *Spec, plan jailPlan, root string) (_ *jailFiles, err error) {
	if err := s.chownPipes(spec); err != nil {
		return nil, err
	}
	f := &jailFiles{extra: append([]*os.File(nil), spec.ExtraFiles...)}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	fdOf := func(file *os.File) int {
		f.extra = append(f.extra, file)
		return 2 + len(f.extra)
	}
	pipe := func(what string) (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err != nil {
			return nil, nil, fmt.Errorf("creating the worker's %s pipe: %w", what, err)
		}
		return r, w, nil
	}
	var syncR, statusW *os.File
	if syncR, f.syncW, err = pipe("sync"); err != nil {
		return nil, err
	}
	f.child = append(f.child, syncR)
	if f.status, statusW, err = pipe("status"); err != nil {
		return nil, err
	}
	f.child = append(f.child, statusW)
	if f.outR, f.outW, err = pipe("stdout"); err != nil {
		return nil, err
	}
	f.child = append(f.child, f.outW)
	if f.errR, f.errW, err = pipe("stderr"); err != nil {
		return nil, err
	}
	f.child = append(f.child, f.errW)
	cfgFile, err := memfd("agent-ctl-jail")
	if err != nil {
		return nil, err
	}
	f.child = append(f.child, cfgFile)
	cfg := jail.Config{Root: root, Proc: true, Hostname: "agent-ctl", Landlock: s.landlockABI > 0,
		Rlimits: []jail.Rlimit{
			{Resource: unix.RLIMIT_CORE},
			{Resource: unix.RLIMIT_NOFILE, Soft: s.o.MaxOpenFiles, Hard: s.o.MaxOpenFiles},
		},
	}
	f.cfgFD = fdOf(cfgFile)
	cfg.Seccomp = fdOf(s.jailFilter) // the spawner's
	cfg.Sync = fdOf(syncR)
	cfg.Status = fdOf(statusW)
	// The worker's user namespace maps its root to the worker's host IDs:
	// the same mapping as an ID-mapped mount of root's files, so the same
	// namespace (the spawner's) serves.
	userns, err := s.idmapUsernsFile(0, 0)
	if err != nil {
		return nil, err
	}
	cfg.Userns = fdOf(userns)
	for _, w := range plan.mounts {
		m, err := s.detachedMount(w)
		if err != nil {
			return nil, err
		}
		f.child = append(f.child, m)
		cfg.Mounts = append(cfg.Mounts, jail.Mount{FD: fdOf(m), Target: w.dst, Dir: w.dir, Access: w.access()})
	}
	for _, d := range []struct {
		path   string
		access jail.Access
	}{{"/dev/null", jail.ReadWrite}, {"/dev/urandom", jail.ReadOnly}} {
		m, err := openMount(d.path, false, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, nil)
		if err != nil {
			return nil, err
		}
		f.child = append(f.child, m)
		cfg.Mounts = append(cfg.Mounts, jail.Mount{FD: fdOf(m), Target: d.path, Access: d.access})
	}
	if _, err := cfgFile.Write(cfg.Encode()); err != nil {
		return nil, fmt.Errorf("writing the worker's configuration: %w", err)
	}
	// The constructor acts only on a sealed configuration (see package
	// jail): nothing can change it once the worker may read it.
	if err := seal(cfgFile); err != nil {
		return nil, fmt.Errorf("sealing the worker's configuration: %w", err)
	}
	return f, nil
}

// launchJail is the launch stage: it clones the worker into its namespaces
// with files, then closes the supervisor's copies of the worker's
// descriptors. On failure there is no worker.
func launchJail(spec *Spec, env []string, f *jailFiles) (*exec.Cmd, error) {
	cmd := &exec.Cmd{
		Path: spec.Path, Args: append([]string{spec.Path}, spec.Args...), Env: env, Dir: "/",
		Stdout: f.outW, Stderr: f.errW, ExtraFiles: f.extra,
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
	var err error
	onSpawnThread(func() { err = cmd.Start() })
	if err != nil {
		return nil, fmt.Errorf("starting worker %s in a container: %w", spec.Path, err)
	}
	f.closeChild()
	return cmd, nil
}

// releaseJail is the release stage: it waits for the worker's cgroup, moves
// the worker into it, lets the worker go on (its constructor waits on the
// sync pipe) and waits for it to say it is confined. It acquires nothing:
// on failure, undo kills the worker.
func (s *containerSpawner) releaseJail(j *jailStart) error {
	pid := j.cmd.Process.Pid
	if err := j.cgroup.wait(); err != nil {
		return fmt.Errorf("creating the worker's cgroup: %w", err)
	}
	if err := j.cgroup.mgr.AddPid("", pid); err != nil {
		return fmt.Errorf("moving the worker into its cgroup: %w", err)
	}
	if err := setOOMScoreAdj(pid); err != nil {
		return err
	}
	// The write fails if the worker already gave up; either way its status
	// pipe says whether it is confined.
	_, _ = j.files.syncW.Write([]byte{1})
	_ = j.files.status.SetReadDeadline(time.Now().Add(confineTimeout))
	if n, err := j.files.status.Read(make([]byte, 1)); n != 1 {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("the worker was not confined within %s", confineTimeout)
		}
		return errors.New("the worker ended while it was being confined")
	}
	// From now on an empty cgroup means a dead worker (see sweep).
	if err := os.WriteFile(filepath.Join(j.dir, jailWorkerFile), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return fmt.Errorf("recording the worker: %w", err)
	}
	return nil
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
