//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/tests/mcptest"
)

// TestMCPFleet: the controller's MCP face as an MCP client reaches it:
// `agent-ctl mcp --fleet` over stdio with the controller's home, and
// `agent-ctl serve --fleet --nats URL --creds FILE` over HTTP from another
// home, each with a controller and two agents as separate processes. Both
// list the fleet's tools once each with the nodes selector and fan a call
// out to both agents.
func TestMCPFleet(t *testing.T) {
	ctlHome := t.TempDir()
	url := startController(t, ctlHome)
	for _, n := range []string{"m1", "m2"} {
		home := t.TempDir()
		for _, tool := range fleetTools {
			installFixture(t, home, tool.name, tool.wasm, tool.extra)
		}
		joinAgent(t, ctlHome, url, n, home)
	}

	check := func(t *testing.T, ctx context.Context, cs *mcp.ClientSession, logs func() string) {
		t.Helper()
		pollFleet(t, time.Minute, func() string {
			res, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("tools/list: %v; log:\n%s", err, logs())
			}
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
				b, _ := json.Marshal(tool.InputSchema)
				if !strings.Contains(string(b), `"nodes"`) || !strings.Contains(tool.Description, "m1, m2") {
					return "tool " + tool.Name + ": " + string(b) + " " + tool.Description + ": want the nodes selector and both nodes"
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"exit", "hello"}) {
				return "tools/list: " + strings.Join(names, ",") + ", want exit and hello once each"
			}
			return ""
		})
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "exit", Arguments: map[string]any{"code": 4}})
		if err != nil {
			t.Fatalf("tools/call: %v; log:\n%s", err, logs())
		}
		var got struct {
			Results []struct {
				Node     string `json:"node"`
				ExitCode int    `json:"exitCode"`
			} `json:"results"`
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &got); err != nil || !res.IsError || len(got.Results) != 2 ||
			got.Results[0].Node != "m1" || got.Results[1].Node != "m2" || got.Results[0].ExitCode != 4 || got.Results[1].ExitCode != 4 {
			t.Errorf("exit 4 on the fleet: isError %v, %s: want both nodes' exit code 4, isError", res.IsError, b)
		}
	}

	t.Run("mcp", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.Command(bin, "--home", ctlHome, "mcp", "--fleet")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		check(t, ctx, cs, stderr.String)
	})

	t.Run("serve", func(t *testing.T) {
		// Another home: the fleet is named by --nats and --creds; the
		// bearer tokens are this home's.
		home := t.TempDir()
		out, err := exec.Command(bin, "--home", home, "token", "create", "e2e").Output()
		if err != nil {
			t.Fatal(err)
		}
		endpoint := startServe(t, home, "--fleet", "--nats", url, "--creds", filepath.Join(ctlHome, "fleet", "admin.creds"))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cs := mcptest.Connect(t, "e2e", endpoint, mcptest.Bearer{Token: strings.TrimSpace(string(out))}, nil)
		check(t, ctx, cs, func() string { return "(serve's log is drained)" })
	})
}
