package main

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

func (r *request) tag() string {
	switch r.typ {
	case "int":
		return "!!int"
	case "bool":
		return "!!bool"
	case "float":
		return "!!float"
	}
	return "!!str"
}

// keepType gives the request, when --type did not, the type of the scalar
// it replaces: an int stays an int, a bool a bool, a float a float, a
// string a string. A null (or a timestamp, …) takes the type YAML would
// read the new text as.
func (r *request) keepType(old *yaml.Node) error {
	switch old.ShortTag() {
	case "!!int":
		return r.setType("int", true)
	case "!!bool":
		return r.setType("bool", true)
	case "!!float":
		return r.setType("float", true)
	case "!!str":
		return r.setType("string", true)
	}
	return r.setType(inferType(r.value), false)
}

// editYAML sets the key in a YAML document through yaml.v3's Node API. An existing
// single-line scalar is replaced in place in the original bytes (so blank lines and
// formatting survive exactly); anything else re-encodes the node tree, which keeps
// comments and key order.
func editYAML(data []byte, r *request) ([]byte, bool, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, false, fail(2, "cannot parse %s as YAML: %v", r.file, err)
	}
	if doc.Kind == 0 { // empty file
		if !r.create {
			return nil, false, missing(r, 0)
		}
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, false, fail(2, "cannot edit %s: want one YAML document", r.file)
	}
	node := doc.Content[0]
	for i, part := range r.parts {
		if node.Kind != yaml.MappingNode {
			return nil, false, notMapping(r, i)
		}
		var val *yaml.Node
		for j := 0; j+1 < len(node.Content); j += 2 {
			if k := node.Content[j]; k.Kind == yaml.ScalarNode && k.Value == part {
				val = node.Content[j+1]
			}
		}
		last := i == len(r.parts)-1
		if val == nil {
			if !r.create {
				return nil, false, missing(r, i)
			}
			if err := r.setType(inferType(r.value), false); err != nil {
				return nil, false, err
			}
			// Build the rest of the path as a chain of mappings ending in the scalar.
			leaf := &yaml.Node{Kind: yaml.ScalarNode}
			setScalar(leaf, r)
			sub := leaf
			for k := len(r.parts) - 1; k > i; k-- {
				sub = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: r.parts[k]}, sub}}
			}
			pair := []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: part}, sub}
			if out, ok := insertInPlace(data, &doc, node, pair); ok {
				return out, true, nil
			}
			node.Content = append(node.Content, pair...)
			return encodeYAML(&doc, data, r)
		}
		if last {
			if val.Kind != yaml.ScalarNode {
				return nil, false, fail(3, "key %s: the value is not a scalar", r.key)
			}
			if err := r.keepType(val); err != nil {
				return nil, false, err
			}
			if val.Value == r.text && val.ShortTag() == r.tag() {
				return nil, false, nil
			}
			if out, ok := replaceInPlace(data, val, r); ok {
				return out, true, nil
			}
			setScalar(val, r)
			return encodeYAML(&doc, data, r)
		}
		node = val
	}
	panic("unreachable")
}

func setScalar(n *yaml.Node, r *request) {
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	n.Kind, n.Value, n.Tag, n.Style = yaml.ScalarNode, r.text, r.tag(), 0
	if quoted && r.typ == "string" {
		// Keep the file's quoting for a string that was quoted.
		if strings.ContainsAny(r.text, "'\n") || !utf8.ValidString(r.text) {
			n.Style = yaml.DoubleQuotedStyle
		} else {
			n.Style = yaml.SingleQuotedStyle
		}
	}
}

// scalarText renders a scalar the way yaml.v3 would, on one line, or "" when it needs more.
func scalarText(r *request, style yaml.Style) string {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: r.text, Tag: r.tag(), Style: style}
	out, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	s := strings.TrimSuffix(string(out), "\n")
	if strings.ContainsAny(s, "\n") || s == "" || s[0] == '|' || s[0] == '>' {
		return ""
	}
	return s
}

