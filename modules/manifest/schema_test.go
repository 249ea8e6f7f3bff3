package manifest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// withSchema is a manifest whose input schema is s.
func withSchema(s string) []byte {
	return []byte(`{"name": "t", "version": "1.0.0", "description": "d", "inputSchema": ` + s + `}`)
}

// withParam is a manifest with one parameter "p" of schema s.
func withParam(s string) []byte {
	return withSchema(`{"type": "object", "properties": {"p": ` + s + `}}`)
}

func compileData(t testing.TB, data []byte) (*manifest.Tool, error) {
	t.Helper()
	m, err := manifest.Parse(data)
	if err != nil {
		return nil, err
	}
	return m.Compile()
}

func mustCompile(t testing.TB, data []byte) *manifest.Tool {
	t.Helper()
	tool, err := compileData(t, data)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tool
}

// TestKeywords_accepted: every keyword a parameter may write, with an
// argument it accepts and one it refuses, and the one-line reason, which
// names the flag.
func TestKeywords_accepted(t *testing.T) {
	tests := []struct {
		keyword, schema string
		ok              string // JSON of an argument the schema accepts
		bad             string // JSON of one it refuses
		want            string // the reason, after "--p: "
	}{
		{"type", `{"type": "integer"}`, `3`, `"3"`, "expected integer, got string"},
		{"type null", `{"type": ["string", "null"]}`, `null`, `3`, "expected string, got number"},
		{"enum", `{"type": "string", "enum": ["GET", "HEAD"]}`, `"HEAD"`, `"PUT"`, `must be one of "GET", "HEAD", got "PUT"`},
		{"enum numbers", `{"type": "number", "enum": [1, 2.5]}`, `1.0`, `2`, `must be one of 1, 2.5, got 2`},
		{"const", `{"type": "string", "const": "x"}`, `"x"`, `"y"`, `must be "x", got "y"`},
		{"minimum", `{"type": "integer", "minimum": 1}`, `1`, `0`, "must be at least 1, got 0"},
		{"maximum", `{"type": "integer", "maximum": 65535}`, `65535`, `65536`, "must be at most 65535, got 65536"},
		{"exclusiveMinimum", `{"type": "number", "exclusiveMinimum": 0}`, `0.5`, `0`, "must be more than 0, got 0"},
		{"exclusiveMaximum", `{"type": "number", "exclusiveMaximum": 1}`, `0.5`, `1`, "must be less than 1, got 1"},
		{"multipleOf", `{"type": "integer", "multipleOf": 5}`, `10`, `12`, "must be a multiple of 5, got 12"},
		{"minLength", `{"type": "string", "minLength": 2}`, `"ab"`, `"a"`, "must have at least 2 characters, got 1"},
		{"maxLength", `{"type": "string", "maxLength": 2}`, `"éé"`, `"abc"`, "must have at most 2 characters, got 3"},
		{"pattern", `{"type": "string", "pattern": "^[a-z]+$"}`, `"abc"`, `"aB"`, `must match the pattern "^[a-z]+$", got "aB"`},
		{"format", `{"type": "string", "format": "ipv4"}`, `"192.0.2.1"`, `"01.2.3.4"`, `must be an IPv4 address such as 192.0.2.1, got "01.2.3.4"`},
		{"items", `{"type": "array", "items": {"type": "integer", "maximum": 9}}`, `[1, 9]`, `[1, 10]`, "item 1: must be at most 9, got 10"},
		{"items format", `{"type": "array", "items": {"type": "string", "format": "uuid"}}`, `["123e4567-e89b-12d3-a456-426614174000"]`, `["x"]`, `item 0: must be a UUID`},
		{"minItems", `{"type": "array", "items": {"type": "string"}, "minItems": 1}`, `["a"]`, `[]`, "must have at least 1 items, got 0"},
		{"maxItems", `{"type": "array", "items": {"type": "string"}, "maxItems": 1}`, `["a"]`, `["a", "b"]`, "must have at most 1 items, got 2"},
		{"uniqueItems", `{"type": "array", "items": {"type": "number"}, "uniqueItems": true}`, `[1, 2]`, `[1, 2, 1.0]`, "items 0 and 2 are the same"},
		// Annotations refuse nothing; the argument is refused by type.
		{"title", `{"type": "string", "title": "P"}`, `"x"`, `1`, "expected string, got number"},
		{"description", `{"type": "string", "description": "d"}`, `"x"`, `1`, "expected string, got number"},
		{"default", `{"type": "integer", "default": 3}`, `4`, `"x"`, "expected integer, got string"},
		{"examples", `{"type": "integer", "examples": [3, 4]}`, `4`, `"x"`, "expected integer, got string"},
		{"writeOnly", `{"type": "string", "writeOnly": true}`, `"s3cret"`, `1`, "expected string, got number"},
		{"readOnly", `{"type": "string", "readOnly": true}`, `"x"`, `1`, "expected string, got number"},
		{"deprecated", `{"type": "string", "deprecated": true}`, `"x"`, `1`, "expected string, got number"},
		{"$comment", `{"type": "string", "$comment": "c"}`, `"x"`, `1`, "expected string, got number"},
	}
	for _, tt := range tests {
		t.Run(tt.keyword, func(t *testing.T) {
			tool := mustCompile(t, withParam(tt.schema))
			for _, useNumber := range []bool{false, true} {
				if err := tool.Validate(args(t, `{"p": `+tt.ok+`}`, useNumber)); err != nil {
					t.Errorf("Validate(%s): %v", tt.ok, err)
				}
				err := tool.Validate(args(t, `{"p": `+tt.bad+`}`, useNumber))
				if err == nil {
					t.Fatalf("Validate(%s) succeeded", tt.bad)
				}
				checkError(t, manifest.ErrArgs, err, "invalid arguments: --p: "+tt.want)
			}
		})
	}
}

