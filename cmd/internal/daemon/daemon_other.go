//go:build !linux

package daemon

import (
	"context"
	"errors"
	"io"
	"os"
)

// errUnsupported: the daemon socket needs SO_PEERCRED, which only Linux
// has here; elsewhere every call spawns.
var errUnsupported = errors.New("the daemon socket is supported on Linux only")

// Server is the daemon socket's server; this platform has none.
type Server struct{}

// Listen fails on this platform.
func Listen(path string, h Handler, o *ServerOptions) (*Server, error) { return nil, errUnsupported }

// Addr is the socket's path.
func (s *Server) Addr() string { return "" }

// Serve returns at once.
func (s *Server) Serve() error { return errUnsupported }

// Close does nothing.
func (s *Server) Close(ctx context.Context) {}

// Call finds no daemon on this platform.
func Call(ctx context.Context, path string, req *Request, stdin io.Reader, stdout, stderr *os.File) (int, error) {
	return 0, ErrNoDaemon
}
