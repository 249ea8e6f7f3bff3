package manifest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

func readValid(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/valid.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParse_valid(t *testing.T) {
	m, err := manifest.Parse(readValid(t))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m.Name != "logs" || m.Version != "1.2.0" || m.ModuleFile() != "module.wasm" {
		t.Errorf("Parse: name %q version %q module %q", m.Name, m.Version, m.ModuleFile())
	}
	if got, want := m.MemoryLimit(), int64(64<<20); got != want {
		t.Errorf("MemoryLimit() = %d, want %d", got, want)
	}
	if got, want := m.TimeoutLimit(), 10*time.Second; got != want {
		t.Errorf("TimeoutLimit() = %v, want %v", got, want)
	}
	if got := m.OutputLimit(); got != 0 {
		t.Errorf("OutputLimit() = %d, want 0 (unset)", got)
	}
	want := []manifest.FileCap{{Host: "/var/log", Guest: "/logs", Mode: "ro", Description: "The logs to search."}}
	if !reflect.DeepEqual(m.Capabilities.Files, want) {
		t.Errorf("Capabilities.Files mismatch (-want +got):\n-%+v\n+%+v", want, m.Capabilities.Files)
	}
}

// TestParse_roundTrip checks that a manifest written back out by
// encoding/json parses to the same manifest.
func TestParse_roundTrip(t *testing.T) {
	m, err := manifest.Parse(readValid(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := manifest.Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal(m)): %v\n%s", err, out)
	}
	m.InputSchema, m2.InputSchema = nil, nil // compacted, so compared as JSON below
	if !reflect.DeepEqual(m, m2) {
		t.Errorf("round trip mismatch (-want +got):\n-%+v\n+%+v", m, m2)
	}
}

func TestManifest_ModuleFile(t *testing.T) {
	m := manifest.Manifest{Module: "logs.wasm"}
	if got := m.ModuleFile(); got != "logs.wasm" {
		t.Errorf("ModuleFile() = %q, want logs.wasm", got)
	}
}

// edit decodes testdata/valid.json, lets f change it and encodes it again.
func edit(t testing.TB, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readValid(t), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func schema(m map[string]any) map[string]any { return m["inputSchema"].(map[string]any) }
func props(m map[string]any) map[string]any  { return schema(m)["properties"].(map[string]any) }
func file0(m map[string]any) map[string]any {
	return m["capabilities"].(map[string]any)["files"].([]any)[0].(map[string]any)
}

// raw parses JSON written in a test case.
func raw(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(fmt.Sprintf("bad test JSON %s: %v", s, err))
	}
	return v
}

// nested is a schema nested n levels deep in "not".
func nested(n int) string {
	return strings.Repeat(`{"not":`, n) + `{}` + strings.Repeat(`}`, n)
}

// TestParse_errors is the hostile-input table: each manifest must be
// refused by Parse or Compile, with an error that wraps ErrInvalid, fits on
// one line and contains the key.
func TestParse_errors(t *testing.T) {
	valid := string(readValid(t))
	many := map[string]any{}
	for i := range 257 {
		many[fmt.Sprintf("p%d", i)] = map[string]any{"type": "string"}
	}
	tests := []struct {
		want string
		data []byte
	}{
		// JSON itself.
		{"malformed JSON", []byte(`{"name": "logs",`)},
		{"malformed JSON", []byte(`{"name": "logs" "version": "1.0.0"}`)},
		{"empty document", []byte(``)},
		{"want an object, got an array", []byte(`[]`)},
		{"want an object, got a string", []byte(`"logs"`)},
		{"trailing data", []byte(valid + `{}`)},
		{"trailing data", []byte(valid + ` x`)},
		{`unknown field "command"`, edit(t, func(m map[string]any) { m["command"] = "sh" })},
		{`unknown field "Name"`, edit(t, func(m map[string]any) { m["Name"] = "x" })},
		{`capabilities.files[0]: unknown field "Host"`, edit(t, func(m map[string]any) { file0(m)["Host"] = "/" })},
		{`limits: unknown field "cpu"`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["cpu"] = "2" })},
		{`duplicate key "name"`, []byte(`{"name": "logs", "name": "run"}`)},
		{`inputSchema.properties: duplicate key "max"`, []byte(strings.Replace(valid, `"json": {`, `"max": {"type": "string"}, "json": {`, 1))},
		{"more than the 1048576 allowed", []byte(valid + strings.Repeat(" ", manifest.MaxSize))},
		{"nested deeper than 64", edit(t, func(m map[string]any) { props(m)["deep"] = raw(nested(70)) })},
		{"inputSchema[0][0][0]", []byte(`{"inputSchema": ` + strings.Repeat("[", 100000))},
		{"manifest: want an object, got null", []byte(`null`)},
		{"args.positional[1]: want a string, got the number 5", []byte(`{"args": {"positional": ["a", 5]}}`)},
		{"args.equals: want a boolean, got a string", []byte(`{"args": {"equals": "yes"}}`)},
		{"capabilities.env: want an array of strings, got an object", []byte(`{"capabilities": {"env": {}}}`)},
		{"name: want a string, got the number 5", []byte(`{"name": 5}`)},
		{"capabilities.network[0].ports[0]: want an integer, got a string", edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "example.com", "ports": ["80"]}]`)
		})},

		// Names.
		{`name "../etc": must not contain "/"`, edit(t, func(m map[string]any) { m["name"] = "../etc" })},
		{`name "a/b": must not contain "/"`, edit(t, func(m map[string]any) { m["name"] = "a/b" })},
		{`name "a..b": must not contain`, edit(t, func(m map[string]any) { m["name"] = "a..b" })},
		{`name "Logs": want a lower-case letter, then up to 62 lower-case letters, digits, "_" or "-"`, edit(t, func(m map[string]any) { m["name"] = "Logs" })},
		{`name "": want a lower-case letter`, edit(t, func(m map[string]any) { m["name"] = "" })},
		{`name "-rf": want`, edit(t, func(m map[string]any) { m["name"] = "-rf" })},
		{`want a lower-case letter`, edit(t, func(m map[string]any) { m["name"] = strings.Repeat("a", 64) })},
		{`name "run": is reserved`, edit(t, func(m map[string]any) { m["name"] = "run" })},
		{`name "mcp": is reserved`, edit(t, func(m map[string]any) { m["name"] = "mcp" })},

		// Version, description, module, output.
		{`version "1.0": want a semantic version`, edit(t, func(m map[string]any) { m["version"] = "1.0" })},
		{`version "v1.0.0": want a semantic version`, edit(t, func(m map[string]any) { m["version"] = "v1.0.0" })},
		{`version "01.0.0": want a semantic version`, edit(t, func(m map[string]any) { m["version"] = "01.0.0" })},
		{`version "1.0.0-": want a semantic version`, edit(t, func(m map[string]any) { m["version"] = "1.0.0-" })},
		{"description: must not be empty", edit(t, func(m map[string]any) { delete(m, "description") })},
		{"description: control character U+001B", edit(t, func(m map[string]any) { m["description"] = "logs\x1b[2J" })},
		{"description: control character U+202E", edit(t, func(m map[string]any) { m["description"] = "safe \u202etxt.exe" })},
		{"description: control character U+000A", edit(t, func(m map[string]any) { m["description"] = "two\nlines" })},
		{"description: 1025 bytes, more than the 1024 allowed", edit(t, func(m map[string]any) { m["description"] = strings.Repeat("x", 1025) })},
		{`module "../x.wasm": want a plain file name`, edit(t, func(m map[string]any) { m["module"] = "../x.wasm" })},
		{`module "lib/x.wasm": want a plain file name`, edit(t, func(m map[string]any) { m["module"] = "lib/x.wasm" })},
		{`module "x.so": want a file name`, edit(t, func(m map[string]any) { m["module"] = "x.so" })},
		{`module ".wasm": want a file name`, edit(t, func(m map[string]any) { m["module"] = ".wasm" })},
		{`output "xml": want text or json`, edit(t, func(m map[string]any) { m["output"] = "xml" })},

		// Schema outline.
		{"inputSchema: missing", edit(t, func(m map[string]any) { delete(m, "inputSchema") })},
		{"inputSchema: missing", edit(t, func(m map[string]any) { m["inputSchema"] = nil })},
		{`inputSchema: want a JSON Schema object`, edit(t, func(m map[string]any) { m["inputSchema"] = []any{} })},
		{`inputSchema: want "type": "object"`, edit(t, func(m map[string]any) { schema(m)["type"] = "string" })},
		{`inputSchema: want "type": "object"`, edit(t, func(m map[string]any) { delete(schema(m), "type") })},
		{`outputSchema: want "type": "object"`, edit(t, func(m map[string]any) { m["outputSchema"] = raw(`{"type": "array"}`) })},
		{"inputSchema.properties: want an object", edit(t, func(m map[string]any) { schema(m)["properties"] = []any{} })},
		{"257 properties, more than the 256 allowed", edit(t, func(m map[string]any) { schema(m)["properties"] = many })},
		{`property "-rf" would make an unsafe flag`, edit(t, func(m map[string]any) { props(m)["-rf"] = raw(`{"type": "string"}`) })},
		{`property "a=b" would make an unsafe flag`, edit(t, func(m map[string]any) { props(m)["a=b"] = raw(`{"type": "string"}`) })},
		{`property "Max" would make an unsafe flag`, edit(t, func(m map[string]any) { props(m)["Max"] = raw(`{"type": "string"}`) })},
		{`property "a b" would make an unsafe flag`, edit(t, func(m map[string]any) { props(m)["a b"] = raw(`{"type": "string"}`) })},
		{`property "" would make an unsafe flag`, edit(t, func(m map[string]any) { props(m)[""] = raw(`{"type": "string"}`) })},

		// Positional parameters.
		{`args.positional[1]: "nope" is not a property of inputSchema`, edit(t, func(m map[string]any) { m["args"] = raw(`{"positional": ["file", "nope"]}`) })},
		{`args.positional[1]: "file" is listed twice`, edit(t, func(m map[string]any) { m["args"] = raw(`{"positional": ["file", "file"]}`) })},
		{`args.positional: "json" is a boolean: make it a flag`, edit(t, func(m map[string]any) { m["args"] = raw(`{"positional": ["file", "json"]}`) })},
		{`args.positional: "tags" is an array: only the last`, edit(t, func(m map[string]any) {
			props(m)["tags"] = raw(`{"type": "array", "items": {"type": "string"}}`)
			m["args"] = raw(`{"positional": ["tags", "file"]}`)
		})},
		{`args.positional: required "file" follows optional "filter"`, edit(t, func(m map[string]any) { m["args"] = raw(`{"positional": ["filter", "file"]}`) })},

		// Capabilities.
		{`capabilities.files[0].host: "/" would expose the whole host file system`, edit(t, func(m map[string]any) { file0(m)["host"] = "/" })},
		{`capabilities.files[0].host "/proc": /proc and below are never granted`, edit(t, func(m map[string]any) { file0(m)["host"] = "/proc" })},
		{`"/proc/self/root": /proc and below`, edit(t, func(m map[string]any) { file0(m)["host"] = "/proc/self/root" })},
		{`"/sys": /sys and below`, edit(t, func(m map[string]any) { file0(m)["host"] = "/sys" })},
		{`"/dev/sda": /dev and below`, edit(t, func(m map[string]any) { file0(m)["host"] = "/dev/sda" })},
		{`host "/var/../proc": not a clean path (did you mean /proc?)`, edit(t, func(m map[string]any) { file0(m)["host"] = "/var/../proc" })},
		{`host "//": not a clean path`, edit(t, func(m map[string]any) { file0(m)["host"] = "//" })},
		{`host "var/log": want an absolute path`, edit(t, func(m map[string]any) { file0(m)["host"] = "var/log" })},
		{`host: must not be empty`, edit(t, func(m map[string]any) { file0(m)["host"] = "" })},
		{`host "C:\\": a drive root`, edit(t, func(m map[string]any) { file0(m)["host"] = `C:\` })},
		{`contains a control character`, edit(t, func(m map[string]any) { file0(m)["host"] = "/var/log\x00" })},
		{`guest "logs": want an absolute path`, edit(t, func(m map[string]any) { file0(m)["guest"] = "logs" })},
		{`guest "/logs/": not a clean path`, edit(t, func(m map[string]any) { file0(m)["guest"] = "/logs/" })},
		{`capabilities.files[1].guest: /logs is asked for twice`, edit(t, func(m map[string]any) {
			c := m["capabilities"].(map[string]any)
			c["files"] = append(c["files"].([]any), file0(m))
		})},
		{`capabilities.files[0].mode "wx": want ro or rw`, edit(t, func(m map[string]any) { file0(m)["mode"] = "wx" })},
		{`capabilities.env[0] "A=B": want an environment variable name`, edit(t, func(m map[string]any) { m["capabilities"].(map[string]any)["env"] = raw(`["A=B"]`) })},
		{`capabilities.env[1]: HOME is asked for twice`, edit(t, func(m map[string]any) { m["capabilities"].(map[string]any)["env"] = raw(`["HOME", "HOME"]`) })},
		{`network[0].host "10.0.0.1/24": address has bits outside the mask (did you mean 10.0.0.0/24?)`, edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "10.0.0.1/24", "ports": [443]}]`)
		})},
		{`network[0].host "10.0.0.0/33": not a CIDR`, edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "10.0.0.0/33", "ports": [443]}]`)
		})},
		{`network[0].host "exa_mple.com": want a CIDR, an IP address or a hostname`, edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "exa_mple.com", "ports": [443]}]`)
		})},
		{`network[0].ports: want at least one port`, edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "example.com", "ports": []}]`)
		})},
		{`network[0].ports[1]: 70000 is outside 1..65535`, edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "example.com", "ports": [443, 70000]}]`)
		})},
		{`network[0].ports[0]: 0 is outside 1..65535`, edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "127.0.0.1/32", "ports": [0]}]`)
		})},

		// Limits.
		{`limits.memory: size "lots": want a number`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["memory"] = "lots" })},
		{`limits.memory "1KiB": outside 64KiB..4GiB`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["memory"] = "1KiB" })},
		{`limits.memory "8GiB": outside`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["memory"] = "8GiB" })},
		{`limits.timeout "10": want a duration`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["timeout"] = "10" })},
		{`limits.timeout "-1s": outside`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["timeout"] = "-1s" })},
		{`limits.timeout "48h": outside`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["timeout"] = "48h" })},
		{`limits.maxOutput "0": must be more than zero`, edit(t, func(m map[string]any) { m["limits"].(map[string]any)["maxOutput"] = "0" })},

		// Compile: schema validity and parameters.
		{`inputSchema.properties.max: minimum: want a number`, edit(t, func(m map[string]any) { props(m)["max"].(map[string]any)["minimum"] = "one" })},
		{`inputSchema.properties.regex: pattern: "(" is not a valid regular expression`, edit(t, func(m map[string]any) { props(m)["regex"].(map[string]any)["pattern"] = "(" })},
		{`inputSchema.required: "nope" is not a property`, edit(t, func(m map[string]any) { schema(m)["required"] = []any{"file", "nope"} })},
		{`inputSchema.properties.file: no "type"`, edit(t, func(m map[string]any) { props(m)["file"] = raw(`{"description": "any"}`) })},
		{`inputSchema.properties.file: want a schema: a JSON object`, edit(t, func(m map[string]any) { props(m)["file"] = raw(`true`) })},
		{`inputSchema.properties.file: keyword "anyOf" is not supported on a parameter`, edit(t, func(m map[string]any) {
			props(m)["file"] = raw(`{"anyOf": [{"type": "string"}, {"type": "integer"}]}`)
		})},
		{`inputSchema.properties.file: type: "null": want one of string, integer, number, boolean, array`, edit(t, func(m map[string]any) { props(m)["file"] = raw(`{"type": "null"}`) })},
		{`inputSchema.properties.file: type: want one of`, edit(t, func(m map[string]any) { props(m)["file"] = raw(`{"type": ["string", "integer"]}`) })},
		{`inputSchema.properties.tags: an array needs "items"`, edit(t, func(m map[string]any) { props(m)["tags"] = raw(`{"type": "array"}`) })},
		{`inputSchema.properties.tags.items: type: "boolean": want one of string, integer, number`, edit(t, func(m map[string]any) { props(m)["tags"] = raw(`{"type": "array", "items": {"type": "boolean"}}`) })},
		{`inputSchema.properties.tags.items: type: "array": want one of string, integer, number`, edit(t, func(m map[string]any) {
			props(m)["tags"] = raw(`{"type": "array", "items": {"type": "array", "items": {"type": "string"}}}`)
		})},
		{`inputSchema.properties.json: a boolean defaulting to true`, edit(t, func(m map[string]any) { props(m)["json"].(map[string]any)["default"] = true })},
		{`inputSchema.properties.filter: description: control character U+001B`, edit(t, func(m map[string]any) {
			props(m)["filter"].(map[string]any)["description"] = "\x1b]0;pwned\x07"
		})},
		{`outputSchema.properties.x: keyword "$ref" is not supported in outputSchema`, edit(t, func(m map[string]any) {
			m["outputSchema"] = raw(`{"type": "object", "properties": {"x": {"$ref": "https://example.com/out.json"}}}`)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			m, err := manifest.Parse(tt.data)
			if err == nil {
				_, err = m.Compile()
			}
			if err == nil {
				t.Fatalf("Parse and Compile succeeded, want an error containing %q", tt.want)
			}
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if strings.ContainsAny(msg, "\n\r") || len(msg) > 400 {
				t.Errorf("error is not one short line: %q", msg)
			}
		})
	}
}

// TestCompile_accepts covers schemas that look odd but are fine.
func TestCompile_accepts(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"nullable type", edit(t, func(m map[string]any) { props(m)["since"] = raw(`{"type": ["string", "null"]}`) })},
		{"draft-07 by $schema", edit(t, func(m map[string]any) { schema(m)["$schema"] = "http://json-schema.org/draft-07/schema#" })},
		{"output schema", edit(t, func(m map[string]any) {
			m["outputSchema"] = raw(`{"type": "object", "properties": {"lines": {"type": "array", "items": {"type": "string"}}}}`)
		})},
		{"cidr, ip and hostname", edit(t, func(m map[string]any) {
			m["capabilities"].(map[string]any)["network"] = raw(`[{"host": "10.0.0.0/24", "ports": [443]}, {"host": "127.0.0.1", "ports": [80]}, {"host": "api.example.com", "ports": [443, 8443]}]`)
		})},
		{"semver with prerelease and build", edit(t, func(m map[string]any) { m["version"] = "1.0.0-rc.1+build.5" })},
		{"256 properties", edit(t, func(m map[string]any) {
			p := props(m)
			for i := len(p); i < 256; i++ {
				p[fmt.Sprintf("p%d", i)] = map[string]any{"type": "string"}
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := manifest.Parse(tt.data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if _, err := m.Compile(); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

// TestValidate_programmatic checks that a manifest built in Go, not parsed,
// gets the same checks.
func TestValidate_programmatic(t *testing.T) {
	m := &manifest.Manifest{
		Name:        "logs",
		Version:     "1.0.0",
		Description: "Search logs.",
		InputSchema: json.RawMessage(`{"type": "object", "properties": {"x": {"type": "string"}}, "properties": {}}`),
	}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), `duplicate key "properties"`) {
		t.Errorf("Validate() = %v, want a duplicate key error", err)
	}
	m.InputSchema = json.RawMessage(`{"type": "object"} {}`)
	if _, err := m.Compile(); err == nil || !strings.Contains(err.Error(), "trailing data") {
		t.Errorf("Compile() = %v, want a trailing data error", err)
	}
	m.InputSchema = json.RawMessage(`{"type": "object"}`)
	if _, err := m.Compile(); err != nil {
		t.Errorf("Compile() = %v, want no error", err)
	}
}

// TestParse_names takes the names the rule and its message allow: "_" and
// "-" after the first letter (the message used to leave "_" out).
func TestParse_names(t *testing.T) {
	for _, name := range []string{"my_tool", "my-tool", "a", "t0", "a" + strings.Repeat("_", 62)} {
		if _, err := manifest.Parse(edit(t, func(m map[string]any) { m["name"] = name })); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
	}
}
