// Package manifest reads the manifest of a tool: the manifest.json next to
// a module's .wasm file, which names the tool, describes its parameters as
// a JSON Schema (the one MCP tools/list publishes), and says which
// capabilities it asks for and which limits it suggests.
//
// A manifest comes from whoever wrote the module, so it is hostile input:
// Parse reads it strictly and bounds everything (size, nesting, number of
// parameters, the cost of the schema with every $ref expanded) before
// anything expensive looks at it, and Compile never fetches a schema from
// a file or the network. What a manifest asks for is only a suggestion;
// the operator's grant decides.
//
// A compiled Tool turns a call's arguments into the module's argv, from
// JSON (an MCP call) or from command-line strings (ParseFlags):
//
//	m, err := manifest.Parse(data)
//	if err != nil {
//		return err // wraps ErrInvalid: names the field, one line
//	}
//	tool, err := m.Compile()
//	if err != nil {
//		return err
//	}
//	argv, err := tool.Argv(map[string]any{"file": "syslog", "max": 20})
//	if err != nil {
//		return err // wraps ErrArgs, e.g. "--max: expected integer, got string"
//	}
//
// The schemas are JSON Schema draft 2020-12 (or draft-07 by $schema,
// which means the same for the keywords allowed) and are validated with
// github.com/google/jsonschema-go, the library the MCP go-sdk uses.
// A parameter is a flag, so a manifest may write only the keywords a flag
// can express and the annotations MCP shows (the table in keyword.go,
// listed in docs/modules.md); any other keyword is refused, naming the
// parameter and the keyword. Compile builds the library's schema from
// that table and resolves it once. The library decides whether arguments
// are valid; when it refuses them, the same table's keywords say which
// argument and why in one line ("--port: must be at most 65535, got
// 70000"). "format" is asserted by this package, for the formats a flag's
// value can be checked against.
//
// Each top-level property of the input schema is a parameter (Param): a
// flag --name, or a positional argument when Args.Positional lists it. A
// parameter is a string, integer, number, boolean, or array of strings,
// integers or numbers, so that any valid arguments have exactly one argv.
package manifest
