package manifest

import (
	"reflect"
	"testing"
)

// TestWriteOnly: a parameter is writeOnly when its schema says so; only
// its values are redacted.
func TestWriteOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema string
		want   map[string]any
	}{
		{"own schema", `{"type":"object","properties":{"key":{"type":"string","writeOnly":true},"user":{"type":"string"}}}`,
			map[string]any{"key": Redacted, "user": "u"}},
		{"false", `{"type":"object","properties":{"key":{"type":"string","writeOnly":false},"user":{"type":"string"}}}`,
			map[string]any{"key": "k", "user": "u"}},
		{"array of secrets", `{"type":"object","properties":{"key":{"type":"array","items":{"type":"string"},"writeOnly":true},"user":{"type":"string"}}}`,
			map[string]any{"key": Redacted, "user": "u"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(`{"name":"t","version":"1.0.0","description":"d","module":"t.wasm","inputSchema":` + tc.schema + `}`))
			if err != nil {
				t.Fatal(err)
			}
			tool, err := m.Compile()
			if err != nil {
				t.Fatal(err)
			}
			got := tool.Redact(map[string]any{"key": "k", "user": "u"})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Redact: %v, want %v", got, tc.want)
			}
			if tool.WriteOnly("missing") {
				t.Error("a parameter that does not exist is writeOnly")
			}
		})
	}
}
