//go:build linux && cgo

package isolation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

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
		// The seccomp program (from the state directory's cache: libseccomp
		// compiling it is slowest in a process that just started) and the
		// workers' user namespace (a clone stopped at its exec) side by
		// side, and the cgroup migration's grace period (see
		// warmMigration) meanwhile.
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
	// stageHook, if set, is called after each stage of a jail start
	// (see startJail); an error fails the start there.
	stageHook func(stage string, j *jailStart) error

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
	spec = withoutUnlinkedExec(spec)
	p, err := s.start(spec)
	if err != nil {
		// An Exec mount's file unlinked while the worker started (a cache
		// entry evicted) fails the start: the kernel mounts no unlinked
		// file. Start again without it, once.
		if again := withoutUnlinkedExec(spec); again != spec {
			return s.start(again)
		}
	}
	return p, err
}

func (s *containerSpawner) start(spec *Spec) (Process, error) {
	if s.o.Engine == EngineJail {
		return s.startJail(spec)
	}
	return s.startLibcontainer(spec)
}

// withoutUnlinkedExec returns spec without its Exec mounts whose file has
// been unlinked since it was opened, or spec itself if there is none. The
// kernel refuses to mount an unlinked file, and an Exec mount is a cache
// entry that the worker, should the entry be gone, compiles without
// (Mount.Exec).
func withoutUnlinkedExec(spec *Spec) *Spec {
	keep := func(m Mount) bool {
		if !m.Exec || m.File == nil {
			return true
		}
		var st unix.Stat_t
		return unix.Fstat(int(m.File.Fd()), &st) != nil || st.Nlink > 0 // a failed fstat fails the start
	}
	if !slices.ContainsFunc(spec.Mounts, func(m Mount) bool { return !keep(m) }) {
		return spec
	}
	c := *spec
	c.Mounts = slices.DeleteFunc(slices.Clone(spec.Mounts), func(m Mount) bool { return !keep(m) })
	return &c
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
