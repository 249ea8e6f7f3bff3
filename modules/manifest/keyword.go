package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// place is where in a manifest's schemas a keyword may be written.
type place uint8

const (
	inRoot   place = 1 << iota // the top level of inputSchema
	inParam                    // a parameter: a property of inputSchema
	inItems                    // the items of an array parameter
	inOutput                   // anywhere in outputSchema
)

// inValue is where a keyword that constrains one value may be written.
const inValue = inParam | inItems | inOutput

// keyword is one JSON Schema keyword that a manifest may write. The table
// keywords is the whole of what a manifest's schemas may say: a flag holds
// one scalar, or repeats for an array of scalars, so a parameter takes the
// keywords that constrain such a value and the annotations MCP shows.
// Anything else (combinators, references, conditionals, object keywords on
// a parameter) is refused with the parameter and the keyword named, rather
// than ignored: a crafted manifest is the normal case, and a constraint we
// skipped would be one the author thinks holds.
type keyword struct {
	name string
	in   place
	// types are the parameter types the keyword applies to; nil for all.
	// A keyword on a parameter of another type is refused: it would
	// never constrain anything, which is a mistake in the manifest.
	types []string
	// set checks the keyword's value v (numbers as json.Number) and
	// stores it on s. An error says what is wrong with v, without the
	// location, which the builder adds.
	set func(b *builder, s *jsonschema.Schema, v any, in place, at string) error
	// why says, for a value the library refused, why this keyword refuses
	// it, or "" when it does not. It is nil for annotations. The library
	// decides; why only explains, in the words of a command line.
	why func(s *jsonschema.Schema, v any) string
}

var (
	numeric = []string{"integer", "number"}
	text    = []string{"string"}
	array   = []string{"array"}
)

// keywords is in the order their reasons are looked for. It is set in init
// because its parsers build subschemas, which look keywords up.
var keywords []keyword

func init() {
	keywords = []keyword{
		{name: "$schema", in: inRoot | inOutput, set: setDraft},
		{name: "$comment", in: inRoot | inValue, set: setAs("a string", func(s *jsonschema.Schema, v string) { s.Comment = v })},
		{name: "title", in: inRoot | inValue, set: setAs("a string", func(s *jsonschema.Schema, v string) { s.Title = v })},
		{name: "description", in: inRoot | inValue, set: setAs("a string", func(s *jsonschema.Schema, v string) { s.Description = v })},
		{name: "type", in: inRoot | inValue, set: setType},
		{name: "properties", in: inRoot | inOutput, set: setProperties},
		{name: "required", in: inRoot | inOutput, set: setRequired},
		{name: "additionalProperties", in: inRoot | inOutput, set: setAdditional},
		{name: "items", in: inParam | inOutput, types: array, set: setItems},
		{name: "default", in: inValue, set: func(_ *builder, s *jsonschema.Schema, v any, _ place, _ string) error {
			var err error
			s.Default, err = json.Marshal(v)
			return err
		}},
		{name: "examples", in: inValue, set: func(_ *builder, s *jsonschema.Schema, v any, _ place, _ string) error {
			vs, ok := v.([]any)
			if !ok {
				return errors.New("want an array")
			}
			s.Examples = vs
			return nil
		}},
		{name: "readOnly", in: inValue, set: setAs("a boolean", func(s *jsonschema.Schema, v bool) { s.ReadOnly = v })},
		{name: "writeOnly", in: inValue, set: setAs("a boolean", func(s *jsonschema.Schema, v bool) { s.WriteOnly = v })},
		{name: "deprecated", in: inValue, set: setAs("a boolean", func(s *jsonschema.Schema, v bool) { s.Deprecated = v })},
		{name: "enum", in: inValue, set: setEnum, why: whyEnum},
		{name: "const", in: inValue, set: setConst, why: whyConst},
		{name: "minimum", in: inValue, types: numeric, set: setNumber(func(s *jsonschema.Schema) **float64 { return &s.Minimum }),
			why: whyBound(func(s *jsonschema.Schema) *float64 { return s.Minimum }, func(c int) bool { return c < 0 }, "at least")},
		{name: "maximum", in: inValue, types: numeric, set: setNumber(func(s *jsonschema.Schema) **float64 { return &s.Maximum }),
			why: whyBound(func(s *jsonschema.Schema) *float64 { return s.Maximum }, func(c int) bool { return c > 0 }, "at most")},
		{name: "exclusiveMinimum", in: inValue, types: numeric, set: setNumber(func(s *jsonschema.Schema) **float64 { return &s.ExclusiveMinimum }),
			why: whyBound(func(s *jsonschema.Schema) *float64 { return s.ExclusiveMinimum }, func(c int) bool { return c <= 0 }, "more than")},
		{name: "exclusiveMaximum", in: inValue, types: numeric, set: setNumber(func(s *jsonschema.Schema) **float64 { return &s.ExclusiveMaximum }),
			why: whyBound(func(s *jsonschema.Schema) *float64 { return s.ExclusiveMaximum }, func(c int) bool { return c >= 0 }, "less than")},
		{name: "multipleOf", in: inValue, types: numeric, set: setNumber(func(s *jsonschema.Schema) **float64 { return &s.MultipleOf }), why: whyMultiple},
		{name: "minLength", in: inValue, types: text, set: setCount(func(s *jsonschema.Schema) **int { return &s.MinLength }), why: whyLength},
		{name: "maxLength", in: inValue, types: text, set: setCount(func(s *jsonschema.Schema) **int { return &s.MaxLength }), why: whyLength},
		{name: "pattern", in: inValue, types: text, set: setPattern, why: whyPattern},
		{name: "format", in: inValue, types: text, set: setFormat, why: whyFormat},
		{name: "minItems", in: inParam | inOutput, types: array, set: setCount(func(s *jsonschema.Schema) **int { return &s.MinItems }), why: whyItems},
		{name: "maxItems", in: inParam | inOutput, types: array, set: setCount(func(s *jsonschema.Schema) **int { return &s.MaxItems }), why: whyItems},
		{name: "uniqueItems", in: inParam | inOutput, types: array, set: setAs("a boolean", func(s *jsonschema.Schema, v bool) { s.UniqueItems = v }), why: whyUnique},
	}
}

