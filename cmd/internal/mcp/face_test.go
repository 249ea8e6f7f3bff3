//go:build unix

package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/loopback"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
)

// TestMCPFace: modules/scan and modules/fetch print JSON only with --json;
// their manifests' MCP face sets it, so MCP publishes their outputSchema,
// without the json parameter, and answers with structured content. Their
// titles are published too, and a client may not set json itself.
func TestMCPFace(t *testing.T) {
	open := loopback.Listen(t, loopback.Close)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "hi\n")
	}))
	defer web.Close()
	_, webPort, _ := net.SplitHostPort(web.Listener.Addr().String())
	wp, _ := strconv.Atoi(webPort)
	e := serveTools(t, &agentmcp.Options{Version: "test", Poll: 50 * time.Millisecond}, func(g *policies.Grants) error {
		if err := g.Tool("scan").GrantNet(policies.NetGrant{Host: "127.0.0.1/32", Ports: []int{open.Port()}}); err != nil {
			return err
		}
		return g.Tool("fetch").GrantNet(policies.NetGrant{Host: "127.0.0.1/32", Ports: []int{wp}})
	}, "../../../modules/scan", raisedMemory(t, "../../../modules/fetch"))
	cs := connect(t, e, nil)
	// Generous: the Go module fetch compiles for seconds, and under load
	// for a minute or more; the limit only bounds a failing run.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]string{"scan": "Port scan", "fetch": "HTTP fetch"}
	for _, tool := range list.Tools {
		if tool.Title != titles[tool.Name] {
			t.Errorf("%s: title %q, want %q", tool.Name, tool.Title, titles[tool.Name])
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s: no outputSchema", tool.Name)
		}
		b, _ := json.Marshal(tool.InputSchema)
		var in struct {
			Properties map[string]any `json:"properties"`
		}
		json.Unmarshal(b, &in)
		if _, ok := in.Properties["json"]; ok || len(in.Properties) < 2 {
			t.Errorf("%s: inputSchema over MCP: %s", tool.Name, b)
		}
	}

	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "scan", Arguments: map[string]any{"ip": "127.0.0.1", "ports": strconv.Itoa(open.Port())}})
	if err != nil || r.IsError {
		t.Fatalf("scan: %v %s", err, mcptest.Text(r))
	}
	var scan struct {
		Counts  map[string]int `json:"counts"`
		Results []struct {
			Port  int    `json:"port"`
			State string `json:"state"`
		} `json:"results"`
	}
	b, _ := json.Marshal(r.StructuredContent)
	if err := json.Unmarshal(b, &scan); err != nil || scan.Counts["open"] != 1 || len(scan.Results) != 1 || scan.Results[0].Port != open.Port() {
		t.Errorf("scan: structured content %s (%v)", b, err)
	}

	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": web.URL + "/x"}})
	if err != nil || r.IsError {
		t.Fatalf("fetch: %v %s", err, mcptest.Text(r))
	}
	var fetch struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	b, _ = json.Marshal(r.StructuredContent)
	if err := json.Unmarshal(b, &fetch); err != nil || fetch.Status != 200 || fetch.Body != "hi\n" {
		t.Errorf("fetch: structured content %s (%v)", b, err)
	}

	// The face sets json; a client may not (not even to true).
	for _, v := range []bool{false, true} {
		r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": web.URL, "json": v}})
		if err != nil || !r.IsError {
			t.Errorf("fetch with json=%v from the client: %v %s", v, err, mcptest.Text(r))
		}
	}
}

// raisedMemory copies a module directory with its memory limit at 64 MiB:
// the worker here is this test binary, which under -race needs more than
// a 32 MiB cgroup leaves it (the memory cgroup killed it), where the real
// worker fits.
func raisedMemory(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"manifest.json", filepath.Base(dir) + ".wasm"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "manifest.json" {
			b = []byte(strings.Replace(string(b), `"memory": "32MiB"`, `"memory": "64MiB"`, 1))
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestObjectParameter: a parameter is a flag, so an object-typed one is
// refused at install and never reaches MCP clients.
func TestObjectParameter(t *testing.T) {
	e := setup(t)
	_, err := e.cat.Store().Install(fixtures.ToolDir(t, "greet", "hello.wasm",
		`"inputSchema": {"type": "object", "properties": {"name": {"type": "object", "properties": {"k": {"type": "string"}}}}}, "args": {"positional": ["name"]}`))
	if err == nil || !strings.Contains(err.Error(), `inputSchema.properties.name: type: "object"`) {
		t.Fatalf("Install: %v, want the object parameter refused", err)
	}
}