// TestKeywords_root: the keywords of the top level.
func TestKeywords_root(t *testing.T) {
	tool := mustCompile(t, withSchema(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "$comment": "c",
		"title": "T", "description": "D", "type": "object", "properties": {"a": {"type": "string"}},
		"required": ["a"], "additionalProperties": false}`))
	checkError(t, manifest.ErrArgs, tool.Validate(map[string]any{}), "--a: required but not given")
	checkError(t, manifest.ErrArgs, tool.Validate(map[string]any{"a": "x", "b": "y"}), "--b: unknown argument")
	if err := tool.Validate(map[string]any{"a": "x"}); err != nil {
		t.Error(err)
	}
	// draft-07 means the same for these keywords.
	mustCompile(t, withSchema(`{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
		"properties": {"a": {"type": "integer", "exclusiveMinimum": 0}}}`))
}

// notKeywords are JSON Schema keywords (2020-12 and draft-07) that no
// parameter may write: none is something a flag expresses.
var notKeywords = []string{
	"$id", "$ref", "$defs", "definitions", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$vocabulary",
	"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies",
	"prefixItems", "additionalItems", "unevaluatedItems", "unevaluatedProperties", "contains", "minContains", "maxContains",
	"properties", "patternProperties", "additionalProperties", "propertyNames", "required", "minProperties", "maxProperties",
	"contentEncoding", "contentMediaType", "contentSchema", "$schema", "nullable", "Maximum", "MAXLENGTH", "x-extra",
}

// TestKeywords_refused: every other keyword is refused, on a parameter, on
// its items and at the top level, with the parameter and keyword named;
// keys match exactly, so "Maximum" is not "maximum".
func TestKeywords_refused(t *testing.T) {
	for _, k := range notKeywords {
		t.Run(k, func(t *testing.T) {
			v := `{}`
			_, err := compileData(t, withParam(fmt.Sprintf(`{"type": "string", %q: %s}`, k, v)))
			checkError(t, manifest.ErrInvalid, err, fmt.Sprintf(`inputSchema.properties.p: keyword %q is not supported on a parameter`, k))
			_, err = compileData(t, withParam(fmt.Sprintf(`{"type": "array", "items": {"type": "string", %q: %s}}`, k, v)))
			checkError(t, manifest.ErrInvalid, err, fmt.Sprintf(`inputSchema.properties.p.items: keyword %q is not supported`, k))
			if k == "$schema" || k == "properties" || k == "required" || k == "additionalProperties" {
				return
			}
			_, err = compileData(t, withSchema(fmt.Sprintf(`{"type": "object", %q: %s}`, k, v)))
			checkError(t, manifest.ErrInvalid, err, fmt.Sprintf(`inputSchema: keyword %q is not supported at the top level`, k))
		})
	}
}

// TestKeywords_invalid: a keyword a parameter may write, with a value the
// keyword does not take or on a type it does not apply to.
func TestKeywords_invalid(t *testing.T) {
	tests := []struct{ want, schema string }{
		{`inputSchema.properties.p: type: "object": want one of string, integer, number, boolean, array`, `{"type": "object"}`},
		{`inputSchema.properties.p: type: want one of`, `{"type": ["string", "integer"]}`},
		{`inputSchema.properties.p: no "type"`, `{"description": "d"}`},
		{`inputSchema.properties.p: no "type"`, `{"type": ["null"]}`},
		{`inputSchema.properties.p.items: type: "array": want one of string, integer, number`, `{"type": "array", "items": {"type": "array"}}`},
		{`inputSchema.properties.p: an array needs "items"`, `{"type": "array"}`},
		{`inputSchema.properties.p: items: want one schema`, `{"type": "array", "items": [{"type": "string"}]}`},
		{`inputSchema.properties.p: keyword "maxLength" applies to string, not integer`, `{"type": "integer", "maxLength": 3}`},
		{`inputSchema.properties.p: keyword "minimum" applies to integer or number, not string`, `{"type": "string", "minimum": 3}`},
		{`inputSchema.properties.p: keyword "items" applies to array, not string`, `{"type": "string", "items": {"type": "string"}}`},
		{`inputSchema.properties.p.items: keyword "maxItems" is not supported on the items`, `{"type": "array", "items": {"type": "string", "maxItems": 1}}`},
		{`inputSchema.properties.p: maximum: want a number`, `{"type": "integer", "maximum": "9"}`},
		{`inputSchema.properties.p: multipleOf: want a number more than 0`, `{"type": "integer", "multipleOf": 0}`},
		{`inputSchema.properties.p: maxLength: want a non-negative integer`, `{"type": "string", "maxLength": 1.5}`},
		{`inputSchema.properties.p: minLength: want a non-negative integer`, `{"type": "string", "minLength": -1}`},
		{`inputSchema.properties.p: pattern: "(" is not a valid regular expression: missing closing )`, `{"type": "string", "pattern": "("}`},
		{`inputSchema.properties.p: format: "regex" is not a format a flag can check`, `{"type": "string", "format": "regex"}`},
		{`inputSchema.properties.p: enum: want a non-empty array`, `{"type": "string", "enum": []}`},
		{`inputSchema.properties.p: enum: want scalars`, `{"type": "string", "enum": [["a"]]}`},
		{`inputSchema.properties.p: const: want scalars`, `{"type": "string", "const": {"a": 1}}`},
		{`inputSchema.properties.p: writeOnly: want a boolean`, `{"type": "string", "writeOnly": "yes"}`},
		{`inputSchema.properties.p: examples: want an array`, `{"type": "string", "examples": "x"}`},
		{`inputSchema.properties.p: description: want a string`, `{"type": "string", "description": 5}`},
		{`inputSchema.properties.p: default: must be at most 3, got 4`, `{"type": "integer", "maximum": 3, "default": 4}`},
		{`inputSchema.properties.p: default: expected integer, got string`, `{"type": "integer", "default": "4"}`},
		{`inputSchema.properties.p: a boolean defaulting to true`, `{"type": "boolean", "default": true}`},
		{`inputSchema.properties.p: description: control character U+001B`, `{"type": "string", "description": "\u001b[2J"}`},
		{`inputSchema.properties.p: enum[0]: control character U+202E`, `{"type": "string", "enum": ["\u202e"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := compileData(t, withParam(tt.schema))
			checkError(t, manifest.ErrInvalid, err, tt.want)
		})
	}
	for _, tt := range []struct{ want, schema string }{
		{`inputSchema: $schema: "http://json-schema.org/draft-04/schema#": want JSON Schema draft 2020-12 or draft-07`,
			`{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}`},
		{`inputSchema: $schema: "https://example.com/s": want JSON Schema`, `{"$schema": "https://example.com/s", "type": "object"}`},
		{`inputSchema: additionalProperties: want a boolean`, `{"type": "object", "additionalProperties": {"type": "string"}}`},
		{`inputSchema.required: "x" is not a property`, `{"type": "object", "required": ["x"]}`},
		{`inputSchema: required: "a" is listed twice`, `{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "a"]}`},
	} {
		t.Run(tt.want, func(t *testing.T) {
			_, err := compileData(t, withSchema(tt.schema))
			checkError(t, manifest.ErrInvalid, err, tt.want)
		})
	}
}

