package main

import (
	"errors"
	"strings"
	"testing"
)

// TestParseArgs covers the command line update-config reads through the Go
// SDK: what it accepts, and the usage errors (exit 2) with their messages,
// among them a flag given twice, which is refused rather than overridden.
func TestParseArgs(t *testing.T) {
	base := []string{"--file", "a.yaml", "--key", "server.port", "--value", "8081"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	for _, tc := range []struct {
		name string
		args []string
		want string // the error's text, or "" for none
		// when accepted:
		typ    string
		text   string
		value  string // checked when not ""
		create bool
	}{
		{name: "minimal", args: base},
		{name: "inline values", args: []string{"--file=a.yaml", "--key=a.b", "--value=x=y"}, value: "x=y"},
		{name: "int", args: with("--type", "int"), typ: "int", text: "8081"},
		{name: "unknown flag after an inline one", args: with("--type=bool", "--value2"), want: "unknown flag --value2"},
		{name: "create", args: with("--create"), create: true},
		{name: "create=true", args: with("--create=true"), create: true},
		{name: "create=false", args: with("--create=false")},
		{name: "create=yes", args: with("--create=yes"), want: `--create: want true or false, got "yes"`},
		{name: "unknown flag", args: with("--bogus", "x"), want: "unknown flag --bogus"},
		{name: "positional", args: with("extra"), want: "unknown argument extra"},
		{name: "positional after --", args: with("--", "--create"), want: "unknown argument --create"},
		{name: "missing value", args: []string{"--file", "a.yaml", "--key"}, want: "--key needs a value"},
		{name: "file required", args: []string{"--key", "a", "--value", "1"}, want: "--file is required (usage: update-config "},
		{name: "key required", args: []string{"--file", "a.yaml", "--value", "1"}, want: "--key is required"},
		{name: "value required", args: []string{"--file", "a.yaml", "--key", "a"}, want: "--value is required"},
		{name: "value twice", args: with("--value", "9090"), want: "--value given twice"},
		{name: "file twice", args: with("--file=b.yaml"), want: "--file given twice"},
		{name: "type twice", args: with("--type", "int", "--type", "string"), want: "--type given twice"},
		{name: "create twice", args: with("--create", "--create"), want: "--create given twice"},
		{name: "empty key part", args: []string{"--file", "a.yaml", "--key", "a..b", "--value", "1"}, want: `bad --key "a..b": empty part`},
		{name: "bad type", args: with("--type", "float"), want: `bad --type "float": want string, int or bool`},
		{name: "value not an int", args: []string{"--file", "a.yaml", "--key", "a", "--value", "x", "--type", "int"}, want: `bad int value "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseArgs(tc.args)
			if tc.want != "" {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, tc.want) {
					t.Fatalf("%q: error %v, want exit 2 with %q", tc.args, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", tc.args, err)
			}
			if tc.value != "" && r.value != tc.value {
				t.Fatalf("%q: value %q, want %q", tc.args, r.value, tc.value)
			}
			if r.typ != tc.typ || r.text != tc.text || r.create != tc.create {
				t.Fatalf("%q: type %q text %q create %v, want %q %q %v", tc.args, r.typ, r.text, r.create, tc.typ, tc.text, tc.create)
			}
		})
	}
}
