package manifest_test

import (
	"os"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// BenchmarkCompile is the cold path of a one-shot CLI call: parse a
// manifest and compile its schemas.
func BenchmarkCompile(b *testing.B) {
	for _, file := range []string{"testdata/valid.json", "testdata/probe.json"} {
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(file[len("testdata/"):], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := manifest.Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Compile(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidate is each call on a compiled tool: arguments that pass,
// and arguments that fail and must be explained.
func BenchmarkValidate(b *testing.B) {
	tool := compile(b, "testdata/probe.json")
	cases := []struct {
		name string
		args string
		ok   bool
	}{
		{"ok", `{"target": "a", "hosts": ["b", "c"], "ports": [22, 80, 443], "ratio": 0.5, "level": "info", "retries": 3, "label": "x", "weights": [1, 2]}`, true},
		{"bad_item", `{"target": "a", "ports": [22, 80, 70000]}`, false},
		{"missing", `{"ports": [22], "level": "trace"}`, false},
	}
	for _, c := range cases {
		a := args(b, c.args, false)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tool.Validate(a); (err == nil) != c.ok {
					b.Fatalf("Validate(%s) = %v", c.args, err)
				}
			}
		})
	}
}
