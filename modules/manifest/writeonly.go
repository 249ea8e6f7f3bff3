package manifest

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Redacted is what logs, the audit log and describe show instead of a
// writeOnly parameter's value.
const Redacted = "[redacted]"

// WriteOnly reports whether the schema of the parameter name says
// "writeOnly": true, JSON Schema's annotation for a value never shown back
// (a password, a key): its values are redacted wherever agent-ctl records
// or shows them. The property's own schema or one its $ref leads to may
// say so.
//
// The schema compiler checks the annotation but does not keep it, so it
// is read from the document at each schema's location. (Interim: to fold
// into Param.WriteOnly when the schema code exposes it.)
func (t *Tool) WriteOnly(name string) bool {
	return t.writeOnly(t.inputDoc(), name)
}

// Redact returns a copy of args (as given to Validate or Argv) with the
// value of every writeOnly parameter replaced by Redacted.
func (t *Tool) Redact(args map[string]any) map[string]any {
	doc := t.inputDoc()
	out := make(map[string]any, len(args))
	for k, v := range args {
		if t.writeOnly(doc, k) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// inputDoc is the input schema as decoded JSON.
func (t *Tool) inputDoc() any {
	var doc any
	_ = json.Unmarshal(t.m.InputSchema, &doc)
	return doc
}

func (t *Tool) writeOnly(doc any, name string) bool {
	s := t.input.root.Properties[name]
	for hops := 0; s != nil && hops <= maxRefHops; hops++ {
		ptr, ok := t.input.loc[s]
		if !ok {
			return false
		}
		if m, _ := atPointer(doc, ptr).(map[string]any); m["writeOnly"] == true {
			return true
		}
		s = t.input.ref[s]
	}
	return false
}

// atPointer is the value at the JSON Pointer ptr ("" for doc itself).
func atPointer(doc any, ptr string) any {
	if ptr == "" {
		return doc
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := doc.(type) {
		case map[string]any:
			doc = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			doc = v[i]
		default:
			return nil
		}
	}
	return doc
}
