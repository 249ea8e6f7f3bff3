package manifest_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// FuzzParse feeds Parse arbitrary bytes. Parse must never panic, its errors
// must wrap ErrInvalid and fit on one line, and when it succeeds Compile and
// the compiled tool must not panic either. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(readValid(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := manifest.Parse(data)
		if err != nil {
			checkError(t, manifest.ErrInvalid, err, "")
			return
		}
		tool, err := m.Compile()
		if err != nil {
			checkError(t, manifest.ErrInvalid, err, "")
			return
		}
		// The MCP face: its input schema is JSON, its arguments are
		// arguments of the tool.
		if !json.Valid(tool.MCPInputSchema()) {
			t.Fatalf("MCP input schema is not JSON: %s", tool.MCPInputSchema())
		}
		if args, err := tool.WithMCPArguments(map[string]any{}); err != nil {
			checkError(t, manifest.ErrArgs, err, "")
		} else if _, err := tool.Argv(args); err != nil {
			checkError(t, manifest.ErrArgs, err, "")
		}
		params := tool.Params()
		if len(params) > manifest.MaxProperties {
			t.Fatalf("%d params", len(params))
		}
		// Every parameter can take a value of its type.
		args := map[string]any{}
		for _, p := range params {
			switch p.Type {
			case "string":
				args[p.Name] = "x"
			case "integer":
				args[p.Name] = 1.0
			case "number":
				args[p.Name] = 0.5
			case "boolean":
				args[p.Name] = true
			case "array":
				args[p.Name] = []any{}
			case "object":
				args[p.Name] = map[string]any{}
			default:
				t.Fatalf("param %s has type %q", p.Name, p.Type)
			}
		}
		if _, err := tool.Argv(args); err != nil {
			checkError(t, manifest.ErrArgs, err, "")
		}
		if err := tool.Validate(map[string]any{}); err != nil {
			checkError(t, manifest.ErrArgs, err, "")
		}

		// What Parse accepts, written out again, parses again.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if len(out) <= manifest.MaxSize {
			if _, err := manifest.Parse(out); err != nil {
				t.Fatalf("Parse(Marshal(Parse(data))): %v\n%s", err, out)
			}
		}
	})
}

// FuzzArgv decodes the input as a JSON arguments object (both with and
// without UseNumber) and lays it out for two tools. Nothing may panic;
// errors wrap ErrArgs in one line; Argv succeeds exactly when Validate
// does, except for the positional gap rule; and an argv read back through
// ParseFlags gives the same argv. Seeds: testdata/fuzz/FuzzArgv.
func FuzzArgv(f *testing.F) {
	f.Add([]byte(`{"file": "syslog", "filter": "error", "max": 20, "json": true}`))
	f.Add([]byte(`{"target": "a", "hosts": ["b"], "ports": [80, 443], "ratio": 0.5, "weights": [1e21]}`))
	f.Add([]byte(`{"at": "2024-01-02T03:04:05Z", "n": 1.5, "ids": ["123e4567-e89b-12d3-a456-426614174000", "-v"]}`))
	tools := []*manifest.Tool{compile(f, "testdata/valid.json"), compile(f, "testdata/probe.json")}
	// Nullable, formatted and constrained parameters, a flag and a
	// positional one.
	more, err := manifest.Parse([]byte(`{"name": "more", "version": "1.0.0", "description": "d", "inputSchema": {"type": "object",
		"properties": {"at": {"type": ["string", "null"], "format": "date-time"}, "n": {"type": "number", "multipleOf": 0.5, "enum": [1, 1.5, 2]},
		"ids": {"type": "array", "items": {"type": "string", "format": "uuid", "pattern": "^[0-9a-f-]+$"}, "uniqueItems": true, "maxItems": 3}}},
		"args": {"positional": ["ids"]}}`))
	if err != nil {
		f.Fatal(err)
	}
	moreTool, err := more.Compile()
	if err != nil {
		f.Fatal(err)
	}
	tools = append(tools, moreTool)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, useNumber := range []bool{false, true} {
			dec := json.NewDecoder(bytes.NewReader(data))
			if useNumber {
				dec.UseNumber()
			}
			var args map[string]any
			if dec.Decode(&args) != nil {
				return
			}
			for _, tool := range tools {
				verr := tool.Validate(args)
				argv, err := tool.Argv(args)
				if err != nil {
					checkError(t, manifest.ErrArgs, err, "")
					if verr == nil && !strings.Contains(err.Error(), "positional arguments fill") &&
						!strings.Contains(err.Error(), "the command line would be") {
						t.Fatalf("Validate succeeded but Argv: %v", err)
					}
					continue
				}
				if verr != nil {
					t.Fatalf("Argv succeeded but Validate: %v", verr)
				}
				for _, a := range argv {
					if strings.IndexByte(a, 0) >= 0 {
						t.Fatalf("argv %q holds a NUL byte", argv)
					}
				}
				back, err := tool.ParseFlags(parseArgv(t, tool, argv))
				if err != nil {
					t.Fatalf("ParseFlags(%q): %v", argv, err)
				}
				again, err := tool.Argv(back)
				if err != nil {
					t.Fatalf("Argv(ParseFlags(%q)): %v", argv, err)
				}
				if !reflect.DeepEqual(again, argv) {
					t.Fatalf("round trip mismatch (-want +got):\n-%q\n+%q", argv, again)
				}
			}
		}
	})
}
