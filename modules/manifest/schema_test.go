package manifest_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// withSchema is a manifest whose input schema is s.
func withSchema(s string) []byte {
	return []byte(`{"name": "t", "version": "1.0.0", "description": "d", "inputSchema": ` + s + `}`)
}

// TestCompile_schemaErrors covers what compile checks itself, since the
// library checks no keyword's value and resolves references its own way:
// each schema must be refused with an error that wraps ErrInvalid, fits
// on one line and contains the key.
func TestCompile_schemaErrors(t *testing.T) {
	tests := []struct {
		want   string
		schema string
	}{
		// Drafts the library does not validate are refused, not validated
		// by the rules of another.
		{`$schema "http://json-schema.org/draft-04/schema#": only JSON Schema draft 2020-12 and draft-07 are supported`,
			`{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}`},
		{`only JSON Schema draft 2020-12 and draft-07 are supported`,
			`{"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object"}`},
		{`at /properties/a/$schema: $schema is only allowed at the top level`,
			`{"type": "object", "properties": {"a": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string"}}}`},
		{`at /$schema: want a string`, `{"$schema": 7, "type": "object"}`},

		// Identifiers and anchors.
		{`at /properties/a/$id: $id is only supported at the top level`,
			`{"type": "object", "properties": {"a": {"$id": "https://example.com/a", "type": "string"}}}`},
		{`at /$id: "https://example.com/t#x": an $id must not have a fragment`,
			`{"$id": "https://example.com/t#x", "type": "object"}`},
		{`at /$defs/b/$anchor: anchor "x" is defined twice`,
			`{"type": "object", "$defs": {"a": {"$anchor": "x"}, "b": {"$anchor": "x"}}}`},
		{`at /$defs/a/$anchor: "1x" is not an anchor name`, `{"type": "object", "$defs": {"a": {"$anchor": "1x"}}}`},
		{`at /properties/a: $ref "#nope" does not refer to a schema in the manifest`,
			`{"type": "object", "properties": {"a": {"$ref": "#nope"}}}`},
		{`at /properties/a: $ref "#/properties/a/type" does not refer to a schema in the manifest`,
			`{"type": "object", "properties": {"a": {"type": "string", "$ref": "#/properties/a/type"}}}`},
		{`at /properties/a/$ref: "%zz" is not a URI reference`, `{"type": "object", "properties": {"a": {"$ref": "%zz"}}}`},
		{`reference to "https://example.com/other.json" leaves the manifest`,
			`{"$id": "https://example.com/t.json", "type": "object", "properties": {"a": {"$ref": "other.json"}}}`},

		// A cycle of references that never descends into a member: the
		// library would follow it until the stack overflows.
		{`inputSchema: at #/$defs/a: the schema refers to itself without descending`,
			`{"type": "object", "properties": {"a": {"type": "string", "allOf": [{"$ref": "#/$defs/a"}]}},
			 "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}}}`},
		{`inputSchema: at #/$defs/b: the schema refers to itself without descending`,
			`{"type": "object", "if": {"$ref": "#/$defs/b"}, "$defs": {"b": {"then": {"$ref": "#/$defs/b"}}}}`},

		// Keywords the manifest does not take.
		{`at /$vocabulary: $vocabulary is not supported`, `{"type": "object", "$vocabulary": {}}`},
		{`at /dependencies: dependencies is draft-07: in draft 2020-12 write dependentRequired or dependentSchemas`,
			`{"type": "object", "dependencies": {"a": ["b"]}}`},
		{`at the top level: both $defs and definitions: keep one`, `{"type": "object", "$defs": {}, "definitions": {}}`},

		// Values the draft's meta-schema refuses.
		{`not a valid JSON Schema: at /properties/a/type: "text" is not a type`, `{"type": "object", "properties": {"a": {"type": "text"}}}`},
		{`at /properties/a/type: want a type name or an array of unique type names`,
			`{"type": "object", "properties": {"a": {"type": ["string", "string"]}}}`},
		{`at /properties/a/type: want at least one type`, `{"type": "object", "properties": {"a": {"type": []}}}`},
		{`not a valid JSON Schema: at /required: "a" is listed twice`,
			`{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "a"]}`},
		{`at /required: want an array of strings`, `{"type": "object", "required": "a"}`},
		{`at /properties/a/minLength: want a non-negative integer`, `{"type": "object", "properties": {"a": {"type": "string", "minLength": -1}}}`},
		{`at /properties/a/maxLength: want a non-negative integer`, `{"type": "object", "properties": {"a": {"type": "string", "maxLength": 1.5}}}`},
		{`at /properties/a/multipleOf: want a number more than 0`, `{"type": "object", "properties": {"a": {"type": "integer", "multipleOf": 0}}}`},
		{`at /properties/a/maximum: 1e999 is out of range`, `{"type": "object", "properties": {"a": {"type": "integer", "maximum": 1e999}}}`},
		{`at /allOf: want a non-empty array of schemas`, `{"type": "object", "allOf": []}`},
		{`at /anyOf/1: want a schema: an object or a boolean`, `{"type": "object", "anyOf": [{}, 5]}`},
		{`at /properties/a/items: want a schema: an object or a boolean`,
			`{"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}`},
		{`at /properties/a/enum: want an array`, `{"type": "object", "properties": {"a": {"type": "string", "enum": "x"}}}`},
		{`at /properties/a/uniqueItems: want a boolean`, `{"type": "object", "properties": {"a": {"type": "array", "uniqueItems": "yes"}}}`},
		{`at /properties/a/description: want a string`, `{"type": "object", "properties": {"a": {"type": "string", "description": 5}}}`},
		{`at /patternProperties: "(" is not a valid regular expression: missing closing )`,
			`{"type": "object", "patternProperties": {"(": {}}}`},
		{`at /dependentRequired/a: want an array of strings`, `{"type": "object", "dependentRequired": {"a": "b"}}`},
		{`at /properties/a/not: want a schema`, `{"type": "object", "properties": {"a": {"type": "string", "not": null}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			m, err := manifest.Parse(withSchema(tt.schema))
			if err == nil {
				_, err = m.Compile()
			}
			if err == nil {
				t.Fatalf("Parse and Compile succeeded, want an error containing %q", tt.want)
			}
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			} else if strings.ContainsAny(msg, "\r\n") || len(msg) > 400 {
				t.Errorf("error is not one short line: %q", msg)
			}
		})
	}
}

// TestCompile_schemaAccepts covers references, drafts and keywords that
// compile reads differently from the library's own decoding, and the
// parameters they give.
func TestCompile_schemaAccepts(t *testing.T) {
	str := []manifest.Param{{Name: "a", Type: "string", Position: -1}}
	tests := []struct {
		name   string
		schema string
		want   []manifest.Param
	}{
		{"$ref to an $anchor", `{"type": "object", "properties": {"a": {"$ref": "#s"}}, "$defs": {"s": {"$anchor": "s", "type": "string"}}}`, str},
		{"$ref to a $dynamicAnchor, lexically", `{"type": "object", "properties": {"a": {"$ref": "#s"}}, "$defs": {"s": {"$dynamicAnchor": "s", "type": "string"}}}`, str},
		{"$ref through an escaped pointer", `{"type": "object", "properties": {"a": {"$ref": "#/$defs/a~1b%25"}}, "$defs": {"a/b%": {"type": "string"}}}`, str},
		{"$ref to the document by name", `{"type": "object", "properties": {"a": {"$ref": "inputSchema.json#/$defs/s"}}, "$defs": {"s": {"type": "string"}}}`, str},
		{"$ref against the root $id", `{"$id": "https://example.com/t.json", "type": "object",
			"properties": {"a": {"$ref": "t.json#/$defs/s"}}, "$defs": {"s": {"type": "string"}}}`, str},
		{"draft-07 $id anchor", `{"$schema": "http://json-schema.org/draft-07/schema", "type": "object",
			"properties": {"a": {"$ref": "#s"}}, "definitions": {"s": {"$id": "#s", "type": "string"}}}`, str},
		{"draft-07 $ref hides its siblings", `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
			"properties": {"a": {"$ref": "#/definitions/s", "type": "integer"}}, "definitions": {"s": {"type": "string"}}}`, str},
		{"draft-07 $ref at the top hides the properties", `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
			"$ref": "#/definitions/args", "properties": {"a": {"type": "string"}}, "definitions": {"args": {"type": "object"}}}`, nil},
		{"2020-12 $schema with an empty fragment", `{"$schema": "https://json-schema.org/draft/2020-12/schema#", "type": "object", "properties": {"a": {"type": "string"}}}`, str},
		// Keywords are case-sensitive: the library's own decoding would
		// take "Properties" for "properties".
		{"keywords match exactly", `{"type": "object", "properties": {"a": {"type": "string"}}, "Properties": {"-rf": {"type": "boolean"}}, "MinLength": "x"}`, str},
		{"unknown keywords are annotations", `{"type": "object", "properties": {"a": {"type": "string", "x-order": 1, "$recursiveRef": "#"}}}`, str},
		{"keywords of the other draft are ignored", `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
			"properties": {"a": {"type": "string", "prefixItems": 5, "$anchor": 7}}}`, str},
		{"recursion through an unused $defs cycle", `{"type": "object", "properties": {"a": {"type": "string"}},
			"$defs": {"x": {"$ref": "#/$defs/y"}, "y": {"$ref": "#/$defs/x"}}}`, str},
		{"large bounds", `{"type": "object", "properties": {"a": {"type": "string", "maxLength": 1e30}}}`, str},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := manifest.Parse(withSchema(tt.schema))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tool, err := m.Compile()
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := tool.Params(); !reflect.DeepEqual(got, tt.want) && (len(got) != 0 || len(tt.want) != 0) {
				t.Errorf("Params() mismatch (-want +got):\n-%+v\n+%+v", tt.want, got)
			}
		})
	}
}

// TestTool_Validate_keywords checks, keyword by keyword, that the library
// and the explanation agree: each set of arguments is refused with a
// message that names the argument and the keyword's reason.
func TestTool_Validate_keywords(t *testing.T) {
	tool := compile(t, "testdata/keywords.json")
	ok := []string{
		`{}`,
		`{"mode": "slow", "n": 10, "id": "abc", "one": 20, "no": "ok", "tags": ["main", "x"], "level": 2, "k": "x"}`,
		`{"id": "123", "one": -1, "pair": [1, -5]}`,
	}
	for _, a := range ok {
		for _, useNumber := range []bool{false, true} {
			if err := tool.Validate(args(t, a, useNumber)); err != nil {
				t.Errorf("Validate(%s): %v", a, err)
			}
		}
	}
	tests := []struct {
		want string
		args string
	}{
		{`--mode: must be one of fast, slow; got "turbo"`, `{"mode": "turbo"}`},
		{"--n: must be a multiple of 5, got 7", `{"n": 7}`},
		{`--id: "A-1" does not match the pattern "^[0-9]+$"`, `{"id": "A-1"}`},
		{"--one: matches more than one of the oneOf schemas (0 and 1)", `{"one": 5}`},
		{`--no: matches the schema under "not"`, `{"no": "root"}`},
		{"--no: must have at most 4 characters, got 7", `{"no": "toolong"}`},
		{`--tags: no item matches the schema under "contains"`, `{"tags": ["a"]}`},
		{`--tags: want at most 1 items that match "contains", got 2`, `{"tags": ["main", "main"]}`},
		{"--pair: item 0: must be at least 1, got 0", `{"pair": [0]}`},
		{"--pair: item 1: expected integer, got string", `{"pair": [1, "x"]}`},
		{"--pair: want at most 2 items, got 3", `{"pair": [1, 2, 3]}`},
		{"--n: required but not given", `{"mode": "slow"}`},
		{"--level: must be at most 3, got 5", `{"level": 5}`},
		{"--level: must be at least 0, got -1", `{"level": -1}`},
		{`--k: must be "x"; got "y"`, `{"k": "y"}`},
		{"arguments: want at most 8 arguments, got 9",
			`{"mode": "fast", "n": 10, "id": "abc", "one": 20, "no": "ok", "tags": ["main"], "pair": [1], "level": 2, "k": "x"}`},
	}
	for _, tt := range tests {
		for _, useNumber := range []bool{false, true} {
			t.Run(tt.want, func(t *testing.T) {
				err := tool.Validate(args(t, tt.args, useNumber))
				if err == nil {
					t.Fatalf("Validate(%s) succeeded, want an error containing %q", tt.args, tt.want)
				}
				checkArgsError(t, err, tt.want)
			})
		}
	}
}

// TestTool_Validate_draft07 checks what draft-07 keeps from before: format
// is asserted (the library ignores it, so the explainer checks it), $ref
// hides its siblings, dependencies, and no 2019+ keyword applies.
func TestTool_Validate_draft07(t *testing.T) {
	tool := compile(t, "testdata/draft07.json")
	want := []manifest.Param{
		{Name: "a", Type: "string", Position: -1},
		{Name: "b", Type: "string", Position: -1},
		{Name: "c", Type: "string", Position: -1},
		{Name: "d", Type: "string", Position: -1},
		{Name: "host", Type: "string", Position: -1},
		{Name: "id", Type: "string", Position: -1},
		{Name: "ips", Type: "array", ItemType: "string", Position: -1},
		{Name: "when", Type: "string", Position: -1},
	}
	if got := tool.Params(); !reflect.DeepEqual(got, want) {
		t.Errorf("Params() mismatch (-want +got):\n-%+v\n+%+v", want, got)
	}
	ok := `{"when": "2016-12-31T23:59:60Z", "host": "example.com", "ips": ["10.0.0.1"], "a": "x1", "b": "z", "c": "ab", "d": "cd",
		"id": "123e4567-e89b-12d3-a456-426614174000"}`
	for _, useNumber := range []bool{false, true} {
		if err := tool.Validate(args(t, ok, useNumber)); err != nil {
			t.Errorf("Validate(%s): %v", ok, err)
		}
	}
	if err := tool.Validate(map[string]any{"id": "none"}); err != nil {
		t.Errorf("Validate(id none): %v", err)
	}
	tests := []struct {
		want string
		args string
	}{
		{`--when: "2024-02-30T00:00:00Z" is not a valid date-time: want YYYY-MM-DD`, `{"when": "2024-02-30T00:00:00Z"}`},
		{`--when: "2024-01-01T12:00:60Z" is not a valid date-time: a leap second only at 23:59:60 UTC`, `{"when": "2024-01-01T12:00:60Z"}`},
		{`--host: "-bad" is not a valid hostname`, `{"host": "-bad"}`},
		{`--ips: item 1: "1.2.3.256" is not a valid ipv4`, `{"ips": ["1.2.3.4", "1.2.3.256"]}`},
		// Either branch of anyOf fails; the library, which ignores format,
		// would take the first.
		{`--id: "x" is not a valid uuid: want five groups`, `{"id": "x"}`},
		{`--b: required when --a is given`, `{"a": "x"}`},
		{`--a: "q" does not match the pattern "^x"`, `{"b": "y", "a": "q"}`},
		{`--c: must have at least 2 characters, got 1`, `{"c": "1"}`},
		{`--c: expected string, got number`, `{"c": 12}`},
		{`--d: must have at least 2 characters, got 1`, `{"d": "1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			err := tool.Validate(args(t, tt.args, true))
			if err == nil {
				t.Fatalf("Validate(%s) succeeded, want an error containing %q", tt.args, tt.want)
			}
			checkArgsError(t, err, tt.want)
		})
	}

	// Draft 2020-12 makes format an annotation.
	data := withSchema(`{"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}}}`)
	m, err := manifest.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	later, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := later.Validate(map[string]any{"when": "yesterday"}); err != nil {
		t.Errorf("2020-12 asserted format: %v", err)
	}
}
