package mcptest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ConnectHTTP connects the go-sdk client over Streamable HTTP to endpoint
// (".../mcp"), sending token as its bearer token, with opts (nil: the
// defaults). The session is closed when the test ends; a connection not
// made within 30 s, a bound on a loaded machine, fails the test.
func ConnectHTTP(tb testing.TB, endpoint, token string, opts *mcp.ClientOptions) *mcp.ClientSession {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, opts).Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: endpoint, HTTPClient: &http.Client{Transport: Bearer{Token: token}}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}

// Call is a tool call made in the background, as a client that does not
// wait for one answer before its next call makes it.
type Call struct {
	done chan struct{}
	res  *mcp.CallToolResult
	err  error
}

// Start calls tool name with args in the background. The call carries
// progress token token, so that a Running handler on cs tells when its
// module runs.
func Start(cs *mcp.ClientSession, token, name string, args map[string]any) *Call {
	p := &mcp.CallToolParams{Name: name, Arguments: args}
	p.SetProgressToken(token)
	c := &Call{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.res, c.err = cs.CallTool(context.Background(), p)
	}()
	return c
}

// Done is closed once the call is answered (for Running.Wait).
func (c *Call) Done() <-chan struct{} { return c.done }

// Answer waits for the call's answer.
func (c *Call) Answer() (*mcp.CallToolResult, error) {
	<-c.done
	return c.res, c.err
}
