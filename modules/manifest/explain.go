package manifest

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// The library says whether arguments are valid, but its error is one
// string, of the first failure met in map order, that locates the keyword
// in the schema and not the argument. So when the library refuses
// arguments, the explainer walks the schema over them as the library does
// and collects every failure with the argument (and item) it is about;
// the first by location and then by message is reported, so that the
// message does not depend on map order. The explainer also asserts
// "format" for draft-07 schemas, which the library ignores.

// violation is one reason arguments fail their schema.
type violation struct {
	// loc is the argument's name, then the item's index; empty for the
	// arguments as a whole.
	loc  []string
	kind violationKind
	// msg says why, for violationValue.
	msg string
	// names are the missing or unknown arguments, for the other kinds.
	names []string
	// prop is the argument whose presence requires names.
	prop string
}

type violationKind int

const (
	violationValue      violationKind = iota // msg says why
	violationRequired                        // names are required
	violationDependent                       // names are required when prop is given
	violationAdditional                      // names are not allowed
)

// explainer walks a compiled schema over normalized arguments: a
// map[string]any of nil, bool, string, int64, float64 and []any of those.
type explainer struct {
	c *schema
	// formats asserts "format".
	formats bool
}

// evaluated records what a subschema evaluated, for unevaluatedItems and
// unevaluatedProperties, as the library's annotations do.
type evaluated struct {
	allItems bool
	end      int // items below end were evaluated by prefixItems
	items    map[int]bool
	allProps bool
	props    map[string]bool
}

func (e *evaluated) merge(o *evaluated) {
	if e == nil {
		return
	}
	e.allItems = e.allItems || o.allItems
	e.end = max(e.end, o.end)
	for i := range o.items {
		e.noteItem(i)
	}
	e.allProps = e.allProps || o.allProps
	for p := range o.props {
		e.noteProp(p)
	}
}

func (e *evaluated) noteItem(i int) {
	if e.items == nil {
		e.items = map[int]bool{}
	}
	e.items[i] = true
}

func (e *evaluated) noteProp(p string) {
	if e.props == nil {
		e.props = map[string]bool{}
	}
	e.props[p] = true
}

