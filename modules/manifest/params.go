package manifest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// Tool is a compiled manifest: its input schema ready to validate
// arguments, and the parameters derived from it. A Tool is immutable and
// safe for concurrent use.
type Tool struct {
	m *Manifest
	// input is the input schema as the library resolved it, once: every
	// call validates with it.
	input  *jsonschema.Resolved
	params []Param
	byName map[string]*Param
	// schema is each parameter's schema, whose keywords explain a
	// refusal.
	schema map[string]*jsonschema.Schema
	// weight is, per parameter, what checking one byte of its value may
	// cost: one, plus the instructions of its patterns.
	weight map[string]int
	// formats is true when some parameter has a "format" to assert.
	formats bool
	// mcpArgs are the arguments the MCP face sets (normalized), and
	// mcpInput the input schema it publishes, without them.
	mcpArgs  map[string]any
	mcpInput json.RawMessage
}

// Param is one parameter of a tool: a top-level property of its input
// schema, which the CLI shows as a --flag or a positional argument.
type Param struct {
	// Name is the property name, ^[a-z][a-z0-9_-]{0,62}$.
	Name string
	// Type is "string", "integer", "number", "boolean" or "array".
	Type string
	// ItemType is the type of an array's items: "string", "integer" or
	// "number"; empty for other types.
	ItemType string
	// Title and Description are the schema's, for help and MCP.
	Title       string
	Description string
	// Format is the schema's "format" (see docs/modules.md), asserted on
	// the value or on each item; empty when none.
	Format string
	// Enum holds the allowed values in string form; nil when any value of
	// the type is allowed.
	Enum []string
	// Default is the schema's default (int64, float64, string, bool or
	// []any of those), or nil. It is documentation: Argv never injects it.
	Default any
	// Required is true when the input schema's "required" lists it.
	Required bool
	// Nullable is true when the schema also allows null, which Argv
	// treats as an omitted argument.
	Nullable bool
	// WriteOnly is the schema's "writeOnly": the value is a secret the
	// tool takes but never shows, so whatever records a call (the audit
	// log) writes it redacted.
	WriteOnly bool
	// Deprecated is the schema's "deprecated": help may say so.
	Deprecated bool
	// Position is the index in Args.Positional, or -1 for a flag.
	Position int
}

// Flag is how errors and help name the parameter: "--name" for a flag,
// "<name>" for a positional argument.
func (p *Param) Flag() string {
	if p.Position >= 0 {
		return "<" + p.Name + ">"
	}
	return "--" + p.Name
}

// AssignPositional adds args to values (a parameter's name to its values,
// as ParseFlags takes them) as the positional parameters, in order; a last
// positional array takes every remaining argument. It returns the
// arguments no parameter takes, for the caller to refuse in its own words:
// the CLI and the fleet read a tool's command line alike.
func (t *Tool) AssignPositional(values map[string][]string, args []string) (extra []string) {
	var positional []string
	lastArray := false
	for _, p := range t.params {
		if p.Position >= 0 {
			positional = append(positional, p.Name)
			lastArray = p.Type == "array"
		}
	}
	for i, a := range args {
		switch {
		case i < len(positional):
			values[positional[i]] = []string{a}
		case lastArray:
			last := positional[len(positional)-1]
			values[last] = append(values[last], a)
		default:
			extra = append(extra, a)
		}
	}
	return extra
}

// Manifest returns the manifest the tool was compiled from. The caller must
// not modify it.
func (t *Tool) Manifest() *Manifest { return t.m }

// Params returns the tool's parameters: positional ones by position, then
// flags by name. The slice is a copy.
func (t *Tool) Params() []Param {
	out := make([]Param, len(t.params))
	for i, p := range t.params {
		p.Enum = slices.Clone(p.Enum)
		if d, ok := p.Default.([]any); ok {
			p.Default = slices.Clone(d)
		}
		out[i] = p
	}
	return out
}

// Compile validates the manifest, compiles its schemas (JSON Schema draft
// 2020-12, or draft-07 when a schema's $schema says so, with the keywords
// docs/modules.md lists) and derives the parameters. The Tool keeps the
// compiled input schema, so a call never compiles it again. Every error
// wraps ErrInvalid and names the field.
func (m *Manifest) Compile() (*Tool, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	t, err := m.compile()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return t, nil
}

