package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// object is a JSON object that keeps its keys in file order.
type object struct {
	keys []string
	vals []any // *object, []any, string, json.Number, bool or nil
}

func (o *object) index(k string) int {
	for i := len(o.keys) - 1; i >= 0; i-- { // the last duplicate wins, as in encoding/json
		if o.keys[i] == k {
			return i
		}
	}
	return -1
}

func editJSON(data []byte, r *request) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("trailing data after the top-level value")
		}
	}
	if err != nil {
		return nil, false, fail(2, "cannot parse %s as JSON: %v", r.file, err)
	}
	cur := v
	for i, part := range r.parts {
		o, ok := cur.(*object)
		if !ok {
			return nil, false, notMapping(r, i)
		}
		last := i == len(r.parts)-1
		j := o.index(part)
		if j < 0 {
			if !r.create {
				return nil, false, missing(r, i)
			}
			var nv any = &object{}
			if last {
				if err := r.setType(inferType(r.value), false); err != nil {
					return nil, false, err
				}
				nv = r.jsonValue()
			}
			o.keys, o.vals = append(o.keys, part), append(o.vals, nv)
			j = len(o.keys) - 1
			if last {
				break
			}
		} else if last {
			switch o.vals[j].(type) {
			case *object, []any:
				return nil, false, fail(3, "key %s: the value is not a scalar", r.key)
			}
			if err := r.keepJSONType(o.vals[j]); err != nil {
				return nil, false, err
			}
			newVal := r.jsonValue()
			if sameJSON(o.vals[j], newVal) {
				return nil, false, nil
			}
			o.vals[j] = newVal
			break
		}
		cur = o.vals[j]
	}
	var b bytes.Buffer
	if err := writeJSON(&b, v, ""); err != nil {
		return nil, false, fail(1, "cannot encode %s: %v", r.file, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), true, nil
}

// keepJSONType gives the request, when --type did not, the type of the
// value it replaces (a number with no fraction or exponent is an int); a
// null takes the type YAML would read the new text as.
func (r *request) keepJSONType(old any) error {
	switch o := old.(type) {
	case json.Number:
		if _, err := strconv.ParseInt(string(o), 10, 64); err == nil {
			return r.setType("int", true)
		}
		return r.setType("float", true)
	case bool:
		return r.setType("bool", true)
	case string:
		return r.setType("string", true)
	}
	return r.setType(inferType(r.value), false)
}

// jsonValue is the request's value as the JSON tree holds it.
func (r *request) jsonValue() any {
	switch t := r.typed.(type) {
	case int64, float64:
		return json.Number(r.text)
	default:
		return t
	}
}

func sameJSON(old, nv any) bool {
	switch n := nv.(type) {
	case json.Number:
		o, ok := old.(json.Number)
		if !ok {
			return false
		}
		if i, err := strconv.ParseInt(string(o), 10, 64); err == nil {
			j, err := strconv.ParseInt(string(n), 10, 64)
			return err == nil && i == j
		}
		f, err1 := strconv.ParseFloat(string(o), 64)
		g, err2 := strconv.ParseFloat(string(n), 64)
		return err1 == nil && err2 == nil && f == g
	case string:
		o, ok := old.(string)
		return ok && o == n
	case bool:
		o, ok := old.(bool)
		return ok && o == n
	}
	return false
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty file")
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.keys, o.vals = append(o.keys, k), append(o.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, errors.New("unexpected " + t.String())
	default:
		return t, nil // string, json.Number, bool, nil
	}
}

func writeString(b *bytes.Buffer, s string) error {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	b.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
	return nil
}

// writeJSON writes v with two-space indentation, as json.MarshalIndent(v, "", "  ") would.
func writeJSON(b *bytes.Buffer, v any, indent string) error {
	inner := indent + "  "
	switch t := v.(type) {
	case *object:
		if len(t.keys) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i, k := range t.keys {
			b.WriteString(inner)
			if err := writeString(b, k); err != nil {
				return err
			}
			b.WriteString(": ")
			if err := writeJSON(b, t.vals[i], inner); err != nil {
				return err
			}
			if i < len(t.keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case []any:
		if len(t) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, e := range t {
			b.WriteString(inner)
			if err := writeJSON(b, e, inner); err != nil {
				return err
			}
			if i < len(t)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case string:
		return writeString(b, t)
	case json.Number:
		b.WriteString(string(t))
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	default:
		return errors.New("unexpected value")
	}
	return nil
}