// replaceInPlace swaps the source text of a single-line scalar for the new value's text,
// then checks by parsing the result that the key now holds exactly the new value.
func replaceInPlace(data []byte, n *yaml.Node, r *request) ([]byte, bool) {
	if n.Line < 1 || n.Column < 1 || n.Anchor != "" {
		return nil, false
	}
	var style yaml.Style
	switch n.Style {
	case 0:
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if r.typ == "string" {
			style = n.Style
		}
	default:
		return nil, false
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n.Line > len(lines) {
		return nil, false
	}
	line := lines[n.Line-1]
	// Column counts characters; find its byte offset.
	off := 0
	for c := 1; c < n.Column; c++ {
		if off >= len(line) {
			return nil, false
		}
		_, size := utf8.DecodeRune(line[off:])
		off += size
	}
	end := tokenEnd(line, off, n)
	if end < 0 {
		return nil, false
	}
	text := scalarText(r, style)
	if text == "" {
		return nil, false
	}
	var out bytes.Buffer
	for i, l := range lines {
		if i == n.Line-1 {
			out.Write(l[:off])
			out.WriteString(text)
			out.Write(l[end:])
		} else {
			out.Write(l)
		}
	}
	// Verify: same key path, new value and tag.
	var doc yaml.Node
	if err := yaml.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Content) != 1 {
		return nil, false
	}
	node := doc.Content[0]
	for _, part := range r.parts {
		if node.Kind != yaml.MappingNode {
			return nil, false
		}
		var val *yaml.Node
		for j := 0; j+1 < len(node.Content); j += 2 {
			if node.Content[j].Value == part {
				val = node.Content[j+1]
			}
		}
		if val == nil {
			return nil, false
		}
		node = val
	}
	if node.Kind != yaml.ScalarNode || node.Value != r.text || node.ShortTag() != r.tag() {
		return nil, false
	}
	return out.Bytes(), true
}

// tokenEnd is the byte offset just past the scalar that starts at off, or -1 when it does
// not end on this line.
func tokenEnd(line []byte, off int, n *yaml.Node) int {
	if off >= len(line) {
		return -1
	}
	switch n.Style {
	case 0:
		if bytes.HasPrefix(line[off:], []byte(n.Value)) && n.Value != "" {
			return off + len(n.Value)
		}
	case yaml.DoubleQuotedStyle:
		if line[off] != '"' {
			return -1
		}
		for i := off + 1; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
	case yaml.SingleQuotedStyle:
		if line[off] != '\'' {
			return -1
		}
		for i := off + 1; i < len(line); i++ {
			if line[i] == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
	}
	return -1
}

// encodeYAML re-encodes the whole document with the file's indentation.
func encodeYAML(doc *yaml.Node, orig []byte, r *request) ([]byte, bool, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indentOf(orig))
	if err := enc.Encode(doc); err != nil {
		return nil, false, fail(1, "cannot encode %s: %v", r.file, err)
	}
	if err := enc.Close(); err != nil {
		return nil, false, fail(1, "cannot encode %s: %v", r.file, err)
	}
	return b.Bytes(), true, nil
}

// indentOf guesses the file's indentation: the smallest indent of a mapping line, else 2.
func indentOf(data []byte) int {
	best := 0
	for _, l := range strings.Split(string(data), "\n") {
		t := strings.TrimLeft(l, " ")
		n := len(l) - len(t)
		if n == 0 || t == "" || t[0] == '#' || t[0] == '-' {
			continue
		}
		if best == 0 || n < best {
			best = n
		}
	}
	if best < 2 || best > 9 {
		return 2
	}
	return best
}

// insertInPlace adds a key/value pair at the end of a non-empty block mapping by inserting
// its text after the mapping's last line, with the mapping's indentation, so the rest of the
// file stays byte for byte. It checks by parsing the result that the tree is exactly the
// edited tree.
func insertInPlace(data []byte, doc, m *yaml.Node, pair []*yaml.Node) ([]byte, bool) {
	if len(m.Content) < 2 || m.Style&yaml.FlowStyle != 0 || m.Content[0].Column < 1 {
		return nil, false
	}
	endLine := lastLine(m)
	lines := bytes.SplitAfter(data, []byte("\n"))
	if endLine < 1 || endLine > len(lines) {
		return nil, false
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indentOf(data))
	if err := enc.Encode(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: pair}); err != nil {
		return nil, false
	}
	enc.Close()
	prefix := strings.Repeat(" ", m.Content[0].Column-1)
	var out bytes.Buffer
	for i, l := range lines {
		out.Write(l)
		if i == endLine-1 {
			if !bytes.HasSuffix(l, []byte("\n")) {
				out.WriteByte('\n')
			}
			for _, nl := range strings.SplitAfter(b.String(), "\n") {
				if nl != "" {
					out.WriteString(prefix + nl)
				}
			}
		}
	}
	// The tree as it should be, and the tree of the new text.
	m.Content = append(m.Content, pair...)
	defer func() { m.Content = m.Content[:len(m.Content)-2] }()
	var got yaml.Node
	if err := yaml.Unmarshal(out.Bytes(), &got); err != nil || !sameTree(doc, &got) {
		return nil, false
	}
	return out.Bytes(), true
}

// lastLine is the line of the last node under n (the end of a single-line value).
func lastLine(n *yaml.Node) int {
	for len(n.Content) > 0 {
		n = n.Content[len(n.Content)-1]
	}
	if n.Kind == yaml.ScalarNode && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || strings.Contains(n.Value, "\n")) {
		return -1
	}
	return n.Line
}

func sameTree(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() || a.Value != b.Value || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !sameTree(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}
