package fleet

import (
	"fmt"
	"strings"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

// parseArgv turns a tool's command-line arguments, as `agent-ctl TOOL`
// takes them, into the values manifest.Tool.ParseFlags types: "--name
// value" or "--name=value" for a flag, a bare "--name" for a boolean,
// repeated flags for an array, the rest (and everything after "--") for
// the positional parameters in order, the last one taking the rest when
// it is an array.
func parseArgv(t *manifest.Tool, argv []string) (map[string][]string, error) {
	var flags = map[string]*manifest.Param{}
	for _, p := range t.Params() {
		if p.Position < 0 {
			flags[p.Name] = &p
		}
	}
	values := map[string][]string{}
	var rest []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			rest = append(rest, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		p := flags[name]
		if p == nil {
			return nil, fmt.Errorf("%w: unknown flag %q", manifest.ErrArgs, "--"+name)
		}
		switch {
		case hasVal:
		case p.Type == "boolean":
			val = "true"
		case i+1 < len(argv):
			i++
			val = argv[i]
		default:
			return nil, fmt.Errorf("%w: --%s: needs a value", manifest.ErrArgs, name)
		}
		values[name] = append(values[name], val)
	}
	if extra := t.AssignPositional(values, rest); len(extra) > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", manifest.ErrArgs, extra[0])
	}
	return values, nil
}
