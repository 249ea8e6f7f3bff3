// Package hostnet is the supervisor's side of a module's network: it
// performs the agent_ctl host functions (docs/host-functions.md) on the
// host, after checking each one against the call's network grants. A worker
// has no network of its own; this is the only way out, and it is deny by
// default.
package hostnet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// Gate serves one call's network. It is safe for concurrent use; Shutdown
// ends it and closes every connection the call left open.
type Gate struct {
	rules    []rule
	deadline time.Time
	log      *slog.Logger
	lookup   func(ctx context.Context, host string) ([]netip.Addr, error)
	dialer   func(ctx context.Context, network, address string) (net.Conn, error)

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[int32]net.Conn
	next   int32
	probes int
	closed bool
}

var _ protocol.Network = (*Gate)(nil)

// rule is one grant: a prefix (CIDR or single address) or a hostname.
type rule struct {
	prefix netip.Prefix
	name   string
	ports  []int
}

// Options configures a Gate.
type Options struct {
	// Deadline ends every wait; zero means none beyond each call's own.
	Deadline time.Time
	// Logger receives refusals at debug level; nil discards them.
	Logger *slog.Logger
	// Lookup resolves hostnames; nil uses the system resolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects to a checked address ("tcp", "IP:port"); nil uses a
	// net.Dialer. Tests use it to see what would be dialled without
	// sending a packet.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// New returns a gate that allows exactly what grants allow. The grants must
// have been validated (policies.Policy.Validate).
func New(grants []policies.NetGrant, o *Options) *Gate {
	if o == nil {
		o = &Options{}
	}
	g := &Gate{deadline: o.Deadline, log: o.Logger, lookup: o.Lookup, dialer: o.Dial, conns: map[int32]net.Conn{}}
	if g.dialer == nil {
		g.dialer = (&net.Dialer{}).DialContext
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.lookup == nil {
		g.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for _, n := range grants {
		r := rule{ports: slices.Clone(n.Ports)}
		if p, err := netip.ParsePrefix(n.Host); err == nil {
			r.prefix = p.Masked()
		} else if a, err := netip.ParseAddr(n.Host); err == nil {
			a = a.Unmap()
			r.prefix = netip.PrefixFrom(a, a.BitLen())
		} else {
			r.name = strings.ToLower(strings.TrimSuffix(n.Host, "."))
		}
		g.rules = append(g.rules, r)
	}
	return g
}

// Shutdown ends the gate: waits in progress stop and open connections
// close. Later requests fail with IO.
func (g *Gate) Shutdown() {
	g.cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for h, c := range g.conns {
		_ = c.Close()
		delete(g.conns, h)
	}
}

// addrAllowed reports whether a prefix grant covers a and port.
func (g *Gate) addrAllowed(a netip.Addr, port int) bool {
	for _, r := range g.rules {
		if r.prefix.IsValid() && r.prefix.Contains(a) && slices.Contains(r.ports, port) {
			return true
		}
	}
	return false
}

func (g *Gate) nameAllowed(name string, port int) bool {
	for _, r := range g.rules {
		if r.name != "" && r.name == name && slices.Contains(r.ports, port) {
			return true
		}
	}
	return false
}

func (g *Gate) anyPrefixFor(port int) bool {
	for _, r := range g.rules {
		if r.prefix.IsValid() && slices.Contains(r.ports, port) {
			return true
		}
	}
	return false
}

// resolve checks host and port against the grants and returns the one
// address to connect to.
func (g *Gate) resolve(ctx context.Context, host string, port int) (netip.Addr, protocol.Errno) {
	if port < 1 || port > 65535 || host == "" || len(host) > protocol.MaxHostnameText {
		return netip.Addr{}, protocol.Invalid
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, protocol.Invalid
		}
		a = a.Unmap()
		if !g.addrAllowed(a, port) {
			g.log.Debug("network refused", "host", host, "port", port, "reason", "not granted")
			return netip.Addr{}, protocol.Denied
		}
		return a, protocol.OK
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if !validHostname(name) {
		return netip.Addr{}, protocol.Invalid
	}
	byName := g.nameAllowed(name, port)
	if !byName && !g.anyPrefixFor(port) {
		// Nothing could allow it: refuse without asking DNS, so a module
		// cannot use lookups of arbitrary names as a side channel.
		g.log.Debug("network refused", "host", host, "port", port, "reason", "not granted")
		return netip.Addr{}, protocol.Denied
	}
	addrs, err := g.lookup(ctx, name)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, protocol.Unreachable
	}
	// A name grant reaches only public addresses (publicAddr); a prefix
	// grant, exactly what it covers.
	why := ""
	for _, a := range addrs {
		a = a.Unmap()
		if g.addrAllowed(a, port) {
			return a, protocol.OK
		}
		if byName {
			ok, w := publicAddr(a)
			if ok {
				return a, protocol.OK
			}
			if why == "" {
				why = a.String() + ": " + w
			}
		}
	}
	if why != "" {
		g.log.Debug("network refused", "host", host, "port", port, "reason", "name resolves to a special-purpose address", "address", why)
	} else {
		g.log.Debug("network refused", "host", host, "port", port, "reason", "resolves to no granted address")
	}
	return netip.Addr{}, protocol.Denied
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// wait bounds a requested wait by the maximum and the call's deadline.
func (g *Gate) wait(d time.Duration) time.Duration {
	if d <= 0 {
		d = protocol.DefaultNetWait
	}
	d = min(d, protocol.MaxNetWait)
	if !g.deadline.IsZero() {
		d = min(d, time.Until(g.deadline))
	}
	return d
}

// dial connects to a checked address within d.
func (g *Gate) dial(a netip.Addr, port int, d time.Duration) (net.Conn, protocol.Errno) {
	if d <= 0 {
		return nil, protocol.Timeout
	}
	ctx, cancel := context.WithTimeout(g.ctx, d)
	defer cancel()
	c, err := g.dialer(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
	if err != nil {
		return nil, classify(err)
	}
	return c, protocol.OK
}

func classify(err error) protocol.Errno {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return protocol.Refused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return protocol.Timeout
	}
	return protocol.Unreachable
}

// Connect opens a connection to host:port if the grants allow it.
func (g *Gate) Connect(host string, port int, timeout time.Duration) (int32, protocol.Errno) {
	d := g.wait(timeout)
	g.mu.Lock()
	full := len(g.conns) >= protocol.MaxConns
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return 0, protocol.IOError
	}
	if full {
		return 0, protocol.Limit
	}
	ctx, cancel := context.WithTimeout(g.ctx, max(d, 0))
	a, e := g.resolve(ctx, host, port)
	cancel()
	if e != protocol.OK {
		return 0, e
	}
	c, e := g.dial(a, port, d)
	if e != protocol.OK {
		return 0, e
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || len(g.conns) >= protocol.MaxConns {
		_ = c.Close()
		if g.closed {
			return 0, protocol.IOError
		}
		return 0, protocol.Limit
	}
	g.next++
	g.conns[g.next] = c
	return g.next, protocol.OK
}

func (g *Gate) conn(h int32) net.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[h]
}

// Send writes data, at most protocol.MaxIO bytes, on an open connection.
func (g *Gate) Send(h int32, data []byte) (int, protocol.Errno) {
	c := g.conn(h)
	if c == nil {
		return 0, protocol.BadHandle
	}
	if len(data) > protocol.MaxIO {
		data = data[:protocol.MaxIO]
	}
	_ = c.SetWriteDeadline(time.Now().Add(g.wait(protocol.MaxNetWait)))
	n, err := c.Write(data)
	if err != nil && n == 0 {
		if classify(err) == protocol.Timeout {
			return 0, protocol.Timeout
		}
		return 0, protocol.IOError
	}
	return n, protocol.OK
}

// Recv reads up to max bytes, waiting at most timeout for the first.
func (g *Gate) Recv(h int32, maxBytes int, timeout time.Duration) ([]byte, protocol.Errno) {
	c := g.conn(h)
	if c == nil {
		return nil, protocol.BadHandle
	}
	if maxBytes <= 0 {
		return nil, protocol.Invalid
	}
	buf := make([]byte, min(maxBytes, protocol.MaxIO))
	_ = c.SetReadDeadline(time.Now().Add(g.wait(timeout)))
	n, err := c.Read(buf)
	switch {
	case n > 0:
		return buf[:n], protocol.OK
	case errors.Is(err, io.EOF):
		return nil, protocol.EOF
	case err != nil && classify(err) == protocol.Timeout:
		return nil, protocol.Timeout
	case err != nil:
		return nil, protocol.IOError
	}
	return nil, protocol.Timeout
}

// Close closes one connection.
func (g *Gate) Close(h int32) protocol.Errno {
	g.mu.Lock()
	c := g.conns[h]
	delete(g.conns, h)
	g.mu.Unlock()
	if c == nil {
		return protocol.BadHandle
	}
	_ = c.Close()
	return protocol.OK
}

// Probe connects to each HOST:PORT line of targets, ProbeParallel at a
// time, each within timeout, and reports each one's status.
func (g *Gate) Probe(targets string, timeout time.Duration) ([]byte, protocol.Errno) {
	if len(targets) > protocol.MaxProbeText {
		return nil, protocol.Invalid
	}
	var lines []string
	for l := range strings.SplitSeq(targets, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, protocol.IOError
	}
	if g.probes+len(lines) > protocol.MaxProbes {
		g.mu.Unlock()
		return nil, protocol.Limit
	}
	g.probes += len(lines)
	g.mu.Unlock()

	out := make([]byte, len(lines))
	sem := make(chan struct{}, protocol.ProbeParallel)
	var wg sync.WaitGroup
	for i, l := range lines {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Each target gets the whole timeout from when its probe
			// starts (bounded by the call's deadline), not what is left
			// of one shared deadline: a target queued behind slow ones is
			// still really tried.
			out[i] = byte(g.probe(l, time.Now().Add(g.wait(timeout))))
		}()
	}
	wg.Wait()
	return out, protocol.OK
}

func (g *Gate) probe(target string, deadline time.Time) protocol.Errno {
	host, ps, err := net.SplitHostPort(strings.TrimSpace(target))
	if err != nil {
		return protocol.Invalid
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return protocol.Invalid
	}
	d := time.Until(deadline)
	ctx, cancel := context.WithTimeout(g.ctx, max(d, 0))
	a, e := g.resolve(ctx, host, port)
	cancel()
	if e != protocol.OK {
		return e
	}
	c, e := g.dial(a, port, time.Until(deadline))
	if e == protocol.OK {
		_ = c.Close()
	}
	return e
}
