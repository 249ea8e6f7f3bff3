// Package loopback opens TCP listeners on loopback addresses for the
// network tests: each counts the connections that reach it, so a test can
// prove that a refused connection never left the host's checks, and
// answers them as the test asks.
package loopback

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Mode is what a listener does with a connection it accepts.
type Mode int

const (
	// Close closes it at once (a port scan's open port).
	Close Mode = iota
	// Hold keeps it open, silent, until the test ends.
	Hold
	// Echo copies back whatever arrives.
	Echo
	// EchoLine answers the first line with "echo: LINE" and closes.
	EchoLine
)

// Listener is a loopback listener that counts what it accepted.
type Listener struct {
	net.Listener
	mode Mode

	mu       sync.Mutex
	accepted int
	conns    []net.Conn
}

// Listen listens on 127.0.0.1 (a random port) and fails the test if it
// cannot.
func Listen(tb testing.TB, mode Mode) *Listener {
	tb.Helper()
	l, err := ListenOn(tb, "tcp", "127.0.0.1:0", mode)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// ListenOn listens on network and addr (e.g. "tcp6", "[::1]:0"); the
// listener and what it accepted are closed when the test ends.
func ListenOn(tb testing.TB, network, addr string, mode Mode) (*Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	l := &Listener{Listener: ln, mode: mode}
	tb.Cleanup(func() {
		ln.Close()
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.conns {
			c.Close()
		}
	})
	go l.serve()
	return l, nil
}

func (l *Listener) serve() {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		l.accepted++
		if l.mode != Close {
			l.conns = append(l.conns, c)
		}
		l.mu.Unlock()
		switch l.mode {
		case Close:
			c.Close()
		case Echo:
			go io.Copy(c, c)
		case EchoLine:
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					_, _ = c.Write([]byte("echo: " + line))
				}
			}()
		}
	}
}

// Port is the port it listens on.
func (l *Listener) Port() int { return l.Addr().(*net.TCPAddr).Port }

// Count is how many connections it accepted.
func (l *Listener) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted
}

// Last is the last connection it accepted and kept (modes other than
// Close), or nil.
func (l *Listener) Last() net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) == 0 {
		return nil
	}
	return l.conns[len(l.conns)-1]
}

// ClosedPort returns a loopback port that nothing listens on.
func ClosedPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
