//go:build unix

package mcp_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
)

// TestStdinInput: MCP has no stdin, so a tool whose manifest declares stdin
// is published with an "input" string parameter whose value the module
// reads as its stdin (the cat fixture prints it back); a tool that
// declares none is published without it, refuses it, and reads an empty
// stdin.
func TestStdinInput(t *testing.T) {
	cs := connect(t, serveTools(t, &agentmcp.Options{Version: "test"}, nil,
		fixtures.ToolDir(t, "echo", "cat.wasm", `"inputSchema": {"type": "object", "additionalProperties": false}, "stdin": {"description": "the text to print"}`),
		fixtures.ToolDir(t, "plain", "cat.wasm", `"inputSchema": {"type": "object"}`)), nil)
	ctx := context.Background()

	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]string{}
	for _, tool := range list.Tools {
		b, _ := json.Marshal(tool.InputSchema)
		schemas[tool.Name] = string(b)
	}
	if !strings.Contains(schemas["echo"], `"input":{"description":"the text to print","type":"string"}`) || strings.Contains(schemas["echo"], "required") {
		t.Errorf("echo's input schema: %s, want input, a string, not required", schemas["echo"])
	}
	if strings.Contains(schemas["plain"], "input") {
		t.Errorf("plain's input schema: %s, want no input", schemas["plain"])
	}

	for _, tc := range []struct {
		name, tool string
		args       map[string]any
		isError    bool
		text       string // the whole text, or a substring of an error's
	}{
		{"input is stdin", "echo", map[string]any{"input": "line one\nline two\n"}, false, "line one\nline two\n"},
		{"no input, empty stdin", "echo", nil, false, ""},
		{"input not a string", "echo", map[string]any{"input": 5}, true, "invalid arguments: input: want a string"},
		{"no stdin declared", "plain", map[string]any{"input": "x"}, true, "invalid arguments"},
		{"no stdin declared, none sent", "plain", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
			if err != nil {
				t.Fatalf("protocol error: %v", err)
			}
			got := mcptest.Text(res)
			if res.IsError != tc.isError || !tc.isError && got != tc.text || tc.isError && !strings.Contains(got, tc.text) {
				t.Errorf("isError %v, text %q; want isError %v, text %q", res.IsError, got, tc.isError, tc.text)
			}
		})
	}
}
