package manifest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

func compile(t testing.TB, file string) *manifest.Tool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return mustCompile(t, data)
}

// args decodes arguments as an MCP front end would: numbers as
// json.Number when useNumber, float64 otherwise.
func args(t testing.TB, s string, useNumber bool) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if useNumber {
		dec.UseNumber()
	}
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func TestTool_Params(t *testing.T) {
	tests := []struct {
		file string
		want []manifest.Param
	}{
		{"testdata/valid.json", []manifest.Param{
			{Name: "file", Type: "string", Description: "The log file, relative to /logs.", Required: true, Position: 0},
			{Name: "filter", Type: "string", Description: "Only lines that contain this text.", Position: -1},
			{Name: "json", Type: "boolean", Description: "Print matches as JSON lines.", Position: -1},
			{Name: "max", Type: "integer", Description: "Print at most this many lines.", Default: int64(100), Position: -1},
			{Name: "regex", Type: "string", Description: "Only lines that match this RE2 regular expression.", Position: -1},
			{Name: "since", Type: "string", Description: "Only lines newer than this, e.g. 1h or 2024-01-02T15:04:05Z.", Position: -1},
		}},
		{"testdata/probe.json", []manifest.Param{
			{Name: "target", Type: "string", Description: "The first host to probe.", Required: true, Position: 0},
			{Name: "hosts", Type: "array", ItemType: "string", Description: "More hosts to probe.", Position: 1},
			{Name: "label", Type: "string", Nullable: true, Position: -1},
			{Name: "level", Type: "string", Enum: []string{"debug", "info", "warn"}, Default: "info", Position: -1},
			{Name: "ports", Type: "array", ItemType: "integer", Position: -1},
			{Name: "ratio", Type: "number", Position: -1},
			{Name: "retries", Type: "integer", Description: "How many times to retry.", Position: -1},
			{Name: "verbose", Type: "boolean", Position: -1},
			{Name: "weights", Type: "array", ItemType: "number", Position: -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := compile(t, tt.file).Params()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Params() mismatch (-want +got):\n-%+v\n+%+v", tt.want, got)
			}
		})
	}
}

func TestTool_Manifest(t *testing.T) {
	tool := compile(t, "testdata/probe.json")
	m := tool.Manifest()
	if m.Name != "probe" || m.Output != "json" || m.OutputLimit() != 1<<20 || !m.Args.Equals {
		t.Errorf("Manifest() = %+v", m)
	}
}

func TestTool_Argv(t *testing.T) {
	logs := compile(t, "testdata/valid.json")
	probe := compile(t, "testdata/probe.json")
	tests := []struct {
		name string
		tool *manifest.Tool
		args string
		want []string
	}{
		{"positional only", logs, `{"file": "syslog"}`, []string{"syslog"}},
		{"flags in name order, then positional", logs,
			`{"max": 20, "file": "syslog", "json": true, "filter": "error", "since": "1h"}`,
			[]string{"--filter", "error", "--json", "--max", "20", "--since", "1h", "syslog"}},
		{"false boolean left out", logs, `{"file": "syslog", "json": false}`, []string{"syslog"}},
		{"integer written as a float", logs, `{"file": "x", "max": 1e2}`, []string{"--max", "100", "x"}},
		{"integer written with .0", logs, `{"file": "x", "max": 7.0}`, []string{"--max", "7", "x"}},
		{"values that look like flags stay values", logs, `{"file": "-rf", "filter": "--json"}`,
			[]string{"--filter", "--json", "--", "-rf"}},
		{"empty string", logs, `{"file": "", "filter": ""}`, nil}, // file has minLength 1: see errors
		{"equals style", probe, `{"target": "a", "ports": [80, 443], "level": "warn", "ratio": 0.5}`,
			[]string{"--level=warn", "--ports=80", "--ports=443", "--ratio=0.5", "a"}},
		{"array positional last", probe, `{"target": "a", "hosts": ["b", "c"], "verbose": true}`,
			[]string{"--verbose", "a", "b", "c"}},
		{"empty array", probe, `{"target": "a", "hosts": [], "ports": []}`, []string{"a"}},
		{"null is omitted", probe, `{"target": "a", "label": null}`, []string{"a"}},
		{"number formats", probe, `{"target": "a", "ratio": 1e-7, "weights": [1, 2.50, 100000, 1e21], "ports": [1]}`,
			[]string{"--ports=1", "--ratio=1e-07", "--weights=1", "--weights=2.5", "--weights=100000", "--weights=1e+21", "a"}},
		{"ref to integer", probe, `{"target": "a", "retries": 3}`, []string{"--retries=3", "a"}},
		{"value with =", probe, `{"target": "a=b", "label": ""}`, []string{"--label=", "a=b"}},
	}
	for _, tt := range tests {
		if tt.want == nil {
			continue
		}
		for _, useNumber := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.tool.Argv(args(t, tt.args, useNumber))
				if err != nil {
					t.Fatalf("Argv(%s): %v", tt.args, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Argv(%s) mismatch (-want +got):\n-%q\n+%q", tt.args, tt.want, got)
				}
				// Back through the command line: the same argv again.
				back, err := tt.tool.ParseFlags(parseArgv(t, tt.tool, got))
				if err != nil {
					t.Fatalf("ParseFlags(%q): %v", got, err)
				}
				again, err := tt.tool.Argv(back)
				if err != nil {
					t.Fatalf("Argv(ParseFlags(%q)): %v", got, err)
				}
				if !reflect.DeepEqual(again, got) {
					t.Errorf("round trip mismatch (-want +got):\n-%q\n+%q", got, again)
				}
			})
		}
	}
}