// lookup finds a keyword by its exact name: JSON Schema keywords are case
// sensitive, and a "Maximum" the library's encoding/json would take for
// "maximum" is refused instead.
func lookup(name string) *keyword {
	for i := range keywords {
		if keywords[i].name == name {
			return &keywords[i]
		}
	}
	return nil
}

// allowed lists the keywords allowed at in, for the refusal of another.
func allowed(in place) string {
	var names []string
	for _, k := range keywords {
		if k.in&in != 0 {
			names = append(names, k.name)
		}
	}
	return strings.Join(names, ", ")
}

// setAs sets a keyword whose value is a T (a string, a boolean); what
// names T in the refusal of another value.
func setAs[T any](what string, f func(*jsonschema.Schema, T)) func(*builder, *jsonschema.Schema, any, place, string) error {
	return func(_ *builder, s *jsonschema.Schema, v any, _ place, _ string) error {
		x, ok := v.(T)
		if !ok {
			return errors.New("want " + what)
		}
		f(s, x)
		return nil
	}
}

func setNumber(f func(*jsonschema.Schema) **float64) func(*builder, *jsonschema.Schema, any, place, string) error {
	return func(_ *builder, s *jsonschema.Schema, v any, _ place, _ string) error {
		n, ok := v.(json.Number)
		if !ok {
			return errors.New("want a number")
		}
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return fmt.Errorf("%s is out of range", printable(string(n)))
		}
		if x <= 0 && f(s) == &s.MultipleOf { // the one that must be positive
			return errors.New("want a number more than 0")
		}
		*f(s) = &x
		return nil
	}
}

// setCount reads a non-negative integer, capped at MaxInt32: no argument
// is longer.
func setCount(f func(*jsonschema.Schema) **int) func(*builder, *jsonschema.Schema, any, place, string) error {
	return func(_ *builder, s *jsonschema.Schema, v any, _ place, _ string) error {
		n, ok := v.(json.Number)
		x, err := strconv.ParseFloat(string(n), 64)
		if !ok || err != nil && !errors.Is(err, strconv.ErrRange) || x < 0 || x != math.Trunc(x) {
			return errors.New("want a non-negative integer")
		}
		c := int(min(x, math.MaxInt32))
		*f(s) = &c
		return nil
	}
}

var errScalar = errors.New("want scalars: a flag holds a string, a number or a boolean")

// scalar converts a JSON scalar (enum, const) into what the library
// compares: numbers as int64 when whole and in range, float64 otherwise.
// A json.Number would not do: the library takes it for a string.
func scalar(v any, in place) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, fmt.Errorf("%s is out of range", printable(string(v)))
		}
		return f, nil
	case []any:
		if in != inOutput {
			return nil, errScalar
		}
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = scalar(e, in); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		if in != inOutput {
			return nil, errScalar
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = scalar(e, in); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

func setEnum(_ *builder, s *jsonschema.Schema, v any, in place, _ string) error {
	vs, ok := v.([]any)
	if !ok || len(vs) == 0 {
		return errors.New("want a non-empty array")
	}
	if len(vs) > maxEnum {
		return fmt.Errorf("%d values, more than the %d allowed", len(vs), maxEnum)
	}
	s.Enum = make([]any, len(vs))
	for i, e := range vs {
		var err error
		if s.Enum[i], err = scalar(e, in); err != nil {
			return err
		}
	}
	return nil
}

func setConst(_ *builder, s *jsonschema.Schema, v any, in place, _ string) error {
	c, err := scalar(v, in)
	s.Const = &c
	return err
}

// maxPatternInsts bounds the instructions of a schema's regular
// expressions together: the library compiles every pattern when the tool
// is compiled (on every call), and matching costs the instructions times
// the bytes matched.
const maxPatternInsts = 1 << 14

func setPattern(b *builder, s *jsonschema.Schema, v any, _ place, _ string) error {
	p, ok := v.(string)
	if !ok {
		return errors.New("want a string")
	}
	n, err := patternInsts(p)
	if err != nil {
		return fmt.Errorf("%q is not a valid regular expression: %w", printable(p), err)
	}
	if b.insts += n; b.insts > maxPatternInsts {
		return fmt.Errorf("the patterns together compile to more than %d instructions: simplify them", maxPatternInsts)
	}
	s.Pattern = p
	return nil
}

func setFormat(_ *builder, s *jsonschema.Schema, v any, _ place, _ string) error {
	f, ok := v.(string)
	if !ok {
		return errors.New("want a string")
	}
	if formatCheck(f) == nil {
		return fmt.Errorf("%q is not a format a flag can check: want one of %s", printable(f), strings.Join(formatNames(), ", "))
	}
	s.Format = f
	return nil
}

// rat is a normalized number as an exact rational, as the library
// compares numbers.
func rat(v any) (*big.Rat, bool) {
	switch v := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(v), true
	case float64:
		return new(big.Rat).SetFloat64(v), true
	}
	return nil, false
}

