package manifest

// Redacted is what logs, the audit log and describe show instead of a
// writeOnly parameter's value.
const Redacted = "[redacted]"

// WriteOnly reports whether the parameter name's schema says
// "writeOnly": true, JSON Schema's annotation for a value never shown back
// (a password, a key): its values are redacted wherever agent-ctl records
// or shows them.
func (t *Tool) WriteOnly(name string) bool {
	for _, p := range t.params {
		if p.Name == name {
			return p.WriteOnly
		}
	}
	return false
}

// Redact returns a copy of args (as given to Validate or Argv) with the
// value of every writeOnly parameter replaced by Redacted.
func (t *Tool) Redact(args map[string]any) map[string]any {
	out := make(map[string]any, len(args))
	for k, v := range args {
		if t.WriteOnly(k) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}
