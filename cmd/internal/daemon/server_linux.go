package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Server serves calls on the daemon socket.
type Server struct {
	ln    *net.UnixListener
	path  string
	h     Handler
	o     ServerOptions
	log   *slog.Logger
	euid  int
	slots chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup
}

// Listen creates the socket at path (its directory 0700, the socket 0600)
// and returns a server for it; Serve accepts calls. A socket left there
// by a server that is gone is replaced; one that answers is not, and
// Listen fails with an error wrapping os.ErrExist.
func Listen(path string, h Handler, o *ServerOptions) (*Server, error) {
	opts := ServerOptions{}
	if o != nil {
		opts = *o
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 64
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating daemon socket directory: %w", err)
	}
	// The directory is the first wall: nobody but its owner reaches the
	// socket in it, whatever the socket's own mode.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("securing daemon socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("daemon socket %s: another server answers on it: %w", path, os.ErrExist)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale daemon socket: %w", err)
	}
	// Created 0600 from the start, not chmod'ed after: there is no moment
	// at which another user could connect.
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on daemon socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	s := &Server{ln: ln, path: path, h: h, o: opts, log: opts.Logger, euid: os.Geteuid(), slots: make(chan struct{}, opts.MaxConns)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Addr is the socket's path.
func (s *Server) Addr() string { return s.path }

// Serve accepts connections until Close; it returns nil then.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				// Out of descriptors: wait for calls to end rather
				// than spin.
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accepting on daemon socket: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.log.Warn("daemon connection refused: too many at once", "max_conns", s.o.MaxConns)
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			<-s.slots
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() { <-s.slots; s.wg.Done() }()
			s.serveConn(c)
		}()
	}
}

// Close stops accepting and removes the socket, then waits for the calls
// in progress until ctx ends, and cancels those left (their clients see
// the exit code of a cancelled call).
func (s *Server) Close(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
	}
	s.cancel()
}

// serveConn serves one connection: at most one call.
func (s *Server) serveConn(c *net.UnixConn) {
	defer c.Close()
	peer, err := peerOf(c)
	if err != nil {
		s.log.Warn("daemon connection refused: no peer credentials", "err", err)
		return
	}
	// Same user, or root: anyone else gets nothing, not even a reply that
	// would say a daemon runs here.
	if peer.UID != s.euid && peer.UID != 0 {
		s.log.Warn("daemon connection refused: another user", "peer_uid", peer.UID, "peer_pid", peer.PID)
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(s.o.RequestTimeout))
	req, files, err := readRequest(c)
	stdio, ferr := stdioOf(req, files)
	defer closeFiles(files)
	if err == nil {
		err = ferr
	}
	if err != nil {
		s.log.Warn("daemon request refused", "peer_pid", peer.PID, "err", err)
		_ = writeFrame(c, Reply{Refused: err.Error()})
		return
	}
	if why := s.mismatch(req); why != "" {
		s.log.Debug("daemon request refused", "peer_pid", peer.PID, "reason", why)
		_ = writeFrame(c, Reply{Refused: why})
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if err := writeFrame(c, Reply{Accepted: true}); err != nil {
		return
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	// The client may only cancel, or leave; either ends the call.
	go func() {
		var cf cancelFrame
		err := readFrame(c, smallFrame, &cf)
		switch {
		case err == nil && cf.Signal > 0 && cf.Signal < 65:
			cancel(Interrupted{Signal: unixSignal(cf.Signal)})
		case err == nil:
			cancel(Interrupted{Signal: unix.SIGINT})
		default:
			cancel(errClientGone)
		}
	}()
	code := s.h(ctx, req, stdio, peer)
	_ = writeFrame(c, Reply{Exit: &code})
}

// mismatch says why the server must not run req, or "".
func (s *Server) mismatch(req *Request) string {
	switch {
	case req.Protocol != ProtocolVersion:
		return fmt.Sprintf("protocol %d, want %d", req.Protocol, ProtocolVersion)
	case req.Version != s.o.Version:
		return fmt.Sprintf("agent-ctl %s, server is %s", req.Version, s.o.Version)
	case (req.Run == nil) == (req.Tool == nil):
		return "want exactly one of run and tool"
	}
	if len(req.Settings) != len(s.o.Settings) {
		return "settings differ"
	}
	for k, v := range s.o.Settings {
		if got, ok := req.Settings[k]; !ok || got != v {
			return fmt.Sprintf("setting %s differs", k)
		}
	}
	return ""
}

// readRequest reads the request frame and the descriptors sent with it.
// Descriptors may come with any of the frame's bytes; all are collected,
// and the caller closes them. More than maxFDs, or a truncated control
// message, is refused.
func readRequest(c *net.UnixConn) (*Request, []*os.File, error) {
	var files []*os.File
	oob := make([]byte, unix.CmsgSpace(4*(maxFDs+1)))
	read := func(buf []byte) error {
		for len(buf) > 0 {
			n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
			if oobn > 0 {
				fs, perr := parseRights(oob[:oobn])
				files = append(files, fs...)
				if perr != nil {
					return perr
				}
			}
			if flags&unix.MSG_CTRUNC != 0 || len(files) > maxFDs {
				return fmt.Errorf("%w: more than %d descriptors", ErrFrame, maxFDs)
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return io.ErrUnexpectedEOF
			}
			buf = buf[n:]
		}
		return nil
	}
	var hdr [4]byte
	if err := read(hdr[:]); err != nil {
		return nil, files, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, files, fmt.Errorf("%w: length %d, more than %d", ErrFrame, n, MaxFrame)
	}
	body := make([]byte, n)
	if err := read(body); err != nil {
		return nil, files, err
	}
	req := &Request{}
	if err := readBody(bytes.NewReader(body), n, req); err != nil {
		return nil, files, err
	}
	return req, files, nil
}

func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %w", ErrFrame, err)
	}
	var files []*os.File
	var bad error
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = fmt.Errorf("%w: control message: %w", ErrFrame, err)
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "daemon-client-fd"))
		}
	}
	return files, bad
}

// stdioOf checks the descriptors against the request: stdout and stderr,
// after stdin if the request says one comes.
func stdioOf(req *Request, files []*os.File) (Stdio, error) {
	if req == nil {
		return Stdio{}, nil
	}
	want := 2
	if req.Stdin {
		want = 3
	}
	if len(files) != want {
		return Stdio{}, fmt.Errorf("%w: %d descriptors, want %d", ErrFrame, len(files), want)
	}
	if req.Stdin {
		return Stdio{Stdin: files[0], Stdout: files[1], Stderr: files[2]}, nil
	}
	return Stdio{Stdout: files[0], Stderr: files[1]}, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func peerOf(c *net.UnixConn) (Peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if cerr != nil {
		return Peer{}, cerr
	}
	return Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}

func unixSignal(n int) unix.Signal { return unix.Signal(n) }
