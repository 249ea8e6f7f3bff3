package agentctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const testSpec = "name count:int ratio:num shout:bool tag"

func TestParseArgs(t *testing.T) {
	a, err := ParseArgs("t", testSpec, []string{"--name", "--op", "--count=-3", "--tag", "a", "--shout", "--tag", "b", "--ratio", "1.5", "pos1", "--", "--pos2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.String("name", ""); got != "--op" {
		t.Errorf("name %q", got)
	}
	if got := a.Int("count", 0); got != -3 {
		t.Errorf("count %d", got)
	}
	if got := a.Float("ratio", 0); got != 1.5 {
		t.Errorf("ratio %v", got)
	}
	if !a.Bool("shout") || !a.Has("shout") {
		t.Error("shout")
	}
	if got := a.All("tag"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("tags %q", got)
	}
	if got := a.Positional(); !reflect.DeepEqual(got, []string{"pos1", "--pos2"}) {
		t.Errorf("positional %q", got)
	}

	a, err = ParseArgs("t", testSpec, []string{"--shout=false"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Bool("shout") || a.Has("shout") || a.Has("name") || a.String("name", "def") != "def" || a.Int("count", 7) != 7 || len(a.All("tag")) != 0 {
		t.Errorf("defaults: %+v", a)
	}
}

func TestParseArgs_usageErrors(t *testing.T) {
	for want, args := range map[string][]string{
		"unknown flag --nope":                 {"--nope", "x"},
		"--name needs a value":                {"--name"},
		`--count: want an integer, got "12x"`: {"--count", "12x"},
		"--count: want an integer":            {"--count", "99999999999999999999"},
		"--ratio: want a number":              {"--ratio", "NaN"},
		"--shout: want true or false":         {"--shout=yes"},
	} {
		if _, err := ParseArgs("t", testSpec, args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", args, err, want)
		}
	}
}

// TestParseArgs_repeats pins the rule for a flag given twice: a word ending
// in "?" is a scalar and refuses a second value (whatever its type, inline or
// not, also after a false switch); a word without it keeps every value, the
// getters the last, as specs written before "?" expect.
func TestParseArgs_repeats(t *testing.T) {
	const spec = "since? max:int? json:bool? ratio:num? tag count:int shout:bool"
	for _, tc := range []struct {
		name    string
		args    []string
		err     string   // "" for none
		tags    []string // All("tag"), when err is ""
		count   int64    // Int("count", 0)
		shout   bool
		since   string
		posArgs []string
	}{
		{name: "each scalar once", args: []string{"--since", "1h", "--max=3", "--json", "--ratio", "0.5"}, tags: []string{}, since: "1h"},
		{name: "str twice", args: []string{"--since", "1h", "--since", "2h"}, err: "--since given twice"},
		{name: "str twice, inline", args: []string{"--since=1h", "--since=1h"}, err: "--since given twice"},
		{name: "int twice", args: []string{"--max", "1", "--max=2"}, err: "--max given twice"},
		{name: "num twice", args: []string{"--ratio", "1", "--ratio", "1"}, err: "--ratio given twice"},
		{name: "bool twice", args: []string{"--json", "--json"}, err: "--json given twice"},
		{name: "bool false then true", args: []string{"--json=false", "--json"}, err: "--json given twice"},
		{name: "twice after another flag", args: []string{"--since", "1h", "--tag", "a", "--since", "2h"}, err: "--since given twice"},
		{name: "after --: positional", args: []string{"--since", "1h", "--", "--since", "2h"}, tags: []string{}, since: "1h", posArgs: []string{"--since", "2h"}},
		{name: "as a value: not a flag", args: []string{"--tag", "--since", "--since", "1h"}, tags: []string{"--since"}, since: "1h"},
		{name: "unmarked str repeats", args: []string{"--tag", "a", "--tag=b", "--tag", "a"}, tags: []string{"a", "b", "a"}},
		{name: "unmarked int: last", args: []string{"--count", "1", "--count", "2"}, tags: []string{}, count: 2},
		{name: "unmarked bool: last", args: []string{"--shout", "--shout=false", "--shout"}, tags: []string{}, shout: true},
		{name: "unmarked bool: last false", args: []string{"--shout", "--shout=false"}, tags: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseArgs("t", spec, tc.args)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("%q: error %v, want %q", tc.args, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", tc.args, err)
			}
			if got := a.All("tag"); !reflect.DeepEqual(got, tc.tags) {
				t.Errorf("tags %q, want %q", got, tc.tags)
			}
			if got := a.Int("count", 0); got != tc.count {
				t.Errorf("count %d, want %d", got, tc.count)
			}
			if got := a.Bool("shout"); got != tc.shout {
				t.Errorf("shout %v, want %v", got, tc.shout)
			}
			if got := a.String("since", ""); got != tc.since {
				t.Errorf("since %q, want %q", got, tc.since)
			}
			if got := a.Positional(); len(got)+len(tc.posArgs) > 0 && !reflect.DeepEqual(got, tc.posArgs) {
				t.Errorf("positional %q, want %q", got, tc.posArgs)
			}
		})
	}
}

func TestRequire_exits2(t *testing.T) {
	code := -1
	exit = func(c int) { code = c }
	defer func() { exit = os.Exit }()
	a, _ := ParseArgs("t", testSpec, nil)
	a.Require("name")
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}

type stringer struct{}

func (stringer) String() string { return "str<>" }

func TestAppendJSON(t *testing.T) {
	doc := Obj(
		"s", "q\" b\\ nl\n tab\t cr\r bs\b ff\f \x01\x1f del\x7f e\u00e9 \u2028 \U0001F600 \ufffd",
		"bad", "\xff\xc3(\xe2\x82 \xed\xa0\x80",
		"a", []any{-42, 0.5, true, false, nil, (*int)(nil), Object{}, []string{}},
		`k"`, "ab\x00c",
		"nan", math.NaN(),
		"v", []uint16{1, 2},
		"m", map[string]int{"b": 2, "a": 1},
		"err", errors.New("boom"),
		"str", stringer{},
		"st", struct {
			X int `json:"x"`
		}{3},
		"state", Filtered,
	)
	want := `{"s":"q\" b\\ nl\n tab\t cr\r bs\b ff\f \u0001\u001f del\u007f e` + "\u00e9" + ` \u2028 ` + "\U0001F600 \ufffd" + `",` +
		`"bad":"\ufffd\ufffd(\ufffd\ufffd \ufffd\ufffd\ufffd",` +
		`"a":[-42,0.5,true,false,null,null,{},[]],"k\"":"ab\u0000c","nan":null,"v":[1,2],"m":{"a":1,"b":2},` +
		`"err":"boom","str":"str<>","st":{"x":3},"state":"filtered"}`
	if got := string(AppendJSON(nil, doc)); got != want {
		t.Errorf("mismatch\n got %s\nwant %s", got, want)
	}
}

func TestNetwork_withoutHost(t *testing.T) {
	if ErrDenied.Name() != "DENIED" || Errno(99).Name() != "UNKNOWN" || ErrRefused.Error() != "connection refused" {
		t.Error("errno names")
	}
	if ErrnoOf(fmt.Errorf("x: %w", ErrTimeout)) != ErrTimeout {
		t.Error("ErrnoOf")
	}
	if got := (Target{"::1", 443}).String() + " " + (Target{"10.0.0.1", 22}).String(); got != "[::1]:443 10.0.0.1:22" {
		t.Errorf("targets %q", got)
	}
	if _, err := Dial("127.0.0.1", 80, 0); !errors.Is(err, ErrDenied) {
		t.Errorf("dial: %v", err)
	}
	probeCalls = 0
	var many []Target
	for i := range 60000 {
		many = append(many, Target{fmt.Sprintf("host-%05d.example.org", i), 65535})
	}
	states, err := Probe(many, 0)
	if err != nil || len(states) != len(many) || states[0] != Denied || states[len(states)-1] != Denied {
		t.Fatalf("probe: %d states, %v", len(states), err)
	}
	if probeCalls != 2 {
		t.Errorf("%d net_probe calls for 1.7 MB of targets, want 2", probeCalls)
	}
	if _, err := Probe(make([]Target, MaxProbes+1), 0); err != ErrLimit {
		t.Errorf("too many: %v", err)
	}
}

// FuzzAppendQuote checks that every string quotes to JSON that decodes back
// to it, each byte that is not UTF-8 as U+FFFD.
func FuzzAppendQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"\\\x00\x1f\x7f", "\xff\xc3(\xe2\x82", "\u2028\u2029\ufffd\U0001F600"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := AppendQuote(nil, s)
		var back string
		if err := json.Unmarshal(q, &back); err != nil {
			t.Fatalf("%q quotes to %s, not JSON: %v", s, q, err)
		}
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r) // RuneError for an invalid byte
			i += size
		}
		if back != want.String() {
			t.Fatalf("%q quotes to %s, which decodes to %q", s, q, back)
		}
		for _, c := range q {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("%q quotes to %s, with a raw control byte", s, q)
			}
		}
	})
}

func TestSpecFromManifest(t *testing.T) {
	m := `{"name": "t-x", "version": "1.0.0", "inputSchema": {"type": "object", "properties": {
  "na\u006de": {"type": "string", "enum": ["a", {"b": [1, -2.5e3, true, null]}]},
  "count": {"type": "integer"}, "ratio": {"type": "number"}, "shout": {"type": "boolean"},
  "tag": {"type": "array", "items": {"type": "integer"}}, "any": {}}}, "x": [[], {}]}`
	tool, spec, err := SpecFromManifest([]byte(m))
	if err != nil || tool != "t-x" || spec != "any count:int name ratio:num shout:bool tag:int" {
		t.Fatalf("SpecFromManifest = %q, %q, %v", tool, spec, err)
	}
	for _, bad := range []string{"", "{", `{"name": "x",}`, `{"version": "1"}`, `{"name": "x"} x`,
		`{"name": "x", "inputSchema": {"properties": {"a b": {}}}}`, "[1, 2",
		`{"name": "x", "inputSchema": {"properties": {"a?": {}}}}`} {
		if _, _, err := SpecFromManifest([]byte(bad)); err == nil {
			t.Errorf("SpecFromManifest(%q): no error", bad)
		}
	}
}