// TestParam_annotations: what a parameter's annotations become; writeOnly
// is what the audit log redacts by.
func TestParam_annotations(t *testing.T) {
	tool := mustCompile(t, withSchema(`{"type": "object", "properties": {
		"token": {"type": "string", "writeOnly": true, "title": "Token", "deprecated": true},
		"at": {"type": "string", "format": "date-time"},
		"ips": {"type": "array", "items": {"type": "string", "format": "ipv6"}},
		"n": {"type": "integer"}}}`))
	got := map[string]manifest.Param{}
	for _, p := range tool.Params() {
		got[p.Name] = p
	}
	if p := got["token"]; !p.WriteOnly || !p.Deprecated || p.Title != "Token" {
		t.Errorf("token: %+v, want WriteOnly, Deprecated, Title Token", p)
	}
	if p := got["n"]; p.WriteOnly || p.Deprecated || p.Format != "" {
		t.Errorf("n: %+v, want no annotations", p)
	}
	if got["at"].Format != "date-time" || got["ips"].Format != "ipv6" {
		t.Errorf("formats: at %q, ips %q", got["at"].Format, got["ips"].Format)
	}
}

// TestFormats: each format a parameter may assert, with values it takes
// and refuses. The library does not assert "format": these are ours.
func TestFormats(t *testing.T) {
	tests := []struct {
		format   string
		ok, fail []string
	}{
		{"date-time", []string{`2024-02-29T12:00:00Z`, `2024-02-29t12:00:00.5-05:30`}, []string{`2024-02-29 12:00:00Z`, `2024-02-30T12:00:00Z`, `yesterday`}},
		{"date", []string{`2024-02-29`}, []string{`2023-02-29`, `2024-1-1`, `2024-01-01T00:00:00Z`}},
		{"time", []string{`23:59:59Z`, `12:00:00.123+02:00`}, []string{`12:00:00`, `24:00:00Z`, `12:00`}},
		{"email", []string{`joe@example.com`}, []string{`joe`, `Joe <joe@example.com>`, `@example.com`}},
		{"hostname", []string{`example.com`, `a-b.example.com.`, `localhost`}, []string{`-a.com`, `a..com`, `a_b.com`, ``, strings.Repeat("a.", 130)}},
		{"ipv4", []string{`0.0.0.0`, `192.168.1.255`}, []string{`1.2.3`, `1.2.3.256`, `01.2.3.4`, `::1`}},
		{"ipv6", []string{`::1`, `2001:db8::8a2e:370:7334`}, []string{`1.2.3.4`, `fe80::1%eth0`, `2001:db8:::1`}},
		{"uri", []string{`https://example.com/a?b#c`, `urn:isbn:0451450523`}, []string{`/relative`, `https://exa mple.com`, "https://e.com/\u00e4"}},
		{"uuid", []string{`123e4567-e89b-12d3-a456-426614174000`, `ABCDEF00-0000-0000-0000-000000000000`}, []string{`123e4567e89b12d3a456426614174000`, `123e4567-e89b-12d3-a456-42661417400g`}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			tool := mustCompile(t, withParam(`{"type": "string", "format": "`+tt.format+`"}`))
			for _, s := range tt.ok {
				if err := tool.Validate(map[string]any{"p": s}); err != nil {
					t.Errorf("%q: %v", s, err)
				}
			}
			for _, s := range tt.fail {
				checkError(t, manifest.ErrArgs, tool.Validate(map[string]any{"p": s}), "--p: must be ")
			}
		})
	}
}

