package mcp

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestFleetResult_hostileNode: a node's error and outcome are its own
// words; the MCP result shows them escaped, in its text and in its
// structured results, while the tool's stderr keeps its bytes.
func TestFleetResult_hostileNode(t *testing.T) {
	r := fleetResult("t", []FleetResult{{Node: "a", ExitCode: 1, Outcome: "exited\x1b[8m", Stderr: "tool\x1b[1m", Error: "gone\x1b]52;c;cHduZWQ=\x07\rfine"}})
	text := r.Content[0].(*mcp.TextContent).Text
	for _, want := range []string{`node a: t failed: gone\x1b]52;c;cHduZWQ=\a\rfine (exited\x1b[8m, `, "stderr:\ntool\x1b[1m"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q, want it to hold %q", text, want)
		}
	}
	if head, _, _ := strings.Cut(text, "\nstderr:"); strings.ContainsAny(head, "\x1b\x07\r") {
		t.Errorf("text %q: the node's words hold a raw control character", head)
	}
	b, err := json.Marshal(r.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `gone\\x1b]52`) {
		t.Errorf("structured content %s: want the error escaped", b)
	}
}
