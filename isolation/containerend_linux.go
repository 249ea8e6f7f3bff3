//go:build linux && cgo

package isolation

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// containerTimings are the steps of one container's life, for benchmarks
// and debug logs.
type containerTimings struct {
	Prepare time.Duration // mounts, directories, configuration
	Create  time.Duration // libcontainer.Create: validation, cgroup checks, state directory
	Run     time.Duration // Container.Run: clone the init, namespaces, cgroup, root, seccomp, exec
	Destroy time.Duration // Container.Destroy and removing the directory, after the worker was reaped
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

func (e *containerEnd) Pid() int { return e.pid }

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
