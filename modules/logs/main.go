// logs: searches the log files of the directory granted read-only at /logs,
// rotated and gzipped ones included, for lines that contain a text or match a
// regular expression, optionally only the recent ones. It streams: memory
// stays bounded whatever the size of the files or of their lines.
// Built with GOOS=wasip1 GOARCH=wasm: see Makefile and README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	_ "time/tzdata" // wasip1 has no zone database: TZ=Europe/Paris needs this one

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

const (
	root       = "/logs"
	defaultMax = 1000
)

// Exit codes, as grep's.
const (
	exitMatch   = 0 // at least one line matched
	exitNoMatch = 1 // no line matched, and every file was read
	exitError   = 2 // bad arguments, or a file that could not be read
)

// usageErr is a bad argument or input: the search cannot start (exit 2).
func usageErr(format string, a ...any) error { return fmt.Errorf(format, a...) }

const usage = "usage: logs [--filter TEXT | --regex RE] [--since DURATION|TIME] [--file NAME] [--max N] [--json]"

// flags is logs' command line for agentctl.ParseArgs: every flag is a
// scalar ("?"), so one given twice is a usage error, not a silent override.
const flags = "filter? regex? since? file? max:int? json:bool?"

// options are the parsed arguments.
type options struct {
	filter []byte         // nil: no --filter
	re     *regexp.Regexp // nil: no --regex
	// literals: one of them is in every matching line (--filter itself, or
	// taken from --regex); none when the regex has no such literal.
	literals []literal
	since    time.Time // zero: no --since
	file     string    // "": all of the root
	max      int       // 0: no limit
	json     bool
	loc      *time.Location // for times without a zone
}

func main() {
	os.Exit(run(os.Args[1:], root, time.Now(), os.Getenv("TZ"), os.Stdout, os.Stderr))
}

// run is the whole tool, with its environment passed in so tests can run it on the host.
func run(args []string, root string, now time.Time, tz string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, now, tz)
	if err != nil {
		fmt.Fprintf(stderr, "logs: %v\n", err)
		return exitError
	}
	if _, err := os.Stat(root); err != nil {
		fmt.Fprintf(stderr, "logs: nothing to search: %s is not granted to this tool, or cannot be read (%v); grant it with: agent-ctl grant logs --dir /var/log:%s:ro\n", root, plainErr(err), root)
		return exitError
	}
	files, walkErrs, err := findFiles(root, opts.file)
	if err != nil {
		fmt.Fprintf(stderr, "logs: %v\n", err)
		return exitError
	}
	s := newSearch(opts, root, stdout, stderr)
	for _, e := range walkErrs {
		s.fileError(e)
	}
	s.searchAll(files)
	if err := s.finish(); err != nil {
		// stdout is gone: nothing more to say there, and stderr says why.
		fmt.Fprintf(stderr, "logs: writing output: %v\n", err)
		return exitError
	}
	switch {
	case len(s.errors) > 0:
		return exitError
	case s.matches > 0:
		return exitMatch
	default:
		return exitNoMatch
	}
}

func parseArgs(args []string, now time.Time, tz string) (*options, error) {
	o := &options{max: defaultMax, loc: time.UTC}
	if tz != "" {
		loc, err := time.LoadLocation(strings.TrimPrefix(tz, ":"))
		if err != nil {
			return nil, usageErr("bad TZ %q: want a zone name such as Europe/Paris", tz)
		}
		o.loc = loc
	}
	a, err := agentctl.ParseArgs("logs", flags, args)
	if err != nil {
		return nil, usageErr("%v (%s)", err, usage)
	}
	if p := a.Positional(); len(p) > 0 {
		return nil, usageErr("unknown argument %q (%s)", p[0], usage)
	}
	o.json = a.Bool("json")
	o.file = a.String("file", "")
	if a.Has("max") {
		// a.Int cannot fail: ParseArgs checked the integer.
		n := a.Int("max", defaultMax)
		if n < 0 {
			return nil, usageErr("bad --max %q: want a whole number, 0 for no limit", a.String("max", ""))
		}
		o.max = int(n)
	}
	if a.Has("filter") && a.Has("regex") {
		return nil, usageErr("--filter and --regex exclude each other: give one (or neither, for every line)")
	}
	if a.Has("filter") {
		o.filter = []byte(a.String("filter", ""))
		if len(o.filter) > 0 {
			o.literals = []literal{{s: o.filter}}
		}
	}
	if a.Has("regex") {
		regex := a.String("regex", "")
		re, err := regexp.Compile(regex)
		if err != nil {
			var se *syntax.Error // "error parsing regexp: missing closing ): `(a`": keep the part after the prefix
			if errors.As(err, &se) {
				return nil, usageErr("bad --regex %q: %s: `%s`", regex, se.Code, se.Expr)
			}
			return nil, usageErr("bad --regex %q: %v", regex, err)
		}
		o.re = re
		if tree, err := syntax.Parse(regex, syntax.Perl); err == nil {
			o.literals = requiredLiterals(tree.Simplify())
		}
	}
	if a.Has("since") {
		t, err := parseSince(a.String("since", ""), now, o.loc)
		if err != nil {
			return nil, err
		}
		o.since = t
	}
	if a.Has("file") {
		if _, err := cleanFile(o.file, root); err != nil {
			return nil, err
		}
	}
	return o, nil
}
