package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// acceptTimeout bounds the wait for the server's first answer: a server
// too busy to answer in it is treated as none (the client spawns).
const acceptTimeout = 10 * time.Second

// Call hands req to the server listening at path, with the client's stdio,
// and returns the call's exit code once the server reports it. The server
// writes the module's output, and agent-ctl's messages about the call,
// straight to stdout and stderr.
//
// When ctx is cancelled the server is asked to cancel the call; if the
// cause has a Signal() os.Signal method, the call is cancelled as that
// signal would cancel it.
//
// An error wrapping ErrNoDaemon or ErrRefused means nothing happened: no
// output was written and nothing of stdin was read; the caller runs the
// call itself. ErrLost means the server went away with the call.
func Call(ctx context.Context, path string, req *Request, stdin io.Reader, stdout, stderr *os.File) (int, error) {
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return 0, fmt.Errorf("%w: socket path too long", ErrNoDaemon)
	}
	d := net.Dialer{Timeout: acceptTimeout}
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoDaemon, err)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()

	in, pump, err := stdinFor(stdin)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if pump != nil {
		defer pump.w.Close()
		defer pump.r.Close()
	}
	req.Protocol = ProtocolVersion
	req.Stdin = in != nil
	fds := []int{int(stdout.Fd()), int(stderr.Fd())}
	if in != nil {
		fds = append([]int{int(in.Fd())}, fds...)
	}
	frame, err := encodeFrame(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	_ = c.SetDeadline(time.Now().Add(acceptTimeout))
	// The descriptors ride on the header; the body follows as plain bytes
	// (a long stream write may be split, the descriptors must not be).
	if n, _, err := c.WriteMsgUnix(frame[:4], unix.UnixRights(fds...), nil); err != nil || n != 4 {
		return 0, fmt.Errorf("%w: sending the request: %v", ErrRefused, err)
	}
	if _, err := c.Write(frame[4:]); err != nil {
		return 0, fmt.Errorf("%w: sending the request: %w", ErrRefused, err)
	}
	var rep Reply
	if err := readFrame(c, smallFrame, &rep); err != nil {
		// Closed without an answer: another user's socket, a server at
		// its connection limit, or one going away. Nothing ran.
		return 0, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if !rep.Accepted {
		return 0, fmt.Errorf("%w: %s", ErrRefused, rep.Refused)
	}
	_ = c.SetDeadline(time.Time{})
	if pump != nil {
		// Our copy of the read end goes: the server holds its own.
		pump.r.Close()
		go func() {
			_, _ = io.Copy(pump.w, stdin)
			pump.w.Close()
		}()
	}
	stop := context.AfterFunc(ctx, func() {
		sig := syscall.SIGINT
		var s interface{ Signal() os.Signal }
		if errors.As(context.Cause(ctx), &s) {
			if us, ok := s.Signal().(syscall.Signal); ok {
				sig = us
			}
		}
		_ = writeFrame(c, cancelFrame{Signal: int(sig)})
	})
	defer stop()
	if err := readFrame(c, smallFrame, &rep); err != nil || rep.Exit == nil {
		return 0, fmt.Errorf("%w: %v", ErrLost, err)
	}
	return *rep.Exit, nil
}

type stdinPump struct{ r, w *os.File }

// stdinFor decides what the server gets as the module's stdin. A regular
// file or a device that is not a terminal (/dev/null) goes as it is: a
// read of it ends. Anything else (a pipe, a terminal, a socket, a reader
// that is no file) is fed through a pipe of the client's: the server must
// never hold a descriptor whose read could block after the call (a
// terminal nobody types at), and the client's exit closes the pipe.
func stdinFor(stdin io.Reader) (*os.File, *stdinPump, error) {
	if stdin == nil {
		return nil, nil, nil
	}
	if f, ok := stdin.(*os.File); ok {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err == nil {
			mode := st.Mode & unix.S_IFMT
			_, terr := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
			if mode == unix.S_IFREG || (mode == unix.S_IFCHR && terr != nil) {
				return f, nil, nil
			}
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("creating stdin pipe: %w", err)
	}
	return r, &stdinPump{r: r, w: w}, nil
}