func (m *Manifest) compile() (*Tool, error) {
	b, root, in, err := compileSchema("inputSchema", m.InputSchema, inRoot)
	if err != nil {
		return nil, err
	}
	if out := bytes.TrimSpace(m.OutputSchema); len(out) > 0 && string(out) != "null" {
		if _, _, _, err := compileSchema("outputSchema", m.OutputSchema, inOutput); err != nil {
			return nil, err
		}
	}
	t := &Tool{m: m.clone(), input: in, byName: map[string]*Param{}, schema: root.Properties, weight: map[string]int{}}
	if err := t.deriveParams(b, root); err != nil {
		return nil, err
	}
	if err := t.compileFace(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tool) deriveParams(b *builder, root *jsonschema.Schema) error {
	for _, name := range root.Required {
		if _, ok := root.Properties[name]; !ok {
			return fmt.Errorf("inputSchema.required: %q is not a property", printable(name))
		}
	}
	pos := map[string]int{}
	for i, name := range t.m.Args.Positional {
		pos[name] = i
	}
	// Sorted, so that the first bad property is always the same.
	for _, name := range sortedKeys(root.Properties) {
		s := root.Properties[name]
		p := Param{Name: name, Position: -1, Required: slices.Contains(root.Required, name)}
		if i, ok := pos[name]; ok {
			p.Position = i
		}
		if err := t.fromSchema(&p, s); err != nil {
			return fmt.Errorf("inputSchema.properties.%s: %w", name, err)
		}
		t.weight[name] = 1 + b.cost[s]
		if s.Items != nil {
			t.weight[name] += b.cost[s.Items]
		}
		t.params = append(t.params, p)
	}
	slices.SortFunc(t.params, func(a, b Param) int {
		switch {
		case a.Position >= 0 && b.Position >= 0:
			return a.Position - b.Position
		case a.Position >= 0:
			return -1
		case b.Position >= 0:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	// Positional arguments fill slots in order, so an optional one may not
	// come before a required one, and only the last may take many values.
	var optional string
	for i := range t.params {
		p := &t.params[i]
		t.byName[p.Name] = p
		if p.Position < 0 {
			continue
		}
		switch {
		case p.Type == "boolean":
			return fmt.Errorf("args.positional: %q is a boolean: make it a flag", p.Name)
		case p.Type == "array" && p.Position != len(t.m.Args.Positional)-1:
			return fmt.Errorf("args.positional: %q is an array: only the last positional parameter may be one", p.Name)
		case p.Required && optional != "":
			return fmt.Errorf("args.positional: required %q follows optional %q", p.Name, optional)
		case !p.Required && optional == "":
			optional = p.Name
		}
	}
	return nil
}

// fromSchema fills in the parameter from its schema, which the builder
// made of one type (optionally with null) and the keywords it may have.
func (t *Tool) fromSchema(p *Param, s *jsonschema.Schema) error {
	p.Type, p.Nullable = mainType(s)
	if s.Items != nil {
		p.ItemType, _ = mainType(s.Items)
		if s.Items.Format != "" {
			p.Format = s.Items.Format
		}
	}
	p.Title, p.Description = s.Title, s.Description
	p.WriteOnly, p.Deprecated = s.WriteOnly, s.Deprecated
	p.Format = cmp.Or(s.Format, p.Format)
	t.formats = t.formats || p.Format != ""
	if err := checkParamText("title", p.Title); err != nil {
		return err
	}
	if err := checkParamText("description", p.Description); err != nil {
		return err
	}
	for i, v := range s.Enum {
		e := enumString(v)
		if err := checkParamText(fmt.Sprintf("enum[%d]", i), e); err != nil {
			return err
		}
		p.Enum = append(p.Enum, e)
	}
	if s.Default == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(s.Default))
	dec.UseNumber()
	var def any
	if err := dec.Decode(&def); err != nil {
		return fmt.Errorf("default: %w", err)
	}
	nd, err := normalizeArg(p, def)
	if err != nil {
		return fmt.Errorf("default: %w", err)
	}
	if r := why(p, s, nd, true); r != "" {
		return fmt.Errorf("default: %s", r)
	}
	p.Default = normalize(def)
	if p.Type == "boolean" && p.Default == true {
		return errors.New("a boolean defaulting to true could never be turned off: a flag is only passed when true")
	}
	return nil
}

// normalize turns decoded JSON numbers into int64 when whole, float64
// otherwise.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return string(v)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f)
		}
		return f
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// checkParamText refuses text that help output could not show safely:
// control characters other than newline and tab (an escape sequence could
// rewrite the terminal), invalid UTF-8, more than 4*MaxDescription bytes.
func checkParamText(field, s string) error {
	if len(s) > 4*MaxDescription {
		return fmt.Errorf("%s: %d bytes, more than the %d allowed", field, len(s), 4*MaxDescription)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", field)
	}
	for i, r := range s {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || isBidiOrSeparator(r)) {
			return fmt.Errorf("%s: control character %U at byte %d", field, r, i)
		}
	}
	return nil
}

// enumString writes an enum value as a flag would hold it.
func enumString(v any) string {
	if v == nil {
		return "null"
	}
	if s, err := formatScalar(v); err == nil {
		return s
	}
	return fmt.Sprint(v)
}

func (m *Manifest) clone() *Manifest {
	c := *m
	c.InputSchema = slices.Clone(m.InputSchema)
	c.OutputSchema = slices.Clone(m.OutputSchema)
	c.Args.Positional = slices.Clone(m.Args.Positional)
	c.Icons = slices.Clone(m.Icons)
	for i := range c.Icons {
		c.Icons[i].Sizes = slices.Clone(c.Icons[i].Sizes)
	}
	c.MCP.Arguments = maps.Clone(m.MCP.Arguments)
	if m.Stdin != nil {
		stdin := *m.Stdin
		c.Stdin = &stdin
	}
	c.Capabilities.Files = slices.Clone(m.Capabilities.Files)
	c.Capabilities.Env = slices.Clone(m.Capabilities.Env)
	c.Capabilities.Network = slices.Clone(m.Capabilities.Network)
	for i := range c.Capabilities.Network {
		c.Capabilities.Network[i].Ports = slices.Clone(c.Capabilities.Network[i].Ports)
	}
	return &c
}
