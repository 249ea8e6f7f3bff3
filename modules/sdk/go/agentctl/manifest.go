package agentctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// SpecFromManifest reads the tool's name and the spec of its flags from the
// text of its manifest.json: each inputSchema.properties member is a flag,
// typed by its JSON Schema type (boolean: bool, integer: int, number: num, an
// array: its items' type, anything else: str). So the manifest is the one
// place parameters are declared.
func SpecFromManifest(manifest []byte) (tool, spec string, err error) {
	type schema struct {
		Type  any     `json:"type"`
		Items *schema `json:"items"`
	}
	var m struct {
		Name        string `json:"name"`
		InputSchema struct {
			Properties map[string]schema `json:"properties"`
		} `json:"inputSchema"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return "", "", fmt.Errorf("reading the manifest: %w", err)
	}
	if m.Name == "" {
		return "", "", errors.New("reading the manifest: no \"name\"")
	}
	names := make([]string, 0, len(m.InputSchema.Properties))
	for n := range m.InputSchema.Properties {
		if n == "" || strings.ContainsAny(n, " :?") { // "?" would mark it once
			return "", "", fmt.Errorf("reading the manifest: parameter %q: not a flag name", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	words := make([]string, 0, len(names))
	for _, n := range names {
		p := m.InputSchema.Properties[n]
		typ := p.Type
		if typ == "array" && p.Items != nil {
			typ = p.Items.Type
		}
		switch typ {
		case "boolean":
			n += ":bool"
		case "integer":
			n += ":int"
		case "number":
			n += ":num"
		}
		words = append(words, n)
	}
	return m.Name, strings.Join(words, " "), nil
}

// ParseManifest parses os.Args against the flags the tool's manifest declares
// (see SpecFromManifest); manifest is the text of manifest.json, built into
// the module with //go:embed. A manifest it cannot read exits 2.
func ParseManifest(manifest []byte) *Args {
	tool, spec, err := SpecFromManifest(manifest)
	if err != nil {
		(&Args{tool: "agentctl"}).Usage("the built-in manifest.json: %s", err)
	}
	return Parse(tool, spec)
}

// Open opens path for reading. A path outside every directory the operator
// granted is not there for the tool at all, and WASI says so as EBADF ("Bad
// file number"); Open then prints "TOOL: not granted: PATH (agent-ctl grant
// TOOL --dir HOST_DIR:/TOP)" and exits 1. Other errors are returned.
func (a *Args) Open(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil && NotGranted(err) {
		a.Fail(1, "%s", PathError(a.tool, path, err))
	}
	return f, err
}

// ReadFile reads all of path, at most max bytes (more is an error), as Open
// opens it.
func (a *Args) ReadFile(path string, max int64) ([]byte, error) {
	f, err := a.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		if NotGranted(err) {
			a.Fail(1, "%s", PathError(a.tool, path, err))
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", path, max)
	}
	return b, nil
}

// PathError says why a path operation failed: "not granted: /data/x
// (agent-ctl grant TOOL --dir HOST_DIR:/data)" for a path outside the grants,
// else the error's own text.
func PathError(tool, path string, err error) string {
	if !NotGranted(err) {
		return err.Error()
	}
	top := "/DIR"
	if rest, ok := strings.CutPrefix(path, "/"); ok {
		first, _, _ := strings.Cut(rest, "/")
		top = "/" + first
	}
	return fmt.Sprintf("not granted: %s (agent-ctl grant %s --dir HOST_DIR:%s)", path, tool, top)
}
