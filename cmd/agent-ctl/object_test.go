package main

import (
	"testing"
)

// TestTools_objectParam: a parameter is a flag, which holds a scalar or
// repeats for an array: an object-typed parameter is refused at install,
// with the parameter and why named.
func TestTools_objectParam(t *testing.T) {
	home := t.TempDir()
	dir := toolDir(t, `{"name": "greet", "version": "1.0.0", "description": "greets an object",
	"inputSchema": {"type": "object", "properties": {"who": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}}},
	"args": {"positional": ["who"]}}`, fixture(t, "hello.wasm"))
	code, out, errs := runIn(t, home, "", "install", dir)
	expect(t, "install", code, out, errs, 126, "", `inputSchema.properties.who: type: "object": want one of string, integer, number, boolean, array`)
}
