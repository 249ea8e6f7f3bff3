package supervisor

import (
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// stdioPipes carry the module's stdin, stdout and stderr between the
// supervisor and one worker on Windows: three named pipes under a random
// prefix that the worker finds in its environment (see
// protocol.StdioPipesEnv), since Windows cannot name an inherited pipe by
// path. Each pipe is created here before the worker starts, as its first
// and only instance (a pipe of that name must not exist yet), takes one
// client, refuses remote ones and opens for this user only. Before a byte
// is read or written, the supervisor checks that the client is the
// worker's process.
type stdioPipes struct {
	env         []string
	in          *stdinPipe
	out, errOut *pipeServer
	connected   bool // set by connect
}

// pipeBufferSize is the buffer of each pipe: as large as the chunks the
// supervisor reads.
const pipeBufferSize = 32 << 10

func newStdio() (*stdioPipes, error) {
	prefix, err := protocol.NewPipePrefix()
	if err != nil {
		return nil, err
	}
	sa, err := pipeSecurity()
	if err != nil {
		return nil, err
	}
	var ends [3]*pipeServer
	for i, fd := range []int{protocol.FDStdin, protocol.FDStdout, protocol.FDStderr} {
		ends[i], err = createPipe(protocol.PipeName(prefix, fd), fd != protocol.FDStdin, sa)
		if err != nil {
			for _, e := range ends[:i] {
				e.close()
			}
			return nil, err
		}
	}
	return &stdioPipes{
		env: []string{protocol.StdioPipesEnv + "=" + prefix},
		in:  &stdinPipe{p: ends[0]},
		out: ends[1], errOut: ends[2],
	}, nil
}

// workerFiles is empty: the worker opens its pipes by name.
func (p *stdioPipes) workerFiles() []*os.File { return nil }

// workerEnv names the pipes for the worker.
func (p *stdioPipes) workerEnv() []string { return p.env }

func (p *stdioPipes) spawned() {}

// connect checks, once the worker has answered the handshake, that the
// worker process pid, and nobody else, has opened stdout and stderr (it
// does before the handshake). stdin is opened when the module runs; its
// first write waits for that, until the worker exits.
func (p *stdioPipes) connect(pid int, exited <-chan struct{}) error {
	for _, s := range []*pipeServer{p.out, p.errOut} {
		if err := s.accept(pid, nil); err != nil {
			return err
		}
	}
	p.in.pid, p.in.cancel = pid, exited
	p.connected = true
	return nil
}

func (p *stdioPipes) stdin() io.WriteCloser { return p.in }
func (p *stdioPipes) stdout() io.ReadCloser { return p.out.f }
func (p *stdioPipes) stderr() io.ReadCloser { return p.errOut.f }

// close closes the supervisor's ends, of a worker whose call never took
// them.
func (p *stdioPipes) close() {
	if p.connected {
		p.in.Close()
	} else {
		p.in.p.close()
	}
	p.out.close()
	p.errOut.close()
}

// pipeSecurity lets only this process's user open the pipes.
func pipeSecurity() (*windows.SecurityAttributes, error) {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("finding this process's user: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(protocol.PipeSDDL(user.User.Sid.String()))
	if err != nil {
		return nil, fmt.Errorf("building the pipes' security descriptor: %w", err)
	}
	return &windows.SecurityAttributes{
		Length:             uint32(unsafe.Sizeof(windows.SecurityAttributes{})),
		SecurityDescriptor: sd,
	}, nil
}

// pipeServer is the supervisor's end of one named pipe.
type pipeServer struct {
	name string
	h    windows.Handle // overlapped; owned by f once connected
	f    *os.File       // set by accept
}

// createPipe creates the pipe name, which the supervisor reads when
// inbound and writes otherwise.
func createPipe(name string, inbound bool, sa *windows.SecurityAttributes) (*pipeServer, error) {
	name16, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	mode := uint32(windows.PIPE_ACCESS_OUTBOUND)
	if inbound {
		mode = windows.PIPE_ACCESS_INBOUND
	}
	h, err := windows.CreateNamedPipe(name16,
		mode|windows.FILE_FLAG_FIRST_PIPE_INSTANCE|windows.FILE_FLAG_OVERLAPPED,
		windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT|windows.PIPE_REJECT_REMOTE_CLIENTS,
		1, pipeBufferSize, pipeBufferSize, 0, sa)
	if err != nil {
		return nil, fmt.Errorf("creating pipe %s: %w", name, err)
	}
	return &pipeServer{name: name, h: h}, nil
}

// accept waits until a client has opened the pipe, and checks that it is
// process pid. With cancel nil it does not wait: the client must be there
// already. Otherwise it gives up when cancel is closed. Once accepted, the
// pipe is an *os.File in f, read and written by the runtime's poller.
func (s *pipeServer) accept(pid int, cancel <-chan struct{}) error {
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return fmt.Errorf("waiting for the worker to open %s: %w", s.name, err)
	}
	defer windows.CloseHandle(ev)
	// Not yet associated with the poller's completion port: only ev hears
	// of the outcome.
	ov := &windows.Overlapped{HEvent: ev}
	switch err := windows.ConnectNamedPipe(s.h, ov); err {
	case nil, windows.ERROR_PIPE_CONNECTED:
	case windows.ERROR_IO_PENDING:
		waited := make(chan struct{})
		go func() {
			_, _ = windows.WaitForSingleObject(ev, windows.INFINITE)
			close(waited)
		}()
		if cancel == nil {
			_ = windows.CancelIoEx(s.h, ov)
		} else {
			select {
			case <-waited:
			case <-cancel:
				_ = windows.CancelIoEx(s.h, ov)
			}
		}
		<-waited
		var n uint32
		if err := windows.GetOverlappedResult(s.h, ov, &n, true); err != nil {
			return fmt.Errorf("the worker did not open %s: %w", s.name, err)
		}
	default:
		return fmt.Errorf("waiting for the worker to open %s: %w", s.name, err)
	}
	var client uint32
	if err := windows.GetNamedPipeClientProcessId(s.h, &client); err != nil {
		return fmt.Errorf("checking the client of %s: %w", s.name, err)
	}
	if int(client) != pid {
		return fmt.Errorf("%s was opened by process %d, not by the worker (%d)", s.name, client, pid)
	}
	s.f = os.NewFile(uintptr(s.h), s.name)
	return nil
}

func (s *pipeServer) close() {
	if s.f != nil {
		s.f.Close()
	} else {
		windows.CloseHandle(s.h)
	}
}

// stdinPipe is the supervisor's end of the module's stdin. wasmtime opens
// it by name when the module starts to run, so the first Write waits for
// that.
type stdinPipe struct {
	p      *pipeServer
	pid    int
	cancel <-chan struct{} // closed once the worker has exited

	once sync.Once
	err  error
}

func (s *stdinPipe) accept() error {
	s.once.Do(func() { s.err = s.p.accept(s.pid, s.cancel) })
	return s.err
}

func (s *stdinPipe) Write(b []byte) (int, error) {
	if err := s.accept(); err != nil {
		return 0, err
	}
	return s.p.f.Write(b)
}

// Close ends the module's stdin. The pipe must exist until the worker has
// opened it (wasmtime refuses to run the module without its stdin), so
// while it has not, the pipe stays open until it does, or until the worker
// exits; Close does not wait for that.
func (s *stdinPipe) Close() error {
	go func() {
		_ = s.accept()
		s.p.close()
	}()
	return nil
}
