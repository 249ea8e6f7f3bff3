package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/untrusted"
)

// Fleet is what the controller's MCP face (`agent-ctl mcp --fleet`) needs
// of a fleet: cmd/internal/fleet implements it over NATS, so that this
// package imports no NATS code.
type Fleet interface {
	// Nodes returns the online nodes, each with the descriptions of its
	// installed tools (a tool that could not be described is left out).
	Nodes(ctx context.Context) ([]FleetNode, error)
	// Call runs tool on each of nodes at once with args (a JSON object, as
	// tools/call gives it) and returns one result per node, in order; a
	// node that did not answer within timeout gets a result that says so.
	Call(ctx context.Context, nodes []string, tool string, args map[string]any, timeout time.Duration) []FleetResult
}

// FleetNode is an online node of the fleet.
type FleetNode struct {
	Name   string
	Labels map[string]string
	Tools  []FleetTool
}

// FleetTool is one installed tool of a node.
type FleetTool struct {
	Name, Title, Description, Version, Digest string
	// InputSchema is the tool's MCP input schema on that node.
	InputSchema json.RawMessage
}

// FleetResult is one node's answer to a fleet call; it is the structured
// content's entry for the node.
type FleetResult struct {
	Node     string  `json:"node"`
	Version  string  `json:"version,omitempty"`
	ExitCode int     `json:"exitCode"`
	Outcome  string  `json:"outcome"`
	Stdout   string  `json:"stdout"`
	Stderr   string  `json:"stderr"`
	Error    string  `json:"error,omitempty"`
	Duration float64 `json:"durationSeconds"`
}

// Failed reports whether the node's call did not run to a zero exit.
func (r *FleetResult) Failed() bool {
	return r.Error != "" || r.ExitCode != 0 || r.Outcome != "exited"
}

// The parameters the fleet face adds to every tool's input schema.
const (
	nodesParam = "nodes"
	labelParam = "label"
)

// fleetTool is what is published of one tool name.
type fleetTool struct {
	nodes []FleetNode // the online nodes that have it, by name
}

// NewFleet returns the controller's MCP face: each tool installed on any
// online node of f is published once, with a `nodes` and a `label`
// selector added to its input schema, and a tools/call runs it on the
// selected nodes (timeout each) and aggregates their results. Watch keeps
// it current (Options.Poll defaults to 2 s here).
func NewFleet(f Fleet, timeout time.Duration, o *Options) *Server {
	opts := Options{}
	if o != nil {
		opts = *o
	}
	if opts.Poll == 0 {
		opts.Poll = 2 * time.Second
	}
	s := newServer(&opts)
	s.fleet, s.fleetTimeout, s.fleetTools = f, timeout, map[string]*fleetTool{}
	s.Sync()
	return s
}

