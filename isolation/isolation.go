// Package isolation starts worker processes behind the walls a policy asks
// for. Process isolation is a plain child process that dies with its
// supervisor; container isolation (see NewContainer) adds namespaces, a
// private root, cgroups and seccomp behind the same Spawner interface.
package isolation

import (
	"errors"
	"os"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// ErrUnavailable is returned when this host or build cannot provide the
// requested isolation. agent-ctl never falls back to weaker walls silently.
var ErrUnavailable = errors.New("isolation unavailable")

// Spec is the worker process to start.
type Spec struct {
	// Path is the executable; Args are its arguments after argv[0].
	Path string
	Args []string
	// Env is the whole environment of the worker.
	Env []string
	// ExtraFiles become file descriptors 3, 4, 5, … in the worker.
	ExtraFiles []*os.File

	// The fields below are walls that only container isolation builds;
	// process isolation ignores them (its worker sees the whole host).

	// Mounts are the host files and directories the worker may see, at
	// the same absolute paths as on the host (the module, the cache file,
	// the compile-output directory, granted directories). The executable,
	// its shared libraries and go-plugin's socket directory (taken from
	// PLUGIN_UNIX_SOCKET_DIR in Env) are mounted without being listed.
	Mounts []Mount
	// MemoryLimit caps the memory of the worker and everything it starts,
	// in bytes; zero means the spawner's default.
	MemoryLimit int64
	// CPUs caps CPU time in cores (1.5 is one and a half cores); zero
	// means the spawner's default.
	CPUs float64
}

// Mount makes a host file or directory visible inside a container.
type Mount struct {
	// Source is an absolute host path; it must exist.
	Source string
	// Target is the absolute path inside; empty means Source, which is
	// what agent-ctl uses so that no path needs translating.
	Target string
	// Writable allows writes; the zero value mounts read-only.
	Writable bool
	// File, if not nil, is Source already open (an O_PATH descriptor, or
	// any descriptor of the file): the mount is made from it, and its owner
	// taken from it, never from Source's name again, which someone may
	// have swapped since it was checked. Source then only names it in
	// messages. The caller keeps and closes it once Start has returned.
	File *os.File
	// Exec lets the worker map the file executable (mmap with PROT_EXEC),
	// which every other mount forbids (noexec). Only for a regular file
	// given as File and mounted read-only: a compiled-code cache entry the
	// supervisor has verified, whose code the worker would run anyway
	// (docs/why.md). Start refuses it on anything else. The kernel mounts
	// no file unlinked since it was opened (an evicted cache entry): such
	// a mount is left out, and the worker does not see the file.
	Exec bool
}

// Process is a started worker. It is the wire's own type, so that what a
// Spawner starts is, by definition, what protocol.Dial drives.
type Process = protocol.Process

// Spawner starts workers behind one kind of wall.
type Spawner interface {
	Start(s *Spec) (Process, error)
	// Name names the walls for logs and messages ("process", "container").
	Name() string
}
