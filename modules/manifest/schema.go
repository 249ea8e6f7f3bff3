package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// Schema locations. They only name the documents: nothing is ever loaded
// from them.
const (
	inputURL  = "manifest:///inputSchema.json"
	outputURL = "manifest:///outputSchema.json"
)

// draft is the JSON Schema draft a schema is written in: 2020-12 unless
// its $schema names draft-07, the two the library validates.
type draft int

const (
	draft2020 draft = iota
	draft7
)

// The $schema values the library recognises; compile writes $schema in
// these forms.
const (
	draft2020URL = "https://json-schema.org/draft/2020-12/schema"
	draft7URL    = "http://json-schema.org/draft-07/schema#"
)

// schema is a compiled JSON Schema. The library's resolved form decides
// whether arguments are valid; the rest is what our own walks need (the
// weight bound, the parameters, explaining a violation), which the library
// keeps private: where each subschema is, what each $ref refers to, the
// compiled patterns. It is immutable once compiled.
type schema struct {
	field    string // "inputSchema" or "outputSchema", for errors
	draft    draft
	root     *jsonschema.Schema
	resolved *jsonschema.Resolved
	// loc is each subschema's JSON Pointer in the document, "" for the
	// root.
	loc map[*jsonschema.Schema]string
	// ref is what each $ref refers to.
	ref map[*jsonschema.Schema]*jsonschema.Schema
	// pattern and patternProps are "pattern" and "patternProperties",
	// compiled when the explainer first needs them; patternProps is
	// sorted by source.
	pattern      map[*jsonschema.Schema]*lazyRegexp
	patternProps map[*jsonschema.Schema][]*lazyRegexp
	// enum is each "enum" as written (numbers as json.Number), for
	// messages; the library compares with the normalized values in
	// Schema.Enum.
	enum map[*jsonschema.Schema][]any
	// deflt is each "default", numbers as json.Number.
	deflt map[*jsonschema.Schema]any
	// falsy marks the subschemas written as false.
	falsy map[*jsonschema.Schema]bool
	// formats is true when "format" asserts (draft-07, as the previous
	// validator did) and some subschema names a format that checkFormat
	// knows. The library ignores "format", so the explainer checks it.
	formats bool
}

// leaveError is the loader's refusal, should the library ever try to load
// a document: compile resolves every $ref itself first, so it never does.
type leaveError struct{ url string }

func (e *leaveError) Error() string {
	return fmt.Sprintf("reference to %q leaves the manifest: only references inside the schema are allowed", printable(e.url))
}

// errLibrary marks a panic in the schema library, which hostile input must
// not turn into a crash of the supervisor. The fuzz tests fail on it.
const errLibrary = "the JSON Schema library failed"

