package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
)

// Bounds on one call's arguments.
const (
	// MaxArgv bounds the bytes of the argv that Argv builds, so that one
	// call cannot hand a module a command line of unbounded size.
	MaxArgv = 1 << 20
	// MaxItems bounds the items of one array argument: validation applies
	// the items' schema to each, and compares each pair for uniqueItems.
	MaxItems = 1024
)

// maxNumberLen bounds a json.Number argument: the validator turns numbers
// into exact rationals, whose cost grows with the digits.
const maxNumberLen = 64

// jsonNumberRE is JSON's number grammar; json.Number values built by hand
// are checked against it.
var jsonNumberRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`) })

// Validate checks arguments, as decoded from JSON (numbers as float64 or
// json.Number) or as returned by ParseFlags, against the tool's input
// schema. Arguments that are not parameters, objects, arrays of anything
// but scalars, NUL bytes in strings and integers outside int64 are refused
// too, since no argv could carry them. The error wraps ErrArgs and names the
// first offending argument and why in one line, e.g.
// "--max: expected integer, got string".
func (t *Tool) Validate(args map[string]any) error {
	_, err := t.check(args)
	return err
}

// check validates args and returns them normalized as normalizeArg does:
// what it validates is what Argv writes.
func (t *Tool) check(args map[string]any) (map[string]any, error) {
	inst := make(map[string]any, len(args))
	for _, name := range slices.Sorted(maps.Keys(args)) {
		p := t.byName[name]
		if p == nil {
			return nil, fmt.Errorf("%w: %s: unknown argument", ErrArgs, label(name))
		}
		v, err := normalizeArg(p, args[name])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s", ErrArgs, p.Flag(), err)
		}
		inst[name] = v
	}
	if err := t.checkWork(inst); err != nil {
		return nil, err
	}
	if err := t.validate(inst); err != nil {
		return nil, err
	}
	return inst, nil
}

// validate checks normalized arguments against the input schema. The
// library decides; the parameters' keywords then say why it refused, in
// one line about the first parameter refused. "format", which the library
// does not assert, is asserted here.
func (t *Tool) validate(inst map[string]any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: arguments: %s: %s", ErrArgs, errLibrary, shorten(sanitize(fmt.Sprint(r))))
		}
	}()
	lerr := t.input.Validate(inst)
	if lerr == nil && !t.formats {
		return nil
	}
	for i := range t.params {
		p := &t.params[i]
		v, given := inst[p.Name]
		var r string
		switch {
		case !given && p.Required && lerr != nil:
			r = "required but not given"
		case given:
			r = why(p, t.schema[p.Name], v, lerr != nil)
		}
		if r != "" {
			return fmt.Errorf("%w: %s: %s", ErrArgs, p.Flag(), r)
		}
	}
	if lerr == nil {
		return nil
	}
	// The library refused what no keyword explains: say what it said.
	return fmt.Errorf("%w: arguments: do not match the input schema: %s", ErrArgs, shorten(sanitize(lerr.Error())))
}

// why says why v, a normalized value of parameter p, breaks p's schema s,
// or "" when it does not. With all false, it asserts "format" only.
func why(p *Param, s *jsonschema.Schema, v any, all bool) string {
	if v == nil {
		if p.Nullable || !all {
			return ""
		}
		return fmt.Sprintf("expected %s, got null", p.Type)
	}
	if r := whyValue(s, p.Type, v, all); r != "" {
		return r
	}
	items, ok := v.([]any)
	if !ok || s.Items == nil {
		return ""
	}
	for i, e := range items {
		if r := whyValue(s.Items, p.ItemType, e, all); r != "" {
			return fmt.Sprintf("item %d: %s", i, r)
		}
	}
	return ""
}

// whyValue is the first keyword of s, in the table's order, that refuses
// v, a value of type typ.
func whyValue(s *jsonschema.Schema, typ string, v any, all bool) string {
	if all {
		if got := jsonType(v); got != typ && (typ != "number" || got != "integer") {
			return fmt.Sprintf("expected %s, got %s", typ, typeName(v))
		}
	}
	for _, k := range keywords {
		if k.why != nil && (all || k.name == "format") {
			if r := k.why(s, v); r != "" {
				return r
			}
		}
	}
	return ""
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

// maxWork bounds the work of validating one set of arguments, in weight
// units times bytes: about a second of the validator's time at worst.
const maxWork = 1 << 27

// checkWork refuses arguments whose validation could take long: each
// value's bytes (16 at least) times the weight of the schema nodes that
// may apply to it. Only a schema with many patterns, or many subschemas,
// meets a big argument here; the error names the argument that costs most.
func (t *Tool) checkWork(inst map[string]any) error {
	total, most, mostName := 0, 0, ""
	for _, name := range sortedKeys(inst) {
		w := t.weight[name] * valueSize(inst[name])
		total += w
		if w > most {
			most, mostName = w, name
		}
	}
	if total > maxWork {
		return fmt.Errorf("%w: %s: too large to check against this tool's schema: shorten the value", ErrArgs, t.labelOf(mostName))
	}
	return nil
}

func valueSize(v any) int {
	switch v := v.(type) {
	case string:
		return 16 + len(v)
	case []any:
		n := 16
		for _, e := range v {
			n += valueSize(e)
		}
		return n
	}
	return 16
}

// label names an argument in an error: its flag when it is a parameter,
// else the quoted name.
func label(name string) string {
	if paramRE().MatchString(name) {
		return "--" + name
	}
	return strconv.Quote(printable(name))
}

func (t *Tool) labelOf(name string) string {
	if p := t.byName[name]; p != nil {
		return p.Flag()
	}
	return label(name)
}

func normalizeArg(p *Param, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return normalizeScalar(v, p.Type)
	}
	if _, isBytes := v.([]byte); isBytes {
		return nil, fmt.Errorf("expected %s, got bytes", p.Type)
	}
	if p.Type != "array" {
		return nil, fmt.Errorf("expected %s, got array", p.Type)
	}
	if rv.Len() > MaxItems {
		return nil, fmt.Errorf("%d items, more than the %d allowed", rv.Len(), MaxItems)
	}
	out := make([]any, rv.Len())
	for i := range out {
		e := rv.Index(i).Interface()
		if e != nil && reflect.ValueOf(e).Kind() == reflect.Slice {
			return nil, fmt.Errorf("item %d: expected %s, got array", i, p.ItemType)
		}
		n, err := normalizeScalar(e, p.ItemType)
		if err != nil {
			return nil, fmt.Errorf("item %d: %s", i, err)
		}
		out[i] = n
	}
	return out, nil
}

// normalizeScalar accepts the scalar kinds that JSON decoding and
// ParseFlags produce. A number for an integer parameter becomes int64 when
// whole, one for a number parameter float64: the values ParseFlags gives,
// so what is validated is exactly what Argv passes on.
func normalizeScalar(v any, typ string) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return nil, errors.New("contains a NUL byte")
		}
		return x, nil
	case json.Number:
		if len(x) > maxNumberLen || !jsonNumberRE().MatchString(string(x)) {
			return nil, fmt.Errorf("%q is not a JSON number of at most %d characters", printable(string(x)), maxNumberLen)
		}
		if typ == "integer" {
			if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return i, nil
			}
			// Whole but written as 1e3 or 100.0; short, so exact is cheap.
			if r, ok := new(big.Rat).SetString(string(x)); ok && r.IsInt() {
				if !r.Num().IsInt64() {
					return nil, fmt.Errorf("%s is out of range for a 64-bit integer", x)
				}
				return r.Num().Int64(), nil
			}
		}
		// A number for a parameter of another type becomes a float64 as
		// well, for the schema to refuse by type: the library would take
		// a json.Number for a string.
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("%s is out of range", x)
		}
		return f, nil
	case float32:
		return normalizeScalar(float64(x), typ)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v is not a finite number", x)
		}
		if typ == "integer" && x == math.Trunc(x) {
			if !inInt64(x) {
				return nil, fmt.Errorf("%v is out of range for a 64-bit integer", x)
			}
			return int64(x), nil
		}
		return x, nil
	case map[string]any:
		return nil, fmt.Errorf("expected %s, got object", typ)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("%d is out of range for a 64-bit integer", rv.Uint())
		}
		return int64(rv.Uint()), nil
	case reflect.Map, reflect.Struct:
		return nil, fmt.Errorf("expected %s, got object", typ)
	}
	return nil, fmt.Errorf("unsupported value of Go type %T", v)
}

func inInt64(f float64) bool {
	return f >= -(1<<63) && f < 1<<63
}

// display shows an argument's value in an error.
func display(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(printable(s))
	}
	if v == nil {
		return "null"
	}
	if s, err := formatScalar(v); err == nil {
		return s
	}
	return fmt.Sprintf("%T", v)
}

// shorten cuts a message that quotes a long hostile value.
func shorten(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return head(s, max) + "…"
}

// Argv validates args and lays them out as the module's command line:
// flags first in Params order ("--name value", or "--name=value" with
// Args.Equals), booleans as "--name" when true and not at all when false,
// arrays as the flag repeated per item, then the positional values in
// order. Null arguments are left out, as are arguments not given: defaults
// are the module's to apply. When a positional value starts with "-", a
// "--" goes before the positional values so that the module cannot take it
// for a flag. The error wraps ErrArgs.
func (t *Tool) Argv(args map[string]any) ([]string, error) {
	inst, err := t.check(args)
	if err != nil {
		return nil, err
	}
	var argv, pos []string
	var missing *Param // the first positional parameter not given
	dash := false
	for i := range t.params {
		p := &t.params[i]
		v := inst[p.Name]
		if p.Position >= 0 {
			if v == nil {
				if missing == nil {
					missing = p
				}
				continue
			}
			if missing != nil {
				return nil, fmt.Errorf("%w: %s given without %s: positional arguments fill their places in order", ErrArgs, p.Flag(), missing.Flag())
			}
			vals, err := values(p, v)
			if err != nil {
				return nil, err
			}
			for _, s := range vals {
				dash = dash || strings.HasPrefix(s, "-")
			}
			pos = append(pos, vals...)
			continue
		}
		if v == nil {
			continue
		}
		if p.Type == "boolean" {
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%w: %s: expected boolean, got %T", ErrArgs, p.Flag(), v)
			}
			if b {
				argv = append(argv, "--"+p.Name)
			}
			continue
		}
		vals, err := values(p, v)
		if err != nil {
			return nil, err
		}
		for _, s := range vals {
			if t.m.Args.Equals {
				argv = append(argv, "--"+p.Name+"="+s)
			} else {
				argv = append(argv, "--"+p.Name, s)
			}
		}
	}
	if dash {
		argv = append(argv, "--")
	}
	argv = append(argv, pos...)
	n := 0
	for _, a := range argv {
		n += len(a) + 1
	}
	if n > MaxArgv {
		return nil, fmt.Errorf("%w: arguments: the command line would be %d bytes, more than the %d allowed", ErrArgs, n, MaxArgv)
	}
	return argv, nil
}

// values renders one argument as argv strings: one, or one per item.
func values(p *Param, v any) ([]string, error) {
	if p.Type != "array" {
		s, err := formatScalar(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s", ErrArgs, p.Flag(), err)
		}
		return []string{s}, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: expected array, got %T", ErrArgs, p.Flag(), v)
	}
	out := make([]string, 0, len(items))
	for i, e := range items {
		if e == nil {
			return nil, fmt.Errorf("%w: %s: item %d: null cannot be passed on a command line", ErrArgs, p.Flag(), i)
		}
		s, err := formatScalar(e)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: item %d: %s", ErrArgs, p.Flag(), i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// formatScalar writes a normalized scalar the way a command-line parser
// reads it back: integers without ".0" or exponent, other numbers in the
// shortest form that parses back to the same float64.
func formatScalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return formatFloat(x), nil
	case json.Number:
		return string(x), nil
	}
	return "", fmt.Errorf("cannot pass a %T on a command line", v)
}

// formatFloat writes plain decimals where they stay short, as JavaScript
// does, and an exponent otherwise.
func formatFloat(f float64) string {
	if a := math.Abs(f); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ParseFlags turns command-line strings into typed arguments for Validate
// and Argv: a string as is, an integer by strconv.ParseInt (int64), a
// number by strconv.ParseFloat (float64, finite), a boolean from "true",
// "false" or "" (true), an array from the repeated values ([]any). Values
// for positional parameters are keyed by name like the rest. An empty list
// leaves the parameter out; several values for a parameter that is not an
// array are refused. The error wraps ErrArgs and names the flag.
func (t *Tool) ParseFlags(values map[string][]string) (map[string]any, error) {
	out := make(map[string]any, len(values))
	for _, name := range slices.Sorted(maps.Keys(values)) {
		vs := values[name]
		p := t.byName[name]
		if p == nil {
			return nil, fmt.Errorf("%w: %s: unknown flag", ErrArgs, label(name))
		}
		if len(vs) == 0 {
			continue
		}
		if p.Type != "array" {
			if len(vs) > 1 {
				return nil, fmt.Errorf("%w: %s: given %d times, want once", ErrArgs, p.Flag(), len(vs))
			}
			v, err := parseScalar(p.Type, vs[0])
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %s", ErrArgs, p.Flag(), err)
			}
			out[name] = v
			continue
		}
		if len(vs) > MaxItems {
			return nil, fmt.Errorf("%w: %s: %d values, more than the %d allowed", ErrArgs, p.Flag(), len(vs), MaxItems)
		}
		items := make([]any, len(vs))
		for i, s := range vs {
			v, err := parseScalar(p.ItemType, s)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: value %d: %s", ErrArgs, p.Flag(), i+1, err)
			}
			items[i] = v
		}
		out[name] = items
	}
	return out, nil
}

func parseScalar(typ, s string) (any, error) {
	switch typ {
	case "integer":
		i, err := strconv.ParseInt(s, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%q is out of range for a 64-bit integer", printable(s))
		}
		if err != nil {
			return nil, fmt.Errorf("expected integer, got %q", printable(s))
		}
		return i, nil
	case "number":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("expected number, got %q", printable(s))
		}
		return f, nil
	case "boolean":
		switch s {
		case "", "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("expected true or false, got %q", printable(s))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, errors.New("contains a NUL byte")
	}
	return s, nil
}
