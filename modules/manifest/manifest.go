package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agent-ctl/agent-ctl/policies"
)

// Bounds on a manifest. A manifest comes from whoever wrote the module, so
// every part of it is bounded before anything expensive looks at it.
const (
	// MaxSize is the largest manifest Parse reads, schemas included.
	MaxSize = 1 << 20
	// MaxProperties bounds the properties (and so the parameters) of a
	// tool's input schema.
	MaxProperties = 256
	// MaxSchemaObjects bounds the JSON objects (roughly, the subschemas) of
	// each schema, and so the work of compiling it.
	MaxSchemaObjects = 4096
	// MaxDescription bounds a description, in bytes.
	MaxDescription = 1024
	// DefaultModule is the module file name when Module is empty.
	DefaultModule = "module.wasm"

	maxDepth   = 64 // JSON nesting, anywhere in the manifest
	maxEntries = 64 // files, env or network capabilities, ports of one host
)

var (
	// ErrInvalid is wrapped by every error that Parse, Validate and Compile
	// return.
	ErrInvalid = errors.New("invalid manifest")
	// ErrArgs is wrapped by every error that Tool.Validate, Tool.Argv and
	// Tool.ParseFlags return.
	ErrArgs = errors.New("invalid arguments")
)

// Manifest describes one tool: the module that implements it, the
// parameters it takes (as a JSON Schema, the same one MCP publishes), the
// capabilities it asks for and the limits it suggests. A manifest only asks:
// the operator's grant decides what a call may actually do.
type Manifest struct {
	// Name is the tool name: ^[a-z][a-z0-9_-]{0,62}$, and not a word the CLI
	// reserves (see ReservedNames).
	Name string `json:"name"`
	// Version is a semantic version, MAJOR.MINOR.PATCH[-pre][+build].
	Version string `json:"version"`
	// Description says what the tool does: non-empty, at most
	// MaxDescription bytes, no control characters.
	Description string `json:"description"`
	// Module is the .wasm file name inside the module directory; empty
	// means DefaultModule.
	Module string `json:"module,omitempty"`
	// InputSchema is a JSON Schema of type "object" whose top-level
	// properties are the tool's parameters.
	InputSchema json.RawMessage `json:"inputSchema"`
	// OutputSchema optionally describes the tool's JSON output; when set
	// it is a JSON Schema of type "object".
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	// Args says how arguments become the module's argv.
	Args ArgStyle `json:"args,omitzero"`
	// Capabilities are what the tool asks to be granted.
	Capabilities Capabilities `json:"capabilities,omitzero"`
	// Limits are the tool's suggested limits; zero values leave the
	// defaults.
	Limits Limits `json:"limits,omitzero"`
	// Output is "text" (the default when empty) or "json".
	Output string `json:"output,omitempty"`
	// Title is an optional name for people (MCP's tool title); at most
	// MaxTitle bytes, no control characters.
	Title string `json:"title,omitempty"`
	// Icons are optional icons for the clients that show them.
	Icons []Icon `json:"icons,omitempty"`
	// MCP says how the tool's MCP face differs from its command line.
	MCP MCPFace `json:"mcp,omitzero"`
	// Stdin, when set, declares that the tool reads its standard input
	// (see StdinSpec); nil means it declares nothing.
	Stdin *StdinSpec `json:"stdin,omitempty"`
}

// ArgStyle says how arguments are laid out on the module's command line.
type ArgStyle struct {
	// Positional names the parameters passed as positional arguments, in
	// this order, after the flags; none when empty.
	Positional []string `json:"positional,omitempty"`
	// Equals writes flags as "--name=value"; the zero value writes
	// "--name value".
	Equals bool `json:"equals,omitempty"`
}

// Capabilities are what a tool asks for. Each is a suggestion shown to the
// operator, never a grant.
type Capabilities struct {
	Files []FileCap `json:"files,omitempty"`
	// Env names the environment variables the tool asks for.
	Env     []string `json:"env,omitempty"`
	Network []NetCap `json:"network,omitempty"`
}

// FileCap asks for a directory.
type FileCap struct {
	// Host is the suggested absolute host path; the operator's grant
	// decides the real one.
	Host string `json:"host"`
	// Guest is the absolute, clean path the module expects.
	Guest string `json:"guest"`
	// Mode is "ro" (the default when empty) or "rw".
	Mode        string `json:"mode,omitempty"`
	Description string `json:"description,omitempty"`
}

// NetCap asks for network access to a host.
type NetCap struct {
	// Host is a CIDR ("10.0.0.0/24"), an IP address or a hostname.
	Host string `json:"host"`
	// Ports are the ports asked for, 1 to 65535; at least one.
	Ports []int `json:"ports"`
}

// Limits are suggested limits, in the forms the CLI flags take. Empty means
// the default.
type Limits struct {
	// Memory is a size such as "64MiB" (see policies.ParseSize).
	Memory string `json:"memory,omitempty"`
	// Timeout is a duration such as "10s" (see time.ParseDuration).
	Timeout string `json:"timeout,omitempty"`
	// MaxOutput is a size such as "1MiB".
	MaxOutput string `json:"maxOutput,omitempty"`
}