// eval returns every violation of v against s, at loc. When there is none
// it adds what s evaluated to caller.
func (x *explainer) eval(s *jsonschema.Schema, v any, loc []string, caller *evaluated) []violation {
	var out []violation
	add := func(format string, args ...any) {
		out = append(out, violation{loc: loc, msg: fmt.Sprintf(format, args...)})
	}
	if x.c.falsy[s] {
		return []violation{{loc: loc, msg: "not allowed"}}
	}
	var ev evaluated
	if s.Ref != "" {
		out = append(out, x.eval(x.c.ref[s], v, loc, &ev)...)
		if x.c.draft == draft7 {
			if len(out) == 0 {
				caller.merge(&ev)
			}
			return out
		}
	}

	if s.Type != "" || s.Types != nil {
		want := s.Types
		if s.Type != "" {
			want = []string{s.Type}
		}
		got := jsonType(v)
		if !slices.Contains(want, got) && !(got == "integer" && slices.Contains(want, "number")) {
			add("expected %s, got %s", strings.Join(want, " or "), typeName(v))
		}
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return jsonschema.Equal(e, v) }) {
		want := make([]string, len(x.c.enum[s]))
		for i, e := range x.c.enum[s] {
			want[i] = enumString(e)
		}
		add("must be one of %s; got %s", strings.Join(want, ", "), display(v))
	}
	if s.Const != nil && !jsonschema.Equal(*s.Const, v) {
		want := enumString(*s.Const)
		if str, ok := (*s.Const).(string); ok {
			want = display(str)
		}
		add("must be %s; got %s", want, display(v))
	}
	if n, ok := ratOf(v); ok {
		if s.MultipleOf != nil {
			// As the library does it, in floating point.
			f, _ := n.Float64()
			if _, frac := math.Modf(f / *s.MultipleOf); frac != 0 {
				add("must be a multiple of %s, got %s", bound(*s.MultipleOf), display(v))
			}
		}
		cmp := func(f float64) int { return n.Cmp(new(big.Rat).SetFloat64(f)) }
		if s.Minimum != nil && cmp(*s.Minimum) < 0 {
			add("must be at least %s, got %s", bound(*s.Minimum), display(v))
		}
		if s.Maximum != nil && cmp(*s.Maximum) > 0 {
			add("must be at most %s, got %s", bound(*s.Maximum), display(v))
		}
		if s.ExclusiveMinimum != nil && cmp(*s.ExclusiveMinimum) <= 0 {
			add("must be more than %s, got %s", bound(*s.ExclusiveMinimum), display(v))
		}
		if s.ExclusiveMaximum != nil && cmp(*s.ExclusiveMaximum) >= 0 {
			add("must be less than %s, got %s", bound(*s.ExclusiveMaximum), display(v))
		}
	}
	if str, ok := v.(string); ok {
		n := utf8.RuneCountInString(str)
		if s.MinLength != nil && n < *s.MinLength {
			add("must have at least %d characters, got %d", *s.MinLength, n)
		}
		if s.MaxLength != nil && n > *s.MaxLength {
			add("must have at most %d characters, got %d", *s.MaxLength, n)
		}
		if re := x.c.pattern[s]; re != nil && re.get() != nil && !re.get().MatchString(str) {
			add("%q does not match the pattern %q", printable(str), printable(s.Pattern))
		}
		if x.formats && s.Format != "" {
			if known, err := checkFormat(s.Format, str); known && err != nil {
				add("%q is not a valid %s: %s", printable(str), s.Format, err)
			}
		}
	}

	for _, c := range s.AllOf {
		out = append(out, x.eval(c, v, loc, &ev)...)
	}
	if s.AnyOf != nil {
		var all []violation
		ok := false
		for _, c := range s.AnyOf {
			vs := x.eval(c, v, loc, &ev)
			ok = ok || len(vs) == 0
			all = append(all, vs...)
		}
		if !ok {
			out = append(out, all...)
		}
	}
	if s.OneOf != nil {
		var all []violation
		var valid []int
		for i, c := range s.OneOf {
			vs := x.eval(c, v, loc, &ev)
			if len(vs) == 0 {
				valid = append(valid, i)
			}
			all = append(all, vs...)
		}
		switch {
		case len(valid) == 0:
			out = append(out, all...)
		case len(valid) > 1:
			add("matches more than one of the oneOf schemas (%d and %d)", valid[0], valid[1])
		}
	}
	if s.Not != nil && len(x.eval(s.Not, v, loc, nil)) == 0 {
		add("matches the schema under \"not\"")
	}
	if s.If != nil {
		c := s.Else
		if len(x.eval(s.If, v, loc, &ev)) == 0 {
			c = s.Then
		}
		if c != nil {
			out = append(out, x.eval(c, v, loc, &ev)...)
		}
	}

	switch v := v.(type) {
	case []any:
		out = append(out, x.array(s, v, loc, &ev)...)
	case map[string]any:
		out = append(out, x.object(s, v, loc, &ev)...)
	}
	if len(out) == 0 {
		caller.merge(&ev)
	}
	return out
}

