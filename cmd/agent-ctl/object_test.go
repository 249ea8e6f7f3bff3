package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestTools_objectParam: an object-typed parameter is a JSON-valued
// argument on the command line, checked against its schema, and reaches
// the module as one compact JSON text (the hello fixture prints it).
func TestTools_objectParam(t *testing.T) {
	home := t.TempDir()
	dir := t.TempDir()
	wasm, err := os.ReadFile(fixtures.Path("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "module.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"name": "greet", "version": "1.0.0", "description": "greets an object",
	"inputSchema": {"type": "object", "properties": {"who": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}}},
	"args": {"positional": ["who"]}}`), 0o644)
	code, out, errs := runIn(t, home, "", "install", dir)
	expect(t, "install", code, out, errs, 0, "installed greet", "")
	code, out, errs = runIn(t, home, "", "greet", `{ "k" : "v", "n": 2.50 }`)
	expect(t, "object", code, out, errs, 0, `hello, {"k":"v","n":2.5}`+"\n", "")
	code, out, errs = runIn(t, home, "", "greet", `{"n": 1}`)
	expect(t, "missing inside", code, out, errs, 125, "", "<who>: k: required but not given")
	code, out, errs = runIn(t, home, "", "greet", `k=v`)
	expect(t, "not JSON", code, out, errs, 125, "", "expected a JSON object")
}