// ReservedNames are the CLI's own words, which a tool may not be named.
var ReservedNames = []string{
	"run", "install", "list", "describe", "remove", "grant", "revoke", "new",
	"doctor", "help", "mcp", "serve", "token", "init", "version", "completion",
	"history", "rollback", "publish", "sign", "key", "trust",
	"validate", "try", "dev", "audit", "controller", "agent", "fleet",
}

// The regular expressions are compiled on first use, not at start-up: those
// with bounded repetitions ({0,62}, {0,250}) compile into large programs, and
// every agent-ctl process would pay for them, including the copy that
// libcontainer re-executes as each container's init (what start-up costs
// is in docs/performance.md).
var (
	nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`) })
	// semverRE is the regular expression semver.org suggests.
	semverRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
			`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
			`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
	})
	moduleRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,250}\.wasm$`) })
	envRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`) })
	labelRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`) })
	forbidden = []string{"/proc", "/sys", "/dev"}
)

// Parse reads a manifest strictly: at most MaxSize bytes of one JSON object
// with no unknown or repeated fields, nothing after it, and nesting at most
// 64 deep. It then validates the result. Every error wraps ErrInvalid and
// names the offending field in one line.
func Parse(data []byte) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: manifest is %d bytes, more than the %d allowed", ErrInvalid, len(data), MaxSize)
	}
	if err := scan(data, manifestShape, "", 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: %s: want %s, got %s", ErrInvalid, te.Field, goKind(te.Type.String()), te.Value)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, jsonError(err, dec.InputOffset()))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the manifest", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func goKind(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case t == "int":
		return "an integer"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	}
	return "an object"
}

// Validate checks every field of the manifest; see the field docs. It does
// not compile the schemas (Compile does) but checks their outline: a JSON
// object of type "object", at most MaxProperties properties whose names are
// safe flag names, and positional parameters that are among them. The error
// wraps ErrInvalid and names the field.
func (m *Manifest) Validate() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (m *Manifest) validate() error {
	if err := checkName(m.Name); err != nil {
		return err
	}
	if !semverRE().MatchString(m.Version) {
		return fmt.Errorf("version %q: want a semantic version MAJOR.MINOR.PATCH[-prerelease][+build], e.g. 1.0.0", printable(m.Version))
	}
	if m.Description == "" {
		return errors.New("description: must not be empty")
	}
	if err := checkText("description", m.Description); err != nil {
		return err
	}
	if m.Module != "" {
		if strings.Contains(m.Module, "/") || strings.Contains(m.Module, `\`) || strings.Contains(m.Module, "..") {
			return fmt.Errorf("module %q: want a plain file name in the module directory: no \"/\", \"\\\" or \"..\"", printable(m.Module))
		}
		if !moduleRE().MatchString(m.Module) {
			return fmt.Errorf("module %q: want a file name of letters, digits, \".\", \"_\" and \"-\" ending in .wasm", printable(m.Module))
		}
	}
	switch m.Output {
	case "", "text", "json":
	default:
		return fmt.Errorf("output %q: want text or json", printable(m.Output))
	}
	if err := m.validateFace(); err != nil {
		return err
	}
	if err := m.validateSchemas(); err != nil {
		return err
	}
	if err := m.Capabilities.validate(); err != nil {
		return err
	}
	_, _, _, err := m.Limits.parse()
	return err
}

func checkName(name string) error {
	if strings.Contains(name, "/") || strings.Contains(name, `\`) || strings.Contains(name, "..") {
		return fmt.Errorf("name %q: must not contain \"/\", \"\\\" or \"..\"", printable(name))
	}
	if !nameRE().MatchString(name) {
		return fmt.Errorf("name %q: want a lower-case letter, then up to 62 lower-case letters, digits, \"_\" or \"-\"", printable(name))
	}
	if slices.Contains(ReservedNames, name) {
		return fmt.Errorf("name %q: is reserved by the agent-ctl command line", name)
	}
	return nil
}

// checkText refuses long text, invalid UTF-8 and control characters, which
// could forge lines in a terminal or a log.
func checkText(field, s string) error {
	if len(s) > MaxDescription {
		return fmt.Errorf("%s: %d bytes, more than the %d allowed", field, len(s), MaxDescription)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", field)
	}
	for i, r := range s {
		if unicode.IsControl(r) || isBidiOrSeparator(r) {
			return fmt.Errorf("%s: control character %U at byte %d", field, r, i)
		}
	}
	return nil
}

// isBidiOrSeparator reports the format characters that reorder or break
// displayed text (bidirectional overrides, line and paragraph separators),
// with which a description could show one thing and say another.
func isBidiOrSeparator(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f', r == '\u2028', r == '\u2029':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

func (m *Manifest) validateSchemas() error {
	in, err := schemaOutline("inputSchema", m.InputSchema)
	if err != nil {
		return err
	}
	if in == nil {
		return errors.New("inputSchema: missing: want a JSON Schema of type \"object\"")
	}
	if len(m.InputSchema)+len(m.OutputSchema) > MaxSize {
		return fmt.Errorf("inputSchema and outputSchema: more than %d bytes together", MaxSize)
	}
	if _, err := schemaOutline("outputSchema", m.OutputSchema); err != nil {
		return err
	}

	props := map[string]bool{}
	if raw, ok := in["properties"]; ok {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(raw, &p); err != nil || p == nil {
			return errors.New("inputSchema.properties: want an object")
		}
		if len(p) > MaxProperties {
			return fmt.Errorf("inputSchema.properties: %d properties, more than the %d allowed", len(p), MaxProperties)
		}
		for k := range p {
			if err := checkParamName("inputSchema.properties", k); err != nil {
				return err
			}
			props[k] = true
		}
	}
	seen := map[string]bool{}
	for i, name := range m.Args.Positional {
		field := fmt.Sprintf("args.positional[%d]", i)
		if !props[name] {
			return fmt.Errorf("%s: %q is not a property of inputSchema", field, printable(name))
		}
		if seen[name] {
			return fmt.Errorf("%s: %q is listed twice", field, printable(name))
		}
		seen[name] = true
	}
	return nil
}

// schemaOutline checks a schema's JSON and that it is an object of type
// "object". It returns the top-level members, or nil when raw is absent.
func schemaOutline(field string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	if err := scan(raw, nil, field, MaxSchemaObjects); err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, fmt.Errorf("%s: want a JSON Schema object of type \"object\"", field)
	}
	var typ string
	if err := json.Unmarshal(top["type"], &typ); err != nil || typ != "object" {
		return nil, fmt.Errorf("%s: want \"type\": \"object\" at the top level", field)
	}
	return top, nil
}

var paramRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`) })