// equal compares two normalized values as the library does: numbers by
// value, whatever their Go type.
func equal(a, b any) bool {
	ra, ok1 := rat(a)
	rb, ok2 := rat(b)
	if ok1 && ok2 {
		return ra.Cmp(rb) == 0
	}
	if ok1 || ok2 {
		return false
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func whyEnum(s *jsonschema.Schema, v any) string {
	if s.Enum == nil || slices.ContainsFunc(s.Enum, func(e any) bool { return equal(e, v) }) {
		return ""
	}
	vals := make([]string, 0, min(len(s.Enum), 8))
	for _, e := range s.Enum[:min(len(s.Enum), 8)] {
		vals = append(vals, display(e))
	}
	if len(s.Enum) > 8 {
		vals = append(vals, "…")
	}
	return fmt.Sprintf("must be one of %s, got %s", strings.Join(vals, ", "), display(v))
}

func whyConst(s *jsonschema.Schema, v any) string {
	if s.Const == nil || equal(*s.Const, v) {
		return ""
	}
	return fmt.Sprintf("must be %s, got %s", display(*s.Const), display(v))
}

func whyBound(get func(*jsonschema.Schema) *float64, fails func(int) bool, words string) func(*jsonschema.Schema, any) string {
	return func(s *jsonschema.Schema, v any) string {
		b := get(s)
		r, ok := rat(v)
		if b == nil || !ok || !fails(r.Cmp(new(big.Rat).SetFloat64(*b))) {
			return ""
		}
		return fmt.Sprintf("must be %s %s, got %s", words, formatFloat(*b), display(v))
	}
}

func whyMultiple(s *jsonschema.Schema, v any) string {
	r, ok := rat(v)
	if s.MultipleOf == nil || !ok {
		return ""
	}
	f, _ := r.Float64()
	if _, frac := math.Modf(f / *s.MultipleOf); frac == 0 {
		return ""
	}
	return fmt.Sprintf("must be a multiple of %s, got %s", formatFloat(*s.MultipleOf), display(v))
}

func whyLength(s *jsonschema.Schema, v any) string {
	str, ok := v.(string)
	if !ok {
		return ""
	}
	n := utf8.RuneCountInString(str)
	switch {
	case s.MinLength != nil && n < *s.MinLength:
		return fmt.Sprintf("must have at least %d characters, got %d", *s.MinLength, n)
	case s.MaxLength != nil && n > *s.MaxLength:
		return fmt.Sprintf("must have at most %d characters, got %d", *s.MaxLength, n)
	}
	return ""
}

// whyPattern compiles the pattern again: the library keeps its compiled
// copy private, and this runs only for a value the library refused.
func whyPattern(s *jsonschema.Schema, v any) string {
	str, ok := v.(string)
	if !ok || s.Pattern == "" {
		return ""
	}
	re, err := regexp.Compile(s.Pattern)
	if err != nil || re.MatchString(str) {
		return ""
	}
	return fmt.Sprintf("must match the pattern %q, got %s", printable(s.Pattern), display(v))
}

func whyFormat(s *jsonschema.Schema, v any) string {
	str, ok := v.(string)
	check := formatCheck(s.Format)
	if !ok || check == nil {
		return ""
	}
	if err := check(str); err != nil {
		return fmt.Sprintf("must be %s, got %s", err, display(v))
	}
	return ""
}

func whyItems(s *jsonschema.Schema, v any) string {
	a, ok := v.([]any)
	if !ok {
		return ""
	}
	switch {
	case s.MinItems != nil && len(a) < *s.MinItems:
		return fmt.Sprintf("must have at least %d items, got %d", *s.MinItems, len(a))
	case s.MaxItems != nil && len(a) > *s.MaxItems:
		return fmt.Sprintf("must have at most %d items, got %d", *s.MaxItems, len(a))
	}
	return ""
}

func whyUnique(s *jsonschema.Schema, v any) string {
	a, ok := v.([]any)
	if !ok || !s.UniqueItems {
		return ""
	}
	for i := range a {
		for j := i + 1; j < len(a); j++ {
			if equal(a[i], a[j]) {
				return fmt.Sprintf("items %d and %d are the same", i, j)
			}
		}
	}
	return ""
}
