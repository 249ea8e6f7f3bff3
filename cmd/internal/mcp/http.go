package mcp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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
	// to call from another site; a browser's cross-origin request from any
	// other is refused (see originCheck). Clients that are not browsers
	// send no Origin.
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
	opts.MaxBody = cmp.Or(opts.MaxBody, 4<<20)
	opts.PerToken = cmp.Or(opts.PerToken, 16)
	opts.BodyTimeout = cmp.Or(opts.BodyTimeout, 30*time.Second)
	opts.SessionIdle = cmp.Or(opts.SessionIdle, 30*time.Minute)
	opts.MaxConns = cmp.Or(opts.MaxConns, 512)
	opts.IdleTimeout = cmp.Or(opts.IdleTimeout, 60*time.Second)
	opts.HeaderTimeout = cmp.Or(opts.HeaderTimeout, 10*time.Second)
	return opts
}

// HTTPHandler serves MCP over Streamable HTTP at /mcp and a liveness probe
// at /healthz (no token needed there; it says only "ok").
func (s *Server) HTTPHandler(o *HTTPOptions) http.Handler {
	return s.newGate(o.defaults()).mux
}

// newGate builds the /mcp chain, outermost first: the standard library's
// cross-origin protection, the refusal log (reply), the SDK's bearer
// middleware, the gate, and the SDK's Streamable HTTP handler, which caps
// the body (413). The per-token cap on tool calls is the MCP server's
// receiving middleware (limitCalls), where calls are messages, not bodies.
func (s *Server) newGate(opts HTTPOptions) *gate {
	stream := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.srv }, &mcp.StreamableHTTPOptions{
		Logger:              s.log,
		SessionTimeout:      max(opts.SessionIdle, 0),
		MaxRequestBodyBytes: opts.MaxBody,
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
		h = auth.RequireBearerToken(g.verify, ro)(h)
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
	mux.Handle("/mcp", g.originCheck().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := &reply{ResponseWriter: w, g: g, r: r}
		if r.Method == http.MethodPost {
			r.Body = rep.bound(r.Body)
		}
		h.ServeHTTP(rep, r)
	})))
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", g.metricsHandler(opts.Metrics))
	}
	g.mux = mux
	s.mu.Lock()
	s.gates = append(s.gates, g)
	s.mu.Unlock()
	return g
}

// originCheck is the standard library's check against cross-site requests
// (CSRF, DNS rebinding pages): a browser's request is refused (403) unless
// its Sec-Fetch-Site says same-origin, its Origin matches its Host, or its
// Origin is listed. Clients that are not browsers send neither header. On
// a loopback listener the SDK refuses a non-loopback Host, so that a
// rebinding page (whose Origin and Host are its own name) gets no further;
// elsewhere agent-ctl requires a token, which a page does not have. GET
// passes as a safe method: a cross-site page cannot set the session or
// token headers an event stream needs without a preflight we do not
// answer.
func (g *gate) originCheck() *http.CrossOriginProtection {
	c := http.NewCrossOriginProtection()
	for _, o := range g.opts.AllowedOrigins {
		if err := c.AddTrustedOrigin(o); err != nil {
			// Not trusted, so refused: the safe side of a typo.
			g.s.log.Warn("allowed origin ignored", "origin", o, "err", err)
		}
	}
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.refuse(w, r, http.StatusForbidden, "origin not allowed")
	}))
	return c
}

// gate sees every authenticated /mcp request before the MCP handler: it
// refuses new sessions while stopping, and keeps the requests in flight,
// to end them when their client drops them, their token is revoked or the
// server stops. It counts the tool calls in flight per token (limitCalls
// takes and gives the slots).
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

	// The Answered channels of the calls this request carries, closed
	// once the gate has served it, that is once their answers are written
	// (see answers).
	answerMu sync.Mutex
	answered []chan struct{}
	served   bool
}

// answerAfter files ch to be closed once the request is served; false if
// it has been already.
func (lr *liveReq) answerAfter(ch chan struct{}) bool {
	lr.answerMu.Lock()
	defer lr.answerMu.Unlock()
	if lr.served {
		return false
	}
	lr.answered = append(lr.answered, ch)
	return true
}

