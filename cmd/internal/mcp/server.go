// Package mcp serves the installed tools over the Model Context Protocol:
// `agent-ctl mcp` on stdin/stdout and `agent-ctl serve` over Streamable
// HTTP. It is the only package that imports the MCP go-sdk. Every
// tools/call goes through the same catalog and supervisor.Invoke as the CLI,
// so the same worker, policy and limits apply.
package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/tail"
)

// Options configures a Server.
type Options struct {
	// Version is reported to clients as the server's version.
	Version string
	// Logger receives the server's log; nil discards it. It must not write
	// to the stdio transport's stdout.
	Logger *slog.Logger
	// Poll is how often the module store and the policy file are checked
	// for changes; zero means 500ms.
	Poll time.Duration
	// Progress is the interval of progress notifications to a quiet call
	// that asked for them; zero means 500ms. Output also sends them.
	Progress time.Duration
	// MaxBufferedOutput caps the module output held by all calls in flight
	// together (a call's stdout is its result, so it is held until the call
	// ends); zero means 256 MiB. A call whose output does not fit keeps only
	// its tail, and a successful one then fails saying so.
	MaxBufferedOutput int64
}

// ProtocolVersions are the MCP protocol versions the server negotiates,
// newest first. 2026-07-28 is left out: the go-sdk v1.8.0 serves it only on
// stateless HTTP, without the sessions agent-ctl binds to tokens.
var ProtocolVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// Server publishes a catalog's tools and runs their calls.
type Server struct {
	cat  *catalog.Catalog
	sup  *supervisor.Supervisor
	srv  *mcp.Server
	log  *slog.Logger
	opts Options

	mu    sync.Mutex
	known map[string]string // tool name → fingerprint of what was published
	gates []*gate           // HTTP front-ends

	// The catalog's stamps when the last Sync began, and whether that Sync
	// loaded and published everything with stamps that can tell a later
	// change: then a Sync that finds the same stamps has nothing to do.
	stamps   [2]catalog.Stamp
	clean    bool
	examined int // tools the last Sync looked at (for the tests)

	reqs    sync.Map // HTTP request id → *liveReq
	answers answers  // when each call's answer is out, for the pool's refill
	budget  budget   // module output held by the calls in flight
	closing atomic.Bool

	callsMu sync.Mutex
	calls   map[*inflight]struct{}
	idle    *sync.Cond // signalled when calls empties

	// The controller's MCP face (NewFleet) has a fleet instead of a
	// catalog and supervisor.
	fleet        Fleet
	fleetTimeout time.Duration
	fleetTools   map[string]*fleetTool // under mu
	fleetSync    sync.Mutex            // one syncFleet at a time
}

// inflight is a tool call being served.
type inflight struct {
	session, token string
	cancel         context.CancelCauseFunc
}

// New returns a server publishing what is installed in cat now; Watch
// keeps it current.
func New(cat *catalog.Catalog, sup *supervisor.Supervisor, o *Options) *Server {
	s := newServer(o)
	s.cat, s.sup = cat, sup
	s.Sync()
	return s
}

