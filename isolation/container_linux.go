//go:build linux && cgo

package isolation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // device rules for the cgroup; without it libcontainer refuses them
	devices "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // the C half of libcontainer's init: runs before the Go runtime
	"golang.org/x/sys/unix"
)

// pluginSocketDirEnv is where go-plugin tells its server which directory to
// put the unix socket in; that directory is mounted into the container.
const pluginSocketDirEnv = "PLUGIN_UNIX_SOCKET_DIR"

func init() {
	// Container.Run moves a goroutine's thread into the new container's
	// mount namespace and lets that goroutine end locked to it, so that Go
	// retires the thread. Go cannot retire the main thread: it parks it
	// forever instead, leaving /proc/self (the main thread's view) in a
	// dead container's mount namespace and pinning that namespace with all
	// its mounts. Keeping the main goroutine on the main thread keeps every
	// other goroutine off it. Only an init function can promise that.
	runtime.LockOSThread()

	// A container's init is caught here, as runc's own main package does,
	// rather than in main: Go initialises packages in the order of their
	// import paths, each once all it imports is done, so the packages this
	// one does not need (gRPC, protobuf, the MCP SDK, JSON Schema,
	// net/http, …) come later and an init never spends time on them.
	initContainer()
}

func initContainer() {
	// libcontainer starts its init as "<argv0> init" with its pipes in
	// _LIBCONTAINER_INITPIPE; both must be there, so that a user typing
	// "init" is never taken for one.
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		// libcontainer's ParentDeathSignal reaches only its first init
		// stage, which exits at once; this process (the last stage,
		// soon the worker) would outlive a supervisor that dies. Its
		// parent is the supervisor's spawn thread (see onSpawnThread);
		// libcontainer keeps the signal across its change of user, and
		// execve keeps it too.
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
		libcontainer.Init() // never returns
	}
}

