//go:build unix

package mcp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentmcp "github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// listTools is how many tools BenchmarkToolsList installs (issue 18:
// tools/list with 1,000 installed tools under 50 ms).
const listTools = 1000

// installMany installs n tools with distinct manifests (each its own
// name, description and input schema; all share hello.wasm, hard-linked
// into each source directory) through the store's real install path, and
// returns how long the installs took.
func installMany(b *testing.B, cat *catalog.Catalog, n int) time.Duration {
	b.Helper()
	src := b.TempDir()
	wasm, err := os.ReadFile(fixtures.Path("hello.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	shared := filepath.Join(src, "hello.wasm")
	if err := os.WriteFile(shared, wasm, 0o644); err != nil {
		b.Fatal(err)
	}
	dirs := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("tool-%04d", i)
		dir := filepath.Join(src, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.Link(shared, filepath.Join(dir, "hello.wasm")); err != nil {
			b.Fatal(err)
		}
		m := fmt.Sprintf(`{"name": %q, "version": "1.0.%d", "description": "benchmark tool number %d", "module": "hello.wasm",
  "inputSchema": {"type": "object", "properties": {"name": {"type": "string", "maxLength": %d}, "count": {"type": "integer", "minimum": 0}}, "additionalProperties": false},
  "args": {"positional": ["name"]}}`, name, i, i, 16+i%32)
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(m), 0o644); err != nil {
			b.Fatal(err)
		}
		dirs[i] = dir
	}
	start := time.Now()
	for _, d := range dirs {
		if _, err := cat.Store().Install(d); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// session connects an in-process go-sdk client to srv over the SDK's
// in-memory transports, as the tests' connect does.
func session(b *testing.B, srv *mcp.Server) *mcp.ClientSession {
	b.Helper()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(context.Background(), st, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cs.Close() })
	return cs
}

// listAll lists every tool, following pages, and returns the time and
// the tools.
func listAll(b *testing.B, cs *mcp.ClientSession) (time.Duration, []*mcp.Tool) {
	start := time.Now()
	var tools []*mcp.Tool
	for t, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			b.Fatal(err)
		}
		tools = append(tools, t)
	}
	return time.Since(start), tools
}

// BenchmarkToolsList measures tools/list over a real MCP session (the
// go-sdk client in process, over in-memory transports) with 1,000 tools
// installed through the store, against a plain go-sdk server publishing
// the very same 1,000 tool descriptions, added in process with trivial
// handlers: that baseline is the floor of a tools/list of this size (the
// SDK's own sort, marshal and transport), so the ratio is what agent-ctl
// adds on top. It reports:
//   - tools_list_warm_vs_sdk: a list on a session that listed before;
//   - tools_list_cold_vs_sdk: the first list of a server just started
//     (a fresh catalog, as in a new process);
//   - server_start_vs_sdk: agent-ctl's catalog.Open and mcp.New (loading
//     and publishing every installed tool) against building the SDK
//     server and adding the 1,000 tools;
//   - sync_idle_vs_readdir: a Sync (what Watch runs every poll) with
//     nothing changed, against reading the store's directory;
//   - cli_list_vs_version_empty: `agent-ctl list` with 1,000 tools
//     against `agent-ctl --version` with none installed, and
//     cli_version_vs_version_empty: `agent-ctl --version` with 1,000
//     tools against the same (both need AGENTCTL_BIN; skipped without).
//
// It logs how long the 1,000 installs took.
func BenchmarkToolsList(b *testing.B) {
	home := b.TempDir()
	cat, err := catalog.Open(home)
	if err != nil {
		b.Fatal(err)
	}
	took := installMany(b, cat, listTools)
	fmt.Printf("installing %d tools took %v (%v each)\n", listTools, took.Round(time.Millisecond), (took / listTools).Round(time.Microsecond))
	sup, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	defer sup.Close()

	start := func() *agentmcp.Server {
		c, err := catalog.Open(home)
		if err != nil {
			b.Fatal(err)
		}
		return agentmcp.New(c, sup, &agentmcp.Options{Version: "bench"})
	}
	ours := start()
	cs := session(b, ours.MCP())
	_, published := listAll(b, cs)
	if len(published) != listTools {
		b.Fatalf("tools/list returned %d tools, want %d", len(published), listTools)
	}
	newSDK := func() *mcp.Server {
		s := mcp.NewServer(&mcp.Implementation{Name: "baseline", Version: "bench"}, nil)
		for _, t := range published {
			s.AddTool(t, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{}, nil
			})
		}
		return s
	}
	baseCS := session(b, newSDK())

	bench.Compare(b, "tools_list_warm_vs_sdk", func(b *testing.B) time.Duration {
		d, tools := listAll(b, cs)
		if len(tools) != listTools {
			b.Fatalf("tools/list returned %d tools, want %d", len(tools), listTools)
		}
		return d
	}, func(b *testing.B) time.Duration {
		d, _ := listAll(b, baseCS)
		return d
	})
	bench.Compare(b, "tools_list_cold_vs_sdk", func(b *testing.B) time.Duration {
		d, _ := listAll(b, session(b, start().MCP()))
		return d
	}, func(b *testing.B) time.Duration {
		d, _ := listAll(b, session(b, newSDK()))
		return d
	})
	bench.Compare(b, "server_start_vs_sdk", func(b *testing.B) time.Duration {
		t := time.Now()
		start()
		return time.Since(t)
	}, func(b *testing.B) time.Duration {
		t := time.Now()
		newSDK()
		return time.Since(t)
	})
	// What Watch does every Options.Poll with nothing changed, against
	// the directory read any poll for installs and removals needs.
	bench.Compare(b, "sync_idle_vs_readdir", func(b *testing.B) time.Duration {
		t := time.Now()
		if ours.Sync() {
			b.Fatal("Sync reported a change with nothing changed")
		}
		return time.Since(t)
	}, func(b *testing.B) time.Duration {
		t := time.Now()
		if _, err := cat.Store().Names(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t)
	})

	bin := os.Getenv("AGENTCTL_BIN")
	if bin == "" {
		fmt.Println("cli_list_vs_version skipped: set AGENTCTL_BIN to the built agent-ctl to measure `agent-ctl list`")
		return
	}
	empty := b.TempDir()
	cli := func(b *testing.B, home string, args ...string) time.Duration {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "AGENTCTL_HOME="+home)
		t := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("agent-ctl %v: %v\n%s", args, err, out)
		}
		return time.Since(t)
	}
	bench.Compare(b, "cli_list_vs_version_empty", func(b *testing.B) time.Duration {
		return cli(b, home, "list")
	}, func(b *testing.B) time.Duration {
		return cli(b, empty, "--version")
	})
	// Every invocation makes each installed tool a command, loading it.
	bench.Compare(b, "cli_version_vs_version_empty", func(b *testing.B) time.Duration {
		return cli(b, home, "--version")
	}, func(b *testing.B) time.Duration {
		return cli(b, empty, "--version")
	})
}
