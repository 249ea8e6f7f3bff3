package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// shape describes which keys an object may hold. encoding/json matches
// field names case-insensitively and lets the last of two equal keys win;
// a reader that disagrees (an MCP client, a human) would then see another
// manifest than the one we checked, so the scanner insists on the exact
// names, once each.
//
// A nil shape accepts any value (the schemas); null is accepted anywhere
// and leaves the field unset, as encoding/json does.
type shape struct {
	fields map[string]*shape // an object with these keys
	elem   *shape            // an array of these
	scalar string            // "string", "boolean" or "integer"
}

var (
	str     = &shape{scalar: "string"}
	boolean = &shape{scalar: "boolean"}
	strList = &shape{elem: str}
)

var manifestShape = &shape{fields: map[string]*shape{
	"name": str, "version": str, "description": str, "module": str,
	"inputSchema": nil, "outputSchema": nil, "output": str,
	"args": {fields: map[string]*shape{"positional": strList, "equals": boolean}},
	"capabilities": {fields: map[string]*shape{
		"files": {elem: &shape{fields: map[string]*shape{
			"host": str, "guest": str, "mode": str, "description": str,
		}}},
		"env": strList,
		"network": {elem: &shape{fields: map[string]*shape{
			"host": str, "ports": {elem: &shape{scalar: "integer"}},
		}}},
	}},
	"limits": {fields: map[string]*shape{"memory": str, "timeout": str, "maxOutput": str}},
	"title":  str,
	"icons":  {elem: &shape{fields: map[string]*shape{"src": str, "mimeType": str, "sizes": strList}}},
	// The values of mcp.arguments are arguments, of any JSON type.
	"mcp":   {fields: map[string]*shape{"arguments": nil, "output": str}},
	"stdin": {fields: map[string]*shape{"description": str}},
}}

// kind names what the shape wants, for errors.
func (s *shape) kind() string {
	switch {
	case s.fields != nil:
		return "an object"
	case s.elem != nil:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(s.elem.kind(), "an "), "a ") + "s"
	case s.scalar == "integer":
		return "an integer"
	}
	return "a " + s.scalar
}

// accepts reports whether a scalar token fits the shape.
func (s *shape) accepts(tok json.Token) bool {
	switch v := tok.(type) {
	case string:
		return s.scalar == "string"
	case bool:
		return s.scalar == "boolean"
	case json.Number:
		_, err := strconv.ParseInt(string(v), 10, 32)
		return s.scalar == "integer" && err == nil
	}
	return false
}

type frame struct {
	object bool
	shape  *shape
	keys   map[string]bool
	key    string // the current key of an object
	index  int    // the current index of an array
	// wantKey is true in an object when the next token is a key.
	wantKey bool
}

// scan checks data as one JSON value without building it: syntax, nesting
// depth, duplicate keys, the keys that s allows, at most maxObjects objects
// (when not zero) and that nothing follows. It never recurses, so hostile
// nesting costs no stack. prefix names the document in errors.
func scan(data []byte, s *shape, prefix string, maxObjects int) error {
	objects := 0
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	where := func() string { return at(jsonPath(prefix, stack)) }
	started := false
	for {
		tok, err := dec.Token()
		switch {
		case started && len(stack) == 0 && err != io.EOF:
			return fmt.Errorf("%strailing data after the JSON value at byte %d", at(prefix), dec.InputOffset())
		case err == io.EOF && !started:
			return fmt.Errorf("%sempty document", at(prefix))
		case err == io.EOF && len(stack) > 0:
			return fmt.Errorf("%smalformed JSON: unexpected end of input", where())
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("%smalformed JSON: %s", where(), jsonError(err, dec.InputOffset()))
		}
		started = true
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				advance(stack)
				continue
			}
			k, _ := tok.(string) // the decoder only yields strings here
			if top.keys[k] {
				return fmt.Errorf("%sduplicate key %q", where(), printable(k))
			}
			if top.shape != nil && top.shape.fields != nil {
				if _, ok := top.shape.fields[k]; !ok {
					return fmt.Errorf("%sunknown field %q", where(), printable(k))
				}
			}
			top.keys[k] = true
			top.key = k
			top.wantKey = false
			continue
		}
		d, isDelim := tok.(json.Delim)
		if isDelim && (d == ']') {
			stack = stack[:len(stack)-1]
			advance(stack)
			continue
		}
		if isDelim {
			if len(stack) >= maxDepth {
				return fmt.Errorf("%sJSON nested deeper than %d levels", where(), maxDepth)
			}
			child := childShape(top, s)
			if d == '{' {
				if objects++; maxObjects > 0 && objects > maxObjects {
					return fmt.Errorf("%smore than %d JSON objects", at(prefix), maxObjects)
				}
			}
			f := &frame{object: d == '{', shape: child, wantKey: d == '{'}
			if f.object {
				if child != nil && child.fields == nil {
					return fmt.Errorf("%swant %s, got an object", where(), child.kind())
				}
				f.keys = map[string]bool{}
			} else if child != nil && child.elem == nil {
				return fmt.Errorf("%swant %s, got an array", where(), child.kind())
			}
			stack = append(stack, f)
			continue
		}
		if child := childShape(top, s); child != nil && (tok != nil || top == nil) && !child.accepts(tok) {
			return fmt.Errorf("%swant %s, got %s", where(), child.kind(), jsonKind(tok))
		}
		advance(stack)
	}
}

// childShape is the shape of the value about to start under top.
func childShape(top *frame, root *shape) *shape {
	if top == nil {
		return root
	}
	if top.shape == nil {
		return nil
	}
	if top.object {
		return top.shape.fields[top.key]
	}
	return top.shape.elem
}

// advance records that the value under the innermost container ended.
func advance(stack []*frame) {
	if len(stack) == 0 {
		return
	}
	top := stack[len(stack)-1]
	if top.object {
		top.wantKey = true
	} else {
		top.index++
	}
}

func jsonPath(prefix string, stack []*frame) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, f := range stack {
		if f.object {
			if f.wantKey { // between members: the last key is stale
				continue
			}
			if isIdent(f.key) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Quote(f.key) + "]")
			}
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	p := b.String()
	if len(p) > 120 { // deep nesting: the two ends say where
		p = head(p, 40) + "…" + tail(p, 60)
	}
	return p
}

func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// at prefixes a message with where it applies; nothing at the top of a
// manifest.
func at(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

func jsonKind(tok json.Token) string {
	switch tok := tok.(type) {
	case string:
		return "a string"
	case json.Number:
		return "the number " + printable(string(tok))
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a value"
}

// jsonError renders a decoding error in one line with its byte offset.
func jsonError(err error, off int64) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of input"
	}
	return fmt.Sprintf("%s (at byte %d)", oneLine(msg), off)
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
