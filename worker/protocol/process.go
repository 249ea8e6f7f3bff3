package protocol

import "io"

// Process is a started worker process: what an isolation spawner returns
// (isolation.Process is this type) and what Dial drives. It is defined
// here, outside rpc.go, so that it exists in every build of the package.
type Process interface {
	// Stdout and Stderr are the worker's own output, never the module's:
	// Stdout carries go-plugin's handshake line, Stderr the worker's
	// diagnostics.
	Stdout() io.ReadCloser
	Stderr() io.ReadCloser
	// Wait waits for the worker to exit.
	Wait() error
	// Kill stops the worker and everything it started at once, and
	// returns once it has exited (at most a bounded wait); calling it
	// again is harmless.
	Kill() error
	// Pid is the worker's process ID on the host.
	Pid() int
}
