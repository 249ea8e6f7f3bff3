package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

func compileFile(t testing.TB, file string) *Tool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	tool, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

// FuzzExplain checks that the explainer agrees with the library: it finds
// a violation exactly when the library refuses the arguments (formats
// aside, which only the explainer asserts). Where they disagreed, a
// refusal would be explained by the generic fallback, or an explainer's
// false alarm ignored.
func FuzzExplain(f *testing.F) {
	for _, s := range []string{
		`{"mode": "slow", "n": 10, "id": "abc", "one": 20, "no": "ok", "tags": ["main", "x"], "level": 2, "k": "x"}`,
		`{"id": "A-1", "one": 5, "no": "root", "tags": ["main", "main"], "pair": [0, "x", 3]}`,
		`{"target": "a", "ports": [80, 80], "weights": [1, 2, 3, 4, 5], "ratio": 0, "label": "A"}`,
		`{"when": "2024-02-30T00:00:00Z", "a": "x", "c": 1, "id": "none", "ips": ["1.2.3.4"]}`,
		`{"file": "", "max": 0, "json": true}`,
	} {
		f.Add([]byte(s))
	}
	var tools []*Tool
	for _, file := range []string{"keywords", "probe", "valid", "draft07"} {
		tools = append(tools, compileFile(f, "testdata/"+file+".json"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var args map[string]any
		if dec.Decode(&args) != nil {
			return
		}
		for _, tool := range tools {
			inst := map[string]any{}
			for name, v := range args {
				p := tool.byName[name]
				if p == nil {
					continue
				}
				n, err := normalizeArg(p, v)
				if err != nil {
					continue
				}
				inst[name] = n
			}
			if tool.checkWork(inst) != nil {
				continue
			}
			lerr := tool.input.resolved.Validate(inst)
			msg, found := tool.explain(inst, false)
			if (lerr != nil) != found {
				t.Fatalf("%s: library says %v, explainer %q (found %t) for %v", tool.m.Name, lerr, msg, found, inst)
			}
		}
	})
}

// FuzzExplainSchema is FuzzExplain over arbitrary input schemas too: any
// schema that compiles, any arguments for its parameters.
func FuzzExplainSchema(f *testing.F) {
	for _, file := range []string{"keywords", "probe", "valid", "draft07"} {
		data, err := os.ReadFile("testdata/" + file + ".json")
		if err != nil {
			f.Fatal(err)
		}
		var m struct{ InputSchema json.RawMessage }
		if err := json.Unmarshal(data, &m); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(m.InputSchema), []byte(`{"mode": "slow", "id": "A-1", "tags": ["main"], "target": "a", "ports": [80, 80], "file": "", "a": "x"}`))
	}
	f.Add([]byte(`{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}, "unevaluatedItems": false, "prefixItems": [{"const": 1}]}},
		"unevaluatedProperties": false, "anyOf": [{"properties": {"b": {"type": "string"}}}, {"required": ["a"]}], "propertyNames": {"maxLength": 1}}`),
		[]byte(`{"a": [1, 2], "b": "x"}`))
	f.Add([]byte(`{"type": "object", "properties": {"a": {"type": "string"}}, "patternProperties": {"^b": {"minLength": 2}},
		"additionalProperties": {"not": {}}, "dependentRequired": {"a": ["b"]}, "minProperties": 2}`), []byte(`{"a": "x"}`))
	f.Fuzz(func(t *testing.T, schema, data []byte) {
		m, err := Parse([]byte(`{"name": "t", "version": "1.0.0", "description": "d", "inputSchema": ` + string(schema) + `}`))
		if err != nil {
			return
		}
		tool, err := m.Compile()
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var args map[string]any
		if dec.Decode(&args) != nil {
			return
		}
		inst := map[string]any{}
		for name, v := range args {
			if p := tool.byName[name]; p != nil {
				if n, err := normalizeArg(p, v); err == nil {
					inst[name] = n
				}
			}
		}
		if tool.checkWork(inst) != nil {
			return
		}
		lerr := tool.input.resolved.Validate(inst)
		msg, found := tool.explain(inst, false)
		if (lerr != nil) != found {
			t.Fatalf("library says %v, explainer %q (found %t) for %v", lerr, msg, found, inst)
		}
	})
}
