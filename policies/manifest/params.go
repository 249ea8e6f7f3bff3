package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema locations inside the compiler. They only name the documents:
// nothing is ever loaded from them.
const (
	inputURL  = "manifest:///inputSchema.json"
	outputURL = "manifest:///outputSchema.json"
)

// Tool is a compiled manifest: its input schema ready to validate
// arguments, and the parameters derived from it. A Tool is immutable and
// safe for concurrent use.
type Tool struct {
	m      *Manifest
	input  *jsonschema.Schema
	params []Param
	byName map[string]*Param
	// weight is, per parameter, the weight of the schema nodes that
	// validation may apply to one of its values.
	weight map[string]int
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
// 2020-12 unless a schema names another draft by $schema) and derives the
// parameters. Schemas are compiled in memory only: a $ref or $schema that
// leaves the document is refused, never fetched. Every error wraps
// ErrInvalid and names the field.
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
	return t, nil
}

// refusingLoader is the compiler's only way to fetch a document: it
// fetches nothing. (The draft meta-schemas are built into the library.)
type refusingLoader struct{}

func (refusingLoader) Load(url string) (any, error) {
	return nil, errors.New("outside the manifest")
}

// errLibrary marks a panic in the schema library, which hostile input must
// not turn into a crash of the supervisor. The fuzz tests fail on it.
const errLibrary = "the JSON Schema library failed"

func compileSchema(field, url string, raw json.RawMessage) (sch *jsonschema.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, fmt.Errorf("%s: %s: %s", field, errLibrary, shorten(oneLine(fmt.Sprint(r))))
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: malformed JSON: %s", field, shorten(oneLine(err.Error())))
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refusingLoader{})
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("%s: %s", field, shorten(oneLine(err.Error())))
	}
	sch, err = c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", field, compileError(err))
	}
	if _, err := weigh(field, sch, nil); err != nil {
		return nil, err
	}
	return sch, nil
}

// compileError renders a compiler error in one short line.
func compileError(err error) string {
	return shorten(compileMessage(err))
}

func compileMessage(err error) string {
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		return fmt.Sprintf("reference to %q leaves the manifest: only references inside the schema are allowed", printable(le.URL))
	}
	var ve *jsonschema.SchemaValidationError
	if errors.As(err, &ve) {
		var verr *jsonschema.ValidationError
		if errors.As(ve.Err, &verr) {
			if leaf := firstLeaf(verr); leaf != nil {
				return fmt.Sprintf("not a valid JSON Schema: at %s: %s", pointer(leaf.InstanceLocation), kindString(leaf))
			}
		}
		return "not a valid JSON Schema: " + oneLine(ve.Err.Error())
	}
	msg := strings.ReplaceAll(err.Error(), inputURL, "")
	msg = strings.ReplaceAll(msg, outputURL, "")
	return oneLine(msg)
}

func pointer(loc []string) string {
	if len(loc) == 0 {
		return "the top level"
	}
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		b.WriteString(printable(tok))
	}
	return b.String()
}

// Weights of the schema walk. A node costs one unit per value it is
// applied to; a pattern or format also reads the whole string, and an enum
// compares with each of its values.
const (
	// maxSchemaWeight bounds a schema's weight with every $ref expanded:
	// a few hundred bytes of $defs that each refer twice to the one
	// before expand to millions of nodes.
	maxSchemaWeight = 1 << 14
	patternWeight   = 8
)

// weigher walks a compiled schema as validation would visit it, every $ref
// expanded, and adds up the weight of the nodes. It refuses what
// validation could never get through: a schema that reaches itself again
// without descending into a property or an item (such as "$ref": "#" at
// the top level) is a loop the validator stops at every call. A recursion
// that does descend is followed at most three levels, since arguments nest
// at most that deep (object, array, item). References to the draft
// meta-schemas, and dynamic references, whose targets depend on the
// caller, are refused.
type weigher struct {
	field string
	n     int
	depth map[*jsonschema.Schema]int // times on the walk's path
	// skip is a schema whose own properties are not walked.
	skip *jsonschema.Schema
}

