package mcp

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestFleetDescribe: what tools/list publishes of a fleet tool, from the
// nodes' descriptions, versions differing or not.
func TestFleetDescribe(t *testing.T) {
	tool := func(version, schema string) FleetTool {
		return FleetTool{Name: "t", Version: version, Description: "v" + version, InputSchema: json.RawMessage(schema)}
	}
	node := func(name string, t FleetTool) FleetNode { return FleetNode{Name: name, Tools: []FleetTool{t}} }
	v1 := tool("1.0.0", `{"type":"object","properties":{"a":{"type":"string"}}}`)
	v19 := tool("1.9.0", `{"type":"object","properties":{"a":{"type":"string"}}}`)
	v2 := tool("1.10.0", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["b"]}`)
	for _, tc := range []struct {
		name     string
		nodes    []FleetNode
		props    []string // the published schema's properties
		desc     []string // in the description
		wantErr  string
		notInDsc string
	}{
		{"one version", []FleetNode{node("a", v1), node("b", v1)}, []string{"a", "label", "nodes"},
			[]string{"v1.0.0", "a, b (1.0.0)"}, "", "each node checks"},
		// 1.10.0 is newer than 1.9.0 by semver, not by text.
		{"newest schema", []FleetNode{node("a", v19), node("b", v2), node("c", v19)}, []string{"a", "b", "label", "nodes"},
			[]string{"v1.10.0", "b (1.10.0); a, c (1.9.0)", "version 1.10.0; each node checks"}, "", ""},
		{"no properties", []FleetNode{node("a", tool("1.0.0", `{"type":"object"}`))}, []string{"label", "nodes"}, nil, "", ""},
		{"selector clash", []FleetNode{node("a", tool("1.0.0", `{"type":"object","properties":{"nodes":{}}}`))}, nil, nil, `parameter "nodes"`, ""},
		{"not an object", []FleetNode{node("a", tool("1.0.0", `[1]`))}, nil, nil, "not a JSON object", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fleetDescribe("t", tc.nodes)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var schema struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			}
			if err := json.Unmarshal(got.InputSchema.(json.RawMessage), &schema); err != nil {
				t.Fatal(err)
			}
			var props []string
			for p := range schema.Properties {
				props = append(props, p)
			}
			slices.Sort(props)
			if !slices.Equal(props, tc.props) {
				t.Errorf("properties %v, want %v", props, tc.props)
			}
			for _, d := range tc.desc {
				if !strings.Contains(got.Description, d) {
					t.Errorf("description %q, want %q in it", got.Description, d)
				}
			}
			if tc.notInDsc != "" && strings.Contains(got.Description, tc.notInDsc) {
				t.Errorf("description %q, want no %q", got.Description, tc.notInDsc)
			}
		})
	}
}

// TestSelectNodes: the selectors pick nodes and are taken out of the
// arguments; a malformed selector is the client's error.
func TestSelectNodes(t *testing.T) {
	s := &Server{fleetTools: map[string]*fleetTool{"t": {nodes: []FleetNode{
		{Name: "a", Labels: map[string]string{"role": "web", "zone": "1"}},
		{Name: "b", Labels: map[string]string{"role": "db"}},
		{Name: "c"},
	}}}}
	for _, tc := range []struct {
		name    string
		args    map[string]any
		want    []string
		wantErr string
	}{
		{"all", map[string]any{"x": 1}, []string{"a", "b", "c"}, ""},
		{"named, missing kept", map[string]any{"nodes": []any{"c", "zz", "c"}}, []string{"c", "zz"}, ""},
		{"label", map[string]any{"label": map[string]any{"role": "web"}}, []string{"a"}, ""},
		{"two labels", map[string]any{"label": map[string]any{"role": "web", "zone": "2"}}, nil, ""},
		{"named and label", map[string]any{"nodes": []any{"a", "b", "zz"}, "label": map[string]any{"role": "db"}}, []string{"b"}, ""},
		{"nodes not an array", map[string]any{"nodes": "a"}, nil, "array"},
		{"nodes empty", map[string]any{"nodes": []any{}}, nil, "empty"},
		{"node not a string", map[string]any{"nodes": []any{1}}, nil, "array"},
		{"label not strings", map[string]any{"label": map[string]any{"role": 1}}, nil, "want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.selectNodes("t", tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			if _, ok := tc.args["nodes"]; ok {
				t.Error("nodes left in the arguments")
			}
			if _, ok := tc.args["label"]; ok {
				t.Error("label left in the arguments")
			}
		})
	}
}
