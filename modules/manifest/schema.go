package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// The $schema values the library recognises; a manifest may write either
// draft (with or without the "#", over http or https), and the keywords it
// may use mean the same in both.
const (
	draft2020URL = "https://json-schema.org/draft/2020-12/schema"
	draft7URL    = "http://json-schema.org/draft-07/schema#"
)

// maxEnum bounds the values of one enum: the library compares an argument
// with each.
const maxEnum = 1024

// errLibrary marks a panic in the schema library, which hostile input must
// not turn into a crash of the supervisor. The fuzz tests fail on it.
const errLibrary = "the JSON Schema library failed"

// Types by place: a parameter is one scalar or an array of them, so that
// any valid arguments have exactly one argv.
var (
	paramTypes = []string{"string", "integer", "number", "boolean", "array"}
	itemTypes  = []string{"string", "integer", "number"}
	jsonTypes  = []string{"array", "boolean", "integer", "null", "number", "object", "string"}
)

// builder turns one decoded schema into the library's Schema, keyword by
// keyword from the table. Keys are matched exactly (the library's own
// decoding, encoding/json, would match them case-insensitively), and a
// document has no $ref, so building is one walk over it.
type builder struct {
	field string // "inputSchema" or "outputSchema"
	// insts counts the instructions of the patterns so far.
	insts int
	// cost is each schema's own pattern instructions, for the work bound.
	cost map[*jsonschema.Schema]int
}

// compileSchema decodes, builds and resolves one schema: inputSchema with
// in = inRoot, outputSchema with in = inOutput. The library resolves it
// without loading anything: no keyword a manifest may write refers to
// another document.
func compileSchema(field string, raw json.RawMessage, in place) (b *builder, root *jsonschema.Schema, rs *jsonschema.Resolved, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %s: %s", field, errLibrary, shorten(sanitize(fmt.Sprint(r))))
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: malformed JSON: %s", field, shorten(oneLine(err.Error())))
	}
	b = &builder{field: field, cost: map[*jsonschema.Schema]int{}}
	if _, ok := doc.(map[string]any); !ok {
		return nil, nil, nil, fmt.Errorf("%s: want a JSON Schema object of type \"object\"", field)
	}
	if root, err = b.build(doc, in, field); err != nil {
		return nil, nil, nil, err
	}
	if rs, err = root.Resolve(nil); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %s", field, shorten(sanitize(err.Error())))
	}
	return b, root, rs, nil
}

// schemaError is a refusal that already says where it is: a subschema's
// error is not wrapped again by each keyword above it.
type schemaError struct{ msg string }

func (e *schemaError) Error() string { return e.msg }

func located(format string, args ...any) error {
	return &schemaError{fmt.Sprintf(format, args...)}
}

// where says in words where in is, for a refused keyword.
func where(in place) string {
	switch in {
	case inRoot:
		return "at the top level of inputSchema"
	case inParam:
		return "on a parameter"
	case inItems:
		return "on the items of an array parameter"
	}
	return "in outputSchema"
}

// build makes the Schema of the value v, at the location at (a dotted
// path that names the parameter), whose keywords must be allowed at in.
func (b *builder) build(v any, in place, at string) (*jsonschema.Schema, error) {
	if t, ok := v.(bool); ok && in == inOutput {
		if t {
			return &jsonschema.Schema{}, nil
		}
		return &jsonschema.Schema{Not: &jsonschema.Schema{}}, nil // as the library reads false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, located("%s: want a schema: a JSON object", at)
	}
	s := &jsonschema.Schema{}
	before := b.insts
	// "type" first: it says what the other keywords may be, and a
	// parameter of a type no flag holds is better told so than that
	// its "properties" are not supported.
	keys := sortedKeys(obj)
	if i := slices.Index(keys, "type"); i > 0 {
		keys = slices.Insert(slices.Delete(keys, i, i+1), 0, "type")
	}
	for _, k := range keys {
		kw := lookup(k)
		if kw == nil || kw.in&in == 0 {
			return nil, located("%s: keyword %q is not supported %s: use only %s", at, printable(k), where(in), allowed(in))
		}
		if err := kw.set(b, s, obj[k], in, at); err != nil {
			if _, ok := err.(*schemaError); ok {
				return nil, err
			}
			return nil, located("%s: %s: %s", at, k, err)
		}
	}
	b.cost[s] = b.insts - before
	if in&(inParam|inItems) == 0 {
		return s, nil
	}
	typ, _ := mainType(s)
	if typ == "" {
		want := paramTypes
		if in == inItems {
			want = itemTypes
		}
		return nil, located("%s: no \"type\": want one of %s", at, strings.Join(want, ", "))
	}
	for _, k := range keys {
		if kw := lookup(k); kw.types != nil && !slices.Contains(kw.types, typ) {
			return nil, located("%s: keyword %q applies to %s, not %s", at, k, strings.Join(kw.types, " or "), typ)
		}
	}
	if typ == "array" && s.Items == nil {
		return nil, located("%s: an array needs \"items\" of type string, integer or number", at)
	}
	return s, nil
}

