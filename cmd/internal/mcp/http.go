package mcp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPOptions configures the Streamable HTTP front-end.
type HTTPOptions struct {
	// Tokens are the accepted bearer tokens; nil disables authentication
	// (agent-ctl allows that only on a loopback address).
	Tokens *Tokens
	// OAuth, if set, also accepts JWT access tokens of its issuer for this
	// server, and serves /.well-known/oauth-protected-resource.
	OAuth *OAuth
	// MaxBody caps a request body in bytes; zero means 4 MiB.
	MaxBody int64
	// PerToken caps the tool calls one token has in flight, each counted
	// until its worker is gone; zero means 16.
	PerToken int
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call; a request with any other Origin header is refused. Clients
	// that are not browsers send none.
	AllowedOrigins []string
	// BodyTimeout bounds reading one request's body; zero means 30s. It is
	// not a limit on the request: a long call's response still streams.
	BodyTimeout time.Duration
	// SessionIdle closes an MCP session that has had no request for this
	// long (a later request with its id gets 404); zero means 30 minutes,
	// negative never.
	SessionIdle time.Duration

	// The rest apply to an HTTPServer only.

	// MaxConns caps the open connections; zero means 512. Past it, an
	// idle keep-alive connection is closed to make room, or, with none
	// idle, the new connection is closed at once.
	MaxConns int
	// IdleTimeout closes a keep-alive connection idle this long; zero
	// means 60s.
	IdleTimeout time.Duration
	// HeaderTimeout bounds reading a request's headers; zero means 10s.
	HeaderTimeout time.Duration
	// TLS, if set, serves HTTPS.
	TLS *tls.Config
	// Metrics serves GET /metrics behind the same tokens as /mcp; nil
	// serves no metrics there.
	Metrics http.Handler
}

func (o *HTTPOptions) defaults() HTTPOptions {
	opts := HTTPOptions{}
	if o != nil {
		opts = *o
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 4 << 20
	}
	if opts.PerToken == 0 {
		opts.PerToken = 16
	}
	if opts.BodyTimeout == 0 {
		opts.BodyTimeout = 30 * time.Second
	}
	if opts.SessionIdle == 0 {
		opts.SessionIdle = 30 * time.Minute
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 512
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.HeaderTimeout == 0 {
		opts.HeaderTimeout = 10 * time.Second
	}
	return opts
}

// HTTPHandler serves MCP over Streamable HTTP at /mcp and a liveness probe
// at /healthz (no token needed there; it says only "ok").
func (s *Server) HTTPHandler(o *HTTPOptions) http.Handler {
	return s.newGate(o.defaults()).mux
}

func (s *Server) newGate(opts HTTPOptions) *gate {
	idle := opts.SessionIdle
	if idle < 0 {
		idle = 0
	}
	stream := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.srv }, &mcp.StreamableHTTPOptions{
		Logger:         s.log,
		SessionTimeout: idle,
	})
	g := &gate{s: s, opts: opts, next: stream, inflight: map[string]int{}, live: map[*liveReq]struct{}{}}
	var h http.Handler = g
	if opts.Tokens != nil || opts.OAuth != nil {
		// The SDK's own middleware puts the token's name on the request as
		// its user: a session is then bound to the token that opened it
		// (the SDK refuses another token's requests in it with 403).
		ro := &auth.RequireBearerTokenOptions{AllowMissingExpiration: true}
		if opts.OAuth != nil {
			ro.ClockSkew = opts.OAuth.opts.Leeway
		}
		h = auth.RequireBearerToken(g.verify, ro)(g)
	}
	mux := http.NewServeMux()
	if opts.OAuth != nil {
		mux.Handle(metadataPath(opts.OAuth.opts.Audience), opts.OAuth.metadataHandler())
		mux.Handle("/.well-known/oauth-protected-resource", opts.OAuth.metadataHandler())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !g.originAllowed(origin, r.Host) {
			g.refuse(w, r, http.StatusForbidden, "origin not allowed")
			return
		}
		h.ServeHTTP(&challenge{ResponseWriter: w, g: g, r: r}, r)
	}))
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", g.metricsHandler(opts.Metrics))
	}
	g.mux = mux
	s.mu.Lock()
	s.gates = append(s.gates, g)
	s.mu.Unlock()
	return g
}

// gate checks every /mcp request before the MCP handler sees it: origin,
// token, body size and read time, and the token's concurrency. It keeps
// the requests in flight, to end them when their token is revoked or the
// server stops.
type gate struct {
	s    *Server
	opts HTTPOptions
	next http.Handler
	mux  *http.ServeMux

	mu       sync.Mutex
	inflight map[string]int // tool calls in flight per token name
	live     map[*liveReq]struct{}
	watching bool // a goroutine watches live requests for revoked tokens
}

// liveReq is one /mcp request being served.
type liveReq struct {
	g      *gate
	id     string
	token  string
	method string
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	reserved int  // per-token slots taken for its tool calls, not yet claimed by one
	done     bool // the HTTP handler returned
}

