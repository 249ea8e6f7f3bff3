//go:build unix

package mcp_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// countCalls counts the calls the server ran, from its log.
type countCalls struct {
	slog.Handler
	n *atomic.Int32
}

func (c countCalls) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "call finished" {
		c.n.Add(1)
	}
	return nil
}
func (c countCalls) Enabled(context.Context, slog.Level) bool { return true }

func TestHTTP(t *testing.T) {
	e := setup(t)
	var calls atomic.Int32
	srv := e.ownServer(t, supervisor.Options{}, &agentmcp.Options{Logger: slog.New(countCalls{slog.DiscardHandler, &calls})})
	tokens := agentmcp.OpenTokens(agentmcp.TokensPath(e.home))
	good, err := tokens.Create("agent-1")
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := tokens.Create("old")
	if err := tokens.Revoke("old"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.HTTPHandler(&agentmcp.HTTPOptions{Tokens: tokens, MaxBody: 64 << 10,
		AllowedOrigins: []string{"https://ok.example"}}))
	defer ts.Close()

	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	const call = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"hello","arguments":{}}}`
	for _, tc := range []struct {
		name    string
		header  map[string]string
		body    string
		status  int
		chunked bool // no Content-Length: only reading the body finds it too large
	}{
		{"no token", nil, call, http.StatusUnauthorized, false},
		{"wrong token", map[string]string{"Authorization": "Bearer act_wrong"}, call, http.StatusUnauthorized, false},
		{"not bearer", map[string]string{"Authorization": "Basic " + good}, call, http.StatusUnauthorized, false},
		{"revoked token", map[string]string{"Authorization": "Bearer " + revoked}, call, http.StatusUnauthorized, false},
		{"bad origin", map[string]string{"Authorization": "Bearer " + good, "Origin": "https://evil.example"}, call, http.StatusForbidden, false},
		{"oversized body", map[string]string{"Authorization": "Bearer " + good},
			`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"hello","arguments":{"name":"` + strings.Repeat("x", 70<<10) + `"}}}`,
			http.StatusRequestEntityTooLarge, false},
		{"oversized chunked body", map[string]string{"Authorization": "Bearer " + good},
			`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"hello","arguments":{"name":"` + strings.Repeat("x", 70<<10) + `"}}}`,
			http.StatusRequestEntityTooLarge, true},
		{"cross-site fetch without Origin", map[string]string{"Authorization": "Bearer " + good, "Sec-Fetch-Site": "cross-site"}, call, http.StatusForbidden, false},
		{"bad origin on DELETE", map[string]string{"Authorization": "Bearer " + good, "Origin": "https://evil.example", "Mcp-Session-Id": "x"}, "", http.StatusForbidden, false},
		{"same-origin fetch", map[string]string{"Authorization": "Bearer " + good, "Sec-Fetch-Site": "same-origin"}, initialize, http.StatusOK, false},
		{"rebinding host", map[string]string{"Authorization": "Bearer " + good, "Host": "evil.example"}, initialize, http.StatusForbidden, false},
		{"allowed origin", map[string]string{"Authorization": "Bearer " + good, "Origin": "https://ok.example"}, initialize, http.StatusOK, false},
		{"same origin on loopback", map[string]string{"Authorization": "Bearer " + good, "Origin": ts.URL}, initialize, http.StatusOK, false},
		{"loopback origin, other port", map[string]string{"Authorization": "Bearer " + good, "Origin": "http://127.0.0.1:1"}, initialize, http.StatusForbidden, false},
		{"rebinding origin and host", map[string]string{"Authorization": "Bearer " + good, "Origin": "http://evil.example", "Host": "evil.example"}, initialize, http.StatusForbidden, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.body == "" {
				method = "DELETE"
			}
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body)
			}
			req, _ := http.NewRequest(method, ts.URL+"/mcp", body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range tc.header {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls ran for refused requests", n)
	}

	res, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || body.String() != "ok\n" {
		t.Errorf("healthz: %d %q", res.StatusCode, body.String())
	}

	// A real client with the good token.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp",
		HTTPClient: &http.Client{Transport: mcptest.Bearer{Token: good}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": "http"}})
	if err != nil || mcptest.Text(r) != "hello, http\n" {
		t.Fatalf("call over HTTP: %v %v", err, r)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls ran, want 1", calls.Load())
	}
	// Revoking the token ends its access at the next request.
	if err := tokens.Revoke("agent-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello"}); err == nil {
		t.Error("call with a revoked token succeeded")
	}
}

// TestHTTP_perToken: one token may have at most PerToken tool calls in
// flight; the next is refused (a JSON-RPC error) while another token still
// gets in.
func TestHTTP_perToken(t *testing.T) {
	e := setup(t)
	srv := e.ownServer(t, supervisor.Options{}, nil)
	tokens := agentmcp.OpenTokens(agentmcp.TokensPath(e.home))
	busy, _ := tokens.Create("busy")
	other, _ := tokens.Create("other")
	ts := httptest.NewServer(srv.HTTPHandler(&agentmcp.HTTPOptions{Tokens: tokens, PerToken: 1}))
	t.Cleanup(ts.Close) // after the clients' cleanups: their event streams end first
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := mcptest.Connect(t, "t", ts.URL+"/mcp", mcptest.Bearer{Token: busy}, nil)
	b := mcptest.Connect(t, "t", ts.URL+"/mcp", mcptest.Bearer{Token: other}, nil)
	done := make(chan error, 1)
	go func() {
		_, err := a.CallTool(ctx, &mcp.CallToolParams{Name: "sleep", Arguments: map[string]any{"ms": 1500}})
		done <- err
	}()
	testutil.Eventually(t, 20*time.Second, func() bool { return srv.InFlight("busy") == 1 }, "the slow call holds no slot")
	if _, err := a.CallTool(ctx, &mcp.CallToolParams{Name: "hello"}); err == nil || !strings.Contains(err.Error(), "too many tool calls in flight for this token") {
		t.Errorf("second call of a busy token: %v, want too many tool calls", err)
	}
	if r, err := b.CallTool(ctx, &mcp.CallToolParams{Name: "hello"}); err != nil || mcptest.Text(r) != "hello, world\n" {
		t.Errorf("another token while the first is busy: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("the slow call: %v", err)
	}
}

func TestTokens(t *testing.T) {
	path := t.TempDir() + "/tokens.json"
	tokens := agentmcp.OpenTokens(path)
	a, err := tokens.Create("a")
	if err != nil || !strings.HasPrefix(a, "act_") || len(a) < 40 {
		t.Fatalf("create: %q %v", a, err)
	}
	stored, err := os.ReadFile(path)
	if err != nil || strings.Contains(string(stored), a) || strings.Contains(string(stored), a[4:]) {
		t.Fatalf("token file holds the secret (or is unreadable: %v):\n%s", err, stored)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, bad := range []string{"", "../x", "a b", strings.Repeat("x", 65)} {
		if _, err := tokens.Create(bad); err == nil {
			t.Errorf("token name %q accepted", bad)
		}
	}
	if _, err := tokens.Create("a"); err == nil {
		t.Error("duplicate name accepted")
	}
	if name, ok := tokens.Check(a); !ok || name != "a" {
		t.Errorf("check: %q %v", name, ok)
	}
	for _, wrong := range []string{"", a[:len(a)-1], a + "x"} {
		if _, ok := tokens.Check(wrong); ok {
			t.Errorf("token %q accepted", wrong)
		}
	}
	if err := tokens.Revoke("nope"); err == nil {
		t.Error("revoking an unknown token succeeded")
	}
}