// newServer is the MCP server with no tools yet.
func newServer(o *Options) *Server {
	opts := Options{}
	if o != nil {
		opts = *o
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Poll == 0 {
		opts.Poll = 500 * time.Millisecond
	}
	if opts.Progress == 0 {
		opts.Progress = 500 * time.Millisecond
	}
	if opts.MaxBufferedOutput == 0 {
		opts.MaxBufferedOutput = 256 << 20
	}
	s := &Server{log: opts.Logger, opts: opts, known: map[string]string{}, calls: map[*inflight]struct{}{}}
	s.idle = sync.NewCond(&s.callsMu)
	s.budget.max = opts.MaxBufferedOutput
	s.srv = mcp.NewServer(&mcp.Implementation{Name: "agent-ctl", Version: opts.Version}, &mcp.ServerOptions{
		Logger:                    opts.Logger,
		SupportedProtocolVersions: ProtocolVersions,
		Instructions: "Each tool is a WebAssembly module that agent-ctl runs in a fresh sandboxed worker " +
			"with only what the operator granted it.",
		Capabilities: &mcp.ServerCapabilities{
			Tools: &mcp.ToolCapabilities{ListChanged: true},
			// Logging is deprecated from protocol 2026-07-28 (SEP-2577) but
			// works for at least a year and is what clients of 2025-11-25
			// and earlier use to show a tool's stderr.
			//lint:ignore SA1019 see above
			Logging: &mcp.LoggingCapabilities{},
		},
	})
	s.srv.AddReceivingMiddleware(s.limitCalls)
	return s
}

// Close releases the supervisor's prepared workers, or the fleet's
// connection.
func (s *Server) Close() {
	if s.sup != nil {
		s.sup.Close()
	}
	if c, ok := s.fleet.(interface{ Close() }); ok {
		c.Close()
	}
}

// Shutdown stops the server gracefully: new calls are refused, the calls
// in flight get up to grace to finish, the rest are cancelled (each
// answers an isError "server shutting down"), and once their handlers have
// returned the supervisor is closed: every worker killed, its cgroup and
// call directory removed.
func (s *Server) Shutdown(grace time.Duration) {
	s.closing.Store(true)
	timer := time.AfterFunc(grace, func() {
		s.callsMu.Lock()
		n := len(s.calls)
		for c := range s.calls {
			c.cancel(errShuttingDown)
		}
		s.callsMu.Unlock()
		if n > 0 {
			s.log.Warn("calls cancelled at shutdown", "calls", n, "grace", grace)
		}
	})
	s.callsMu.Lock()
	for len(s.calls) > 0 {
		s.idle.Wait()
	}
	s.callsMu.Unlock()
	timer.Stop()
	s.Close()
}

// toolHandler is a tool's handler: what every tool call does first, its
// admission (refused once the server shuts down) and the decoding of its
// arguments, then body.
func (s *Server) toolHandler(name string, body func(ctx context.Context, req *mcp.CallToolRequest, args map[string]any) (*mcp.CallToolResult, error)) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx, done, ok := s.admit(ctx, req)
		if !ok {
			return failure("%s: %v", name, errShuttingDown), nil
		}
		defer done()
		args, err := arguments(req)
		if err != nil {
			return failure("invalid arguments: want a JSON object: %v", err), nil
		}
		return body(ctx, req, args)
	}
}

// admit registers a tool call in flight, cancellable by a shutdown and by
// the client's cancellation of its session's calls; false once the server
// shuts down. done ends the call.
func (s *Server) admit(ctx context.Context, req *mcp.CallToolRequest) (_ context.Context, done func(), ok bool) {
	ctx, cancel := context.WithCancelCause(ctx)
	c := &inflight{cancel: cancel, token: caller(ctx)}
	if req.Session != nil {
		c.session = req.Session.ID()
	}
	if !s.begin(c) {
		cancel(nil)
		return ctx, nil, false
	}
	return ctx, func() {
		s.end(c)
		cancel(nil)
	}, true
}

// arguments decodes a tool call's arguments, numbers kept as json.Number
// so that an integer parameter is not rounded through a float64; absent
// or null arguments are an empty object.
func arguments(req *mcp.CallToolRequest) (map[string]any, error) {
	args := map[string]any{}
	if raw := req.Params.Arguments; len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&args); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// begin records a call in flight; nil when the server is shutting down.
func (s *Server) begin(c *inflight) bool {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.calls[c] = struct{}{}
	return true
}

func (s *Server) end(c *inflight) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	delete(s.calls, c)
	if len(s.calls) == 0 {
		s.idle.Broadcast()
	}
}

// cancelSession cancels the calls in flight in a session, of the given
// token only.
func (s *Server) cancelSession(session, token string, cause error) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	for c := range s.calls {
		if c.session == session && c.token == token {
			c.cancel(cause)
		}
	}
}

// MCP is the underlying go-sdk server.
func (s *Server) MCP() *mcp.Server { return s.srv }

// Watch keeps the published tools in step with the store and the grants
// until ctx ends: an install, replacement or removal, or a grant change,
// reaches clients as notifications/tools/list_changed.
func (s *Server) Watch(ctx context.Context) {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sync()
		}
	}
}