// syncFleet publishes the fleet's tools now. The fleet is read without
// s.mu held, so that a slow read never holds up a call's node selection.
func (s *Server) syncFleet() bool {
	s.fleetSync.Lock()
	defer s.fleetSync.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := s.fleet.Nodes(ctx)
	if err != nil {
		// A fleet that cannot be read keeps what was published: a
		// passing outage must not empty every client's tool list.
		s.log.Warn("reading the fleet", "err", err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byName := map[string]*fleetTool{}
	for _, n := range nodes {
		for _, t := range n.Tools {
			ft := byName[t.Name]
			if ft == nil {
				ft = &fleetTool{}
				byName[t.Name] = ft
			}
			ft.nodes = append(ft.nodes, n)
		}
	}
	changed := false
	for name, ft := range byName {
		slices.SortFunc(ft.nodes, func(a, b FleetNode) int { return strings.Compare(a.Name, b.Name) })
		tool, err := fleetDescribe(name, ft.nodes)
		if err != nil {
			s.log.Warn("fleet tool not published", "tool", name, "err", err)
			delete(byName, name)
			continue
		}
		b, _ := json.Marshal(tool)
		fp := string(b)
		if s.known[name] != fp {
			s.srv.AddTool(tool, s.fleetHandler(name))
			s.known[name] = fp
			changed = true
		}
	}
	if gone := s.unpublish(func(name string) bool { return byName[name] == nil }); len(gone) > 0 {
		changed = true
	}
	s.fleetTools = byName
	return changed
}

// toolOf returns the node's description of the tool.
func toolOf(n FleetNode, name string) FleetTool {
	for _, t := range n.Tools {
		if t.Name == name {
			return t
		}
	}
	return FleetTool{}
}

// fleetDescribe is what tools/list publishes of a fleet tool: the newest
// version's description and schema (nodes with another version check the
// arguments against their own), the nodes and versions named in the
// description, and the selectors added.
func fleetDescribe(name string, nodes []FleetNode) (*mcp.Tool, error) {
	newest := toolOf(nodes[0], name)
	versions := map[string][]string{}
	for _, n := range nodes {
		t := toolOf(n, name)
		if manifest.CompareVersions(t.Version, newest.Version) > 0 {
			newest = t
		}
		versions[t.Version] = append(versions[t.Version], n.Name)
	}
	var schema map[string]any
	dec := json.NewDecoder(bytes.NewReader(newest.InputSchema))
	dec.UseNumber()
	if err := dec.Decode(&schema); err != nil || schema == nil {
		return nil, fmt.Errorf("its input schema is not a JSON object: %v", err)
	}
	props, _ := schema["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	for _, p := range []string{nodesParam, labelParam} {
		if _, ok := props[p]; ok {
			// Renaming it would make the same tool take other arguments
			// in the fleet than on its node.
			return nil, fmt.Errorf("it has a parameter %q, which the fleet's selector needs", p)
		}
	}
	props[nodesParam] = map[string]any{
		"type": "array", "items": map[string]any{"type": "string"}, "uniqueItems": true,
		"description": "the nodes to run on (default: every online node that has the tool)",
	}
	props[labelParam] = map[string]any{
		"type": "object", "additionalProperties": map[string]any{"type": "string"},
		"description": "run only on the nodes that have all these labels (key: value)",
	}
	schema["properties"] = props
	raw, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	var on []string
	// Newest first.
	for _, v := range slices.SortedFunc(maps.Keys(versions), func(a, b string) int { return manifest.CompareVersions(b, a) }) {
		on = append(on, fmt.Sprintf("%s (%s)", strings.Join(versions[v], ", "), cmpOr(v, "no version")))
	}
	desc := newest.Description
	if desc != "" {
		desc += "\n\n"
	}
	desc += "Runs on the agent-ctl fleet's nodes, one result per node. Online now with it: " + strings.Join(on, "; ") + "."
	if len(versions) > 1 {
		desc += " The schema is that of version " + cmpOr(newest.Version, "(none)") + "; each node checks the arguments against its own."
	}
	return &mcp.Tool{Name: name, Title: newest.Title, Description: desc, InputSchema: json.RawMessage(raw)}, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fleetHandler runs a fleet tool on the selected nodes.
func (s *Server) fleetHandler(name string) mcp.ToolHandler {
	return s.toolHandler(name, func(ctx context.Context, req *mcp.CallToolRequest, args map[string]any) (*mcp.CallToolResult, error) {
		nodes, err := s.selectNodes(name, args)
		if err != nil {
			return nil, err
		}
		if len(nodes) == 0 {
			return failure("%s: no online node matches the selection", name), nil
		}
		res := s.fleet.Call(ctx, nodes, name, args, s.fleetTimeout)
		if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil && !errors.Is(cause, context.Canceled) {
			return failure("%s: cancelled: %v", name, cause), nil
		}
		return fleetResult(name, res), nil
	})
}

// selectNodes takes the selectors out of args and returns the nodes they
// name: those of "nodes" as given (a node that is offline or lacks the
// tool then answers so), or every online node that has the tool; "label"
// keeps those with all its labels.
func (s *Server) selectNodes(name string, args map[string]any) ([]string, error) {
	bad := func(format string, a ...any) error {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(format, a...)}
	}
	var named []string
	if v, ok := args[nodesParam]; ok {
		list, ok := v.([]any)
		if !ok {
			return nil, bad("%s: %q: want an array of node names", name, nodesParam)
		}
		for _, e := range list {
			n, ok := e.(string)
			if !ok {
				return nil, bad("%s: %q: want an array of node names", name, nodesParam)
			}
			if !slices.Contains(named, n) {
				named = append(named, n)
			}
		}
		if len(named) == 0 {
			return nil, bad("%s: %q is empty: name at least one node, or leave it out for all", name, nodesParam)
		}
	}
	var label map[string]string
	if v, ok := args[labelParam]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad("%s: %q: want an object of label values", name, labelParam)
		}
		label = map[string]string{}
		for k, e := range m {
			if label[k], ok = e.(string); !ok {
				return nil, bad("%s: %q: label %q: want a string", name, labelParam, k)
			}
		}
	}
	delete(args, nodesParam)
	delete(args, labelParam)
	s.mu.Lock()
	var online []FleetNode
	if ft := s.fleetTools[name]; ft != nil {
		online = ft.nodes
	}
	s.mu.Unlock()
	matches := func(n FleetNode) bool {
		for k, v := range label {
			if got, ok := n.Labels[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
	if named != nil {
		if label == nil {
			return named, nil
		}
		// Labels are known of online nodes only: a named node not among
		// them cannot be said to match.
		var out []string
		for _, n := range named {
			if i := slices.IndexFunc(online, func(o FleetNode) bool { return o.Name == n }); i >= 0 && matches(online[i]) {
				out = append(out, n)
			}
		}
		return out, nil
	}
	var out []string
	for _, n := range online {
		if matches(n) {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

// fleetResult aggregates the nodes' results: {results: [...]} as
// structured content, one text block per node, and isError when any node
// failed.
func fleetResult(name string, res []FleetResult) *mcp.CallToolResult {
	r := &mcp.CallToolResult{}
	failed := 0
	for i := range res {
		nr := &res[i]
		nr.Stdout, nr.Stderr = sanitize([]byte(nr.Stdout)), sanitize([]byte(nr.Stderr))
		// A node's own words (its error, its outcome) are escaped as the
		// local supervisor's are; the tool's output passes through.
		nr.Node, nr.Error, nr.Outcome = untrusted.Show(nr.Node), untrusted.Show(nr.Error), untrusted.Show(nr.Outcome)
		var b strings.Builder
		if nr.Failed() {
			failed++
			msg := nr.Error
			if msg == "" {
				msg = fmt.Sprintf("exit code %d", nr.ExitCode)
			}
			fmt.Fprintf(&b, "node %s: %s failed: %s", nr.Node, name, msg)
		} else {
			fmt.Fprintf(&b, "node %s: exit code 0", nr.Node)
		}
		if nr.Outcome != "" {
			fmt.Fprintf(&b, " (%s, %.2fs)", nr.Outcome, nr.Duration)
		}
		if nr.Stdout != "" {
			fmt.Fprintf(&b, "\n%s", nr.Stdout)
		}
		if t := strings.TrimSpace(nr.Stderr); t != "" && nr.Failed() {
			fmt.Fprintf(&b, "\nstderr:\n%s", t)
		}
		r.Content = append(r.Content, &mcp.TextContent{Text: b.String()})
	}
	r.IsError = failed > 0
	r.StructuredContent = map[string]any{"results": res}
	return r
}
