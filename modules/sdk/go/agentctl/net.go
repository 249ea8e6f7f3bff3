package agentctl

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Errno is an error code of the agent_ctl host functions.
type Errno int32

// The errnos of docs/host-functions.md.
const (
	// ErrDenied: the operator's grants do not allow that host and port (or
	// no network at all).
	ErrDenied Errno = 1
	// ErrRefused: the port is closed.
	ErrRefused Errno = 2
	// ErrTimeout: no answer in time (filtered), or no data within a read's
	// timeout.
	ErrTimeout Errno = 3
	// ErrUnreachable: no route, name not found, another network error.
	ErrUnreachable Errno = 4
	// ErrInvalid: a malformed argument.
	ErrInvalid Errno = 5
	// ErrBadHandle: not an open connection.
	ErrBadHandle Errno = 6
	// ErrLimit: a per-call limit (open connections, probes, bytes).
	ErrLimit Errno = 7
	// ErrEOF: the peer closed and no data is left. Conn.Read returns io.EOF
	// instead.
	ErrEOF Errno = 8
	// ErrIO: the connection failed while sending or receiving.
	ErrIO Errno = 9
)

var errNames = [...]string{"OK", "DENIED", "REFUSED", "TIMEOUT", "UNREACHABLE", "INVALID", "BADHANDLE", "LIMIT", "EOF", "IO"}

var errTexts = [...]string{
	"success",
	"not granted by the operator's network grants",
	"connection refused",
	"timed out",
	"host unreachable",
	"invalid argument",
	"not an open connection",
	"a per-call network limit was reached",
	"connection closed by the peer",
	"connection failed while sending or receiving",
}

// Name is the errno's name in docs/host-functions.md: "DENIED", "REFUSED", ...
func (e Errno) Name() string {
	if e >= 0 && int(e) < len(errNames) {
		return errNames[e]
	}
	return "UNKNOWN"
}

func (e Errno) Error() string {
	if e >= 0 && int(e) < len(errTexts) {
		return errTexts[e]
	}
	return "unknown network error " + strconv.Itoa(int(e))
}

// Timeout reports whether e is ErrTimeout (net.Error style).
func (e Errno) Timeout() bool { return e == ErrTimeout }

// ErrnoOf returns the Errno in err's chain, or 0.
func ErrnoOf(err error) Errno {
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func errno(code int32) error {
	if code == 0 {
		return nil
	}
	return Errno(code)
}

// Bounds of the host functions.
const (
	// MaxIO is the most bytes one send or receive moves.
	MaxIO = 64 << 10
	// MaxProbes is the most probe targets one call of the tool may have.
	MaxProbes = 65536
	// MaxProbeText is the most target text one net_probe takes; Probe
	// splits longer lists into several calls.
	MaxProbeText = 1 << 20
)

// probeCalls counts the net_probe calls of the native stub (tests).
var probeCalls int

// millis converts a timeout for the host: 0 is the host's default (5 s);
// anything else at least 1 ms.
func millis(d time.Duration) int32 {
	switch {
	case d <= 0:
		return 0
	case d < time.Millisecond:
		return 1
	case d > time.Duration(1<<31-1)*time.Millisecond:
		return 1<<31 - 1
	}
	return int32(d / time.Millisecond)
}

// Conn is a TCP connection the supervisor opened on the tool's behalf. It is
// an io.ReadWriteCloser; Read returns io.EOF once the peer has closed.
type Conn struct {
	handle int32
	// ReadTimeout bounds each wait of Read; 0 is the host's default (5 s).
	ReadTimeout time.Duration
}

// Dial opens a TCP connection to host (an IPv4 or IPv6 literal without
// brackets, or a hostname) within timeout (0: the host's default, 5 s).
func Dial(host string, port int, timeout time.Duration) (*Conn, error) {
	if port < 1 || port > 65535 {
		return nil, ErrInvalid
	}
	var h uint32
	if err := errno(netConnect(unsafe.Pointer(unsafe.StringData(host)), uint32(len(host)), int32(port), millis(timeout), unsafe.Pointer(&h))); err != nil {
		return nil, err
	}
	return &Conn{handle: int32(h)}, nil
}

// Write sends all of p, in pieces of at most MaxIO bytes.
func (c *Conn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n := min(len(p)-done, MaxIO)
		var sent uint32
		if err := errno(netSend(c.handle, unsafe.Pointer(&p[done]), uint32(n), unsafe.Pointer(&sent))); err != nil {
			return done, err
		}
		if sent == 0 || int(sent) > n {
			return done, ErrIO
		}
		done += int(sent)
	}
	return done, nil
}

// Read waits up to ReadTimeout for data and reads at most len(p) (and MaxIO)
// bytes. It returns io.EOF once the peer has closed and nothing is left.
func (c *Conn) Read(p []byte) (int, error) {
	return c.Recv(p, c.ReadTimeout)
}

// Recv is Read with its own timeout.
func (c *Conn) Recv(p []byte, timeout time.Duration) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var got uint32
	code := netRecv(c.handle, unsafe.Pointer(&p[0]), uint32(min(len(p), MaxIO)), millis(timeout), unsafe.Pointer(&got))
	if Errno(code) == ErrEOF {
		return 0, io.EOF
	}
	if err := errno(code); err != nil {
		return 0, err
	}
	return int(got), nil
}

// Close closes the connection; connections still open when the tool exits
// are closed by the supervisor.
func (c *Conn) Close() error {
	h := c.handle
	c.handle = 0
	return errno(netClose(h))
}

// Target is one host and port to probe.
type Target struct {
	Host string
	Port int
}

// String is the target as net_probe reads it: "host:port", or "[host]:port"
// for an IPv6 literal.
func (t Target) String() string {
	if strings.Contains(t.Host, ":") {
		return "[" + t.Host + "]:" + strconv.Itoa(t.Port)
	}
	return t.Host + ":" + strconv.Itoa(t.Port)
}

// State is the outcome of one probe.
type State uint8

// The probe states, as net_probe numbers them.
const (
	Open State = iota
	Denied
	Closed
	Filtered
	Unreachable
	Invalid
)

var stateNames = [...]string{"open", "denied", "closed", "filtered", "unreachable", "invalid"}

// String is "open", "denied", "closed", "filtered", "unreachable" or "invalid".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// Probe is a TCP connect scan by the host: each target is connected to and at
// once closed, up to 256 at a time, each within timeout (0: 5 s). It returns
// one State per target, in order. Targets beyond MaxProbeText bytes of text
// go in several calls; more than MaxProbes in all answer ErrLimit.
func Probe(targets []Target, timeout time.Duration) ([]State, error) {
	if len(targets) > MaxProbes {
		return nil, ErrLimit
	}
	states := make([]State, 0, len(targets))
	var text []byte
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		res := make([]byte, n)
		if err := errno(netProbe(unsafe.Pointer(&text[0]), uint32(len(text)), millis(timeout), unsafe.Pointer(&res[0]), uint32(n))); err != nil {
			return err
		}
		for _, r := range res {
			states = append(states, State(min(r, byte(Invalid))))
		}
		text, n = text[:0], 0
		return nil
	}
	for _, t := range targets {
		line := t.String() + "\n"
		if len(text)+len(line) > MaxProbeText {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		text = append(text, line...)
		n++
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return states, nil
}