// requestHeader carries a request's id from the gate to the tool handler
// (the SDK hands the handler the HTTP request's headers). Any value a
// client sends is replaced.
const requestHeader = "Agent-Ctl-Request"

var reqSeq atomic.Uint64

// Reasons a call or stream is ended from outside.
var (
	errDropped      = errors.New("the client dropped its HTTP request")
	errRevoked      = errors.New("the token of this request was revoked")
	errDeleted      = errors.New("the client deleted the session")
	errShuttingDown = errors.New("server shutting down")
)

type tokenKey struct{}

// TokenName is the name of the token a request over HTTP authenticated
// with, or "" (stdio, or --no-auth).
func TokenName(ctx context.Context) string {
	if ti := auth.TokenInfoFromContext(ctx); ti != nil {
		return ti.UserID
	}
	n, _ := ctx.Value(tokenKey{}).(string)
	return n
}

func (g *gate) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	g.s.log.Warn("http request refused", "status", code, "reason", why, "remote", r.RemoteAddr, "method", r.Method)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", g.challengeHeader(r))
	}
	http.Error(w, why, code)
}

// verify is the SDK middleware's token check. Its scheme match is
// case-insensitive, as RFC 9110 says.
func (g *gate) verify(ctx context.Context, secret string, _ *http.Request) (*auth.TokenInfo, error) {
	if g.opts.Tokens != nil {
		if name, ok := g.opts.Tokens.Check(secret); ok {
			return &auth.TokenInfo{UserID: name}, nil
		}
	}
	if g.opts.OAuth != nil {
		ti, err := g.opts.OAuth.Verify(ctx, secret)
		if err != nil {
			// Which check failed is for the log, not for the client.
			g.s.log.Info("oauth token refused", "err", err)
			return nil, fmt.Errorf("%w: invalid token", auth.ErrInvalidToken)
		}
		return ti, nil
	}
	return nil, fmt.Errorf("%w: invalid token", auth.ErrInvalidToken)
}

// challenge logs the SDK middleware's refusals and adds the realm to its
// 401s.
type challenge struct {
	http.ResponseWriter
	g     *gate
	r     *http.Request
	wrote bool
}

func (c *challenge) WriteHeader(code int) {
	if !c.wrote {
		switch code {
		case http.StatusUnauthorized:
			if c.Header().Get("WWW-Authenticate") == "" {
				c.Header().Set("WWW-Authenticate", c.g.challengeHeader(c.r))
			}
			c.g.s.log.Warn("http request refused", "status", code, "reason", "no valid bearer token", "remote", c.r.RemoteAddr, "method", c.r.Method)
		case http.StatusForbidden:
			c.g.s.log.Warn("http request refused", "status", code, "reason", "forbidden (another token's session, or a non-loopback Host)", "remote", c.r.RemoteAddr, "method", c.r.Method)
		}
	}
	c.wrote = true
	c.ResponseWriter.WriteHeader(code)
}

