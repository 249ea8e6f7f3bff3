package isolation

import "log/slog"

// ContainerOptions configures NewContainer. nil means defaults; every zero
// field means the default its comment names.
type ContainerOptions struct {
	// StateDir holds each worker's container state and its private root
	// while the worker runs; a worker's part is removed when the worker is
	// gone. Empty means /run/agent-ctl/containers where /run is a tmpfs
	// (as on most hosts), else /dev/shm/agent-ctl-containers where
	// /dev/shm is a tmpfs that only root controls, else
	// /run/agent-ctl/containers anyway. It is created if missing and
	// must be a directory owned by root that others cannot write. Put it
	// on a tmpfs: every start creates and removes a few dozen files and
	// directories there, 0.1-1 ms each on a disk file system.
	StateDir string
	// HostUID and HostGID are the unprivileged host IDs a worker runs as:
	// the container's root is mapped to them and no other ID is mapped.
	// Zero means $AGENT_CTL_WORKER_ID (WorkerIDEnv) for both, else
	// DefaultWorkerID. NewContainer refuses IDs that a host user or group
	// has or that a subordinate range in /etc/subuid or /etc/subgid covers:
	// whoever holds such an ID could signal the workers.
	HostUID, HostGID int
	// AllowNoLandlock lets workers run without Landlock where the kernel
	// has none; false means $AGENT_CTL_ALLOW_NO_LANDLOCK=1
	// (AllowNoLandlockEnv) must say so, or NewContainer refuses. Where the
	// kernel has Landlock, it is always used.
	AllowNoLandlock bool
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

// WorkerIDEnv sets the workers' host user and group ID when
// ContainerOptions.HostUID and HostGID are zero (agent-ctl --worker-id).
const WorkerIDEnv = "AGENT_CTL_WORKER_ID"

// AllowNoLandlockEnv, set to 1, lets workers run without Landlock on a
// kernel that has none (agent-ctl --allow-no-landlock).
const AllowNoLandlockEnv = "AGENT_CTL_ALLOW_NO_LANDLOCK"

// DefaultWorkerID is the workers' host user and group ID unless
// configured: above 2^31, where neither useradd nor the subordinate ranges
// it hands out (from 100000 up, 65536 each) reach, and which systemd
// leaves unassigned.
const DefaultWorkerID = 2415919104 // 0x90000000

const (
	defaultStateDir     = "/run/agent-ctl/containers"
	shmStateDir         = "/dev/shm/agent-ctl-containers" // where /run is not a tmpfs
	defaultMemoryLimit  = 512 << 20
	defaultCPUs         = 1.0
	defaultPidsLimit    = 64
	defaultMaxOpenFiles = 64
)
