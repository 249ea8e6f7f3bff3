package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// MaxTitle bounds a manifest's title in bytes.
const MaxTitle = 128

// maxIcons bounds a manifest's icons, and the sizes of one icon.
const maxIcons = 8

// Icon is an icon of the tool, as MCP publishes it.
type Icon struct {
	// Src is an https URL, or a data: URL of an image (base64).
	Src string `json:"src"`
	// MIMEType is image/png, image/jpeg, image/webp or image/svg+xml;
	// optional.
	MIMEType string `json:"mimeType,omitempty"`
	// Sizes are "WxH" (e.g. "48x48") or "any"; optional.
	Sizes []string `json:"sizes,omitempty"`
}

// MCPFace says how the tool's MCP face differs from its command line.
type MCPFace struct {
	// Arguments are set on every call over MCP, and not published in the
	// input schema there: e.g. {"json": true} for a tool whose JSON output
	// is a flag, so that MCP clients always get JSON they can rely on. A
	// client that sends one of them is refused.
	Arguments map[string]json.RawMessage `json:"arguments,omitempty"`
	// Output is the output over MCP, "text" or "json"; empty means the
	// manifest's Output.
	Output string `json:"output,omitempty"`
}

var iconMIMEs = []string{"image/png", "image/jpeg", "image/webp", "image/svg+xml"}

var sizeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(any|[1-9][0-9]{0,4}x[1-9][0-9]{0,4})$`) })

// MCPOutput is the tool's output over MCP: "text" or "json".
func (m *Manifest) MCPOutput() string {
	o := m.MCP.Output
	if o == "" {
		o = m.Output
	}
	if o == "" {
		o = "text"
	}
	return o
}

func (m *Manifest) validateFace() error {
	if m.Title != "" {
		if len(m.Title) > MaxTitle {
			return fmt.Errorf("title: %d bytes, more than the %d allowed", len(m.Title), MaxTitle)
		}
		if err := checkText("title", m.Title); err != nil {
			return err
		}
	}
	if len(m.Icons) > maxIcons {
		return fmt.Errorf("icons: %d icons, more than the %d allowed", len(m.Icons), maxIcons)
	}
	for i, ic := range m.Icons {
		field := fmt.Sprintf("icons[%d]", i)
		if err := checkIconSrc(ic.Src); err != nil {
			return fmt.Errorf("%s.src %q: %w", field, printable(ic.Src), err)
		}
		if ic.MIMEType != "" && !slices.Contains(iconMIMEs, ic.MIMEType) {
			return fmt.Errorf("%s.mimeType %q: want one of %s", field, printable(ic.MIMEType), strings.Join(iconMIMEs, ", "))
		}
		if len(ic.Sizes) > maxIcons {
			return fmt.Errorf("%s.sizes: %d sizes, more than the %d allowed", field, len(ic.Sizes), maxIcons)
		}
		for _, sz := range ic.Sizes {
			if !sizeRE().MatchString(sz) {
				return fmt.Errorf("%s.sizes: %q: want WIDTHxHEIGHT (e.g. 48x48) or any", field, printable(sz))
			}
		}
	}
	switch m.MCP.Output {
	case "", "text", "json":
	default:
		return fmt.Errorf("mcp.output %q: want text or json", printable(m.MCP.Output))
	}
	if len(m.MCP.Arguments) > MaxProperties {
		return fmt.Errorf("mcp.arguments: %d arguments, more than the %d allowed", len(m.MCP.Arguments), MaxProperties)
	}
	for _, name := range slices.Sorted(maps.Keys(m.MCP.Arguments)) {
		if err := checkParamName("mcp.arguments", name); err != nil {
			return err
		}
	}
	if m.Stdin != nil {
		if m.Stdin.Description == "" {
			return errors.New("stdin.description: empty: say what the tool reads on stdin")
		}
		if err := checkText("stdin.description", m.Stdin.Description); err != nil {
			return err
		}
	}
	return nil
}

// StdinParam is the parameter MCP publishes for a tool that declares
// stdin: MCP has no standard input, so its text comes as an argument.
const StdinParam = "input"

// StdinSpec declares that a tool reads its standard input. On the command
// line the tool reads agent-ctl's stdin whether it declares it or not;
// over MCP, where there is none, a tool that declares it gets the string
// parameter StdinParam in the input schema MCP publishes, whose value is
// its stdin (without it, the tool reads an empty stdin). inputSchema then
// cannot have a parameter of that name.
type StdinSpec struct {
	// Description says what the tool expects on stdin (MCP shows it as
	// the parameter's description): non-empty, at most MaxDescription
	// bytes, no control characters.
	Description string `json:"description"`
}

// withStdinParam adds StdinParam to an input schema, not required.
func withStdinParam(schema json.RawMessage, description string) (json.RawMessage, error) {
	var s map[string]json.RawMessage
	if err := json.Unmarshal(schema, &s); err != nil {
		return nil, fmt.Errorf("inputSchema: %w", err)
	}
	props := map[string]json.RawMessage{}
	if raw, ok := s["properties"]; ok {
		if err := json.Unmarshal(raw, &props); err != nil {
			return nil, fmt.Errorf("inputSchema.properties: %w", err)
		}
	}
	p, err := json.Marshal(map[string]string{"type": "string", "description": description})
	if err != nil {
		return nil, err
	}
	props[StdinParam] = p
	if s["properties"], err = json.Marshal(props); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// ReadsStdin reports whether the manifest declares stdin.
func (t *Tool) ReadsStdin() bool { return t.m.Stdin != nil }

// SplitStdin takes a call's stdin out of its arguments over MCP: the
// value of StdinParam for a tool that declares stdin (a string; nil when
// the client sent none), and the other arguments. For any other tool the
// arguments are returned as they are (an argument of that name is then
// refused as any unknown one).
func (t *Tool) SplitStdin(args map[string]any) (rest map[string]any, stdin []byte, err error) {
	v, ok := args[StdinParam]
	if !t.ReadsStdin() || !ok {
		return args, nil, nil
	}
	text, isString := v.(string)
	if !isString {
		return nil, nil, fmt.Errorf("%w: %s: want a string (the tool's stdin)", ErrArgs, StdinParam)
	}
	rest = maps.Clone(args)
	delete(rest, StdinParam)
	return rest, []byte(text), nil
}

// checkIconSrc accepts an https URL without credentials, or a base64
// data: URL of an image type MCP clients show. Anything else (javascript:,
// file:, http:) could be fetched or run by a client that trusts it.
func checkIconSrc(src string) error {
	if len(src) > MaxSize/4 {
		return errors.New("too long")
	}
	if rest, ok := strings.CutPrefix(src, "data:"); ok {
		mime, _, ok := strings.Cut(rest, ";base64,")
		if !ok || !slices.Contains(iconMIMEs, mime) {
			return fmt.Errorf("want data:MIME;base64,... with MIME one of %s", strings.Join(iconMIMEs, ", "))
		}
		return nil
	}
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("want an https URL without credentials, or a data: URL")
	}
	if err := checkText("icon", src); err != nil {
		return errors.New("control character")
	}
	return nil
}

// compileFace checks the MCP face's arguments against the parameters
// (each a parameter, each value of its type; the schema's other
// constraints are checked with the client's arguments on every call) and
// derives the input
// schema MCP publishes: the manifest's, without those parameters.
func (t *Tool) compileFace() error {
	if err := t.compileArguments(); err != nil {
		return err
	}
	if !t.ReadsStdin() {
		return nil
	}
	if t.byName[StdinParam] != nil {
		return fmt.Errorf("inputSchema.properties.%s: the parameter MCP gets for stdin: a tool that declares stdin cannot have one of its own", StdinParam)
	}
	var err error
	t.mcpInput, err = withStdinParam(t.mcpInput, t.m.Stdin.Description)
	return err
}

// compileArguments is compileFace for mcp.arguments.
func (t *Tool) compileArguments() error {
	t.mcpInput = t.m.InputSchema
	if len(t.m.MCP.Arguments) == 0 {
		return nil
	}
	t.mcpArgs = map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(t.m.MCP.Arguments)) {
		p := t.byName[name]
		if p == nil {
			return fmt.Errorf("mcp.arguments: %q is not a parameter of inputSchema", printable(name))
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(t.m.MCP.Arguments[name]))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("mcp.arguments.%s: %w", name, err)
		}
		if v == nil {
			return fmt.Errorf("mcp.arguments.%s: null: leave it out instead", name)
		}
		nv, err := normalizeArg(p, v)
		if err != nil {
			return fmt.Errorf("mcp.arguments.%s: %w", name, err)
		}
		t.mcpArgs[name] = nv
	}
	var schema map[string]json.RawMessage
	if err := json.Unmarshal(t.m.InputSchema, &schema); err != nil {
		return fmt.Errorf("inputSchema: %w", err)
	}
	var props map[string]json.RawMessage
	if raw, ok := schema["properties"]; ok {
		if err := json.Unmarshal(raw, &props); err != nil {
			return fmt.Errorf("inputSchema.properties: %w", err)
		}
	}
	var required []string
	if raw, ok := schema["required"]; ok {
		if err := json.Unmarshal(raw, &required); err != nil {
			return fmt.Errorf("inputSchema.required: %w", err)
		}
	}
	for name := range t.mcpArgs {
		delete(props, name)
		required = slices.DeleteFunc(required, func(r string) bool { return r == name })
	}
	var err error
	if schema["properties"], err = json.Marshal(props); err != nil {
		return err
	}
	if _, ok := schema["required"]; ok {
		if schema["required"], err = json.Marshal(required); err != nil {
			return err
		}
	}
	t.mcpInput, err = json.Marshal(schema)
	return err
}

// MCPArguments returns the arguments the MCP face sets on every call
// (a copy; nil when none).
func (t *Tool) MCPArguments() map[string]any { return maps.Clone(t.mcpArgs) }

// MCPInputSchema is the input schema MCP publishes: the manifest's,
// without the parameters the MCP face sets.
func (t *Tool) MCPInputSchema() json.RawMessage { return t.mcpInput }

// WithMCPArguments returns a call's arguments over MCP: the client's, and
// those the MCP face sets. A client that sends one the face sets is
// refused (ErrArgs): it is not in the schema MCP publishes.
func (t *Tool) WithMCPArguments(args map[string]any) (map[string]any, error) {
	if len(t.mcpArgs) == 0 {
		return args, nil
	}
	out := make(map[string]any, len(args)+len(t.mcpArgs))
	maps.Copy(out, args)
	for _, name := range slices.Sorted(maps.Keys(t.mcpArgs)) {
		if _, ok := args[name]; ok {
			return nil, fmt.Errorf("%w: %s: unknown argument (set by the server over MCP)", ErrArgs, label(name))
		}
		out[name] = t.mcpArgs[name]
	}
	return out, nil
}