func (c *challenge) Write(p []byte) (int, error) {
	c.wrote = true
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushes for event streams).
func (c *challenge) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *challenge) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := TokenName(r.Context())
	// While stopping, no new session or event stream; a session's other
	// requests go on (a cancellation, say), and its new calls are answered
	// "server shutting down".
	if g.s.closing.Load() && (r.Method == http.MethodGet || r.Header.Get("Mcp-Session-Id") == "") {
		w.Header().Set("Connection", "close")
		g.refuse(w, r, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	if r.ContentLength > g.opts.MaxBody {
		g.refuse(w, r, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	lr := &liveReq{g: g, id: strconv.FormatUint(reqSeq.Add(1), 36), token: name, method: r.Method}
	lr.ctx, lr.cancel = context.WithCancelCause(r.Context())
	defer lr.cancel(errDropped)
	r.Header.Del(requestHeader)
	r.Header.Set(requestHeader, lr.id)
	if r.Method == http.MethodPost {
		// The body gets BodyTimeout to arrive (a slow body holds a
		// connection and a goroutine); the deadline is lifted once it has,
		// so that a long call's response still streams.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(g.opts.BodyTimeout))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBody))
		if err != nil {
			// Past deadline: the server's own drain of what is left of the
			// body must not wait on a slow client either.
			_ = rc.SetReadDeadline(time.Now())
			var tooLarge *http.MaxBytesError
			var ne net.Error
			switch {
			case errors.As(err, &tooLarge):
				g.refuse(w, r, http.StatusRequestEntityTooLarge, "request body too large")
			case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
				w.Header().Set("Connection", "close")
				g.refuse(w, r, http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", g.opts.BodyTimeout))
			default:
				g.refuse(w, r, http.StatusBadRequest, "reading request body failed")
			}
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(bytes.NewReader(body))
		// Only tool calls count against the token's limit: they hold
		// workers. The protocol's own messages (initialize, notifications,
		// lists) must never be refused for it. The slots are handed to the
		// calls, which hold them until their workers are gone, whether or
		// not the client still waits.
		if n := countToolCalls(body); n > 0 {
			if !g.acquire(name, n) {
				w.Header().Set("Retry-After", "1")
				g.refuse(w, r, http.StatusTooManyRequests, "too many tool calls in flight for this token")
				return
			}
			lr.reserved = n
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, g.opts.MaxBody)
	}
	if r.Method == http.MethodDelete {
		// Deleting a session ends its calls at once (the SDK's close
		// would wait for them). Only calls of the same token: the SDK
		// refuses another token's DELETE.
		if sid := r.Header.Get("Mcp-Session-Id"); sid != "" {
			g.s.cancelSession(sid, name, errDeleted)
		}
	}
	g.track(lr)
	defer g.untrack(lr)
	g.next.ServeHTTP(w, r.WithContext(context.WithValue(lr.ctx, tokenKey{}, name)))
}

// track records a request in flight; a goroutine watches for the
// revocation of the tokens of those in flight while there are any.
func (g *gate) track(lr *liveReq) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live[lr] = struct{}{}
	g.s.reqs.Store(lr.id, lr)
	if g.opts.Tokens != nil && !g.watching {
		g.watching = true
		go g.watchRevocations()
	}
}

func (g *gate) untrack(lr *liveReq) {
	g.s.reqs.Delete(lr.id)
	lr.mu.Lock()
	lr.done = true
	unclaimed := lr.reserved
	lr.reserved = 0
	lr.mu.Unlock()
	g.mu.Lock()
	delete(g.live, lr)
	g.inflight[lr.token] -= unclaimed
	g.mu.Unlock()
}

// watchRevocations ends the requests (event streams, calls) of a token
// that has been revoked since they began.
func (g *gate) watchRevocations() {
	t := time.NewTicker(g.s.opts.Poll)
	defer t.Stop()
	for range t.C {
		names := map[string]bool{}
		list, err := g.opts.Tokens.List()
		for _, tok := range list {
			names[tok.Name] = true
		}
		g.mu.Lock()
		if len(g.live) == 0 {
			g.watching = false
			g.mu.Unlock()
			return
		}
		var revoked []*liveReq
		if err == nil {
			for lr := range g.live {
				if !names[lr.token] && !strings.HasPrefix(lr.token, oauthUserPrefix) {
					revoked = append(revoked, lr)
				}
			}
		}
		g.mu.Unlock()
		for _, lr := range revoked {
			g.s.log.Info("ending a request of a revoked token", "token", lr.token, "method", lr.method)
			lr.cancel(errRevoked)
		}
	}
}

// endStreams ends the standalone event streams (GET) in flight: they never
// end on their own, and a stop must not wait for them.
func (g *gate) endStreams(cause error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for lr := range g.live {
		if lr.method == http.MethodGet {
			lr.cancel(cause)
		}
	}
}

// claim hands one of the request's reserved per-token slots to a tool
// call, or takes a new one (a call the gate did not count), and returns
// its release; false when the token has none left.
func (lr *liveReq) claim() (func(), bool) {
	lr.mu.Lock()
	if lr.reserved > 0 {
		lr.reserved--
		lr.mu.Unlock()
	} else {
		lr.mu.Unlock()
		if !lr.g.acquire(lr.token, 1) {
			return nil, false
		}
	}
	var once sync.Once
	return func() { once.Do(func() { lr.g.release(lr.token, 1) }) }, true
}

// countToolCalls counts the tools/call requests in a JSON-RPC message or
// batch. Anything unreadable is left to the MCP handler to refuse (and a
// call the count missed takes its slot when it starts).
func countToolCalls(body []byte) int {
	type msg struct {
		Method string `json:"method"`
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var batch []msg
		if json.Unmarshal(body, &batch) != nil {
			return 0
		}
		n := 0
		for _, m := range batch {
			if m.Method == "tools/call" {
				n++
			}
		}
		return n
	}
	var m msg
	if json.Unmarshal(body, &m) == nil && m.Method == "tools/call" {
		return 1
	}
	return 0
}

// originAllowed admits the listed origins and same-origin requests on a
// loopback name: a page can only have origin http://localhost:PORT if this
// server (which serves no pages) or another local program on that port
// served it. A rebinding page has its own name as origin and Host, and
// the SDK refuses a non-loopback Host on a loopback listener.
func (g *gate) originAllowed(origin, host string) bool {
	for _, o := range g.opts.AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, host) {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (g *gate) acquire(name string, n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight[name]+n > g.opts.PerToken {
		return false
	}
	g.inflight[name] += n
	return true
}

func (g *gate) release(name string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight[name] -= n
}

// InFlight reports the tool calls a token has in flight over HTTP, as
// counted against PerToken.
func (s *Server) InFlight(token string) int {
	s.mu.Lock()
	gates := s.gates
	s.mu.Unlock()
	n := 0
	for _, g := range gates {
		g.mu.Lock()
		n += g.inflight[token]
		g.mu.Unlock()
	}
	return n
}

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

// Conns reports the open connections, and how many were refused at the
// limit or closed idle to make room.
func (h *HTTPServer) Conns() (open, refused, evicted int64) {
	return h.conn.open.Load(), h.conn.refused.Load(), h.conn.evicted.Load()
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