// checkParamName refuses a property name that would not make a plain
// --flag: one that starts with "-", holds "=", spaces or upper case.
func checkParamName(field, name string) error {
	if !paramRE().MatchString(name) {
		return fmt.Errorf("%s: property %q would make an unsafe flag: want a lower-case letter, then up to 62 lower-case letters, digits, \"_\" or \"-\"", field, printable(name))
	}
	return nil
}

// printable shortens a hostile string for an error message; %q then
// escapes what is left.
func printable(s string) string {
	if len(s) > 80 {
		return head(s, 80) + "…"
	}
	return s
}

// head is at most the first n bytes of s, not splitting a UTF-8 sequence.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// tail is at most the last n bytes of s, not splitting a UTF-8 sequence.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}

// parse reads the limits; zero for each one unset.
func (l Limits) parse() (memory int64, timeout time.Duration, output int64, err error) {
	if l.Memory != "" {
		if memory, err = parseSize("limits.memory", l.Memory); err != nil {
			return 0, 0, 0, err
		}
		if memory < policies.MinMemory || memory > policies.MaxMemory {
			return 0, 0, 0, fmt.Errorf("limits.memory %q: outside %s..%s", printable(l.Memory),
				policies.FormatSize(policies.MinMemory), policies.FormatSize(policies.MaxMemory))
		}
	}
	if l.Timeout != "" {
		timeout, err = time.ParseDuration(l.Timeout)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("limits.timeout %q: want a duration such as 10s or 2m", printable(l.Timeout))
		}
		if timeout <= 0 || timeout > policies.MaxTimeout {
			return 0, 0, 0, fmt.Errorf("limits.timeout %q: outside 0s..%s (exclusive of 0)", printable(l.Timeout), policies.MaxTimeout)
		}
	}
	if l.MaxOutput != "" {
		if output, err = parseSize("limits.maxOutput", l.MaxOutput); err != nil {
			return 0, 0, 0, err
		}
		if output <= 0 {
			return 0, 0, 0, fmt.Errorf("limits.maxOutput %q: must be more than zero", printable(l.MaxOutput))
		}
	}
	return memory, timeout, output, nil
}

func parseSize(field, s string) (int64, error) {
	n, err := policies.ParseSize(s)
	if err != nil {
		// Keep the parser's advice but drop its "invalid policy" prefix:
		// this is a manifest error.
		msg := strings.TrimPrefix(err.Error(), policies.ErrInvalid.Error()+": ")
		return 0, fmt.Errorf("%s: %s", field, shorten(oneLine(msg)))
	}
	return n, nil
}

// MemoryLimit is the suggested memory limit in bytes; zero when unset.
func (m *Manifest) MemoryLimit() int64 {
	n, _, _, _ := m.Limits.parse()
	return n
}

// TimeoutLimit is the suggested timeout; zero when unset.
func (m *Manifest) TimeoutLimit() time.Duration {
	_, d, _, _ := m.Limits.parse()
	return d
}

// OutputLimit is the suggested output limit in bytes; zero when unset.
func (m *Manifest) OutputLimit() int64 {
	_, _, n, _ := m.Limits.parse()
	return n
}

// ModuleFile is the module's file name inside its directory.
func (m *Manifest) ModuleFile() string {
	if m.Module == "" {
		return DefaultModule
	}
	return m.Module
}