// parseArgv reads an argv the way a module's flag parser would.
func parseArgv(t testing.TB, tool *manifest.Tool, argv []string) map[string][]string {
	t.Helper()
	params := map[string]manifest.Param{}
	var positional []manifest.Param
	for _, p := range tool.Params() {
		params[p.Name] = p
		if p.Position >= 0 {
			positional = append(positional, p)
		}
	}
	out := map[string][]string{}
	var rest []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			rest = append(rest, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "--") {
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		p, ok := params[name]
		if !ok {
			t.Fatalf("parseArgv(%q): unknown flag %s", argv, a)
		}
		switch {
		case p.Type == "boolean":
			value = ""
		case !hasValue:
			if tool.Manifest().Args.Equals {
				t.Fatalf("parseArgv(%q): %s without =", argv, a)
			}
			i++
			value = argv[i]
		}
		out[name] = append(out[name], value)
	}
	for i, v := range rest {
		if i >= len(positional) {
			i = len(positional) - 1
		}
		out[positional[i].Name] = append(out[positional[i].Name], v)
	}
	return out
}

// TestTool_Validate_errors checks that each error wraps ErrArgs, is one
// line and names the offending argument.
func TestTool_Validate_errors(t *testing.T) {
	logs := compile(t, "testdata/valid.json")
	probe := compile(t, "testdata/probe.json")
	tests := []struct {
		want string
		tool *manifest.Tool
		args string
	}{
		{"--max: expected integer, got string", logs, `{"file": "x", "max": "ten"}`},
		{"--max: expected integer, got number", logs, `{"file": "x", "max": 1.5}`},
		{"--max: must be at least 1, got 0", logs, `{"file": "x", "max": 0}`},
		{"is out of range for a 64-bit integer", logs, `{"file": "x", "max": 1e30}`},
		{"--json: expected boolean, got string", logs, `{"file": "x", "json": "yes"}`},
		{"--filter: expected string, got object", logs, `{"file": "x", "filter": {"a": 1}}`},
		{"--filter: expected string, got array", logs, `{"file": "x", "filter": ["a"]}`},
		{"--filter: expected string, got null", logs, `{"file": "x", "filter": null}`},
		{"<file>: required but not given", logs, `{"max": 5}`},
		{"<file>: expected string, got number", logs, `{"file": 5, "max": "x"}`},
		{"<file>: must have at least 1 characters, got 0", logs, `{"file": ""}`},
		{"--bogus: unknown argument", logs, `{"file": "x", "bogus": 1}`},
		{`"--x": unknown argument`, logs, `{"file": "x", "--x": 1}`},
		{"--filter: contains a NUL byte", logs, `{"file": "x", "filter": "a\u0000b"}`},
		{"--ports: item 1: expected integer, got string", probe, `{"target": "a", "ports": [80, "443"]}`},
		{"--ports: item 0: must be at most 65535, got 70000", probe, `{"target": "a", "ports": [70000]}`},
		{"--ports: items 0 and 1 are the same", probe, `{"target": "a", "ports": [80, 80]}`},
		{"--ports: item 0: expected integer, got array", probe, `{"target": "a", "ports": [[80]]}`},
		{"--ports: item 0: expected integer, got object", probe, `{"target": "a", "ports": [{}]}`},
		{"--ports: expected array, got number", probe, `{"target": "a", "ports": 80}`},
		{"--ratio: must be more than 0, got 0", probe, `{"target": "a", "ratio": 0}`},
		{`--level: must be one of "debug", "info", "warn", got "trace"`, probe, `{"target": "a", "level": "trace"}`},
		{"--retries: must be at least 0, got -1", probe, `{"target": "a", "retries": -1}`},
		{`--label: must match the pattern "^[a-z]*$", got "A"`, probe, `{"target": "a", "label": "A"}`},
		{"--weights: must have at most 4 items, got 5", probe, `{"target": "a", "ports": [1], "weights": [1, 2, 3, 4, 5]}`},
	}
	for _, tt := range tests {
		for _, useNumber := range []bool{false, true} {
			t.Run(tt.want, func(t *testing.T) {
				a := args(t, tt.args, useNumber)
				err := tt.tool.Validate(a)
				if err == nil {
					t.Fatalf("Validate(%s) succeeded, want an error containing %q", tt.args, tt.want)
				}
				checkError(t, manifest.ErrArgs, err, tt.want)
				if _, err := tt.tool.Argv(a); err == nil {
					t.Errorf("Argv(%s) succeeded where Validate failed", tt.args)
				}
			})
		}
	}
}