// answersOut closes the channels filed by answerAfter.
func (lr *liveReq) answersOut() {
	lr.answerMu.Lock()
	lr.served = true
	chs := lr.answered
	lr.answered = nil
	lr.answerMu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// requestHeader carries a request's id from the gate to limitCalls (the
// SDK hands the MCP server the HTTP request's headers). Any value a client
// sends is replaced.
const requestHeader = "Agent-Ctl-Request"

var reqSeq atomic.Uint64

// Reasons a call or stream is ended from outside.
var (
	errDropped      = errors.New("the client dropped its HTTP request")
	errRevoked      = errors.New("the token of this request was revoked")
	errDeleted      = errors.New("the client deleted the session")
	errShuttingDown = errors.New("server shutting down")
)

// codeBusy is the JSON-RPC error code of a tools/call refused for its
// token's cap (-32000 to -32099 are the server's own).
const codeBusy = -32029

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

// reply logs the refusals of the handlers it wraps (the SDK's middleware
// and handler write their own), adds the realm to their 401s, and turns
// the SDK's answer to a body that did not arrive in time into a 408.
type reply struct {
	http.ResponseWriter
	g     *gate
	r     *http.Request
	body  *slowBody
	wrote bool
	mute  bool // the answer was replaced: drop what the handler writes
}

func (c *reply) WriteHeader(code int) {
	if c.wrote {
		c.ResponseWriter.WriteHeader(code)
		return
	}
	c.wrote = true
	switch {
	case c.body != nil && c.body.timedOut && code == http.StatusBadRequest:
		// The SDK says only "failed to read body".
		c.mute = true
		c.Header().Set("Connection", "close")
		c.g.s.log.Warn("http request refused", "status", http.StatusRequestTimeout, "reason", "body too slow", "remote", c.r.RemoteAddr, "method", c.r.Method)
		c.ResponseWriter.WriteHeader(http.StatusRequestTimeout)
		fmt.Fprintf(c.ResponseWriter, "request body not received within %s\n", c.g.opts.BodyTimeout)
		return
	case code == http.StatusUnauthorized:
		if c.Header().Get("WWW-Authenticate") == "" {
			c.Header().Set("WWW-Authenticate", c.g.challengeHeader(c.r))
		}
		c.g.s.log.Warn("http request refused", "status", code, "reason", "no valid bearer token", "remote", c.r.RemoteAddr, "method", c.r.Method)
	case code == http.StatusForbidden:
		c.g.s.log.Warn("http request refused", "status", code, "reason", "forbidden (another token's session, or a non-loopback Host)", "remote", c.r.RemoteAddr, "method", c.r.Method)
	case code == http.StatusRequestEntityTooLarge:
		c.g.s.log.Warn("http request refused", "status", code, "reason", "request body too large", "remote", c.r.RemoteAddr, "method", c.r.Method)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *reply) Write(p []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if c.mute {
		return len(p), nil
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushes for event streams).
func (c *reply) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *reply) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// bound gives a POST body BodyTimeout to arrive: a slow body holds a
// connection and a goroutine. The deadline is lifted once the body is in,
// so that a long call's response still streams (http.Server's ReadTimeout
// would cut it).
func (c *reply) bound(body io.ReadCloser) io.ReadCloser {
	rc := http.NewResponseController(c.ResponseWriter)
	_ = rc.SetReadDeadline(time.Now().Add(c.g.opts.BodyTimeout))
	c.body = &slowBody{ReadCloser: body, rc: rc}
	return c.body
}

// slowBody is a request body read under a deadline.
type slowBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	timedOut bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		var ne net.Error
		b.timedOut = errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
		// The server's own drain of what is left of the body must not
		// wait on a slow client either.
		_ = b.rc.SetReadDeadline(time.Now())
	}
	return n, err
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := ""
	if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
		name = ti.UserID
	}
	// While stopping, no new session or event stream; a session's other
	// requests go on (a cancellation, say), and its new calls are answered
	// "server shutting down".
	if g.s.closing.Load() && (r.Method == http.MethodGet || r.Header.Get("Mcp-Session-Id") == "") {
		w.Header().Set("Connection", "close")
		g.refuse(w, r, http.StatusServiceUnavailable, "server shutting down")
		return
	}
	if r.ContentLength > g.opts.MaxBody {
		// Refused before reading it (the SDK caps what it reads, 413 too).
		g.refuse(w, r, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	lr := &liveReq{g: g, id: strconv.FormatUint(reqSeq.Add(1), 36), token: name, method: r.Method}
	lr.ctx, lr.cancel = context.WithCancelCause(r.Context())
	defer lr.cancel(errDropped)
	r.Header.Del(requestHeader)
	r.Header.Set(requestHeader, lr.id)
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
	defer lr.answersOut()
	g.next.ServeHTTP(w, r.WithContext(lr.ctx))
}

// limitCalls is the MCP server's receiving middleware for calls over
// HTTP: each tools/call takes one of its token's PerToken slots (or is
// refused with a JSON-RPC error, codeBusy) and holds it until its handler
// returns, that is until its worker is gone, whether or not the client
// still waits. Only calls count: they hold workers; the protocol's own
// messages (initialize, notifications, lists) are never refused for it.
// The call lives no longer than its HTTP request: a client that drops it,
// or whose token is revoked, cancels the call. Every method's context
// carries the token's name (caller).
func (s *Server) limitCalls(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		extra := req.GetExtra()
		if extra == nil || extra.Header == nil {
			return next(ctx, method, req) // stdio
		}
		if extra.TokenInfo != nil {
			ctx = context.WithValue(ctx, callerKey{}, extra.TokenInfo.UserID)
		}
		id := extra.Header.Get(requestHeader)
		if method != "tools/call" || id == "" {
			return next(ctx, method, req)
		}
		// The gate sets the id on every HTTP request: one it no longer
		// holds has ended before its call started.
		v, ok := s.reqs.Load(id)
		if !ok {
			return failure("%s: %v", req.(*mcp.CallToolRequest).Params.Name, errDropped), nil
		}
		lr := v.(*liveReq)
		if !lr.g.acquire(lr.token, 1) {
			return nil, &jsonrpc.Error{Code: codeBusy, Message: "too many tool calls in flight for this token"}
		}
		defer lr.g.release(lr.token, 1)
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(lr.ctx, func() { cancel(context.Cause(lr.ctx)) })
		defer stop()
		return next(ctx, method, req)
	}
}

type callerKey struct{}

// caller is the name of the token a request over HTTP authenticated with
// (an OAuth subject has oauthUserPrefix), or "" (stdio, or --no-auth).
func caller(ctx context.Context) string {
	name, _ := ctx.Value(callerKey{}).(string)
	return name
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
	g.mu.Lock()
	delete(g.live, lr)
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
