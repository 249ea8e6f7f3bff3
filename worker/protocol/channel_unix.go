//go:build unix

package protocol

import (
	"fmt"
	"os"
	"syscall"
)

// NewChannel makes a call channel: the supervisor's end, to pass in
// DialOptions.Channel, and the worker's end, to pass to the worker as its
// descriptor FDCall and close once it has started. The supervisor's end
// is non-blocking (Go's poller waits on it, and Kill's Close wakes a
// waiting Run); the worker's is blocking, so that the worker's read
// sleeps in the kernel and wakes on the call's first byte.
func NewChannel() (*Channel, *os.File, error) {
	fds, err := socketpair()
	if err != nil {
		return nil, nil, fmt.Errorf("creating the call channel: %w", err)
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("creating the call channel: %w", err)
	}
	return &Channel{f: os.NewFile(uintptr(fds[0]), "call")}, os.NewFile(uintptr(fds[1]), "call-worker"), nil
}
