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
		`{"name": "x", "inputSchema": {"properties": {"a b": {}}}}`, "[1, 2"} {
		if _, _, err := SpecFromManifest([]byte(bad)); err == nil {
			t.Errorf("SpecFromManifest(%q): no error", bad)
		}
	}
}
