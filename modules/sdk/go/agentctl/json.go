package agentctl

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Object is a JSON object whose members keep the order they were given in.
type Object []Member

// Member is one member of an Object.
type Member struct {
	Key   string
	Value any
}

// Obj builds an Object from alternating keys and values, as log/slog does:
// Obj("host", h, "port", p). It panics on an odd count or a key that is not
// a string: both are bugs in the tool.
func Obj(kv ...any) Object {
	if len(kv)%2 != 0 {
		panic("agentctl.Obj: odd number of arguments")
	}
	o := make(Object, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			panic(fmt.Sprintf("agentctl.Obj: key %d is a %T, not a string", i/2, kv[i]))
		}
		o = append(o, Member{k, kv[i+1]})
	}
	return o
}

// AppendJSON appends v as compact JSON. It writes Object, nil, strings, bools,
// integers, floats (NaN and infinities as null), slices and arrays, maps with
// string keys (sorted), errors and fmt.Stringers (as their text) itself, with
// the same escaping as the other SDKs (see AppendQuote); anything else (a
// struct) goes through encoding/json.
func AppendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case Object:
		b = append(b, '{')
		for i, m := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendQuote(b, m.Key)
			b = append(b, ':')
			b = AppendJSON(b, m.Value)
		}
		return append(b, '}')
	case string:
		return AppendQuote(b, x)
	case []byte:
		return AppendQuote(b, string(x))
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int8, int16, int32, int64:
		return strconv.AppendInt(b, reflect.ValueOf(x).Int(), 10)
	case uint, uint8, uint16, uint32, uint64, uintptr:
		return strconv.AppendUint(b, reflect.ValueOf(x).Uint(), 10)
	case float32, float64:
		f := reflect.ValueOf(x).Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case error:
		return AppendQuote(b, x.Error())
	case fmt.Stringer:
		return AppendQuote(b, x.String())
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return append(b, "null"...)
		}
		return AppendJSON(b, rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(b, "[]"...)
		}
		b = append(b, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSON(b, rv.Index(i).Interface())
		}
		return append(b, ']')
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			keys := make([]string, 0, rv.Len())
			for _, k := range rv.MapKeys() {
				keys = append(keys, k.String())
			}
			sort.Strings(keys)
			o := make(Object, len(keys))
			for i, k := range keys {
				o[i] = Member{k, rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface()}
			}
			return AppendJSON(b, o)
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return AppendQuote(b, "agentctl: cannot encode "+err.Error())
	}
	return append(b, out...)
}

// AppendQuote appends s as a quoted JSON string: '"' and '\' escaped, \b \f
// \n \r \t, other control characters, DEL, U+2028 and U+2029 as \u00XX or
// \u2028, each byte that is not valid UTF-8 as \ufffd; all else as is.
func AppendQuote(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x7f {
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= 0x80 {
			r, size = utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError && r != '\u2028' && r != '\u2029' || size > 1 && r == utf8.RuneError {
				i += size // valid UTF-8 (including a real U+FFFD) goes as is
				continue
			}
		}
		b = append(b, s[start:i]...)
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == utf8.RuneError:
			b = append(b, `\ufffd`...)
		default:
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Quote returns s as a quoted JSON string (see AppendQuote).
func Quote(s string) string { return string(AppendQuote(nil, s)) }

// WriteJSON writes v (see AppendJSON) and a newline to w.
func WriteJSON(w io.Writer, v any) error {
	_, err := w.Write(append(AppendJSON(nil, v), '\n'))
	return err
}

// PrintJSON writes v and a newline to stdout.
func PrintJSON(v any) error { return WriteJSON(os.Stdout, v) }
