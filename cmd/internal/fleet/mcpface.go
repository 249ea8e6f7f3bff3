package fleet

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
)

// MCPFleet is the fleet as the controller's MCP face sees it
// (mcp.NewFleet): the online nodes with their tools' descriptions, and
// calls. A description is asked of a node once per tool digest and kept,
// so that polling costs the status read and the presence probes only.
type MCPFleet struct {
	c   *Client
	log *slog.Logger

	mu    sync.Mutex
	known map[describeKey]*described
}

type describeKey struct{ node, tool, digest string }

// described is a node's answer to a Describe: its tool, or why not (kept
// too, so that an agent that cannot describe is not asked every poll).
type described struct {
	tool *mcp.FleetTool
	err  error
}

// NewMCPFleet returns c's fleet for mcp.NewFleet; log (nil: discard) hears
// of the tools that could not be described.
func NewMCPFleet(c *Client, log *slog.Logger) *MCPFleet {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &MCPFleet{c: c, log: log, known: map[describeKey]*described{}}
}

// Nodes returns the online nodes, with the tools each could describe.
func (f *MCPFleet) Nodes(ctx context.Context) ([]mcp.FleetNode, error) {
	nodes, err := f.c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var online []Node
	for _, n := range nodes {
		if n.Online {
			online = append(online, n)
		}
	}
	seen := map[describeKey]bool{}
	out := make([]mcp.FleetNode, len(online))
	var mu sync.Mutex // out's tools
	var wg sync.WaitGroup
	for idx, n := range online {
		out[idx] = mcp.FleetNode{Name: n.Node, Labels: n.Labels}
		for _, ts := range n.Tools {
			if ts.Error != "" || ts.Digest == "" {
				continue
			}
			k := describeKey{n.Node, ts.Name, ts.Digest}
			seen[k] = true
			f.mu.Lock()
			d := f.known[k]
			f.mu.Unlock()
			if d != nil {
				if d.tool != nil {
					mu.Lock()
					out[idx].Tools = append(out[idx].Tools, *d.tool)
					mu.Unlock()
				}
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := f.describe(ctx, k)
				if d == nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if d.tool != nil {
					out[idx].Tools = append(out[idx].Tools, *d.tool)
				}
			}()
		}
	}
	wg.Wait()
	f.mu.Lock()
	for k := range f.known {
		if !seen[k] {
			delete(f.known, k)
		}
	}
	f.mu.Unlock()
	return out, nil
}

// describe asks the node for the tool, keeping the answer when it is of
// the digest its status gave; nil when there is nothing to keep.
func (f *MCPFleet) describe(ctx context.Context, k describeKey) *described {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := f.c.Describe(dctx, k.node, k.tool)
	if err != nil {
		if ctx.Err() != nil || dctx.Err() != nil {
			return nil // asked again next time
		}
		f.log.Warn("fleet tool not described", "node", k.node, "tool", k.tool, "err", err)
		d := &described{err: err}
		f.mu.Lock()
		f.known[k] = d
		f.mu.Unlock()
		return d
	}
	if info.Digest != k.digest {
		// Replaced since its status: the next status brings the new
		// digest, and then it is asked again.
		return nil
	}
	d := &described{tool: &mcp.FleetTool{Name: info.Name, Title: info.Title, Description: info.Description,
		Version: info.Version, Digest: info.Digest, InputSchema: info.InputSchema}}
	f.mu.Lock()
	f.known[k] = d
	f.mu.Unlock()
	return d
}

// Call runs tool on nodes with args, the arguments the tool's MCP face
// sets added on each node.
func (f *MCPFleet) Call(ctx context.Context, nodes []string, tool string, args map[string]any, timeout time.Duration) []mcp.FleetResult {
	out := make([]mcp.FleetResult, len(nodes))
	var valid []string
	var at []int
	for i, n := range nodes {
		if err := CheckNode(n); err != nil {
			// Never a subject: a name with "." or "*" would address
			// other subjects than one node's.
			out[i] = mcp.FleetResult{Node: n, ExitCode: 125, Error: err.Error()}
			continue
		}
		valid = append(valid, n)
		at = append(at, i)
	}
	if len(valid) > 0 {
		res := f.c.Call(ctx, valid, CallRequest{Tool: tool, Arguments: args, MCP: true}, timeout)
		for j, r := range res {
			out[at[j]] = mcp.FleetResult{Node: r.Node, Version: r.Version, ExitCode: r.ExitCode, Outcome: r.Outcome,
				Stdout: r.Stdout, Stderr: r.Stderr, Error: r.Error, Duration: r.Duration}
		}
	}
	return out
}

// Close closes the client's connection.
func (f *MCPFleet) Close() { f.c.Close() }
