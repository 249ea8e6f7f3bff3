package mcptest

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

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
