package manifest_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// withFace is testdata/valid.json with a title, an icon and an MCP face
// that always passes --json and answers JSON.
func withFace(t testing.TB, f func(m map[string]any)) []byte {
	return edit(t, func(m map[string]any) {
		m["title"] = "Log search"
		m["icons"] = raw(`[{"src": "https://example.com/logs.png", "mimeType": "image/png", "sizes": ["48x48", "any"]},
			{"src": "data:image/svg+xml;base64,PHN2Zy8+"}]`)
		m["mcp"] = raw(`{"arguments": {"json": true, "max": 50}, "output": "json"}`)
		m["outputSchema"] = raw(`{"type": "object"}`)
		if f != nil {
			f(m)
		}
	})
}

func TestFace(t *testing.T) {
	m, err := manifest.Parse(withFace(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tool, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if m.Title != "Log search" || len(m.Icons) != 2 || m.MCPOutput() != "json" || m.Output != "" {
		t.Errorf("parsed: %+v", m)
	}
	// MCP's input schema lacks what the face sets; the rest is kept.
	var in struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
		Additional *bool          `json:"additionalProperties"`
	}
	if err := json.Unmarshal(tool.MCPInputSchema(), &in); err != nil {
		t.Fatal(err)
	}
	if _, ok := in.Properties["json"]; ok || in.Properties["max"] != nil || in.Properties["file"] == nil ||
		!reflect.DeepEqual(in.Required, []string{"file"}) || in.Additional == nil || *in.Additional {
		t.Errorf("MCP input schema: %s", tool.MCPInputSchema())
	}
	args, err := tool.WithMCPArguments(map[string]any{"file": "syslog"})
	if err != nil {
		t.Fatal(err)
	}
	argv, err := tool.Argv(args)
	if err != nil || !reflect.DeepEqual(argv, []string{"--json", "--max", "50", "syslog"}) {
		t.Errorf("argv over MCP: %q %v", argv, err)
	}
	if _, err := tool.WithMCPArguments(map[string]any{"file": "syslog", "json": false}); !errors.Is(err, manifest.ErrArgs) {
		t.Errorf("a client setting what the face sets: %v", err)
	}
	// Without a face nothing changes.
	plain := compile(t, "testdata/valid.json")
	if string(plain.MCPInputSchema()) != string(plain.Manifest().InputSchema) || plain.Manifest().MCPOutput() != "text" {
		t.Errorf("no face: %s %s", plain.MCPInputSchema(), plain.Manifest().MCPOutput())
	}
	if a, err := plain.WithMCPArguments(map[string]any{"file": "x"}); err != nil || len(a) != 1 {
		t.Errorf("no face: %v %v", a, err)
	}
}

func TestFace_errors(t *testing.T) {
	for _, tc := range []struct {
		want string
		data []byte
	}{
		{"title: control character", withFace(t, func(m map[string]any) { m["title"] = "Log\u202esearch" })},
		{"title: 129 bytes", withFace(t, func(m map[string]any) { m["title"] = strings.Repeat("x", 129) })},
		{"title: want a string", withFace(t, func(m map[string]any) { m["title"] = 5 })},
		{"icons[0].src", withFace(t, func(m map[string]any) { m["icons"] = raw(`[{"src": "javascript:alert(1)"}]`) })},
		{"icons[0].src", withFace(t, func(m map[string]any) { m["icons"] = raw(`[{"src": "http://example.com/a.png"}]`) })},
		{"icons[0].src", withFace(t, func(m map[string]any) { m["icons"] = raw(`[{"src": "https://u:p@example.com/a.png"}]`) })},
		{"icons[0].src", withFace(t, func(m map[string]any) { m["icons"] = raw(`[{"src": "data:text/html;base64,PGI+"}]`) })},
		{"icons[0].mimeType", withFace(t, func(m map[string]any) { m["icons"] = raw(`[{"src": "https://e.com/a", "mimeType": "text/html"}]`) })},
		{"icons[0].sizes", withFace(t, func(m map[string]any) { m["icons"] = raw(`[{"src": "https://e.com/a", "sizes": ["big"]}]`) })},
		{`icons[0]: unknown field "theme"`, withFace(t, func(m map[string]any) { m["icons"] = raw(`[{"src": "https://e.com/a", "theme": "dark"}]`) })},
		{"icons: 9 icons", withFace(t, func(m map[string]any) {
			m["icons"] = raw(`[` + strings.TrimSuffix(strings.Repeat(`{"src": "https://e.com/a"},`, 9), ",") + `]`)
		})},
		{`mcp: unknown field "args"`, withFace(t, func(m map[string]any) { m["mcp"] = raw(`{"args": ["--json"]}`) })},
		{`mcp.output "xml"`, withFace(t, func(m map[string]any) { m["mcp"] = raw(`{"output": "xml"}`) })},
		{`mcp.arguments: "nope" is not a parameter`, withFace(t, func(m map[string]any) { m["mcp"] = raw(`{"arguments": {"nope": 1}}`) })},
		{`mcp.arguments: property "--x"`, withFace(t, func(m map[string]any) { m["mcp"] = raw(`{"arguments": {"--x": 1}}`) })},
		{"mcp.arguments.max: expected integer, got object", withFace(t, func(m map[string]any) { m["mcp"] = raw(`{"arguments": {"max": {}}}`) })},
		{"mcp.arguments.json: null", withFace(t, func(m map[string]any) { m["mcp"] = raw(`{"arguments": {"json": null}}`) })},
	} {
		t.Run(tc.want, func(t *testing.T) {
			m, err := manifest.Parse(tc.data)
			if err == nil {
				_, err = m.Compile()
			}
			if err == nil || !errors.Is(err, manifest.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
