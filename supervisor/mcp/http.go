package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPOptions configures the Streamable HTTP front-end.
type HTTPOptions struct {
	// Tokens are the accepted bearer tokens; nil disables authentication
	// (agent-ctl allows that only on a loopback address).
	Tokens *Tokens
	// MaxBody caps a request body in bytes; zero means 4 MiB.
	MaxBody int64
	// PerToken caps the tool calls one token has in flight; zero means 16.
	PerToken int
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call; a request with any other Origin header is refused. Clients
	// that are not browsers send none.
	AllowedOrigins []string
}

// HTTPHandler serves MCP over Streamable HTTP at /mcp and a liveness probe
// at /healthz (no token needed there; it says only "ok").
func (s *Server) HTTPHandler(o *HTTPOptions) http.Handler {
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
	stream := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.srv }, &mcp.StreamableHTTPOptions{
		Logger: s.log,
	})
	g := &gate{s: s, opts: opts, next: stream, inflight: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/mcp", g)
	return mux
}

// gate checks every /mcp request before the MCP handler sees it: origin,
// token, body size, and the token's concurrency.
type gate struct {
	s    *Server
	opts HTTPOptions
	next http.Handler

	mu       sync.Mutex
	inflight map[string]int
}

type tokenKey struct{}

// TokenName is the name of the token a request over HTTP authenticated
// with, or "" (stdio, or --no-auth).
func TokenName(ctx context.Context) string {
	n, _ := ctx.Value(tokenKey{}).(string)
	return n
}

func (g *gate) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	g.s.log.Warn("http request refused", "status", code, "reason", why, "remote", r.RemoteAddr, "method", r.Method)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="agent-ctl"`)
	}
	http.Error(w, why, code)
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !g.originAllowed(origin, r.Host) {
		g.refuse(w, r, http.StatusForbidden, "origin not allowed")
		return
	}
	name := ""
	if g.opts.Tokens != nil {
		auth := r.Header.Get("Authorization")
		secret, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			g.refuse(w, r, http.StatusUnauthorized, "missing bearer token")
			return
		}
		if name, ok = g.opts.Tokens.Check(strings.TrimSpace(secret)); !ok {
			g.refuse(w, r, http.StatusUnauthorized, "invalid token")
			return
		}
	}
	if r.ContentLength > g.opts.MaxBody {
		g.refuse(w, r, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, g.opts.MaxBody)
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			g.refuse(w, r, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		// Only tool calls count against the token's limit: they hold
		// workers. The protocol's own messages (initialize, notifications,
		// lists) must never be refused for it.
		if callsTool(body) {
			if !g.acquire(name) {
				w.Header().Set("Retry-After", "1")
				g.refuse(w, r, http.StatusTooManyRequests, "too many tool calls in flight for this token")
				return
			}
			defer g.release(name)
		}
	}
	g.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, name)))
}

// originAllowed admits the listed origins and same-origin requests on a
// loopback name: a page can only have origin http://localhost:PORT if this
// server (which serves no pages) or another local program on that port
// served it. A rebinding page has its own name as origin and Host, and
// the SDK refuses a non-loopback Host on a loopback listener.
// callsTool reports whether a JSON-RPC message or batch holds a tools/call
// request. Anything unreadable is left to the MCP handler to refuse.
func callsTool(body []byte) bool {
	type msg struct {
		Method string `json:"method"`
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var batch []msg
		if json.Unmarshal(body, &batch) != nil {
			return false
		}
		for _, m := range batch {
			if m.Method == "tools/call" {
				return true
			}
		}
		return false
	}
	var m msg
	return json.Unmarshal(body, &m) == nil && m.Method == "tools/call"
}

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

func (g *gate) acquire(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight[name] >= g.opts.PerToken {
		return false
	}
	g.inflight[name]++
	return true
}

func (g *gate) release(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight[name]--
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