// compileSchema builds, checks and resolves one schema. The library reads
// a schema with encoding/json, which matches keywords case-insensitively
// and decodes each subtree again at every level of nesting, and it checks
// keyword values only as far as Go's types do, without saying where. So
// the schema is built here from one decoding, keywords matched exactly and
// every value checked against the draft's meta-schema, errors located.
func compileSchema(field, base string, raw json.RawMessage) (sch *schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, fmt.Errorf("%s: %s: %s", field, errLibrary, shorten(sanitize(fmt.Sprint(r))))
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: malformed JSON: %s", field, shorten(oneLine(err.Error())))
	}
	c := &schema{
		field:        field,
		loc:          map[*jsonschema.Schema]string{},
		ref:          map[*jsonschema.Schema]*jsonschema.Schema{},
		pattern:      map[*jsonschema.Schema]*lazyRegexp{},
		patternProps: map[*jsonschema.Schema][]*lazyRegexp{},
		enum:         map[*jsonschema.Schema][]any{},
		deflt:        map[*jsonschema.Schema]any{},
		falsy:        map[*jsonschema.Schema]bool{},
	}
	b := &builder{schema: c, at: map[string]*jsonschema.Schema{}, anchors: map[string]*jsonschema.Schema{}}
	top, _ := doc.(map[string]any)
	if c.draft, err = b.draftOf(top); err != nil {
		return nil, err
	}
	if c.root, err = b.build(doc, ""); err != nil {
		return nil, err
	}
	if err := b.resolveRefs(base); err != nil {
		return nil, err
	}
	c.resolved, err = c.root.Resolve(&jsonschema.ResolveOptions{
		BaseURI: base,
		Loader: func(u *url.URL) (*jsonschema.Schema, error) {
			return nil, &leaveError{u.String()}
		},
	})
	if err != nil {
		var le *leaveError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("%s: %w", field, le)
		}
		return nil, fmt.Errorf("%s: %s", field, shorten(sanitize(err.Error())))
	}
	if _, err := c.weigh(field, c.root, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// builder turns a decoded schema document into the library's Schema.
type builder struct {
	*schema
	at      map[string]*jsonschema.Schema // by location
	anchors map[string]*jsonschema.Schema
	refs    []*jsonschema.Schema // the subschemas with a $ref, in document order
}

// invalid reports a keyword's value that the draft's meta-schema refuses.
func (b *builder) invalid(ptr, format string, args ...any) error {
	return fmt.Errorf("%s: not a valid JSON Schema: at %s: %s", b.field, pointer(ptr), fmt.Sprintf(format, args...))
}

// unsupported reports a keyword that is valid JSON Schema but that the
// manifest does not take.
func (b *builder) unsupported(ptr, format string, args ...any) error {
	return fmt.Errorf("%s: at %s: %s", b.field, pointer(ptr), fmt.Sprintf(format, args...))
}

// pointer is a location for errors: "the top level" or "/properties/x".
func pointer(ptr string) string {
	if ptr == "" {
		return "the top level"
	}
	return printable(ptr)
}

// fragment is a location as a $ref writes it: "the top level" or
// "#/properties/x".
func fragment(ptr string) string {
	if ptr == "" {
		return "the top level"
	}
	return printable("#" + ptr)
}

var ptrEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func isMeta(u string) bool {
	return strings.HasPrefix(u, "http://json-schema.org/") || strings.HasPrefix(u, "https://json-schema.org/")
}

// draftOf reads the root's $schema. The library validates draft 2020-12
// and draft-07 only; any other draft is refused rather than validated by
// the rules of another.
func (b *builder) draftOf(top map[string]any) (draft, error) {
	v, ok := top["$schema"]
	if !ok {
		return draft2020, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, b.invalid("/$schema", "want a string")
	}
	u := strings.TrimSuffix(s, "#")
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		u = rest
	} else {
		u = strings.TrimPrefix(u, "https://")
	}
	switch u {
	case "json-schema.org/draft/2020-12/schema", "json-schema.org/schema":
		return draft2020, nil
	case "json-schema.org/draft-07/schema":
		return draft7, nil
	}
	if isMeta(s) {
		return 0, fmt.Errorf("%s: $schema %q: only JSON Schema draft 2020-12 and draft-07 are supported", b.field, printable(s))
	}
	return 0, fmt.Errorf("%s: %w", b.field, &leaveError{s})
}

// Keywords by draft: the ones the library validates with, the ones our
// checks need (annotations, $defs) and the ones refused. Any other keyword
// is an annotation and ignored, as JSON Schema wants; so is a keyword of
// the other draft (draft-07 has no unevaluatedProperties, 2020-12 no
// additionalItems).
var (
	keywordsBoth = []string{
		"$schema", "$id", "$ref", "$comment", "$defs", "definitions",
		"title", "description", "default", "readOnly", "writeOnly", "examples",
		"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
		"maxLength", "minLength", "pattern", "items", "maxItems", "minItems", "uniqueItems", "contains",
		"maxProperties", "minProperties", "required", "properties", "patternProperties", "additionalProperties",
		"propertyNames", "dependencies", "if", "then", "else", "allOf", "anyOf", "oneOf", "not",
		"format", "contentEncoding", "contentMediaType",
	}
	keywords7    = []string{"additionalItems"}
	keywords2020 = []string{
		"$anchor", "$dynamicAnchor", "$dynamicRef", "$vocabulary", "deprecated", "prefixItems",
		"unevaluatedItems", "unevaluatedProperties", "maxContains", "minContains",
		"dependentRequired", "dependentSchemas", "contentSchema",
	}
)

func (b *builder) known(k string) bool {
	if slices.Contains(keywordsBoth, k) {
		return true
	}
	if b.draft == draft7 {
		return slices.Contains(keywords7, k)
	}
	return slices.Contains(keywords2020, k)
}

