// Command inproc is the benchmarks' lower bound: a minimal MCP server on
// stdio (the go-sdk, as agent-ctl uses it) whose `hello` tool answers in
// process, with no sandbox, no worker and no policy. The latency of a real
// client calling it is what MCP itself costs; agent-ctl's pooled, doubly
// walled call is measured against it.
package main

import (
	"context"
	"log"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type args struct {
	Name string `json:"name,omitempty"`
}

func main() {
	s := mcp.NewServer(&mcp.Implementation{Name: "inproc", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "hello", Description: "greets in process"},
		func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
			who := a.Name
			if who == "" {
				who = "world"
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, " + who + "\n"}}}, nil, nil
		})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Fatal(err)
	}
}
