package manifest_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// TestStdin: a manifest that declares stdin gets the "input" parameter in
// the schema MCP publishes (and nowhere else), and SplitStdin takes its
// value out of a call's arguments; the declarations that cannot work are
// refused.
func TestStdin(t *testing.T) {
	tool, err := compileData(t, edit(t, func(m map[string]any) {
		m["stdin"] = map[string]any{"description": "the log lines to search"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct{ Type, Description string }
		Required   []string
	}
	if err := json.Unmarshal(tool.MCPInputSchema(), &schema); err != nil {
		t.Fatal(err)
	}
	if p := schema.Properties[manifest.StdinParam]; p.Type != "string" || p.Description != "the log lines to search" || len(schema.Properties) != 7 {
		t.Errorf("MCP's schema: %s", tool.MCPInputSchema())
	}
	if strings.Contains(string(tool.Manifest().InputSchema), `"input"`) {
		t.Errorf("the manifest's own schema gained input: %s", tool.Manifest().InputSchema)
	}
	rest, stdin, err := tool.SplitStdin(map[string]any{"input": "a\nb\n", "file": "app.log"})
	if err != nil || string(stdin) != "a\nb\n" || len(rest) != 1 || rest["file"] != "app.log" {
		t.Errorf("SplitStdin: %v %q %v", rest, stdin, err)
	}
	if _, _, err := tool.SplitStdin(map[string]any{"input": 5}); !errors.Is(err, manifest.ErrArgs) {
		t.Errorf("input 5: %v, want ErrArgs", err)
	}

	plain := compile(t, "testdata/valid.json")
	if plain.ReadsStdin() || strings.Contains(string(plain.MCPInputSchema()), `"input"`) {
		t.Errorf("a tool that declares no stdin: %s", plain.MCPInputSchema())
	}
	if rest, stdin, err := plain.SplitStdin(map[string]any{"input": "x"}); err != nil || stdin != nil || rest["input"] != "x" {
		t.Errorf("SplitStdin of a tool without stdin: %v %q %v, want the arguments as they are", rest, stdin, err)
	}

	for _, tc := range []struct {
		want string
		f    func(m map[string]any)
	}{
		{"stdin.description: empty", func(m map[string]any) { m["stdin"] = map[string]any{"description": ""} }},
		{"stdin.description: control character", func(m map[string]any) { m["stdin"] = map[string]any{"description": "a\x1b[31m"} }},
		{`unknown field "size"`, func(m map[string]any) { m["stdin"] = map[string]any{"description": "x", "size": 1} }},
		{"inputSchema.properties.input: the parameter MCP gets for stdin", func(m map[string]any) {
			m["stdin"] = map[string]any{"description": "x"}
			m["inputSchema"].(map[string]any)["properties"].(map[string]any)["input"] = map[string]any{"type": "string"}
		}},
	} {
		if _, err := compileData(t, edit(t, tc.f)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}
