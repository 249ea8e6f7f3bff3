//go:build unix

package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// The worker's server speaks go-plugin's net/rpc protocol (version 1: the
// handshake line, yamux over a unix socket, a control stream and two stdio
// streams, net/rpc services "Control" and "Dispenser", the MuxBroker's
// streams by ID) without importing go-plugin, whose package also holds its
// gRPC protocol and so links and initialises gRPC and protobuf in every
// worker, nor net/rpc (gobrpc.go). See docs/why.md. The supervisor keeps
// go-plugin's client for the start, the handshake and the kill.

// Environment variables go-plugin's client sets for its plugin.
const (
	envSocketDir        = "PLUGIN_UNIX_SOCKET_DIR"
	envProtocolVersions = "PLUGIN_PROTOCOL_VERSIONS"
)

// coreProtocolVersion is go-plugin's own protocol version, the first field
// of the handshake line.
const coreProtocolVersion = 1

// brokerAcceptTimeout is how long the worker keeps a dispensed stream ID
// open for the supervisor's dial, as go-plugin's MuxBroker does.
const brokerAcceptTimeout = 5 * time.Second

// Serve serves impl to the supervisor that started this worker: it
// listens on a unix socket in go-plugin's socket directory, writes the
// handshake line to stdout (nothing may be written there before it),
// serves the one connection the supervisor makes, and returns when the
// supervisor disconnects or asks it to quit. A process not started by
// agent-ctl (no handshake cookie) or a failed listen ends with status 1.
func Serve(impl Worker) {
	if os.Getenv(cookieKey) != cookieValue {
		fmt.Fprintln(os.Stderr, "worker: this program is agent-ctl's worker; agent-ctl starts it for each call")
		os.Exit(1)
	}
	if !offersVersion(os.Getenv(envProtocolVersions)) {
		// go-plugin's server answers with its own version all the same,
		// and the client refuses it, saying why; so does this one.
		fmt.Fprintf(os.Stderr, "worker: the supervisor does not offer protocol version %d\n", protocolVersion)
	}
	l, err := listen(os.Getenv(envSocketDir))
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		os.Exit(1)
	}
	line := fmt.Sprintf("%d|%d|unix|%s|netrpc|\n", coreProtocolVersion, protocolVersion, l.Addr().String())
	if _, err := os.Stdout.WriteString(line); err != nil {
		l.Close()
		os.Exit(1)
	}
	// A Ctrl-C at a terminal reaches the whole process group: the
	// supervisor decides what becomes of the call, as under go-plugin.
	signal.Ignore(os.Interrupt)
	conn, err := l.Accept()
	// One connection, from the supervisor that read the line: nothing
	// else gets to talk to a worker (the socket's name goes away too).
	l.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: accepting the supervisor's connection: %v\n", err)
		os.Exit(1)
	}
	serveConn(conn, impl)
}

// offersVersion reports whether go-plugin's list of versions (comma
// separated; empty from old clients, which mean their own) has ours.
func offersVersion(list string) bool {
	return list == "" || slices.Contains(strings.Split(list, ","), strconv.Itoa(protocolVersion))
}

