package isolation

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/windows"
)

// NewContainer returns the spawner for container isolation. On Windows
// that is a job object per worker, not a container: the worker runs alone
// in its job, which caps its committed memory (Spec.MemoryLimit, else
// ContainerOptions.MemoryLimit, else 512 MiB) and its CPU (Spec.CPUs,
// else ContainerOptions.CPUs, else one core), lets it start no other
// process, keeps it from the desktop, the clipboard and other processes'
// windows, ends it on an unhandled exception without an error dialog, and
// ends it when the supervisor closes the job or dies. It is put in the job
// before it runs its first instruction.
//
// There are no namespaces on Windows: the worker sees the files and the
// network that the supervisor's user can reach, and Spec.Mounts are not
// used. Only MemoryLimit, CPUs and Logger of the options apply.
func NewContainer(o *ContainerOptions) (Spawner, error) {
	if o == nil {
		o = &ContainerOptions{}
	}
	if err := checkContainer(o); err != nil {
		return nil, err
	}
	sp := &jobSpawner{opts: *o, log: o.Logger}
	if sp.log == nil {
		sp.log = slog.New(slog.DiscardHandler)
	}
	return sp, nil
}

func initContainer() {}

// checkContainer builds a job object with the limits a worker would get,
// with no process in it, and closes it again.
func checkContainer(o *ContainerOptions) error {
	job, err := newJob(jobLimitsFor(&Spec{}, o, processorCount()))
	if err != nil {
		return fmt.Errorf("%w: job objects: %w", ErrUnavailable, err)
	}
	windows.CloseHandle(job)
	return nil
}
