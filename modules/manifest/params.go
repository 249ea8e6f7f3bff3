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
	// input is the input schema, compiled once: every call validates
	// with it.
	input  *schema
	params []Param
	byName map[string]*Param
	// weight is, per parameter, the weight of the schema nodes that
	// validation may apply to one of its values.
	weight map[string]int
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
	// Type is "string", "integer", "number", "boolean", "array" or
	// "object" (one JSON text on the command line).
	Type string
	// ItemType is the type of an array's items: "string", "integer" or
	// "number"; empty for other types.
	ItemType    string
	Description string
	// Enum holds the allowed values in string form; nil when any value of
	// the type is allowed.
	Enum []string
	// Default is the schema's default (int64, float64, string, bool or
	// []any of those), or nil. It is documentation: Argv never injects it.
	Default  any
	Required bool
	// Nullable is true when the schema also allows null, which Argv
	// treats as an omitted argument.
	Nullable bool
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
// 2020-12, or draft-07 when a schema's $schema says so; no other draft)
// and derives the parameters. Schemas are compiled in memory only: a $ref
// or $schema that leaves the document is refused, never fetched. The Tool
// keeps the compiled input schema, so a call never compiles it again.
// Every error wraps ErrInvalid and names the field.
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
	in, err := compileSchema("inputSchema", inputURL, m.InputSchema)
	if err != nil {
		return nil, err
	}
	if out := bytes.TrimSpace(m.OutputSchema); len(out) > 0 && string(out) != "null" {
		if _, err := compileSchema("outputSchema", outputURL, m.OutputSchema); err != nil {
			return nil, err
		}
	}
	t := &Tool{m: m.clone(), input: in, byName: map[string]*Param{}, weight: map[string]int{}}
	if err := t.deriveParams(); err != nil {
		return nil, err
	}
	if err := t.compileFace(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tool) deriveParams() error {
	in := t.input
	props, required := in.root.Properties, in.root.Required
	if in.draft == draft7 && in.root.Ref != "" {
		// Draft-07 ignores the siblings of $ref, so the properties
		// Validate saw in the raw schema are not the tool's parameters.
		props, required = nil, nil
	}
	for _, name := range required {
		if _, ok := props[name]; !ok {
			return fmt.Errorf("inputSchema.required: %q is not a property", printable(name))
		}
	}
	// Top-level keywords other than properties (allOf, if, ...) may apply
	// to any argument as well.
	rest, err := in.weigh("inputSchema", in.root, in.root)
	if err != nil {
		return err
	}
	pos := map[string]int{}
	for i, name := range t.m.Args.Positional {
		if _, ok := props[name]; !ok {
			return fmt.Errorf("args.positional[%d]: %q is not a property of inputSchema", i, name)
		}
		pos[name] = i
	}
	// Sorted, so that the first bad property is always the same.
	for _, name := range sortedKeys(props) {
		prop := props[name]
		p := Param{Name: name, Position: -1, Required: slices.Contains(required, name)}
		if i, ok := pos[name]; ok {
			p.Position = i
		}
		if err := p.fromSchema(in, prop); err != nil {
			return fmt.Errorf("inputSchema.properties.%s: %w", name, err)
		}
		w, err := in.weigh("inputSchema.properties."+name, prop, nil)
		if err != nil {
			return err
		}
		t.weight[name] = rest + w
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

// maxRefHops bounds a chain of $ref from a property to its type.
const maxRefHops = 16

// resolve follows a schema's $ref while the schema itself has no type (in
// draft-07, whenever it has a $ref, since its siblings are ignored).
func (c *schema) resolve(s *jsonschema.Schema) (*jsonschema.Schema, error) {
	for hops := 0; s.Ref != "" && (c.draft == draft7 || s.Type == "" && s.Types == nil); hops++ {
		if hops == maxRefHops {
			return nil, fmt.Errorf("$ref does not resolve to a simple type within %d hops", maxRefHops)
		}
		s = c.ref[s]
	}
	return s, nil
}

var simpleTypes = []string{"string", "integer", "number", "boolean", "array", "object"}

// fromSchema fills in the parameter from its property schema, which must
// have (or $ref to) one simple type, optionally with null.
func (p *Param) fromSchema(c *schema, prop *jsonschema.Schema) error {
	s, err := c.resolve(prop)
	if err != nil {
		return err
	}
	typ, nullable, err := simpleType(s, simpleTypes)
	if err != nil {
		if s != prop {
			return fmt.Errorf("$ref to %s: %w", fragment(c.loc[s]), err)
		}
		return err
	}
	p.Type, p.Nullable = typ, nullable
	p.Description = cmp.Or(prop.Description, s.Description)
	if err := checkParamText("description", p.Description); err != nil {
		return err
	}
	def, ok := c.deflt[prop]
	if !ok {
		def, ok = c.deflt[s]
	}
	if ok {
		p.Default = normalize(def)
	}
	if typ == "boolean" && p.Default == true {
		return errors.New("a boolean defaulting to true could never be turned off: a flag is only passed when true")
	}
	enum, ok := c.enum[prop]
	if !ok {
		enum, ok = c.enum[s]
	}
	if ok {
		for i, v := range enum {
			e := enumString(v)
			if err := checkParamText(fmt.Sprintf("enum[%d]", i), e); err != nil {
				return err
			}
			p.Enum = append(p.Enum, e)
		}
	}
	if typ != "array" {
		return nil
	}
	// Draft-07's "items": [...] is a tuple, which has no one item type.
	if s.Items == nil {
		return errors.New("an array needs \"items\" of type string, integer or number")
	}
	is, err := c.resolve(s.Items)
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	it, _, err := simpleType(is, []string{"string", "integer", "number"})
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	p.ItemType = it
	return nil
}

// simpleType reads the schema's one type among allowed, plus whether it
// also allows null.
func simpleType(s *jsonschema.Schema, allowed []string) (string, bool, error) {
	want := fmt.Sprintf("want \"type\" %s or %s", strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
	types := s.Types
	if s.Type != "" {
		types = []string{s.Type}
	}
	if types == nil {
		return "", false, fmt.Errorf("no \"type\": %s", want)
	}
	var typ string
	nullable := false
	for _, t := range types {
		switch {
		case t == "null":
			nullable = true
		case typ != "":
			return "", false, fmt.Errorf("more than one type: %s", want)
		default:
			typ = t
		}
	}
	if !slices.Contains(allowed, typ) {
		return "", false, fmt.Errorf("type %q: %s", typ, want)
	}
	return typ, nullable, nil
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

func enumString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "null"
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
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
	c.Capabilities.Files = slices.Clone(m.Capabilities.Files)
	c.Capabilities.Env = slices.Clone(m.Capabilities.Env)
	c.Capabilities.Network = slices.Clone(m.Capabilities.Network)
	for i := range c.Capabilities.Network {
		c.Capabilities.Network[i].Ports = slices.Clone(c.Capabilities.Network[i].Ports)
	}
	return &c
}