// listen makes the worker's socket in dir, go-plugin's socket directory
// of this worker alone (the client makes a fresh, private one for each
// worker and removes it afterwards), under a fixed name: nothing else is
// there to collide with, and should anything be, the bind fails rather
// than reuse it. Where dir is empty (the shared temporary directory) the
// name is a fresh one, as go-plugin makes it: a temporary file made and
// removed first. On a disk file system that is two journaled operations
// more at every worker's start.
func listen(dir string) (*net.UnixListener, error) {
	path := filepath.Join(dir, socketName)
	if dir == "" {
		f, err := os.CreateTemp("", "plugin")
		if err != nil {
			return nil, fmt.Errorf("making the worker's socket: %w", err)
		}
		path = f.Name()
		f.Close()
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("making the worker's socket: %w", err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("making the worker's socket: %w", err)
	}
	return l, nil
}

// socketName is the worker's socket in its own socket directory.
const socketName = "plugin"

// serveConn serves go-plugin's net/rpc protocol on conn until the
// supervisor closes its control stream or asks the worker to quit.
func serveConn(conn net.Conn, impl Worker) {
	mux, err := yamux.Server(conn, nil)
	if err != nil {
		conn.Close()
		return
	}
	defer mux.Close()
	// The client opens the control stream, then the streams go-plugin
	// uses to copy a plugin's stdout and stderr. The worker writes
	// nothing there: its diagnostics go to its real stderr, which the
	// supervisor reads, and the module's stdio has pipes of its own.
	var streams [3]net.Conn
	for i := range streams {
		if streams[i], err = mux.Accept(); err != nil {
			return
		}
	}
	b := &broker{session: mux, pending: make(map[uint32]chan net.Conn)}
	go b.run()
	quit := make(chan struct{})
	c := &controlServer{quit: quit}
	d := &dispenser{impl: impl, broker: b}
	ended := make(chan struct{})
	go func() {
		serveRPC(streams[0], map[string]rpcMethod{
			"Control.Ping":       method(c.Ping),
			"Control.Quit":       method(c.Quit),
			"Dispenser.Dispense": method(d.Dispense),
		})
		close(ended)
	}()
	select {
	case <-ended:
	case <-quit:
	}
}

// controlServer is go-plugin's "Control" service.
type controlServer struct {
	quit     chan struct{}
	quitOnce sync.Once
}

// Ping answers the client's liveness check.
func (c *controlServer) Ping(_ bool, reply *struct{}) error {
	*reply = struct{}{}
	return nil
}

// Quit ends the worker's serving, as go-plugin's graceful Kill asks.
func (c *controlServer) Quit(_ bool, reply *struct{}) error {
	c.quitOnce.Do(func() { close(c.quit) })
	*reply = struct{}{}
	return nil
}

// dispenser is go-plugin's "Dispenser" service: it hands out the worker
// service, once, on a broker stream.
type dispenser struct {
	impl   Worker
	broker *broker
	done   atomic.Bool
}

// dispenseID is the broker stream the worker service is served on.
const dispenseID = 1

// Dispense reserves the stream for the worker service and serves it there
// once the supervisor dials it.
func (d *dispenser) Dispense(name string, id *uint32) error {
	if name != pluginName {
		return fmt.Errorf("unknown plugin type: %s", name)
	}
	if !d.done.CompareAndSwap(false, true) {
		return errors.New("the worker service was dispensed already")
	}
	ch := d.broker.expect(dispenseID)
	*id = dispenseID
	go func() {
		conn, err := d.broker.accept(dispenseID, ch)
		if err != nil {
			return
		}
		s := &rpcServer{impl: d.impl, broker: d.broker}
		serveRPC(conn, map[string]rpcMethod{
			"Plugin.Prepare": method(s.Prepare),
			"Plugin.Run":     method(s.Run),
		})
	}()
	return nil
}

// broker is the worker's side of go-plugin's MuxBroker: a stream opened by
// either side starts with its 4-byte little-endian ID, and the side that
// accepts it writes the ID back as its acknowledgement. The worker accepts
// only the streams it announced (the dispensed service); any other is
// closed at once.
type broker struct {
	session *yamux.Session

	mu      sync.Mutex
	pending map[uint32]chan net.Conn
}

// expect announces id: a stream the supervisor opens with it is kept for
// accept.
func (b *broker) expect(id uint32) chan net.Conn {
	ch := make(chan net.Conn, 1)
	b.mu.Lock()
	b.pending[id] = ch
	b.mu.Unlock()
	return ch
}

// accept waits for the stream announced as id and acknowledges it.
func (b *broker) accept(id uint32, ch chan net.Conn) (net.Conn, error) {
	t := time.NewTimer(brokerAcceptTimeout)
	defer t.Stop()
	var c net.Conn
	select {
	case c = <-ch:
	case <-t.C:
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		// A stream delivered meanwhile would be left open.
		select {
		case c := <-ch:
			c.Close()
		default:
		}
		return nil, fmt.Errorf("waiting for the supervisor's stream %d: timed out", id)
	}
	if err := binary.Write(c, binary.LittleEndian, id); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// run routes the supervisor's streams until the session ends.
func (b *broker) run() {
	for {
		s, err := b.session.AcceptStream()
		if err != nil {
			return
		}
		var id uint32
		if err := binary.Read(s, binary.LittleEndian, &id); err != nil {
			s.Close()
			continue
		}
		b.mu.Lock()
		ch, ok := b.pending[id]
		delete(b.pending, id)
		b.mu.Unlock()
		if !ok {
			s.Close()
			continue
		}
		ch <- s // buffered, and each ID is delivered once
	}
}

// Dial opens a stream to the supervisor's broker ID id (the network
// service) and waits for its acknowledgement.
func (b *broker) Dial(id uint32) (net.Conn, error) {
	s, err := b.session.OpenStream()
	if err != nil {
		return nil, err
	}
	if err := binary.Write(s, binary.LittleEndian, id); err != nil {
		s.Close()
		return nil, err
	}
	var ack uint32
	if err := binary.Read(s, binary.LittleEndian, &ack); err != nil {
		s.Close()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if ack != id {
		s.Close()
		return nil, fmt.Errorf("bad acknowledgement %d for stream %d", ack, id)
	}
	return s, nil
}