func (b *builder) register(s *jsonschema.Schema, ptr string) {
	b.at[ptr] = s
	b.loc[s] = ptr
}

// build makes the Schema of the value at ptr.
func (b *builder) build(v any, ptr string) (*jsonschema.Schema, error) {
	switch v := v.(type) {
	case bool:
		s := &jsonschema.Schema{}
		if !v {
			// As the library unmarshals false.
			s.Not = &jsonschema.Schema{}
			b.falsy[s] = true
		}
		b.register(s, ptr)
		return s, nil
	case map[string]any:
		s := &jsonschema.Schema{}
		b.register(s, ptr)
		for _, k := range sortedKeys(v) {
			if !b.known(k) {
				continue
			}
			if err := b.keyword(s, v, k, ptr+"/"+ptrEscaper.Replace(k)); err != nil {
				return nil, err
			}
		}
		if s.Defs != nil && s.Definitions != nil {
			return nil, b.unsupported(ptr, "both $defs and definitions: keep one")
		}
		return s, nil
	}
	return nil, b.invalid(ptr, "want a schema: an object or a boolean")
}

// keyword sets keyword k of obj, at ptr, on s.
func (b *builder) keyword(s *jsonschema.Schema, obj map[string]any, k, ptr string) error {
	v := obj[k]
	var err error
	switch k {
	case "$schema":
		if ptr != "/$schema" {
			return b.unsupported(ptr, "$schema is only allowed at the top level")
		}
		s.Schema = draft2020URL
		if b.draft == draft7 {
			s.Schema = draft7URL
		}
	case "$id":
		return b.id(s, obj, ptr)
	case "$ref":
		if s.Ref, err = b.str(v, ptr); err != nil {
			return err
		}
		b.refs = append(b.refs, s)
	case "$anchor", "$dynamicAnchor":
		a, err := b.str(v, ptr)
		if err != nil {
			return err
		}
		if !anchorRE().MatchString(a) {
			return b.invalid(ptr, "%q is not an anchor name", printable(a))
		}
		if k == "$anchor" {
			s.Anchor = a
		} else {
			s.DynamicAnchor = a
		}
		return b.anchor(s, a, ptr)
	case "$dynamicRef":
		return b.unsupported(strings.TrimSuffix(ptr, "/$dynamicRef"), "$dynamicRef and $recursiveRef are not supported")
	case "$vocabulary":
		return b.unsupported(ptr, "$vocabulary is not supported: it belongs in a meta-schema")
	case "$comment", "title", "description", "format", "contentEncoding", "contentMediaType":
		str, err := b.str(v, ptr)
		if err != nil {
			return err
		}
		switch k {
		case "description":
			s.Description = str
		case "title":
			s.Title = str
		case "format":
			s.Format = str
			if b.draft == draft7 {
				if known, _ := checkFormat(str, ""); known {
					b.formats = true
				}
			}
		}
	case "default":
		b.deflt[s] = v
	case "readOnly", "writeOnly", "deprecated":
		if _, ok := v.(bool); !ok {
			return b.invalid(ptr, "want a boolean")
		}
	case "uniqueItems":
		u, ok := v.(bool)
		if !ok {
			return b.invalid(ptr, "want a boolean")
		}
		s.UniqueItems = u
	case "examples":
		if _, ok := v.([]any); !ok {
			return b.invalid(ptr, "want an array")
		}
	case "type":
		return b.types(s, v, ptr)
	case "enum":
		vs, ok := v.([]any)
		if !ok {
			return b.invalid(ptr, "want an array")
		}
		s.Enum = make([]any, len(vs))
		for i, e := range vs {
			if s.Enum[i], err = b.value(e, ptr); err != nil {
				return err
			}
		}
		b.enum[s] = vs
	case "const":
		c, err := b.value(v, ptr)
		if err != nil {
			return err
		}
		s.Const = &c
	case "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum":
		f, err := b.number(v, ptr)
		if err != nil {
			return err
		}
		switch k {
		case "multipleOf":
			if f <= 0 {
				return b.invalid(ptr, "want a number more than 0")
			}
			s.MultipleOf = &f
		case "maximum":
			s.Maximum = &f
		case "exclusiveMaximum":
			s.ExclusiveMaximum = &f
		case "minimum":
			s.Minimum = &f
		case "exclusiveMinimum":
			s.ExclusiveMinimum = &f
		}
	case "maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties", "maxContains", "minContains":
		n, err := b.count(v, ptr)
		if err != nil {
			return err
		}
		switch k {
		case "maxLength":
			s.MaxLength = &n
		case "minLength":
			s.MinLength = &n
		case "maxItems":
			s.MaxItems = &n
		case "minItems":
			s.MinItems = &n
		case "maxProperties":
			s.MaxProperties = &n
		case "minProperties":
			s.MinProperties = &n
		case "maxContains":
			s.MaxContains = &n
		case "minContains":
			s.MinContains = &n
		}
	case "pattern":
		p, err := b.str(v, ptr)
		if err != nil {
			return err
		}
		if err := checkRegexp(p); err != nil {
			return b.invalid(ptr, "%q is not a valid regular expression: %s", printable(p), err)
		}
		s.Pattern = p
		b.pattern[s] = &lazyRegexp{src: p}
	case "required":
		s.Required, err = b.names(v, ptr)
		return err
	case "dependentRequired":
		m, ok := v.(map[string]any)
		if !ok {
			return b.invalid(ptr, "want an object")
		}
		s.DependentRequired = map[string][]string{}
		for _, name := range sortedKeys(m) {
			if s.DependentRequired[name], err = b.names(m[name], ptr+"/"+ptrEscaper.Replace(name)); err != nil {
				return err
			}
		}
	case "dependencies":
		return b.dependencies(s, v, ptr)
	case "$defs", "definitions", "properties", "patternProperties", "dependentSchemas":
		m, err := b.schemaMap(v, ptr)
		if err != nil {
			return err
		}
		switch k {
		case "$defs":
			s.Defs = m
		case "definitions":
			s.Definitions = m
		case "properties":
			s.Properties = m
		case "patternProperties":
			s.PatternProperties = m
			for _, p := range sortedKeys(m) {
				if err := checkRegexp(p); err != nil {
					return b.invalid(ptr, "%q is not a valid regular expression: %s", printable(p), err)
				}
				b.patternProps[s] = append(b.patternProps[s], &lazyRegexp{src: p})
			}
		case "dependentSchemas":
			s.DependentSchemas = m
		}
	case "allOf", "anyOf", "oneOf", "prefixItems":
		a, err := b.schemaArray(v, ptr)
		if err != nil {
			return err
		}
		switch k {
		case "allOf":
			s.AllOf = a
		case "anyOf":
			s.AnyOf = a
		case "oneOf":
			s.OneOf = a
		case "prefixItems":
			s.PrefixItems = a
		}
	case "items":
		if _, isArray := v.([]any); isArray && b.draft == draft7 {
			s.ItemsArray, err = b.schemaArray(v, ptr)
			return err
		}
		s.Items, err = b.build(v, ptr)
		return err
	default: // the keywords that take one schema
		sub, err := b.build(v, ptr)
		if err != nil {
			return err
		}
		*b.single(s, k) = sub
	}
	return nil
}