// weigh returns the weight of s, or an error naming field.
func weigh(field string, s, skipProps *jsonschema.Schema) (int, error) {
	w := &weigher{field: field, depth: map[*jsonschema.Schema]int{}, skip: skipProps}
	if err := w.walk(s, map[*jsonschema.Schema]bool{}); err != nil {
		return 0, err
	}
	return w.n, nil
}

func (w *weigher) walk(s *jsonschema.Schema, here map[*jsonschema.Schema]bool) error {
	if here[s] {
		return fmt.Errorf("%s: at %s: the schema refers to itself without descending into a property or an item", w.field, fragment(s.Location))
	}
	if w.depth[s] >= 3 {
		return nil
	}
	w.n++
	if s.Pattern != nil || s.Format != nil {
		w.n += patternWeight
	}
	if s.Enum != nil {
		w.n += len(s.Enum.Values) / 8
	}
	if w.n > maxSchemaWeight {
		return fmt.Errorf("%s: too complex: more than %d subschemas with every $ref expanded (a pattern counts %d)", w.field, maxSchemaWeight, patternWeight+1)
	}
	if isMeta(s.Location) {
		return fmt.Errorf("%s: reference to the meta-schema %q: only references inside the schema are allowed", w.field, printable(s.Location))
	}
	if s.DynamicRef != nil || s.RecursiveRef != nil {
		return fmt.Errorf("%s: at %s: $dynamicRef and $recursiveRef are not supported", w.field, fragment(s.Location))
	}
	w.depth[s]++
	here[s] = true
	defer func() { w.depth[s]--; delete(here, s) }()
	same, below := children(s, s == w.skip)
	for _, c := range same {
		if err := w.walk(c, here); err != nil {
			return err
		}
	}
	for _, c := range below {
		if err := w.walk(c, map[*jsonschema.Schema]bool{}); err != nil {
			return err
		}
	}
	return nil
}

func isMeta(loc string) bool {
	return strings.HasPrefix(loc, "http://json-schema.org/") || strings.HasPrefix(loc, "https://json-schema.org/")
}

// fragment is a schema location inside the manifest, e.g. "#/properties/x".
func fragment(loc string) string {
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		if loc[i:] == "#" {
			return "the top level"
		}
		return printable(loc[i:])
	}
	return printable(loc)
}