// TestTool_Validate_goValues covers arguments built in Go rather than
// decoded from JSON.
func TestTool_Validate_goValues(t *testing.T) {
	probe := compile(t, "testdata/probe.json")
	ok := map[string]any{
		"target":  "a",
		"hosts":   []string{"b"},
		"ports":   []int{80, 443},
		"retries": uint8(2),
		"ratio":   float32(0.25),
		"weights": []float64{1.5},
	}
	got, err := probe.Argv(ok)
	if err != nil {
		t.Fatalf("Argv(%v): %v", ok, err)
	}
	want := []string{"--ports=80", "--ports=443", "--ratio=0.25", "--retries=2", "--weights=1.5", "a", "b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Argv mismatch (-want +got):\n-%q\n+%q", want, got)
	}
	bad := []struct {
		want string
		args map[string]any
	}{
		{"<target>: expected string, got bytes", map[string]any{"target": []byte("a")}},
		{"--retries: unsupported value of Go type", map[string]any{"target": "a", "retries": complex(1, 2)}},
		{"--retries: expected integer, got object", map[string]any{"target": "a", "retries": struct{}{}}},
		{"--retries: 18446744073709551615 is out of range", map[string]any{"target": "a", "retries": uint64(1<<64 - 1)}},
		{"--ratio: NaN is not a finite number", map[string]any{"target": "a", "ratio": nan()}},
		{`--ratio: "0x10" is not a JSON number`, map[string]any{"target": "a", "ratio": json.Number("0x10")}},
		{`--ratio: 1e999 is out of range`, map[string]any{"target": "a", "ratio": json.Number("1e999")}},
		{`is not a JSON number of at most 64 characters`, map[string]any{"target": "a", "ratio": json.Number("0." + strings.Repeat("0", 100) + "1")}},
	}
	for _, tt := range bad {
		t.Run(tt.want, func(t *testing.T) {
			err := probe.Validate(tt.args)
			if err == nil {
				t.Fatalf("Validate(%v) succeeded", tt.args)
			}
			checkError(t, manifest.ErrArgs, err, tt.want)
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

func TestTool_Argv_errors(t *testing.T) {
	probe := compile(t, "testdata/probe.json")
	tests := []struct {
		want string
		args map[string]any
	}{
		{"<hosts> given without <target>", map[string]any{"hosts": []any{"b"}}},
		{"--weights: item 0: expected number, got null", map[string]any{"target": "a", "ports": []any{1.0}, "weights": []any{nil}}},
		{"the command line would be", map[string]any{"target": strings.Repeat("a", manifest.MaxArgv)}},
	}
	// A missing required positional is refused first by the schema; to
	// reach the gap check the schema must allow it, so drop "required".
	data, _ := os.ReadFile("testdata/probe.json")
	data = bytes.Replace(data, []byte(`,
    "required": ["target"]`), nil, 1)
	optional := mustCompile(t, data)
	for i, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			tool := probe
			if i == 0 {
				tool = optional
			}
			_, err := tool.Argv(tt.args)
			if err == nil {
				t.Fatalf("Argv succeeded, want an error containing %q", tt.want)
			}
			checkError(t, manifest.ErrArgs, err, tt.want)
		})
	}
}