// single is the field of s for keyword k, one of those that take one
// schema.
func (b *builder) single(s *jsonschema.Schema, k string) **jsonschema.Schema {
	switch k {
	case "not":
		return &s.Not
	case "if":
		return &s.If
	case "then":
		return &s.Then
	case "else":
		return &s.Else
	case "additionalProperties":
		return &s.AdditionalProperties
	case "additionalItems":
		return &s.AdditionalItems
	case "contains":
		return &s.Contains
	case "propertyNames":
		return &s.PropertyNames
	case "unevaluatedItems":
		return &s.UnevaluatedItems
	case "unevaluatedProperties":
		return &s.UnevaluatedProperties
	case "contentSchema":
		return &s.ContentSchema
	}
	panic("manifest: no schema keyword " + k)
}

// checkRegexp checks a pattern's syntax as regexp.Compile does, where
// every error it can return comes from, for a fraction of the cost: the
// library compiles the pattern itself. The error leaves out the pattern,
// which the message quotes already (shortened).
func checkRegexp(p string) error {
	if _, err := syntax.Parse(p, syntax.Perl); err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return errors.New(string(se.Code))
		}
		return err
	}
	return nil
}

// lazyRegexp is a pattern that the explainer compiles the first time it
// needs it: the library's compiled copy is private, and the explainer
// runs only when arguments are refused.
type lazyRegexp struct {
	src  string
	once sync.Once
	re   *regexp.Regexp // nil if it does not compile after all
}