func (x *explainer) array(s *jsonschema.Schema, v []any, loc []string, ev *evaluated) []violation {
	var out []violation
	add := func(format string, args ...any) {
		out = append(out, violation{loc: loc, msg: fmt.Sprintf(format, args...)})
	}
	item := func(c *jsonschema.Schema, i int) []violation {
		return x.eval(c, v[i], append(slices.Clip(loc), strconv.Itoa(i)), nil)
	}
	prefix := s.PrefixItems
	if x.c.draft == draft7 {
		prefix = s.ItemsArray
	}
	for i, c := range prefix {
		if i < len(v) {
			out = append(out, item(c, i)...)
		}
	}
	ev.end = max(ev.end, min(len(prefix), len(v)))
	rest := s.Items
	if x.c.draft == draft7 && s.ItemsArray != nil {
		rest = s.AdditionalItems
	}
	if rest != nil {
		for i := len(prefix); i < len(v); i++ {
			out = append(out, item(rest, i)...)
		}
		ev.allItems = true
	}
	if s.Contains != nil {
		n := 0
		for i := range v {
			if len(item(s.Contains, i)) == 0 {
				n++
				ev.noteItem(i)
			}
		}
		switch {
		case n == 0 && (s.MinContains == nil || *s.MinContains > 0):
			add("no item matches the schema under \"contains\"")
		case s.MinContains != nil && n < *s.MinContains:
			add("want at least %d items that match \"contains\", got %d", *s.MinContains, n)
		case s.MaxContains != nil && n > *s.MaxContains:
			add("want at most %d items that match \"contains\", got %d", *s.MaxContains, n)
		}
	}
	if s.MinItems != nil && len(v) < *s.MinItems {
		add("want at least %d items, got %d", *s.MinItems, len(v))
	}
	if s.MaxItems != nil && len(v) > *s.MaxItems {
		add("want at most %d items, got %d", *s.MaxItems, len(v))
	}
	if s.UniqueItems {
	dups:
		for i := range v {
			for j := range i {
				if jsonschema.Equal(v[i], v[j]) {
					add("items %d and %d are the same", j, i)
					break dups
				}
			}
		}
	}
	if s.UnevaluatedItems != nil && !ev.allItems {
		for i := ev.end; i < len(v); i++ {
			if !ev.items[i] {
				out = append(out, item(s.UnevaluatedItems, i)...)
			}
		}
		ev.allItems = true
	}
	return out
}

func (x *explainer) object(s *jsonschema.Schema, v map[string]any, loc []string, ev *evaluated) []violation {
	var out []violation
	names := sortedKeys(v)
	member := func(c *jsonschema.Schema, name string, val any) []violation {
		return x.eval(c, val, append(slices.Clip(loc), name), nil)
	}
	seen := map[string]bool{}
	for _, name := range names {
		if c := s.Properties[name]; c != nil {
			vs := member(c, name, v[name])
			out = append(out, vs...)
			seen[name] = len(vs) == 0
		}
	}
	pats := sortedKeys(s.PatternProperties)
	for i, lre := range x.c.patternProps[s] {
		c := s.PatternProperties[pats[i]]
		re := lre.get()
		for _, name := range names {
			if re != nil && re.MatchString(name) {
				vs := member(c, name, v[name])
				out = append(out, vs...)
				seen[name] = len(vs) == 0
			}
		}
	}
	if a := s.AdditionalProperties; a != nil {
		var extra []string
		for _, name := range names {
			if _, ok := seen[name]; !ok {
				extra = append(extra, name)
			}
		}
		if isFalse(a) {
			if extra != nil {
				out = append(out, violation{loc: loc, kind: violationAdditional, names: extra})
			}
		} else {
			for _, name := range extra {
				vs := member(a, name, v[name])
				out = append(out, vs...)
				seen[name] = len(vs) == 0
			}
		}
	}
	for name, ok := range seen {
		if ok {
			ev.noteProp(name)
		}
	}
	if s.PropertyNames != nil {
		for _, name := range names {
			out = append(out, member(s.PropertyNames, name, name)...)
		}
	}
	if s.MinProperties != nil && len(v) < *s.MinProperties {
		out = append(out, violation{loc: loc, msg: fmt.Sprintf("want at least %d arguments, got %d", *s.MinProperties, len(v))})
	}
	if s.MaxProperties != nil && len(v) > *s.MaxProperties {
		out = append(out, violation{loc: loc, msg: fmt.Sprintf("want at most %d arguments, got %d", *s.MaxProperties, len(v))})
	}
	missing := func(want []string) []string {
		var m []string
		for _, n := range want {
			if _, ok := v[n]; !ok {
				m = append(m, n)
			}
		}
		return m
	}
	if m := missing(s.Required); m != nil {
		out = append(out, violation{loc: loc, kind: violationRequired, names: m})
	}
	requires, schemas := s.DependentRequired, s.DependentSchemas
	if x.c.draft == draft7 {
		requires, schemas = s.DependencyStrings, s.DependencySchemas
	}
	for _, name := range sortedKeys(requires) {
		if _, ok := v[name]; ok {
			if m := missing(requires[name]); m != nil {
				out = append(out, violation{loc: loc, kind: violationDependent, names: m, prop: name})
			}
		}
	}
	for _, name := range sortedKeys(schemas) {
		if _, ok := v[name]; ok {
			out = append(out, x.eval(schemas[name], v, loc, ev)...)
		}
	}
	if s.UnevaluatedProperties != nil && !ev.allProps {
		for _, name := range names {
			if !ev.props[name] {
				out = append(out, member(s.UnevaluatedProperties, name, v[name])...)
			}
		}
		ev.allProps = true
	}
	return out
}

