package fleet_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestMCPFleet: the controller's MCP face over a real controller, two real
// agents running real workers, and an MCP client: each tool listed once
// with the selectors, calls fanned out and aggregated per node, a missing
// node reported, exit codes carried, and a tool installed on a node
// announced with list_changed.
func TestMCPFleet(t *testing.T) {
	c, home := startController(t)
	_, alphaLocal, _ := nodeWith(t, c, "alpha", fleet.AgentOptions{Labels: map[string]string{"role": "web"}})
	node(t, c, "beta", nil)
	cl := adminClient(t, home)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	srv := mcp.NewFleet(fleet.NewMCPFleet(cl, nil), 60*time.Second, &mcp.Options{Poll: 100 * time.Millisecond})
	defer srv.Close()
	go srv.Watch(ctx)
	changed := make(chan struct{}, 16)
	ct, st := sdk.NewInMemoryTransports()
	if _, err := srv.MCP().Connect(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	}).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	list := func() map[string]*sdk.Tool {
		t.Helper()
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*sdk.Tool{}
		for _, tool := range res.Tools {
			if out[tool.Name] != nil {
				t.Errorf("tool %s listed twice", tool.Name)
			}
			out[tool.Name] = tool
		}
		return out
	}
	// Both agents' first statuses are in before NewFleet (nodeWith waits
	// for the join), but a status may land just after: poll.
	poll(t, "both nodes' tools listed", func() bool {
		h := list()["hello"]
		return h != nil && strings.Contains(h.Description, "alpha, beta")
	})
	tools := list()
	if len(tools) != 3 {
		t.Errorf("tools/list has %d tools, want hello, sleep and exit once each", len(tools))
	}
	var schema struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	b, _ := json.Marshal(tools["hello"].InputSchema)
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Properties["nodes"]["type"] != "array" || schema.Properties["label"]["type"] != "object" || schema.Properties["name"]["type"] != "string" {
		t.Errorf("hello's schema %s: want its own name and the nodes and label selectors", b)
	}

	type results struct {
		Results []mcp.FleetResult `json:"results"`
	}
	call := func(tool string, args map[string]any) (*sdk.CallToolResult, results) {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		var r results
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: structured content %s: %v", tool, b, err)
		}
		if len(res.Content) != len(r.Results) {
			t.Errorf("%s: %d text blocks for %d results, want one per node", tool, len(res.Content), len(r.Results))
		}
		return res, r
	}
	nodesOf := func(r results) []string {
		var out []string
		for _, x := range r.Results {
			out = append(out, x.Node)
		}
		return out
	}

	t.Run("all nodes", func(t *testing.T) {
		res, r := call("hello", map[string]any{"name": "fleet"})
		if res.IsError || !slices.Equal(nodesOf(r), []string{"alpha", "beta"}) {
			t.Fatalf("isError %v, nodes %v: want alpha and beta, no error: %+v", res.IsError, nodesOf(r), r)
		}
		for i, x := range r.Results {
			if x.ExitCode != 0 || x.Outcome != "exited" || !strings.Contains(x.Stdout, "fleet") || x.Duration <= 0 {
				t.Errorf("%s: %+v, want hello's greeting", x.Node, x)
			}
			if text := res.Content[i].(*sdk.TextContent).Text; !strings.HasPrefix(text, "node "+x.Node+":") || !strings.Contains(text, "fleet") {
				t.Errorf("text block %d = %q, want node %s's output", i, text, x.Node)
			}
		}
	})
	t.Run("exit code and a missing node", func(t *testing.T) {
		res, r := call("exit", map[string]any{"code": 7, "nodes": []string{"alpha", "gamma", "a.>"}})
		if !res.IsError || !slices.Equal(nodesOf(r), []string{"alpha", "gamma", "a.>"}) {
			t.Fatalf("isError %v, nodes %v: want an error over alpha, gamma and a.>", res.IsError, nodesOf(r))
		}
		if a := r.Results[0]; a.ExitCode != 7 || a.Outcome != "exited" || !strings.Contains(res.Content[0].(*sdk.TextContent).Text, "exit code 7") {
			t.Errorf("alpha: %+v, want exit code 7 carried", a)
		}
		if g := r.Results[1]; g.ExitCode == 0 || !strings.Contains(g.Error, "not connected") || !strings.Contains(res.Content[1].(*sdk.TextContent).Text, "not connected") {
			t.Errorf("gamma (no such node): %+v, want it reported not connected", g)
		}
		if w := r.Results[2]; w.ExitCode == 0 || !strings.Contains(w.Error, "invalid node name") {
			t.Errorf("a.> (not a node name): %+v, want it refused, never sent", w)
		}
	})
	t.Run("label", func(t *testing.T) {
		res, r := call("hello", map[string]any{"name": "web", "label": map[string]string{"role": "web"}})
		if res.IsError || !slices.Equal(nodesOf(r), []string{"alpha"}) {
			t.Errorf("isError %v, nodes %v: want alpha only", res.IsError, nodesOf(r))
		}
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "hello", Arguments: map[string]any{"label": map[string]string{"role": "db"}}})
		if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*sdk.TextContent).Text, "no online node") {
			t.Errorf("a label no node has: %v, %+v: want an isError result saying so", err, res)
		}
	})
	t.Run("arguments checked by each node", func(t *testing.T) {
		res, r := call("hello", map[string]any{"name": strings.Repeat("x", 40)})
		if !res.IsError || len(r.Results) != 2 || r.Results[0].ExitCode == 0 || !strings.Contains(r.Results[1].Error, "name") {
			t.Errorf("a name above maxLength: %+v, want each node to refuse it", r)
		}
	})
	t.Run("bad selector", func(t *testing.T) {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "hello", Arguments: map[string]any{"nodes": "alpha"}})
		if err == nil || !strings.Contains(err.Error(), "nodes") {
			t.Errorf("nodes as a string: %v, want an invalid-params error", err)
		}
	})

	t.Run("list_changed", func(t *testing.T) {
		for len(changed) > 0 {
			<-changed
		}
		dir := fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
			"args": {"positional": ["name"]}, "mcp": {"arguments": {"name": "set-by-the-face"}}`)
		if _, err := alphaLocal.Catalog.Store().Install(dir); err != nil {
			t.Fatal(err)
		}
		// The list is read after each notification: greet must be in
		// the list some notification announced.
		for deadline := time.After(30 * time.Second); ; {
			select {
			case <-changed:
			case <-deadline:
				t.Fatal("no list_changed announcing greet 30 s after a node installed it")
			}
			if g := list()["greet"]; g != nil {
				if !strings.Contains(g.Description, "alpha (1.0.0)") || strings.Contains(g.Description, "beta") {
					t.Errorf("greet's description %q, want it on alpha only", g.Description)
				}
				break
			}
		}
		// The node adds what the tool's MCP face sets, which the
		// published schema leaves out, as a local `agent-ctl mcp` does.
		b, _ := json.Marshal(list()["greet"].InputSchema)
		if strings.Contains(string(b), `"name"`) {
			t.Errorf("greet's schema %s: want the face's own argument left out", b)
		}
		res, r := call("greet", nil)
		if res.IsError || len(r.Results) != 1 || r.Results[0].Stdout != "hello, set-by-the-face\n" {
			t.Errorf("greet: %+v, want alpha's greeting with the face's argument", r)
		}
	})

	// A tool that declares stdin: the node takes the published input
	// argument out and gives it to the module as its stdin.
	t.Run("stdin as input", func(t *testing.T) {
		dir := fixtures.ToolDir(t, "echo", "cat.wasm", `"inputSchema": {"type": "object"}, "stdin": {"description": "the text to print"}`)
		if _, err := alphaLocal.Catalog.Store().Install(dir); err != nil {
			t.Fatal(err)
		}
		poll(t, "echo listed", func() bool { return list()["echo"] != nil })
		if b, _ := json.Marshal(list()["echo"].InputSchema); !strings.Contains(string(b), `"input":{"description":"the text to print","type":"string"}`) {
			t.Errorf("echo's schema %s: want the input parameter", b)
		}
		res, r := call("echo", map[string]any{"input": "from the controller\n"})
		if res.IsError || len(r.Results) != 1 || r.Results[0].Stdout != "from the controller\n" {
			t.Errorf("echo: %+v, want alpha to print the input", r)
		}
	})
}