func (l *lazyRegexp) get() *regexp.Regexp {
	l.once.Do(func() { l.re, _ = regexp.Compile(l.src) })
	return l.re
}

// anchorRE is the 2020-12 meta-schema's anchorString.
var anchorRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][-A-Za-z0-9._]*$`) })

func (b *builder) anchor(s *jsonschema.Schema, name, ptr string) error {
	if _, dup := b.anchors[name]; dup {
		return b.unsupported(ptr, "anchor %q is defined twice", printable(name))
	}
	b.anchors[name] = s
	return nil
}

// id handles $id. Only the root may name itself, which changes the base
// that references resolve against; below it, a draft-07 "#name" is an
// anchor. Other $id below the root would make a schema resource of its
// own, which the manifest does not need and our reference resolution does
// not follow.
func (b *builder) id(s *jsonschema.Schema, obj map[string]any, ptr string) error {
	id, err := b.str(obj["$id"], ptr)
	if err != nil {
		return err
	}
	u, err := url.Parse(id)
	if err != nil {
		return b.invalid(ptr, "%q is not a URI reference", printable(id))
	}
	_, hasRef := obj["$ref"]
	if b.draft == draft7 && hasRef {
		return nil // draft-07 ignores the siblings of $ref, and so does the library
	}
	if b.draft == draft7 && strings.HasPrefix(id, "#") {
		s.ID = id
		return b.anchor(s, id[1:], ptr)
	}
	if ptr != "/$id" {
		return b.unsupported(ptr, "$id is only supported at the top level: refer to subschemas under $defs by \"#/$defs/...\"")
	}
	if u.Fragment != "" {
		return b.invalid(ptr, "%q: an $id must not have a fragment", printable(id))
	}
	s.ID = id
	return nil
}

// resolveRefs finds what each $ref refers to, as the library will: against
// the base (and the root's $id), by JSON Pointer or anchor. A reference to
// any other document is refused here, with its URL.
func (b *builder) resolveRefs(base string) error {
	baseURL, err := url.Parse(base)
	if err != nil {
		return err
	}
	rootURL := baseURL
	if id := b.root.ID; id != "" && !strings.HasPrefix(id, "#") {
		u, _ := url.Parse(id) // checked in id
		rootURL = baseURL.ResolveReference(u)
	}
	docs := []string{baseURL.String(), rootURL.String()}
	for _, s := range b.refs {
		ptr := b.loc[s]
		u, err := url.Parse(s.Ref)
		if err != nil {
			return b.invalid(ptr+"/$ref", "%q is not a URI reference", printable(s.Ref))
		}
		abs := rootURL.ResolveReference(u)
		doc := *abs
		doc.Fragment = ""
		if !slices.Contains(docs, doc.String()) {
			if isMeta(doc.String()) {
				return fmt.Errorf("%s: reference to the meta-schema %q: only references inside the schema are allowed", b.field, printable(doc.String()))
			}
			return fmt.Errorf("%s: %w", b.field, &leaveError{doc.String()})
		}
		var target *jsonschema.Schema
		if frag := abs.Fragment; frag != "" && !strings.HasPrefix(frag, "/") {
			target = b.anchors[frag]
		} else {
			target = b.at[canonicalPointer(frag)]
		}
		if target == nil {
			return b.unsupported(ptr, "$ref %q does not refer to a schema in the manifest", printable(s.Ref))
		}
		b.ref[s] = target
	}
	return nil
}

// canonicalPointer writes a JSON Pointer with each token escaped the one
// way build does.
func canonicalPointer(p string) string {
	if p == "" {
		return ""
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		t = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
		toks[i] = ptrEscaper.Replace(t)
	}
	return "/" + strings.Join(toks, "/")
}

var simpleTypeNames = []string{"array", "boolean", "integer", "null", "number", "object", "string"}

func (b *builder) types(s *jsonschema.Schema, v any, ptr string) error {
	if t, ok := v.(string); ok {
		if !slices.Contains(simpleTypeNames, t) {
			return b.invalid(ptr, "%q is not a type: want one of %s", printable(t), strings.Join(simpleTypeNames, ", "))
		}
		s.Type = t
		return nil
	}
	ts, err := b.names(v, ptr)
	if err != nil {
		return b.invalid(ptr, "want a type name or an array of unique type names")
	}
	if len(ts) == 0 {
		return b.invalid(ptr, "want at least one type")
	}
	for _, t := range ts {
		if !slices.Contains(simpleTypeNames, t) {
			return b.invalid(ptr, "%q is not a type: want one of %s", printable(t), strings.Join(simpleTypeNames, ", "))
		}
	}
	s.Types = ts
	return nil
}

// dependencies is draft-07's keyword: each value a schema or the names of
// properties. Draft 2020-12 split it into dependentSchemas and
// dependentRequired, and the library validates it only in draft-07; rather
// than ignore it there, it is refused.
func (b *builder) dependencies(s *jsonschema.Schema, v any, ptr string) error {
	if b.draft != draft7 {
		return b.unsupported(ptr, "dependencies is draft-07: in draft 2020-12 write dependentRequired or dependentSchemas")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return b.invalid(ptr, "want an object")
	}
	for _, k := range sortedKeys(m) {
		p := ptr + "/" + ptrEscaper.Replace(k)
		if _, isArray := m[k].([]any); isArray {
			names, err := b.names(m[k], p)
			if err != nil {
				return err
			}
			if s.DependencyStrings == nil {
				s.DependencyStrings = map[string][]string{}
			}
			s.DependencyStrings[k] = names
			continue
		}
		sub, err := b.build(m[k], p)
		if err != nil {
			return err
		}
		if s.DependencySchemas == nil {
			s.DependencySchemas = map[string]*jsonschema.Schema{}
		}
		s.DependencySchemas[k] = sub
	}
	return nil
}

func (b *builder) str(v any, ptr string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", b.invalid(ptr, "want a string")
	}
	return s, nil
}

// names reads an array of unique strings.
func (b *builder) names(v any, ptr string) ([]string, error) {
	vs, ok := v.([]any)
	if !ok {
		return nil, b.invalid(ptr, "want an array of strings")
	}
	out := make([]string, len(vs))
	for i, e := range vs {
		s, ok := e.(string)
		if !ok {
			return nil, b.invalid(ptr, "want an array of strings")
		}
		if slices.Contains(out[:i], s) {
			return nil, b.invalid(ptr, "%q is listed twice", printable(s))
		}
		out[i] = s
	}
	return out, nil
}

func (b *builder) number(v any, ptr string) (float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, b.invalid(ptr, "want a number")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, b.invalid(ptr, "%s is out of range", printable(string(n)))
	}
	return f, nil
}

// count reads a non-negative integer. Larger than any string, array or
// object an argument can be, it is capped at MaxInt32, as the library's
// own decoding does on 32-bit machines.
func (b *builder) count(v any, ptr string) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, b.invalid(ptr, "want a non-negative integer")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || f < 0 || f != math.Trunc(f) {
		return 0, b.invalid(ptr, "want a non-negative integer")
	}
	return int(min(f, math.MaxInt32)), nil
}

// value converts a JSON value (enum, const) into what the library
// compares: numbers as int64 when whole and in range, float64 otherwise.
// A json.Number would not do: the library takes it for a string.
func (b *builder) value(v any, ptr string) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, b.invalid(ptr, "%s is out of range", printable(string(v)))
		}
		return f, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = b.value(e, ptr); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = b.value(e, ptr); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

func (b *builder) schemaMap(v any, ptr string) (map[string]*jsonschema.Schema, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, b.invalid(ptr, "want an object whose values are schemas")
	}
	out := make(map[string]*jsonschema.Schema, len(m))
	for _, k := range sortedKeys(m) {
		s, err := b.build(m[k], ptr+"/"+ptrEscaper.Replace(k))
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func (b *builder) schemaArray(v any, ptr string) ([]*jsonschema.Schema, error) {
	vs, ok := v.([]any)
	if !ok || len(vs) == 0 {
		return nil, b.invalid(ptr, "want a non-empty array of schemas")
	}
	out := make([]*jsonschema.Schema, len(vs))
	for i, e := range vs {
		s, err := b.build(e, ptr+"/"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
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