// isFalse reports a schema whose "not" is the empty schema, so that it
// refuses everything: for additionalProperties the library then reports
// every additional property at once.
func isFalse(s *jsonschema.Schema) bool {
	return s.Not != nil && reflect.ValueOf(*s.Not).IsZero()
}

// jsonType is the JSON Schema type of a normalized value, integers being
// whole numbers, as the library sees it.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	}
	return "object"
}

// typeName names a value's type in a message: every number is a number.
func typeName(v any) string {
	if t := jsonType(v); t != "integer" {
		return t
	}
	return "number"
}

func ratOf(v any) (*big.Rat, bool) {
	switch v := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(v), true
	case float64:
		return new(big.Rat).SetFloat64(v), true
	}
	return nil, false
}

// bound writes a schema's bound the way Argv writes numbers.
func bound(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.FormatInt(int64(f), 10)
	}
	return formatFloat(f)
}

// explain says why inst fails the tool's input schema, or returns false
// when the walk finds nothing: the first violation by location, then by
// message.
func (t *Tool) explain(inst map[string]any, formats bool) (string, bool) {
	x := &explainer{c: t.input, formats: formats}
	vs := x.eval(t.input.root, inst, nil, nil)
	if len(vs) == 0 {
		return "", false
	}
	msgs := make([]string, len(vs))
	keys := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = t.render(v)
		keys[i] = strings.Join(v.loc, "\x00") + "\x01" + msgs[i]
	}
	i := 0
	for j := range keys {
		if keys[j] < keys[i] {
			i = j
		}
	}
	return msgs[i], true
}

// render writes a violation in one line, naming the argument.
func (t *Tool) render(v violation) string {
	if len(v.loc) > 0 && v.kind != violationValue {
		// Inside an object argument: its properties are not arguments.
		where := t.labelOf(v.loc[0])
		if len(v.loc) > 1 {
			where += ": at " + printable(strings.Join(v.loc[1:], "/"))
		}
		names := printable(strings.Join(v.names, ", "))
		switch v.kind {
		case violationRequired:
			return fmt.Sprintf("%s: %s: required but not given", where, names)
		case violationDependent:
			return fmt.Sprintf("%s: %s: required when %s is given", where, names, printable(v.prop))
		case violationAdditional:
			return fmt.Sprintf("%s: %s: not allowed", where, names)
		}
	}
	switch v.kind {
	case violationRequired:
		return t.labels(v.names) + ": required but not given"
	case violationDependent:
		return fmt.Sprintf("%s: required when %s is given", t.labels(v.names), t.labelOf(v.prop))
	case violationAdditional:
		return t.labels(v.names) + ": unknown argument"
	}
	where := "arguments"
	if len(v.loc) > 0 {
		where = t.labelOf(v.loc[0])
		if len(v.loc) > 1 {
			where += ": item " + printable(strings.Join(v.loc[1:], "/"))
		}
	}
	return where + ": " + shorten(oneLine(v.msg))
}

func (t *Tool) labels(names []string) string {
	ls := make([]string, len(names))
	for i, n := range names {
		ls[i] = t.labelOf(n)
	}
	return strings.Join(ls, ", ")
}