func TestTool_ParseFlags(t *testing.T) {
	probe := compile(t, "testdata/probe.json")
	got, err := probe.ParseFlags(map[string][]string{
		"target":  {"a"},
		"hosts":   {"b", "c"},
		"ports":   {"80", "443"},
		"ratio":   {"0.5"},
		"retries": {"3"},
		"verbose": {""},
		"weights": {},
	})
	if err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	want := map[string]any{
		"target":  "a",
		"hosts":   []any{"b", "c"},
		"ports":   []any{int64(80), int64(443)},
		"ratio":   0.5,
		"retries": int64(3),
		"verbose": true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseFlags mismatch (-want +got):\n-%#v\n+%#v", want, got)
	}
	for _, s := range []string{"true", "false", ""} {
		got, err := probe.ParseFlags(map[string][]string{"verbose": {s}})
		if err != nil || got["verbose"] != (s != "false") {
			t.Errorf("ParseFlags(verbose=%q) = %v, %v", s, got, err)
		}
	}
}

func TestTool_ParseFlags_errors(t *testing.T) {
	probe := compile(t, "testdata/probe.json")
	tests := []struct {
		want   string
		values map[string][]string
	}{
		{`--retries: expected integer, got "three"`, map[string][]string{"retries": {"three"}}},
		{`--retries: expected integer, got "1.5"`, map[string][]string{"retries": {"1.5"}}},
		{`--retries: "99999999999999999999" is out of range`, map[string][]string{"retries": {"99999999999999999999"}}},
		{`--ratio: expected number, got "half"`, map[string][]string{"ratio": {"half"}}},
		{`--ratio: expected number, got "NaN"`, map[string][]string{"ratio": {"NaN"}}},
		{`--ratio: expected number, got "1e999"`, map[string][]string{"ratio": {"1e999"}}},
		{`--verbose: expected true or false, got "yes"`, map[string][]string{"verbose": {"yes"}}},
		{`--ports: value 2: expected integer, got "https"`, map[string][]string{"ports": {"80", "https"}}},
		{`--weights: value 1: expected number, got ""`, map[string][]string{"weights": {""}}},
		{`--level: given 2 times, want once`, map[string][]string{"level": {"info", "warn"}}},
		{`--nope: unknown flag`, map[string][]string{"nope": {"x"}}},
		{`"-x": unknown flag`, map[string][]string{"-x": {"x"}}},
		{`<target>: contains a NUL byte`, map[string][]string{"target": {"a\x00"}}},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := probe.ParseFlags(tt.values)
			if err == nil {
				t.Fatalf("ParseFlags(%q) succeeded, want an error containing %q", tt.values, tt.want)
			}
			checkError(t, manifest.ErrArgs, err, tt.want)
		})
	}
}

// TestTool_concurrent runs one tool from many goroutines, as the MCP
// front end does; run with -race.
func TestTool_concurrent(t *testing.T) {
	tool := compile(t, "testdata/probe.json")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				a := map[string]any{"target": "a", "ports": []any{float64(i + 1)}}
				if _, err := tool.Argv(a); err != nil {
					t.Error(err)
				}
				if err := tool.Validate(map[string]any{"ports": "x"}); err == nil {
					t.Error("Validate succeeded on bad arguments")
				}
				_ = tool.Params()
			}
		})
	}
	wg.Wait()
}
