// Package isolation starts worker processes behind the walls a policy asks
// for. Process isolation is a plain child process that dies with its
// supervisor; container isolation (namespaces, cgroups, seccomp) arrives
// behind the same Spawner interface.
package isolation

import (
	"errors"
	"io"
	"os"
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
}

// Process is a started worker.
type Process interface {
	// Stdout and Stderr are the worker's own output (go-plugin's handshake
	// and the worker's diagnostics), never the module's.
	Stdout() io.ReadCloser
	Stderr() io.ReadCloser
	// Wait waits for the worker to exit.
	Wait() error
	// Kill stops the worker at once; calling it again is harmless.
	Kill() error
	// Pid is the worker's process ID on the host.
	Pid() int
}

// Spawner starts workers behind one kind of wall.
type Spawner interface {
	Start(s *Spec) (Process, error)
	// Name names the walls for logs and messages ("process", "container").
	Name() string
}