// Sync publishes the tools installed now, replacing those whose version
// or grants changed and removing those that are gone. It reports whether
// anything changed.
//
// Watch runs it every poll, so with nothing changed it costs two stats:
// when the store's directory and the policy file have the stamps the
// last clean Sync saw, no tool was installed, replaced or removed and no
// grant changed since. Loading each tool's link and grants at every poll
// instead grows with the tools installed (sync_idle_vs_readdir in
// docs/performance.md).
func (s *Server) Sync() bool {
	if s.fleet != nil {
		return s.syncFleet()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, pol := s.cat.Stamps()
	if s.clean && [2]catalog.Stamp{st, pol} == s.stamps {
		s.examined = 0
		return false
	}
	tools, err := s.cat.Tools()
	if err != nil {
		s.log.Warn("some installed tools could not be loaded", "err", err)
	}
	// Not clean after an error (a damaged tool is retried at every poll)
	// or with a stamp too recent to tell a change made in the same tick.
	clean := err == nil && st.Settled() && pol.Settled()
	s.examined = len(tools)
	seen := map[string]bool{}
	changed := false
	for _, t := range tools {
		name := t.Name()
		seen[name] = true
		g, err := s.cat.Grants(name)
		if err != nil {
			s.log.Warn("reading grants", "tool", name, "err", err)
			clean = false
			continue
		}
		fp := fingerprint(t, g)
		if s.known[name] == fp {
			continue
		}
		tool, err := describe(t, g)
		if err != nil {
			s.log.Warn("tool not published", "tool", name, "err", err)
			clean = false
			continue
		}
		s.srv.AddTool(tool, s.handler(name))
		s.known[name] = fp
		changed = true
		s.log.Debug("tool published", "tool", name, "version", t.Manifest().Version)
	}
	// Not after an error: a tool that could not be listed is not gone.
	if err == nil {
		if gone := s.unpublish(func(name string) bool { return !seen[name] }); len(gone) > 0 {
			changed = true
			s.log.Debug("tools removed", "tools", gone)
		}
	}
	s.stamps, s.clean = [2]catalog.Stamp{st, pol}, clean
	return changed
}

// unpublish removes the published tools that gone says are gone, from
// tools/list and from what the server knows it published, and returns
// their names. The caller holds s.mu.
func (s *Server) unpublish(gone func(name string) bool) []string {
	var names []string
	for name := range s.known {
		if gone(name) {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		s.srv.RemoveTools(names...)
		for _, n := range names {
			delete(s.known, n)
		}
	}
	return names
}

func fingerprint(t *store.Tool, g *policies.ToolGrants) string {
	b, _ := json.Marshal(g)
	return t.Dir + "\x00" + string(b)
}

// describe turns an installed tool into what tools/list publishes: the
// manifest's schemas and annotations derived from what it is granted.
func describe(t *store.Tool, g *policies.ToolGrants) (*mcp.Tool, error) {
	m := t.Manifest()
	tool := &mcp.Tool{
		Name:        m.Name,
		Title:       m.Title,
		Description: m.Description,
		// Without the parameters the manifest's MCP face sets itself.
		InputSchema: t.MCPInputSchema(),
	}
	for _, ic := range m.Icons {
		tool.Icons = append(tool.Icons, mcp.Icon{Source: ic.Src, MIMEType: ic.MIMEType, Sizes: ic.Sizes})
	}
	// An outputSchema promises structured content on every call, which
	// only a tool whose output over MCP is always JSON can keep.
	if len(m.OutputSchema) > 0 && m.MCPOutput() == "json" {
		tool.OutputSchema = json.RawMessage(m.OutputSchema)
	}
	writes := slices.ContainsFunc(g.Dirs, func(d policies.DirGrant) bool { return d.Writable })
	network := len(g.Net) > 0
	tool.Annotations = &mcp.ToolAnnotations{
		ReadOnlyHint:    !writes,
		DestructiveHint: &writes,
		OpenWorldHint:   &network,
	}
	return tool, nil
}

// tailSize is how much of a failed call's stderr an error result quotes.
const tailSize = 2 << 10

func (s *Server) handler(name string) mcp.ToolHandler {
	return s.toolHandler(name, func(ctx context.Context, req *mcp.CallToolRequest, args map[string]any) (*mcp.CallToolResult, error) {
		call, err := s.callOverMCP(name, args)
		switch {
		case errors.Is(err, catalog.ErrArgs):
			return failure("invalid arguments: %s", strings.TrimPrefix(err.Error(), catalog.ErrArgs.Error()+": ")), nil
		case errors.Is(err, store.ErrNotInstalled):
			// Removed between tools/list and this call: the same protocol
			// error as any unknown tool.
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", name)}
		case err != nil:
			return failure("%s: %v", name, err), nil
		}
		attribute(call, req)
		answered := make(chan struct{})
		call.Answered = answered
		defer s.answerAfter(answered, req)
		out := &outBuf{b: &s.budget, tail: tail.Buffer{Max: tailSize}}
		defer out.free()
		errs := tail.Buffer{Max: tailSize}
		tee, stop := s.progress(ctx, req)
		logs := &logLines{ctx: ctx, session: req.Session, logger: name}
		if call.Stdin == nil {
			call.Stdin = bytes.NewReader(nil)
		}
		call.Stdout, call.Stderr = io.MultiWriter(out, tee), io.MultiWriter(&errs, logs)
		res, err := s.sup.Invoke(ctx, call)
		stop()
		logs.flush()
		if err != nil {
			if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil && !errors.Is(cause, context.Canceled) {
				return failure("%s: cancelled: %v", name, cause), nil
			}
			s.log.Info("call refused", "tool", name, "err", err)
			return failure("%s: %s", name, plain(err)), nil
		}
		s.log.Debug("call finished", "tool", name, "outcome", res.Outcome.String(), "exit_code", res.ExitCode)
		if res.Outcome == supervisor.Cancelled {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				s.log.Info("call cancelled", "tool", name, "why", cause)
				return failure("%s cancelled: %v; the module was stopped", name, cause), nil
			}
		}
		return s.result(call, res, out, errs.String())
	})
}

// result turns a finished call into a tools/call result: its output as
// text, JSON output as structured content too, and every failure as an
// isError result that says why.
func (s *Server) result(call *supervisor.Call, res *supervisor.Result, ob *outBuf, stderr string) (*mcp.CallToolResult, error) {
	failed := res.Describe() != "" || res.Outcome != supervisor.Exited || res.ExitCode != 0
	if ob.spilled && !failed {
		return failure("%s: its output (%s) did not fit in what the server buffers for all calls in flight "+
			"(--max-buffered-output %s); the last %d bytes:\n%s", call.Name, policies.FormatSize(ob.n),
			policies.FormatSize(s.budget.max), tailSize, sanitize(ob.tail.Bytes())), nil
	}
	// A failed call's answer quotes only the tail of its output.
	var out []byte
	switch {
	case ob.spilled:
		out = ob.tail.Bytes()
	case failed:
		out = ob.last(tailSize + utf8.UTFMax)
	default:
		out = ob.bytes()
	}
	ob.free()
	text := sanitize(out)
	if msg := res.Describe(); failed {
		if msg == "" {
			msg = fmt.Sprintf("exit code %d", res.ExitCode)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s failed: %s", call.Name, msg)
		if t := strings.TrimSpace(sanitize([]byte(stderr))); t != "" {
			fmt.Fprintf(&b, "\nstderr:\n%s", t)
		}
		if text != "" {
			fmt.Fprintf(&b, "\nstdout:\n%s", tail.Last(text, tailSize))
		}
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: b.String()}}}, nil
	}
	r := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
	t, err := s.cat.Tool(call.Name)
	if err == nil && t.Manifest().MCPOutput() == "json" {
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			return failure("%s printed output that is not the JSON its manifest promises: %v\nstdout:\n%s",
				call.Name, err, tail.Last(text, tailSize)), nil
		}
		if len(t.Manifest().OutputSchema) > 0 {
			if err := t.Manifest().ValidateOutput(out); err != nil {
				return failure("%s printed JSON that does not match its outputSchema: %v", call.Name, err), nil
			}
			if _, ok := v.(map[string]any); !ok {
				return failure("%s printed JSON that is not an object, which structured content must be", call.Name), nil
			}
		}
		if _, ok := v.(map[string]any); ok {
			r.StructuredContent = json.RawMessage(bytes.TrimSpace(out))
		}
	}
	return r, nil
}

