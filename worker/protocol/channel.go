package protocol

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// FDCall is the worker's end of its call channel, after the module's stdio
// (unix only: Windows workers are run over the RPC).
const FDCall = 6

// Channel is the supervisor's end of one worker's call channel: a socket
// pair made before the worker is spawned, whose other end the worker
// inherits as FDCall (see NewChannel). It carries the one call the worker
// serves: a RunArgs frame in, a Result frame out (frame.go).
type Channel struct {
	f    *os.File
	once sync.Once
}

// Close closes the supervisor's end; a Run waiting on it returns.
func (c *Channel) Close() {
	c.once.Do(func() { c.f.Close() })
}

// run sends args and waits for the result. A worker that dies, is killed,
// or writes anything but a well-formed frame within the caps makes it
// return an error, never more than MaxResultFrame bytes read.
func (c *Channel) run(args *RunArgs) (*Result, error) {
	buf, err := AppendRunArgs(make([]byte, 0, 256), args)
	if err != nil {
		return nil, err
	}
	if _, err := c.f.Write(buf); err != nil {
		return nil, channelErr("sending the call to the worker", err)
	}
	body, err := ReadFrame(c.f, buf[:0], MaxResultFrame)
	if err != nil {
		return nil, channelErr("reading the worker's reply", err)
	}
	r, werr, err := DecodeResult(body)
	if err != nil {
		return nil, fmt.Errorf("reading the worker's reply: %w", err)
	}
	if werr != nil {
		return r, werr
	}
	return r, nil
}

// channelErr words a failed read or write: a peer that hung up means the
// worker process is gone.
func channelErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("worker process ended unexpectedly: %s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// serveCall serves the one call that arrives on the worker's end of its
// call channel, fd, with impl. It returns when the call is answered, or
// when the supervisor closes its end without a call (it ran the call over
// the RPC, or gave up on the worker).
func (s *rpcServer) serveCall(fd int) {
	f := os.NewFile(uintptr(fd), "call")
	if f == nil {
		return
	}
	defer f.Close()
	body, err := ReadFrame(f, nil, MaxRunArgsFrame)
	if err != nil {
		return
	}
	var reply RunReply
	if args, err := DecodeRunArgs(body); err != nil {
		reply.Err = toWire(fmt.Errorf("reading the call: %w", err))
	} else {
		s.run(args, &reply)
	}
	_, _ = f.Write(AppendResult(nil, &reply.Result, reply.Err))
}
