package mcp

import (
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/supervisor"
)

// Front-end names in the audit log.
const (
	frontendStdio = "mcp-stdio"
	frontendHTTP  = "mcp-http"
)

// anonymous is the caller of an HTTP call under --no-auth, which no token
// names.
const anonymous = "anonymous"

// attribute fills in who made an MCP call, for the audit log: over HTTP
// the token's name (the SDK's TokenInfo, which the gate sets from the
// bearer token), over stdio the client's name from initialize.
func attribute(call *supervisor.Call, req *mcp.CallToolRequest) {
	if req.Extra != nil && req.Extra.Header != nil {
		call.Frontend, call.Caller = frontendHTTP, anonymous
		if req.Extra.TokenInfo != nil && req.Extra.TokenInfo.UserID != "" {
			call.Caller = req.Extra.TokenInfo.UserID
		}
		return
	}
	call.Frontend, call.Caller = frontendStdio, "unknown client"
	if req.Session != nil {
		if p := req.Session.InitializeParams(); p != nil && p.ClientInfo != nil && p.ClientInfo.Name != "" {
			call.Caller = p.ClientInfo.Name
		}
	}
}

// Sessions reports the MCP sessions open now, for metrics.
func (s *Server) Sessions() int {
	n := 0
	for range s.srv.Sessions() {
		n++
	}
	return n
}

// MetricsHandler serves h (the Prometheus metrics) behind the same bearer
// tokens as /mcp under o (Tokens, OAuth; neither: open, which serve allows
// on loopback only), with the same Origin check, for a listener of its
// own (--metrics-listen).
func (s *Server) MetricsHandler(h http.Handler, o *HTTPOptions) http.Handler {
	return (&gate{s: s, opts: o.defaults()}).metricsHandler(h)
}

func (g *gate) metricsHandler(h http.Handler) http.Handler {
	if g.opts.Tokens != nil || g.opts.OAuth != nil {
		// Prometheus sends the token (authorization: credentials_file).
		h = auth.RequireBearerToken(g.verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	}
	return g.originCheck().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&reply{ResponseWriter: w, g: g, r: r}, r)
	}))
}