// mainType is a schema's type other than null, and whether it allows null
// too.
func mainType(s *jsonschema.Schema) (string, bool) {
	if s.Type != "" {
		return s.Type, s.Type == "null"
	}
	typ, null := "", false
	for _, t := range s.Types {
		if t == "null" {
			null = true
		} else {
			typ = t
		}
	}
	return typ, null
}

func setDraft(b *builder, s *jsonschema.Schema, v any, _ place, at string) error {
	if at != b.field {
		return errors.New("only allowed at the top level")
	}
	u, ok := v.(string)
	if !ok {
		return errors.New("want a string")
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"), "#")
	switch bare {
	case "json-schema.org/draft/2020-12/schema", "json-schema.org/schema":
		s.Schema = draft2020URL
	case "json-schema.org/draft-07/schema":
		s.Schema = draft7URL
	default:
		return fmt.Errorf("%q: want JSON Schema draft 2020-12 or draft-07", printable(u))
	}
	return nil
}

func setType(_ *builder, s *jsonschema.Schema, v any, in place, _ string) error {
	want := jsonTypes
	switch in {
	case inRoot:
		want = []string{"object"}
	case inParam:
		want = paramTypes
	case inItems:
		want = itemTypes
	}
	bad := fmt.Errorf("want one of %s", strings.Join(want, ", "))
	if in == inParam {
		bad = fmt.Errorf("want one of %s, optionally with \"null\" ([\"string\", \"null\"]): a parameter is one flag", strings.Join(want, ", "))
	}
	if t, ok := v.(string); ok {
		if !slices.Contains(want, t) {
			return fmt.Errorf("%q: %w", printable(t), bad)
		}
		s.Type = t
		return nil
	}
	ts, err := names(v)
	if err != nil || len(ts) == 0 {
		return bad
	}
	for _, t := range ts {
		if !slices.Contains(want, t) && !(in == inParam && t == "null") {
			return fmt.Errorf("%q: %w", printable(t), bad)
		}
	}
	if in == inParam && (len(ts) > 2 || len(ts) == 2 && !slices.Contains(ts, "null")) {
		return bad
	}
	s.Types = ts
	return nil
}

func setProperties(b *builder, s *jsonschema.Schema, v any, in place, at string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errors.New("want an object whose values are schemas")
	}
	sub := inOutput
	if in == inRoot {
		sub = inParam
	}
	s.Properties = make(map[string]*jsonschema.Schema, len(m))
	for _, k := range sortedKeys(m) {
		p, err := b.build(m[k], sub, at+".properties."+k)
		if err != nil {
			return err
		}
		s.Properties[k] = p
	}
	return nil
}

func setRequired(_ *builder, s *jsonschema.Schema, v any, _ place, _ string) (err error) {
	s.Required, err = names(v)
	return err
}

func setAdditional(b *builder, s *jsonschema.Schema, v any, in place, at string) (err error) {
	if in == inOutput {
		s.AdditionalProperties, err = b.build(v, inOutput, at+".additionalProperties")
		return err
	}
	// Arguments that are not parameters are refused anyway: the
	// keyword only tells MCP clients so.
	t, ok := v.(bool)
	if !ok {
		return errors.New("want a boolean: arguments are the parameters only")
	}
	if !t {
		s.AdditionalProperties = &jsonschema.Schema{Not: &jsonschema.Schema{}}
	}
	return nil
}

func setItems(b *builder, s *jsonschema.Schema, v any, in place, at string) (err error) {
	sub := inOutput
	if in == inParam {
		sub = inItems
	}
	if _, tuple := v.([]any); tuple {
		return errors.New("want one schema: a repeated flag's values all have one type")
	}
	s.Items, err = b.build(v, sub, at+".items")
	return err
}

// names reads an array of unique strings.
func names(v any) ([]string, error) {
	vs, ok := v.([]any)
	if !ok {
		return nil, errors.New("want an array of strings")
	}
	out := make([]string, len(vs))
	for i, e := range vs {
		s, ok := e.(string)
		if !ok {
			return nil, errors.New("want an array of strings")
		}
		if slices.Contains(out[:i], s) {
			return nil, fmt.Errorf("%q is listed twice", printable(s))
		}
		out[i] = s
	}
	return out, nil
}

// patternInsts checks a pattern's syntax as regexp.Compile does and
// returns the size of its program, which is what matching costs per byte.
func patternInsts(p string) (int, error) {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return 0, errors.New(string(se.Code))
		}
		return 0, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, err
	}
	return len(prog.Inst), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sanitize puts a message from the library, which may quote an argument,
// on one line with control and bidirectional characters escaped.
func sanitize(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || isBidiOrSeparator(r) || r == utf8.RuneError {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
