package main

import (
	"net"
	"strconv"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

// hostConn is a net.Conn over a TCP connection the supervisor opened for the
// tool (agentctl.Conn, the agent_ctl net_* host functions), so that
// net/http's Request.Write and ReadResponse, and crypto/tls, can run over it.
//
// Deadlines: a read waits at most until the read deadline (net_recv takes a
// timeout, capped by the host at 30 s, so a longer wait is several calls).
// net_send takes no timeout: a write deadline is only checked before a
// write starts.
type hostConn struct {
	c      *agentctl.Conn
	remote hostAddr

	readDeadline, writeDeadline time.Time
}

var _ net.Conn = (*hostConn)(nil)

// dialHost opens a connection through net_connect; the errors are
// agentctl.Errno values (ErrDenied, ErrRefused, ErrTimeout, ...).
func dialHost(host string, port int, timeout time.Duration) (net.Conn, error) {
	c, err := agentctl.Dial(host, port, timeout)
	if err != nil {
		return nil, err
	}
	return &hostConn{c: c, remote: hostAddr(net.JoinHostPort(host, strconv.Itoa(port)))}, nil
}

// maxWait is the longest wait one net_recv is given: the host caps each at
// 30 s anyway.
const maxWait = 30 * time.Second

// Read waits for data until the read deadline (without one, until data
// comes or the call's time limit ends the tool). It returns io.EOF once the
// peer has closed, agentctl.ErrTimeout when the deadline passes.
func (c *hostConn) Read(p []byte) (int, error) {
	if c.c == nil {
		return 0, net.ErrClosed
	}
	for {
		wait := maxWait
		if !c.readDeadline.IsZero() {
			wait = time.Until(c.readDeadline)
			if wait <= 0 {
				return 0, agentctl.ErrTimeout
			}
			wait = min(wait, maxWait)
		}
		n, err := c.c.Recv(p, wait)
		if err == agentctl.ErrTimeout && (c.readDeadline.IsZero() || time.Until(c.readDeadline) > 0) {
			continue // the host's cap, not our deadline
		}
		return n, err
	}
}

// Write sends all of p (in net_send calls of at most 64 KiB).
func (c *hostConn) Write(p []byte) (int, error) {
	if c.c == nil {
		return 0, net.ErrClosed
	}
	if !c.writeDeadline.IsZero() && !time.Now().Before(c.writeDeadline) {
		return 0, agentctl.ErrTimeout
	}
	return c.c.Write(p)
}

// Close closes the connection; closing it again does nothing.
func (c *hostConn) Close() error {
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c = nil
	return err
}

func (c *hostConn) LocalAddr() net.Addr  { return hostAddr("") } // the host's side is not disclosed
func (c *hostConn) RemoteAddr() net.Addr { return c.remote }

func (c *hostConn) SetDeadline(t time.Time) error {
	c.readDeadline, c.writeDeadline = t, t
	return nil
}

func (c *hostConn) SetReadDeadline(t time.Time) error  { c.readDeadline = t; return nil }
func (c *hostConn) SetWriteDeadline(t time.Time) error { c.writeDeadline = t; return nil }

// hostAddr is the address a connection was asked for, "host:port".
type hostAddr string

func (hostAddr) Network() string  { return "tcp" }
func (a hostAddr) String() string { return string(a) }