// failure is an isError result that says why.
func failure(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

// plain drops the "invalid policy" classification meant for errors.Is.
func plain(err error) string {
	return strings.Replace(err.Error(), policies.ErrInvalid.Error()+": ", "", 1)
}

// sanitize makes module output safe to carry as JSON text: invalid UTF-8
// becomes U+FFFD (JSON encoding escapes control characters itself).
func sanitize(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// callOverMCP prepares a call with the arguments the tool's MCP face
// sets added to the client's (e.g. --json, for JSON output MCP clients
// can rely on), and, for a tool that declares stdin, the client's "input"
// argument as its stdin (nil when none: the caller gives an empty one).
func (s *Server) callOverMCP(name string, args map[string]any) (*supervisor.Call, error) {
	t, err := s.cat.Tool(name)
	if err != nil {
		return nil, err
	}
	args, stdin, err := t.SplitStdin(args)
	if err != nil {
		return nil, err
	}
	if args, err = t.WithMCPArguments(args); err != nil {
		return nil, err
	}
	p, err := s.cat.Call(name, args)
	if err != nil {
		return nil, err
	}
	call := &supervisor.Call{Module: p.Module, Name: p.Name, Args: p.Args, Policy: p.Policy, Digest: p.Digest, Version: p.Version, Params: p.Params}
	if stdin != nil {
		call.Stdin = bytes.NewReader(stdin)
	}
	return call, nil
}
