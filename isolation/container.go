package isolation

import "log/slog"

// ContainerOptions configures NewContainer. nil means defaults; every zero
// field means the default its comment names.
type ContainerOptions struct {
	// StateDir holds each worker's container state and its private root
	// while the worker runs; a worker's part is removed when the worker is
	// gone. Empty means DefaultStateDir(). It is created if missing and
	// must be a directory owned by root that others cannot write. Put it
	// on a tmpfs: every start creates and removes a few dozen files and
	// directories there, 0.1-1 ms each on a disk file system.
	StateDir string
	// HostUID and HostGID are the unprivileged host IDs a worker runs as:
	// the container's root is mapped to them and no other ID is mapped.
	// Zero means 100000. Pick IDs that no host user and no subordinate
	// range (/etc/subuid, /etc/subgid) uses.
	HostUID, HostGID int
	// MemoryLimit is used when Spec.MemoryLimit is zero, in bytes; zero
	// means 512 MiB.
	MemoryLimit int64
	// CPUs is used when Spec.CPUs is zero; zero means one core.
	CPUs float64
	// PidsLimit caps the tasks (processes and threads: the pids controller
	// counts threads) of one worker; zero means 64. The Go runtime and
	// wasmtime need a few dozen.
	PidsLimit int64
	// MaxOpenFiles is a worker's RLIMIT_NOFILE; zero means 64.
	MaxOpenFiles uint64
	// CgroupParent is the cgroup under which each worker gets its own,
	// absolute (from the cgroup root) or relative (libcontainer's reading:
	// below the supervisor's cgroup on v1, below its parent on v2). Empty
	// means below the supervisor's own cgroup, so that its limits (a
	// systemd unit's MemoryMax=, TasksMax=) cover its workers: on cgroup
	// v1 directly below it in each hierarchy; on cgroup v2 in
	// <own>/workers, the supervisor moving itself into <own>/supervisor
	// (a cgroup holding processes cannot give controllers to children),
	// or beside it (logged at Info), where other processes share its
	// cgroup. See docs/isolation.md.
	CgroupParent string
	// LibraryDirs are mounted read-only for a dynamically linked worker
	// executable. nil means the directories that hold its ELF interpreter
	// and the shared libraries it needs, found in the system library
	// directories; a static executable gets none.
	LibraryDirs []string
	// Engine is what builds the walls: EngineJail (agent-ctl's own start,
	// the default) or EngineLibcontainer (runc's libcontainer). Both give
	// the same walls; the jail starts a worker in about a third of the
	// time (docs/isolation.md). Empty means $AGENT_CTL_CONTAINER_ENGINE,
	// else EngineJail.
	Engine string
	// Logger receives each start's timings at debug level; nil discards
	// them.
	Logger *slog.Logger
}

// The container engines.
const (
	EngineJail         = "jail"
	EngineLibcontainer = "libcontainer"
)

// EngineEnv overrides the default engine when ContainerOptions.Engine is
// empty.
const EngineEnv = "AGENT_CTL_CONTAINER_ENGINE"

const (
	defaultHostID       = 100000
	defaultStateDir     = "/run/agent-ctl/containers"
	shmStateDir         = "/dev/shm/agent-ctl-containers" // where /run is not a tmpfs
	defaultMemoryLimit  = 512 << 20
	defaultCPUs         = 1.0
	defaultPidsLimit    = 64
	defaultMaxOpenFiles = 64
)

// DefaultStateDir is the state directory NewContainer uses when
// ContainerOptions.StateDir is empty: /run/agent-ctl/containers where /run
// is a tmpfs (as on most hosts), else /dev/shm/agent-ctl-containers where
// /dev/shm is a tmpfs that only root controls, else
// /run/agent-ctl/containers anyway.
func DefaultStateDir() string { return defaultStateDirs()[0] }
