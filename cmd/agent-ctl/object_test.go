package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestTools_objectParam: a parameter is a flag, which holds a scalar or
// repeats for an array: an object-typed parameter is refused at install,
// with the parameter and why named.
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
	expect(t, "install", code, out, errs, 126, "", `inputSchema.properties.who: type: "object": want one of string, integer, number, boolean, array`)
}