// NewContainer returns the spawner for container isolation. Each worker gets:
//
//   - its own user, mount, PID, network (loopback only, down), IPC, UTS and
//     cgroup namespaces; the container's root is mapped to an unprivileged
//     host ID (ContainerOptions.HostUID/HostGID) and nothing else is mapped;
//   - a fresh, read-only root (an empty directory, pivot_root) holding only:
//     the worker executable and its shared libraries (read-only), the
//     go-plugin socket directory (read-write), the Spec's Mounts, /dev/null,
//     /dev/urandom and a read-only procfs of its own PID namespace; every
//     path at the same place as on the host. Mounts other than the
//     executable's and the libraries' are nosuid, nodev and noexec, and
//     ID-mapped so that the worker acts as the owner of what it is given;
//   - a cgroup (v1 or v2, whichever /sys/fs/cgroup is) with memory, pids and
//     CPU limits, removed with the worker;
//   - no capabilities, no_new_privs, RLIMIT_CORE 0, a small RLIMIT_NOFILE and
//     a seccomp allow-list (unix stream sockets only, no send destinations,
//     no namespaces, no set-user-ID modes, one ABI; ptrace, mount, bpf,
//     keyctl, io_uring, module loading, unshare, setns, perf_event_open and
//     the like kill the worker);
//   - Landlock where the kernel has it (required unless
//     ContainerOptions.AllowNoLandlock), and host IDs that no host user,
//     group or subordinate range has.
//
// It needs root, a build with cgo and the seccomp build tag (libseccomp),
// and main calling Init first. Otherwise it returns an error that wraps
// ErrUnavailable.
func NewContainer(o *ContainerOptions) (Spawner, error) {
	s := &containerSpawner{libs: map[string]libCacheEntry{}, userns: map[idmapKey]*os.File{}}
	if o != nil {
		s.o = *o
	}
	if err := checkContainer(&s.o); err != nil {
		return nil, err
	}
	var stateDirs []string // the default and what it falls back to
	if s.o.StateDir == "" {
		stateDirs = defaultStateDirs()
	}
	if err := s.hostIDs(); err != nil {
		return nil, err
	}
	if s.o.MemoryLimit == 0 {
		s.o.MemoryLimit = defaultMemoryLimit
	}
	if s.o.CPUs == 0 {
		s.o.CPUs = defaultCPUs
	}
	if s.o.PidsLimit == 0 {
		s.o.PidsLimit = defaultPidsLimit
	}
	if s.o.MaxOpenFiles == 0 {
		s.o.MaxOpenFiles = defaultMaxOpenFiles
	}
	s.log = s.o.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.o.MemoryLimit < 0 || s.o.CPUs < 0 || s.o.PidsLimit < 0 {
		return nil, errors.New("container options: limits must not be negative")
	}
	if err := s.requireLandlock(); err != nil {
		return nil, err
	}
	if stateDirs != nil {
		dir, err := firstStateDir(s.log, stateDirs)
		if err != nil {
			return nil, err
		}
		s.o.StateDir = dir
	} else if err := prepareStateDir(s.o.StateDir); err != nil {
		return nil, err
	}
	s.sweep(s.o.StateDir)
	if stateDirs != nil && s.o.StateDir != defaultStateDir {
		// A supervisor of an earlier version may have left containers in
		// the other default.
		s.sweep(defaultStateDir)
	}
	// Before warmMigration: that moves the supervisor too.
	if err := s.placeCgroups(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if s.o.Engine == "" {
		s.o.Engine = os.Getenv(EngineEnv)
	}
	switch s.o.Engine {
	case "", EngineJail:
		s.o.Engine = EngineJail
		// The seccomp program (from the state directory's cache; compiling
		// it takes libseccomp 1.5 ms, 4-13 ms in a process that just
		// started) and the workers' user namespace (a clone stopped at its
		// exec: 2-9 ms) side by side, and the cgroup migration's grace
		// period (see warmMigration) meanwhile.
		go warmMigration()
		var ferr, uerr error
		var wg sync.WaitGroup
		wg.Go(func() { s.jailFilter, ferr = s.cachedJailFilter() })
		wg.Go(func() { _, uerr = s.idmapUsernsFile(0, 0) })
		wg.Wait()
		if err := errors.Join(ferr, uerr); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	case EngineLibcontainer:
	default:
		return nil, fmt.Errorf("container engine %q: want %q or %q", s.o.Engine, EngineJail, EngineLibcontainer)
	}
	s.seccomp = workerSeccomp()
	s.swapLimit = swapAccounting(s.cgroupParent)
	logSwap(s.log, s.swapLimit)
	return s, nil
}

type containerSpawner struct {
	o         ContainerOptions
	log       *slog.Logger
	seccomp   *configs.Seccomp
	swapLimit bool // the memory controller can cap swap too
	// cgroupParent is where workers' cgroups go (see placeCgroups), as
	// cgroups.Cgroup.Path takes it; empty means libcontainer's default.
	cgroupParent string
	jailFilter   *os.File // the jail engine's seccomp program (see jailFilterFile)
	landlockABI  int      // the kernel's Landlock ABI version; 0 means none

	// For tests and measurements: libcontainer's log level in the init
	// ("5" is debug), a last change to each configuration, and a mark at
	// each step of Start that happens outside libcontainer.
	logLevel   string
	configHook func(*configs.Config)
	mark       func(step string)

	mu     sync.Mutex
	libs   map[string]libCacheEntry // executable path → library directories
	userns map[idmapKey]*os.File    // see idmapUserns
}

var _ Spawner = (*containerSpawner)(nil)

func (s *containerSpawner) marked(step string) {
	if s.mark != nil {
		s.mark(step)
	}
}

func (*containerSpawner) Name() string { return "container" }

// Start creates a container for one worker and starts the worker in it.
func (s *containerSpawner) Start(spec *Spec) (Process, error) {
	if s.o.Engine == EngineJail {
		return s.startJail(spec)
	}
	return s.startLibcontainer(spec)
}

func (s *containerSpawner) startLibcontainer(spec *Spec) (Process, error) {
	t0 := time.Now()
	s.marked("start")
	id := "agent-ctl-" + randomID()
	mounts, plan, err := s.mounts(spec)
	if err != nil {
		return nil, err
	}
	confine, err := s.confineEnv(plan)
	if err != nil {
		return nil, err
	}
	cg := s.cgroupConfig(spec, id)
	dir, rootfs, err := s.callDir()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	// The container's root must be owned by the mapped root, which builds
	// it from inside the user namespace.
	if err := os.Chown(rootfs, s.o.HostUID, s.o.HostGID); err != nil {
		return nil, fmt.Errorf("creating container root: %w", err)
	}

	if err := s.chownPipes(spec); err != nil {
		return nil, err
	}

	cfg := s.config(id, rootfs, mounts, cg)
	if s.configHook != nil {
		s.configHook(cfg)
	}
	s.marked("prepared")
	tCreate := time.Now()
	c, err := libcontainer.Create(filepath.Join(dir, "state"), id, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating container: %w", err)
	}
	if err := recordCgroups(c, dir); err != nil {
		_ = c.Destroy()
		return nil, err
	}
	dCreate := time.Since(tCreate)
	s.marked("created")

	outR, outW, err := os.Pipe()
	if err != nil {
		_ = c.Destroy()
		return nil, fmt.Errorf("creating worker stdout: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = c.Destroy()
		closeFiles(outR, outW)
		return nil, fmt.Errorf("creating worker stderr: %w", err)
	}
	env := s.workerEnv(spec, confine)
	proc := &libcontainer.Process{
		Args:       append([]string{spec.Path}, spec.Args...),
		Env:        env,
		Cwd:        "/",
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: spec.ExtraFiles,
		Init:       true,
		LogLevel:   s.logLevel,
	}
	tRun := time.Now()
	onSpawnThread(func() { err = c.Run(proc) })
	dRun := time.Since(tRun)
	s.marked("ran")
	// The worker holds its own copies now; ours would keep the readers
	// from ever seeing EOF.
	closeFiles(outW, errW)
	if err != nil {
		_ = c.Destroy() // kills a half-started init
		closeFiles(outR, errR)
		return nil, fmt.Errorf("starting worker %s in a container: %w", spec.Path, err)
	}
	pid, err := proc.Pid()
	if err != nil { // cannot happen after a successful Run
		_ = proc.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		_ = c.Destroy()
		closeFiles(outR, errR)
		return nil, fmt.Errorf("starting worker %s in a container: %w", spec.Path, err)
	}
	// libcontainer mounts grants by name: check that each is what was
	// opened. And libcontainer's init set the OOM score already, inside
	// the worker's user namespace: from outside it also becomes a floor
	// the worker cannot go below.
	err = checkMounted(pid, plan)
	if err == nil {
		err = setOOMScoreAdj(pid)
	}
	if err != nil {
		_ = proc.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		_ = c.Destroy()
		closeFiles(outR, errR)
		return nil, err
	}
	ok = true
	p := &containerProcess{
		containerEnd: newContainerEnd(id, pid, s.log, outR, errR,
			containerTimings{Prepare: tCreate.Sub(t0), Create: dCreate, Run: dRun}),
		c: c, proc: proc, dir: dir,
	}
	go p.reap()
	s.log.Debug("container started", "container_id", id, "worker_pid", pid,
		"prepare_us", p.timings.Prepare.Microseconds(), "create_us", dCreate.Microseconds(),
		"run_us", dRun.Microseconds())
	return p, nil
}

// containerTimings are the steps of one container's life, for benchmarks
// and debug logs.
type containerTimings struct {
	Prepare time.Duration // mounts, directories, configuration
	Create  time.Duration // libcontainer.Create: validation, cgroup checks, state directory
	Run     time.Duration // Container.Run: clone the init, namespaces, cgroup, root, seccomp, exec
	Destroy time.Duration // Container.Destroy and removing the directory, after the worker was reaped
}

// callDir makes a worker's directory in the state directory, and in it the
// empty directory that becomes its root; the worker's user may pass
// through.
func (s *containerSpawner) callDir() (dir, root string, err error) {
	dir, err = os.MkdirTemp(s.o.StateDir, "call-")
	if err != nil {
		return "", "", fmt.Errorf("creating container directory: %w", err)
	}
	root = filepath.Join(dir, "root")
	if err := os.Chmod(dir, 0o711); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("creating container directory: %w", err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("creating container root: %w", err)
	}
	return dir, root, nil
}

// containerEnd is what a worker of either engine leaves to wait for: its
// own output, how it ended, and the removal of its container.
type containerEnd struct {
	id             string
	pid            int
	log            *slog.Logger
	stdout, stderr *os.File

	killOnce  sync.Once
	closeOnce sync.Once
	done      chan struct{} // closed once the worker is reaped and its container removed
	waitErr   error         // how the worker ended
	cleanErr  error         // what removing the container left behind
	timings   containerTimings
}

func newContainerEnd(id string, pid int, log *slog.Logger, stdout, stderr *os.File, t containerTimings) containerEnd {
	return containerEnd{id: id, pid: pid, log: log, stdout: stdout, stderr: stderr, done: make(chan struct{}), timings: t}
}

func (e *containerEnd) Stdout() io.ReadCloser { return e.stdout }
func (e *containerEnd) Stderr() io.ReadCloser { return e.stderr }
func (e *containerEnd) Pid() int              { return e.pid }

// ended records how the reaped worker ended, removes its container (the
// engine's remove, then the call directory dir) and wakes Wait and Kill.
func (e *containerEnd) ended(waitErr error, dir string, remove func() error) {
	e.waitErr = waitErr
	t := time.Now()
	var errs []error
	if err := remove(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("removing container directory: %w", err))
	}
	e.cleanErr = errors.Join(errs...)
	e.timings.Destroy = time.Since(t)
	if e.cleanErr != nil {
		e.log.Warn("container not fully removed", "container_id", e.id, "error", e.cleanErr)
	}
	e.log.Debug("container destroyed", "container_id", e.id, "destroy_us", e.timings.Destroy.Microseconds())
	close(e.done)
}

// Wait waits until the worker has exited and its container is gone, then
// closes the read ends of its stdout and stderr, as exec.Cmd.Wait does:
// read them to the end before.
func (e *containerEnd) Wait() error {
	<-e.done
	e.closeOnce.Do(func() { closeFiles(e.stdout, e.stderr) })
	return e.waitErr
}

// kill sends SIGKILL once with signal and returns once the container is
// removed. The worker is PID 1 of its namespace: SIGKILL from outside takes
// the whole namespace down. Both engines signal through a pidfd, so a
// reused PID is never hit.
func (e *containerEnd) kill(signal func()) error {
	e.killOnce.Do(signal)
	select {
	case <-e.done:
		return e.cleanErr
	case <-time.After(killTimeout):
		return fmt.Errorf("worker %d still running %s after SIGKILL", e.pid, killTimeout)
	}
}

type containerProcess struct {
	containerEnd
	c    *libcontainer.Container
	proc *libcontainer.Process
	dir  string
}

// reap waits for the worker (the container's PID 1: when it dies the kernel
// kills everything else in its PID namespace) and then removes the
// container: cgroup, state and root.
func (p *containerProcess) reap() {
	_, err := p.proc.Wait()
	p.ended(err, p.dir, p.c.Destroy)
}

// Kill kills the worker and everything in its container, and returns once
// the container is removed.
func (p *containerProcess) Kill() error {
	return p.kill(func() { _ = p.proc.Signal(unix.SIGKILL) })
}

// config is the libcontainer configuration of one worker's container.
func (s *containerSpawner) config(id, rootfs string, mounts []*configs.Mount, cg *cgroups.Cgroup) *configs.Config {
	host := func(id int) []configs.IDMap { return []configs.IDMap{{ContainerID: 0, HostID: int64(id), Size: 1}} }
	return &configs.Config{
		Rootfs:          rootfs,
		Readonlyfs:      true,
		RootPropagation: unix.MS_PRIVATE | unix.MS_REC,
		Namespaces: configs.Namespaces{
			{Type: configs.NEWUSER}, {Type: configs.NEWNS}, {Type: configs.NEWPID}, {Type: configs.NEWNET},
			{Type: configs.NEWIPC}, {Type: configs.NEWUTS}, {Type: configs.NEWCGROUP},
		},
		UIDMappings: host(s.o.HostUID),
		GIDMappings: host(s.o.HostGID),
		Hostname:    "agent-ctl",
		// procfs first: the worker opens /proc/self/fd/N, and the
		// kernel wants it read-only and without device or exec rights.
		Mounts: append([]*configs.Mount{{
			Source: "proc", Destination: "/proc", Device: "proc",
			Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY,
		}}, mounts...),
		Devices: workerDevices,
		MaskPaths: []string{
			"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
		},
		Capabilities:      &configs.Capabilities{}, // nil would keep the (namespaced) root's
		NoNewPrivileges:   true,
		NoNewKeyring:      true,
		ParentDeathSignal: int(unix.SIGKILL),
		Seccomp:           s.seccomp,
		Rlimits: []configs.Rlimit{
			{Type: unix.RLIMIT_CORE, Hard: 0, Soft: 0},
			{Type: unix.RLIMIT_NOFILE, Hard: s.o.MaxOpenFiles, Soft: s.o.MaxOpenFiles},
		},
		Cgroups:     cg,
		OomScoreAdj: &oomScoreAdj,
	}
}

// oomScoreAdj is workerOOMScoreAdj, addressable for configs.Config.
var oomScoreAdj = workerOOMScoreAdj

var workerDevices = []*devices.Device{
	{Path: "/dev/null", FileMode: 0o666, Rule: devices.Rule{Type: devices.CharDevice, Major: 1, Minor: 3, Permissions: "rwm", Allow: true}},
	{Path: "/dev/urandom", FileMode: 0o666, Rule: devices.Rule{Type: devices.CharDevice, Major: 1, Minor: 9, Permissions: "rwm", Allow: true}},
}

// deviceRules deny every device but the two the worker gets.
func deviceRules() []*devices.Rule {
	rules := []*devices.Rule{{Type: devices.WildcardDevice, Major: devices.Wildcard, Minor: devices.Wildcard, Permissions: "rwm", Allow: false}}
	for _, d := range workerDevices {
		r := d.Rule
		rules = append(rules, &r)
	}
	return rules
}

// plannedMount is one bind mount of a worker's root.
type plannedMount struct {
	src, dst              string
	writable, exec, idmap bool
	socket                bool     // go-plugin's socket directory
	dir                   bool     // the source is a directory
	uid, gid              uint32   // the source's owner, for an ID mapping
	file                  *os.File // the source, open (Mount.File); nil: by name
	dev, ino              uint64   // what the source is, to check the mount against
}

// planMounts lists the bind mounts of a worker's root, parents before
// children: the executable and its libraries, go-plugin's socket directory,
// then the Spec's.
func (s *containerSpawner) planMounts(spec *Spec) ([]plannedMount, error) {
	if !filepath.IsAbs(spec.Path) {
		return nil, fmt.Errorf("worker executable %q: not an absolute path", spec.Path)
	}
	var ws []plannedMount
	if s.o.Engine == EngineLibcontainer {
		// libcontainer's init executes the worker from inside the root:
		// the executable and its libraries must be there. They keep host
		// ownership: they are world-readable, and mapping their owner
		// would only add work. (The jail executes the worker before it
		// builds the root.)
		ws = append(ws, plannedMount{src: spec.Path, dst: spec.Path, exec: true})
		libs, err := s.libraryDirs(spec.Path)
		if err != nil {
			return nil, err
		}
		for _, d := range libs {
			ws = append(ws, plannedMount{src: d, dst: d, exec: true})
		}
	}
	for _, e := range spec.Env {
		if v, ok := strings.CutPrefix(e, pluginSocketDirEnv+"="); ok && v != "" {
			ws = append(ws, plannedMount{src: v, dst: v, writable: true, idmap: true, socket: true})
		}
	}
	for _, m := range spec.Mounts {
		dst := m.Target
		if dst == "" {
			dst = m.Source
		}
		ws = append(ws, plannedMount{src: m.Source, dst: dst, writable: m.Writable, idmap: true, file: m.File})
	}

	seen := map[string]plannedMount{}
	var out []plannedMount
	for _, w := range ws {
		if !filepath.IsAbs(w.src) || !filepath.IsAbs(w.dst) {
			return nil, fmt.Errorf("mount %s at %s: paths must be absolute", w.src, w.dst)
		}
		w.src, w.dst = filepath.Clean(w.src), filepath.Clean(w.dst)
		if w.dst == "/" || under(w.dst, "/proc") || under(w.dst, "/dev") {
			return nil, fmt.Errorf("mount %s at %s: target is reserved", w.src, w.dst)
		}
		var st unix.Stat_t
		if w.file != nil {
			// What was checked is what is mounted, and its owner is
			// what the mount maps: all from the one descriptor.
			if err := unix.Fstat(int(w.file.Fd()), &st); err != nil {
				return nil, fmt.Errorf("mount %s: %w", w.src, &os.PathError{Op: "fstat", Path: w.src, Err: err})
			}
		} else if err := unix.Stat(w.src, &st); err != nil {
			return nil, fmt.Errorf("mount %s: %w", w.src, &os.PathError{Op: "stat", Path: w.src, Err: err})
		}
		w.dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
		w.uid, w.gid = st.Uid, st.Gid
		w.dev, w.ino = uint64(st.Dev), st.Ino
		if prev, ok := seen[w.dst]; ok {
			// The same source twice (one directory granted at two guest
			// paths) is one mount.
			if prev.src == w.src && prev.dev == w.dev && prev.ino == w.ino && prev.writable == w.writable &&
				prev.exec == w.exec && prev.idmap == w.idmap && prev.socket == w.socket {
				continue
			}
			return nil, fmt.Errorf("mount %s at %s: target already mounted from %s", w.src, w.dst, prev.src)
		}
		seen[w.dst] = w
		out = append(out, w)
	}
	// A mount hides what an earlier one put below its target.
	slices.SortStableFunc(out, func(a, b plannedMount) int {
		return strings.Count(a.dst, "/") - strings.Count(b.dst, "/")
	})
	return out, nil
}

// mountAttr is what a planned mount allows, as mount_setattr(2) flags.
func (w plannedMount) mountAttr() uint64 {
	attr := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if !w.exec {
		attr |= unix.MOUNT_ATTR_NOEXEC
	}
	if !w.writable {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	return attr
}

// mounts lists the bind mounts of a worker's root in libcontainer's terms.
func (s *containerSpawner) mounts(spec *Spec) ([]*configs.Mount, []plannedMount, error) {
	plan, err := s.planMounts(spec)
	if err != nil {
		return nil, nil, err
	}
	var out []*configs.Mount
	for _, w := range plan {
		flags := unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV
		if !w.exec {
			flags |= unix.MS_NOEXEC
		}
		if !w.writable {
			flags |= unix.MS_RDONLY
		}
		// By name: libcontainer clones the source from a thread in the
		// container's mount namespace, where neither our descriptor's
		// mount nor a detached one may be cloned (EINVAL). What it
		// mounted is checked against the descriptor once it has (see
		// checkMounted).
		m := &configs.Mount{
			Source: w.src, Destination: w.dst, Device: "bind", Flags: flags,
			// The same walls on whatever is mounted below the source.
			RecAttr: &unix.MountAttr{Attr_set: w.mountAttr()},
		}
		if w.idmap {
			// The worker, root of its namespace (HostUID on the host),
			// acts as the source's owner: it can read a 0600 file of
			// the supervisor's and write in a granted directory, and
			// what it creates there belongs to that owner. Files of
			// other owners show up as nobody's. The mapping (owner →
			// HostUID, HostGID) comes as a user namespace.
			ns, err := s.idmapUserns(w.uid, w.gid)
			if err != nil {
				return nil, nil, err
			}
			m.IDMapping = &configs.MountIDMapping{UserNSPath: ns}
		}
		out = append(out, m)
	}
	return out, plan, nil
}

// checkMounted checks that each mount of plan made from a descriptor
// (Mount.File) is, in the root of the started worker pid, the directory or
// file that descriptor is: libcontainer mounts by name, and the name may
// have been swapped between the check and the mount. It runs before the
// worker is given anything to do; on a mismatch the start fails and the
// worker is killed before it has looked at the mount.
func checkMounted(pid int, plan []plannedMount) error {
	var root *os.File
	defer func() {
		if root != nil {
			root.Close()
		}
	}()
	for _, w := range plan {
		if w.file == nil {
			continue
		}
		if root == nil {
			var err error
			if root, err = os.OpenFile(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("checking the worker's mounts: %w", err)
			}
		}
		fd, err := unix.Openat2(int(root.Fd()), w.dst, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return fmt.Errorf("checking the mount of %s: %w", w.src, &os.PathError{Op: "openat2", Path: w.dst, Err: err})
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("checking the mount of %s: %w", w.src, err)
		}
		if uint64(st.Dev) != w.dev || st.Ino != w.ino {
			return fmt.Errorf("mount %s: %s was replaced while the worker was started (it is no longer what was checked)", w.dst, w.src)
		}
	}
	return nil
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

type libCacheEntry struct {
	mod  time.Time
	size int64
	dirs []string
}

// libraryDirs returns the directories to mount for exe's shared libraries,
// cached per executable until it changes.
func (s *containerSpawner) libraryDirs(exe string) ([]string, error) {
	if s.o.LibraryDirs != nil {
		return s.o.LibraryDirs, nil
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return nil, fmt.Errorf("worker executable: %w", err)
	}
	s.mu.Lock()
	e, ok := s.libs[exe]
	s.mu.Unlock()
	if ok && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.dirs, nil
	}
	dirs, err := elfLibraryDirs(exe)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.libs[exe] = libCacheEntry{mod: fi.ModTime(), size: fi.Size(), dirs: dirs}
	s.mu.Unlock()
	return dirs, nil
}

// prepareStateDir creates dir if needed and checks that only root controls
// it: other users must be able to pass through (the container's root lives
// below it and is built by the mapped, unprivileged root) but not write.
func prepareStateDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("container state directory %q: not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("creating container state directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("checking container state directory: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("container state directory %s: not a directory", dir)
	case st.Uid != 0:
		return fmt.Errorf("container state directory %s: owned by uid %d, not root", dir, st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("container state directory %s: writable by others (mode %o)", dir, st.Mode&0o777)
	case st.Mode&0o001 == 0:
		return fmt.Errorf("container state directory %s: mode %o does not let the worker's user pass through (needs o+x)", dir, st.Mode&0o777)
	}
	return nil
}

// defaultStateDirs lists the default state directory and what it falls
// back to. A start creates and removes a few dozen files and directories
// in the state directory: mount points in the worker's root, libcontainer's
// state and exec FIFO, the call's directory. On a tmpfs each costs
// microseconds; on ext4 on these machines' virtual disk 0.1-0.2 ms, and
// about a millisecond while other jobs write to it. /run is a tmpfs on most
// hosts; where it is not, /dev/shm (a tmpfs nearly everywhere) is used if
// only root can rename what root puts in it.
func defaultStateDirs() []string {
	if isTmpfs("/run") || !isTmpfs("/dev/shm") || !rootSticky("/dev/shm") {
		return []string{defaultStateDir}
	}
	return []string{shmStateDir, defaultStateDir}
}

// firstStateDir prepares the first of dirs that can be a state directory.
func firstStateDir(log *slog.Logger, dirs []string) (string, error) {
	var err error
	for _, d := range dirs {
		if err = prepareStateDir(d); err == nil {
			return d, nil
		}
		log.Warn("container state directory not usable", "dir", d, "error", err)
	}
	return "", err
}

func isTmpfs(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && (st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC)
}

// rootSticky tells whether dir belongs to root and, if others may write
// in it, has the sticky bit: then only root can rename or remove what root
// created there.
func rootSticky(dir string) bool {
	var st unix.Stat_t
	if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 {
		return false
	}
	return st.Mode&0o022 == 0 || st.Mode&unix.S_ISVTX != 0
}

// swapAccounting tells whether the memory controller can limit swap:
// cgroup v1's memsw files, cgroup v2's memory.swap.max, which the kernel
// has only with swap accounting (CONFIG_MEMCG_SWAP, and not booted with
// swapaccount=0). On v2 the file is in non-root cgroups only: parent (as
// in cgroups.Cgroup.Path, may be empty) is looked at, else any child of
// the root.
func swapAccounting(parent string) bool {
	if !cgroups.IsCgroup2UnifiedMode() {
		mnt, err := cgroups.FindCgroupMountpoint("", "memory")
		if err != nil {
			return false
		}
		_, err = os.Stat(filepath.Join(mnt, "memory.memsw.limit_in_bytes"))
		return err == nil
	}
	if parent != "" && filepath.Clean("/"+parent) != "/" {
		_, err := os.Stat(filepath.Join(cgroupV2Mount, parent, "memory.swap.max"))
		return err == nil
	}
	dirs, _ := filepath.Glob(filepath.Join(cgroupV2Mount, "*", "cgroup.controllers"))
	for _, f := range dirs {
		if slices.Contains(readFields(f), "memory") {
			_, err := os.Stat(filepath.Join(filepath.Dir(f), "memory.swap.max"))
			return err == nil
		}
	}
	// No cgroup with the memory controller to look at: since Linux 6.1
	// swap accounting comes with the memory controller and swap support
	// (/proc/swaps) unless the kernel was booted with swapaccount=0.
	cmdline, _ := os.ReadFile("/proc/cmdline")
	_, err := os.Stat("/proc/swaps")
	return err == nil && !slices.Contains(strings.Fields(string(cmdline)), "swapaccount=0")
}

// logSwap says at Info level when the memory controller cannot cap swap:
// then swap comes on top of every worker's memory limit.
func logSwap(log *slog.Logger, swapLimit bool) {
	if !swapLimit {
		log.Info("the memory cgroup controller cannot cap swap here: a worker's memory limit covers RAM only", "reason", noSwapReason())
	}
}

// noSwapReason says why swapAccounting finds none, and what to do.
func noSwapReason() string {
	if cgroups.IsCgroup2UnifiedMode() {
		return "no memory.swap.max in the cgroups: the kernel has no swap accounting (CONFIG_MEMCG_SWAP, or booted with swapaccount=0)"
	}
	return "no memory.memsw.* files: the kernel was built or booted without swap accounting (boot with swapaccount=1)"
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// staleAge is how old a worker's directory must be before a sweep may take
// a container that never got going for the leftover of a dead supervisor,
// rather than one another supervisor is starting right now.
const staleAge = time.Minute

// sweep removes what supervisors that died (SIGKILL, power loss) left in
// the state directory: cgroups and directories of containers whose worker
// is gone. Workers still running, maybe another supervisor's, are left
// alone.
func (s *containerSpawner) sweep(stateDir string) {
	calls, _ := filepath.Glob(filepath.Join(stateDir, "call-*"))
	for _, dir := range calls {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		old := time.Since(fi.ModTime()) > staleAge
		ids, _ := os.ReadDir(filepath.Join(dir, "state"))
		gone := old
		if _, err := os.Stat(filepath.Join(dir, jailWorkerFile)); err == nil {
			// A jail worker was started: it is gone when its cgroups
			// are empty (it is their first process and lives in them
			// until it dies).
			gone = cgroupsEmpty(dir)
		}
		for _, id := range ids {
			c, err := libcontainer.Load(filepath.Join(dir, "state"), id.Name())
			if err != nil { // not started far enough to have saved its state
				continue
			}
			st, err := c.Status()
			switch {
			case err != nil || st == libcontainer.Running || st == libcontainer.Paused:
				gone = false
			case st == libcontainer.Stopped || old: // Created and old: its supervisor died mid-start
				if err := c.Destroy(); err != nil {
					s.log.Warn("stale container not removed", "container_id", id.Name(), "error", err)
					gone = false
					continue
				}
				gone = true
			}
		}
		if gone {
			if err := removeRecordedCgroups(dir); err != nil {
				s.log.Warn("stale container cgroups not removed", "dir", dir, "error", err)
				continue
			}
			_ = os.RemoveAll(dir)
			s.log.Info("removed a dead supervisor's container", "dir", dir)
		}
	}
}