// TestCompile_hostile: manifests built to make compiling or validating
// expensive are refused, or bounded.
func TestCompile_hostile(t *testing.T) {
	enum := func(n int) string {
		vs := make([]string, n)
		for i := range vs {
			vs[i] = fmt.Sprintf(`"v%d"`, i)
		}
		return `{"type": "string", "enum": [` + strings.Join(vs, ",") + `]}`
	}
	many := func(n int, schema string) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = fmt.Sprintf(`"p%d": %s`, i, schema)
		}
		return `{"type": "object", "properties": {` + strings.Join(ps, ",") + `}}`
	}
	tests := []struct{ want, schema string }{
		{"enum: 1025 values, more than the 1024 allowed", `{"type": "object", "properties": {"p": ` + enum(1025) + `}}`},
		{"more than 16384 instructions", many(64, `{"type": "string", "pattern": "^[a-z]{0,300}$"}`)},
		{"invalid repeat count", `{"type": "object", "properties": {"p": {"type": "string", "pattern": "a{1001}"}}}`},
		{"invalid repeat count", `{"type": "object", "properties": {"p": {"type": "string", "pattern": "((a{100}){100}){100}"}}}`},
		{"more than 16384 instructions", `{"type": "object", "properties": {"p": {"type": "string", "pattern": "` + strings.Repeat("a{1000}", 17) + `"}}}`},
		{"257 properties, more than the 256 allowed", many(257, `{"type": "string"}`)},
		{"JSON nested deeper than 64", `{"type": "object", "properties": {"p": {"type": "string", "examples": ` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := compileData(t, withSchema(tt.schema))
			checkError(t, manifest.ErrInvalid, err, tt.want)
		})
	}

	// At the bounds: compiles, and a refused argument is explained.
	tool := mustCompile(t, withSchema(`{"type": "object", "properties": {"p": `+enum(1024)+`}}`))
	checkError(t, manifest.ErrArgs, tool.Validate(map[string]any{"p": "x"}), `--p: must be one of "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", …, got "x"`)
}