// children lists the subschemas that validation may apply: to the same
// instance, and to its members (or its decoded content). noProps leaves
// out the properties.
func children(s *jsonschema.Schema, noProps bool) (same, below []*jsonschema.Schema) {
	add := func(to *[]*jsonschema.Schema, cs ...*jsonschema.Schema) {
		for _, c := range cs {
			if c != nil {
				*to = append(*to, c)
			}
		}
	}
	add(&same, s.Ref, s.Not, s.If, s.Then, s.Else)
	add(&same, s.AllOf...)
	add(&same, s.AnyOf...)
	add(&same, s.OneOf...)
	for _, k := range sortedKeys(s.DependentSchemas) {
		add(&same, s.DependentSchemas[k])
	}
	for _, k := range sortedKeys(s.Dependencies) {
		if c, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
			add(&same, c)
		}
	}

	add(&below, s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020,
		s.UnevaluatedItems, s.ContentSchema)
	add(&below, s.PrefixItems...)
	if !noProps {
		for _, k := range sortedKeys(s.Properties) {
			add(&below, s.Properties[k])
		}
	}
	pats := make([]*jsonschema.Schema, 0, len(s.PatternProperties))
	for _, c := range s.PatternProperties {
		pats = append(pats, c)
	}
	slices.SortFunc(pats, func(a, b *jsonschema.Schema) int { return strings.Compare(a.Location, b.Location) })
	add(&below, pats...)
	for _, v := range []any{s.AdditionalProperties, s.AdditionalItems, s.Items} {
		switch v := v.(type) {
		case *jsonschema.Schema:
			add(&below, v)
		case []*jsonschema.Schema:
			add(&below, v...)
		}
	}
	return same, below
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (t *Tool) deriveParams() error {
	root := t.input
	for _, name := range root.Required {
		if _, ok := root.Properties[name]; !ok {
			return fmt.Errorf("inputSchema.required: %q is not a property", printable(name))
		}
	}
	// Top-level keywords other than properties (allOf, if, ...) may apply
	// to any argument as well.
	rest, err := weigh("inputSchema", root, root)
	if err != nil {
		return err
	}
	pos := map[string]int{}
	for i, name := range t.m.Args.Positional {
		// Validate saw the name among the raw properties; a draft-07 $ref
		// beside them makes the compiler ignore them.
		if _, ok := root.Properties[name]; !ok {
			return fmt.Errorf("args.positional[%d]: %q is not a property of inputSchema", i, name)
		}
		pos[name] = i
	}
	names := make([]string, 0, len(root.Properties))
	for name := range root.Properties {
		names = append(names, name)
	}
	slices.Sort(names) // so that the first bad property is always the same
	for _, name := range names {
		prop := root.Properties[name]
		p := Param{Name: name, Position: -1, Required: slices.Contains(root.Required, name)}
		if i, ok := pos[name]; ok {
			p.Position = i
		}
		if err := p.fromSchema(prop); err != nil {
			return fmt.Errorf("inputSchema.properties.%s: %w", name, err)
		}
		w, err := weigh("inputSchema.properties."+name, prop, nil)
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

// resolve follows a schema's $ref while the schema itself has no type.
func resolve(s *jsonschema.Schema) (*jsonschema.Schema, error) {
	for hops := 0; s.Types == nil && s.Ref != nil; hops++ {
		if hops == maxRefHops {
			return nil, fmt.Errorf("$ref does not resolve to a simple type within %d hops", maxRefHops)
		}
		s = s.Ref
	}
	return s, nil
}

var simpleTypes = []string{"string", "integer", "number", "boolean", "array"}

// fromSchema fills in the parameter from its property schema, which must
// have (or $ref to) one simple type, optionally with null.
func (p *Param) fromSchema(prop *jsonschema.Schema) error {
	s, err := resolve(prop)
	if err != nil {
		return err
	}
	typ, nullable, err := simpleType(s, simpleTypes)
	if err != nil {
		if prop.Ref != nil {
			return fmt.Errorf("$ref to %s: %w", fragment(s.Location), err)
		}
		return err
	}
	p.Type, p.Nullable = typ, nullable
	p.Description = prop.Description
	if p.Description == "" {
		p.Description = s.Description
	}
	if err := checkParamText("description", p.Description); err != nil {
		return err
	}
	def := prop.Default
	if def == nil {
		def = s.Default
	}
	if def != nil {
		p.Default = normalize(*def)
	}
	if typ == "boolean" && p.Default == true {
		return errors.New("a boolean defaulting to true could never be turned off: a flag is only passed when true")
	}
	enum := prop.Enum
	if enum == nil {
		enum = s.Enum
	}
	if enum != nil {
		for i, v := range enum.Values {
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
	var items *jsonschema.Schema
	switch v := s.Items.(type) {
	case *jsonschema.Schema:
		items = v
	}
	if s.Items2020 != nil {
		items = s.Items2020
	}
	if items == nil {
		return errors.New("an array needs \"items\" of type string, integer or number")
	}
	is, err := resolve(items)
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
	if s.Types == nil {
		return "", false, fmt.Errorf("no \"type\": %s", want)
	}
	var typ string
	nullable := false
	for _, t := range s.Types.ToStrings() {
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
	c.Capabilities.Files = slices.Clone(m.Capabilities.Files)
	c.Capabilities.Env = slices.Clone(m.Capabilities.Env)
	c.Capabilities.Network = slices.Clone(m.Capabilities.Network)
	for i := range c.Capabilities.Network {
		c.Capabilities.Network[i].Ports = slices.Clone(c.Capabilities.Network[i].Ports)
	}
	return &c
}
