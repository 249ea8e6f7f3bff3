package agentctl

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Args is the tool's command line, parsed against a spec. agent-ctl writes a
// tool's parameters as "--name value" (or "--name=value"), a true boolean as
// a bare "--name", an array as one flag per item, then the positional values
// (after "--" when one starts with "-").
type Args struct {
	tool       string
	specs      []spec
	values     []value
	positional []string
}

// spec is one flag of the spec; once is set by a "?" after the word.
type spec struct {
	name, typ string
	once      bool
}

type value struct {
	spec int
	v    string
}

// Parse parses os.Args against spec: the flags the tool takes, separated by
// spaces, each "name" or "name:TYPE" with TYPE str (the default), int, num or
// bool (a switch). An unknown flag, a missing value or a bad number prints
// "TOOL: why" to stderr and exits 2. tool names the program in messages.
//
// A word may end in "?" ("since?", "max:int?"): the flag is a scalar, given
// at most once, and a second one is a usage error ("--since given twice")
// rather than a silent override, since agent-ctl writes a scalar parameter
// once and only an array repeats. A word without it may repeat (All reads
// every value, the other getters the last), as before "?" existed.
func Parse(tool, spec string) *Args {
	a, err := ParseArgs(tool, spec, os.Args[1:])
	if err != nil {
		(&Args{tool: tool}).Usage("%s", err)
	}
	return a
}

// ParseArgs parses args (without the program name) as Parse does, returning
// the usage error instead of exiting.
func ParseArgs(tool, specText string, args []string) (*Args, error) {
	a := &Args{tool: tool}
	for _, w := range strings.Fields(specText) {
		word, once := strings.CutSuffix(w, "?")
		name, typ, ok := strings.Cut(word, ":")
		if !ok {
			typ = "str"
		}
		switch typ {
		case "str", "int", "num", "bool":
		default:
			panic(fmt.Sprintf("agentctl: spec %q: type is not str, int, num or bool", w))
		}
		a.specs = append(a.specs, spec{name, typ, once})
	}
	flags := true
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if flags && arg == "--" {
			flags = false
			continue
		}
		if !flags || !strings.HasPrefix(arg, "--") {
			a.positional = append(a.positional, arg)
			continue
		}
		name, inline, hasInline := strings.Cut(arg[2:], "=")
		si := a.specOf(name)
		if si < 0 {
			return nil, fmt.Errorf("unknown flag --%s", name)
		}
		if a.specs[si].once && a.given(si) {
			return nil, fmt.Errorf("--%s given twice", name)
		}
		var v string
		switch typ := a.specs[si].typ; {
		case typ == "bool" && !hasInline:
			v = "true"
		case typ == "bool":
			if inline != "true" && inline != "false" {
				return nil, fmt.Errorf("--%s: want true or false, got %q", name, inline)
			}
			v = inline
		case hasInline:
			v = inline
		case i+1 < len(args):
			i++
			v = args[i]
		default:
			return nil, fmt.Errorf("--%s needs a value", name)
		}
		if err := check(name, a.specs[si].typ, v); err != nil {
			return nil, err
		}
		a.values = append(a.values, value{si, v})
	}
	return a, nil
}

// given reports whether flag si has a value already. It scans the values,
// which is cheap: only "?" flags ask, and a second one ends the parse.
func (a *Args) given(si int) bool {
	for _, v := range a.values {
		if v.spec == si {
			return true
		}
	}
	return false
}

func check(name, typ, v string) error {
	switch typ {
	case "int":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("--%s: want an integer, got %q", name, v)
		}
	case "num":
		if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("--%s: want a number, got %q", name, v)
		}
	}
	return nil
}

func (a *Args) specOf(name string) int {
	for i, s := range a.specs {
		if s.name == name {
			return i
		}
	}
	return -1
}

// All returns every value of a repeated flag, in order.
func (a *Args) All(name string) []string {
	si := a.specOf(name)
	if si < 0 {
		panic("agentctl: --" + name + " is not in the spec given to Parse")
	}
	out := []string{}
	for _, v := range a.values {
		if v.spec == si {
			out = append(out, v.v)
		}
	}
	return out
}

func (a *Args) last(name string) (string, bool) {
	all := a.All(name)
	if len(all) == 0 {
		return "", false
	}
	return all[len(all)-1], true
}

// Tool is the tool's name, as given to Parse.
func (a *Args) Tool() string { return a.tool }

// Has reports whether the flag was given (a false switch counts as not given).
func (a *Args) Has(name string) bool {
	v, ok := a.last(name)
	return ok && !(a.specs[a.specOf(name)].typ == "bool" && v == "false")
}

// String returns the flag's last value, or def.
func (a *Args) String(name, def string) string {
	if v, ok := a.last(name); ok {
		return v
	}
	return def
}

// Require returns the flag's last value; a missing flag is a usage error.
func (a *Args) Require(name string) string {
	v, ok := a.last(name)
	if !ok {
		a.Usage("--%s is required", name)
	}
	return v
}

// Int returns the flag as an integer, or def; a value that is not one is a
// usage error.
func (a *Args) Int(name string, def int64) int64 {
	v, ok := a.last(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		a.Usage("--%s: want an integer, got %q", name, v)
	}
	return n
}

// Float returns the flag as a number, or def.
func (a *Args) Float(name string, def float64) float64 {
	v, ok := a.last(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		a.Usage("--%s: want a number, got %q", name, v)
	}
	return f
}

// Bool reports whether a switch was given (and not as --name=false).
func (a *Args) Bool(name string) bool {
	v, ok := a.last(name)
	return ok && v != "false"
}

// Positional returns the positional arguments, in order.
func (a *Args) Positional() []string { return a.positional }

// exit is os.Exit; tests replace it.
var exit = os.Exit

// Usage prints "TOOL: message" to stderr and exits 2 (a usage error).
func (a *Args) Usage(format string, v ...any) {
	a.Fail(2, format, v...)
}

// Fail prints "TOOL: message" to stderr and exits with code.
func (a *Args) Fail(code int, format string, v ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", a.tool, fmt.Sprintf(format, v...))
	exit(code)
}