// TestOutputSchema: the output schema may nest objects and arrays, and is
// held to the same table otherwise.
func TestOutputSchema(t *testing.T) {
	out := func(s string) []byte {
		return []byte(`{"name": "t", "version": "1.0.0", "description": "d", "inputSchema": {"type": "object"}, "outputSchema": ` + s + `}`)
	}
	tool := mustCompile(t, out(`{"type": "object", "properties": {"open": {"type": "array", "items": {"type": "object",
		"properties": {"port": {"type": "integer", "maximum": 65535}}, "required": ["port"], "additionalProperties": false}}},
		"required": ["open"]}`))
	if err := tool.Manifest().ValidateOutput([]byte(`{"open": [{"port": 22}]}`)); err != nil {
		t.Error(err)
	}
	if err := tool.Manifest().ValidateOutput([]byte(`{"open": [{"port": 70000}]}`)); !errors.Is(err, manifest.ErrOutput) {
		t.Errorf("ValidateOutput: %v, want ErrOutput", err)
	}
	for _, k := range []string{"$ref", "allOf", "anyOf", "if", "patternProperties", "$defs"} {
		_, err := compileData(t, out(fmt.Sprintf(`{"type": "object", "properties": {"a": {%q: {}}}}`, k)))
		checkError(t, manifest.ErrInvalid, err, fmt.Sprintf(`outputSchema.properties.a: keyword %q is not supported in outputSchema`, k))
	}
}

// TestTool_Validate_patternCost: a big pattern meets a big argument:
// the argument is refused before validation, by the work it would cost.
func TestTool_Validate_patternCost(t *testing.T) {
	tool := mustCompile(t, withParam(`{"type": "array", "items": {"type": "string", "pattern": "^(a|b|c|d|e)*[a-z]{0,1000}x?$"}}`))
	items := make([]any, manifest.MaxItems)
	for i := range items {
		items[i] = strings.Repeat("a", 200)
	}
	checkError(t, manifest.ErrArgs, tool.Validate(map[string]any{"p": items}), "--p: too large to check against this tool's schema")
	if err := tool.Validate(map[string]any{"p": items[:2]}); err != nil {
		t.Errorf("Validate(2 items): %v", err)
	}
}
