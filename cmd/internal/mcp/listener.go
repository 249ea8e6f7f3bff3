package mcp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPServer is `agent-ctl serve`: the HTTP front-end on a listener, with
// its connection limit and timeouts, and a graceful stop.
type HTTPServer struct {
	s    *Server
	g    *gate
	hs   *http.Server
	conn *connLimit
}

// NewHTTPServer returns the HTTP front-end of s; Serve starts it.
func (s *Server) NewHTTPServer(o *HTTPOptions) *HTTPServer {
	opts := o.defaults()
	g := s.newGate(opts)
	cl := &connLimit{max: opts.MaxConns, idle: map[net.Conn]time.Time{}, log: s}
	hs := &http.Server{
		Handler:           g.mux,
		ReadHeaderTimeout: opts.HeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         opts.TLS,
		ConnState:         cl.state,
		// Not ReadTimeout: it would also cut a long call's response
		// stream. The gate bounds the body instead.
	}
	return &HTTPServer{s: s, g: g, hs: hs, conn: cl}
}

// Serve accepts connections on ln until Shutdown.
func (h *HTTPServer) Serve(ln net.Listener) error {
	l := &limitListener{Listener: ln, c: h.conn}
	var err error
	if h.hs.TLSConfig != nil {
		err = h.hs.ServeTLS(l, "", "")
	} else {
		err = h.hs.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops gracefully: it stops accepting, ends the event streams,
// lets the calls in flight finish for up to grace, then cancels the rest
// (each answers an isError "server shutting down"), waits until their
// workers are gone (cgroups and call directories removed), and closes the
// connections once the answers are written.
func (h *HTTPServer) Shutdown(grace time.Duration) {
	h.s.closing.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), grace+5*time.Second)
		defer cancel()
		if h.hs.Shutdown(ctx) != nil {
			_ = h.hs.Close()
		}
	}()
	h.g.endStreams(errShuttingDown)
	h.s.Shutdown(grace)
	// The answers of the cancelled calls are written when their handlers
	// return; then every request ends and Shutdown above returns.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = h.hs.Close()
		<-done
	}
}

// connLimit counts the open connections and knows the idle ones.
type connLimit struct {
	max                    int
	open, refused, evicted atomic.Int64
	log                    *Server

	mu   sync.Mutex
	idle map[net.Conn]time.Time // keep-alive connections between requests
}

func (c *connLimit) state(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == http.StateIdle {
		c.idle[conn] = time.Now()
	} else {
		delete(c.idle, conn)
	}
}

// evictIdle closes the longest idle keep-alive connection, if any.
func (c *connLimit) evictIdle() bool {
	c.mu.Lock()
	var oldest net.Conn
	var at time.Time
	for conn, t := range c.idle {
		if oldest == nil || t.Before(at) {
			oldest, at = conn, t
		}
	}
	if oldest != nil {
		delete(c.idle, oldest)
	}
	c.mu.Unlock()
	if oldest == nil {
		return false
	}
	c.evicted.Add(1)
	_ = oldest.Close()
	return true
}

// limitListener enforces connLimit: past the limit an idle connection
// makes room, else the new one is closed at once (with a reset, so that
// it holds no descriptor in TIME_WAIT here), so that a flood of idle
// connections can neither exhaust descriptors nor lock clients out.
type limitListener struct {
	net.Listener
	c *connLimit
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.c.open.Add(1) > int64(l.c.max) && !l.c.evictIdle() {
			l.c.open.Add(-1)
			if n := l.c.refused.Add(1); n == 1 || n%1000 == 0 {
				l.c.log.log.Warn("connection refused: at the connection limit (--max-conns)", "limit", l.c.max, "refused", n)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			continue
		}
		return &limitConn{Conn: conn, c: l.c}, nil
	}
}

type limitConn struct {
	net.Conn
	c    *connLimit
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.c.open.Add(-1) })
	return err
}

// IsLoopback reports whether a listen address (host:port) is on loopback
// only: 127.0.0.0/8, ::1 or localhost. An empty host (all interfaces) is
// not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
