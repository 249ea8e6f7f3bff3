// Package mcptest has the small helpers the MCP tests share: reading a
// tool result's text, sending a bearer token with every request and
// connecting a client over Streamable HTTP.
package mcptest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Text joins a tool result's text content; "" for no result (a call that
// failed, whose error the caller reports).
func Text(r *mcp.CallToolResult) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// Bearer adds "Authorization: Bearer Token" to every request.
type Bearer struct {
	Token string
	Base  http.RoundTripper
}

// RoundTrip sends a copy of r with the token set, through Base (or
// http.DefaultTransport when nil).
func (b Bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.Token)
	base := b.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// Connect opens a session of a client called name (the name its
// initialize request gives) to the Streamable HTTP endpoint url, its
// requests sent through rt (a Bearer, most often), and closes it when the
// test ends. It fails tb if the session does not open within a minute, a
// bound for a loaded machine, not a timing.
func Connect(tb testing.TB, name, url string, rt http.RoundTripper, opts *mcp.ClientOptions) *mcp.ClientSession {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: name}, opts).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rt}}, nil)
	if err != nil {
		tb.Fatalf("connecting to %s: %v", url, err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}
