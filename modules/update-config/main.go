// update-config: sets one value in a YAML or JSON file of the directory granted at /config,
// keeping comments and key order, and replaces the file atomically.
// Built with GOOS=wasip1 GOARCH=wasm: see Makefile and README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

const (
	root    = "/config"
	maxSize = 16 << 20
)

// exitError carries the exit code: 2 for bad input, 3 for a key path that does not fit the file,
// 1 for an I/O failure.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, a ...any) error {
	return &exitError{code, fmt.Sprintf(format, a...)}
}

type request struct {
	file, key, value string
	// typ is "string", "int" or "bool" as --type gave it, "float" when
	// kept from the value replaced, or "" (no --type) until the edit
	// finds what the key holds (setType).
	typ    string
	create bool
	parts  []string
	typed  any // string, int64, bool or float64
	text   string
}

func main() {
	out, err := run(os.Args[1:])
	if err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(os.Stderr, "update-config: %s\n", msg)
		os.Exit(code)
	}
	fmt.Println(out)
}

// flags is update-config's command line for agentctl.ParseArgs: every flag
// is a scalar ("?"), so one given twice is a usage error, not a silent
// override (a second --value would otherwise win unseen).
const flags = "file? key? value? type? create:bool?"

func parseArgs(args []string) (*request, error) {
	a, err := agentctl.ParseArgs("update-config", flags, args)
	if err != nil {
		return nil, fail(2, "%v", err)
	}
	if p := a.Positional(); len(p) > 0 {
		return nil, fail(2, "unknown argument %s", p[0])
	}
	for _, f := range []string{"file", "key", "value"} {
		if !a.Has(f) {
			return nil, fail(2, "--%s is required (usage: update-config --file F --key a.b.c --value V [--type string|int|bool] [--create])", f)
		}
	}
	r := &request{
		file:   a.String("file", ""),
		key:    a.String("key", ""),
		value:  a.String("value", ""),
		create: a.Bool("create"),
	}
	r.parts = strings.Split(r.key, ".")
	for _, p := range r.parts {
		if p == "" {
			return nil, fail(2, "bad --key %q: empty part", r.key)
		}
	}
	if a.Has("type") {
		r.typ = a.String("type", "")
		switch r.typ {
		case "string", "int", "bool":
		default:
			return nil, fail(2, "bad --type %q: want string, int or bool", r.typ)
		}
		if err := r.setType(r.typ, false); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// setType converts the value to typ ("string", "int", "bool" or "float")
// unless that is done: --type converts it as the arguments are read;
// without --type the value keeps the type of the one it replaces (kept)
// and a new key gets the type YAML would read its text as (inferType).
func (r *request) setType(typ string, kept bool) error {
	if r.typed != nil {
		return nil
	}
	r.typ = typ
	bad := func() error {
		if kept {
			return fail(2, "key %s holds %s %s and %q is not one (--type string writes a string)", r.key, article(typ), typ, r.value)
		}
		return fail(2, "bad %s value %q", typ, r.value)
	}
	switch typ {
	case "string":
		r.typed, r.text = r.value, r.value
	case "int":
		n, err := strconv.ParseInt(r.value, 10, 64)
		if err != nil {
			return bad()
		}
		r.typed, r.text = n, strconv.FormatInt(n, 10)
	case "bool":
		b, err := strconv.ParseBool(r.value)
		if err != nil {
			return bad()
		}
		r.typed, r.text = b, strconv.FormatBool(b)
	case "float":
		// What YAML and JSON both read as a number: no "+", no hex, no
		// inf or nan; one without a point or exponent gets ".0", or it
		// would read as an int.
		if !floatRE.MatchString(r.value) {
			return bad()
		}
		f, err := strconv.ParseFloat(r.value, 64)
		if err != nil {
			return bad()
		}
		r.typed, r.text = f, r.value
		if !strings.ContainsAny(r.text, ".eE") {
			r.text += ".0"
		}
	}
	return nil
}

var floatRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

func article(typ string) string {
	if typ == "int" {
		return "an"
	}
	return "a"
}

// inferType is the type YAML reads a plain scalar as, among those
// update-config writes: a decimal integer is an int, true or false a bool,
// anything else a string.
func inferType(v string) string {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return "int"
	}
	switch v {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return "bool"
	}
	return "string"
}

// guestPath maps --file to a path under /config, refusing anything that is not inside it.
func guestPath(file string) (string, error) {
	if file == "" || strings.ContainsRune(file, 0) {
		return "", fail(2, "bad --file %q", file)
	}
	if path.IsAbs(file) || strings.HasPrefix(file, `\`) {
		return "", fail(2, "--file %q: want a path relative to %s, not an absolute one", file, root)
	}
	clean := path.Clean(file)
	if clean == "." {
		return "", fail(2, "--file %q: not a file name", file)
	}
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fail(2, "--file %q: outside %s", file, root)
	}
	return root + "/" + clean, nil
}

func run(args []string) (string, error) {
	r, err := parseArgs(args)
	if err != nil {
		return "", err
	}
	full, err := guestPath(r.file)
	if err != nil {
		return "", err
	}
	var kind string
	switch strings.ToLower(path.Ext(full)) {
	case ".yaml", ".yml":
		kind = "yaml"
	case ".json":
		kind = "json"
	default:
		return "", fail(2, "--file %q: want a .yaml, .yml or .json file", r.file)
	}
	data, mode, err := readFile(full, r.file)
	if err != nil {
		return "", err
	}
	var (
		newData []byte
		changed bool
	)
	if kind == "yaml" {
		newData, changed, err = editYAML(data, r)
	} else {
		newData, changed, err = editJSON(data, r)
	}
	if err != nil {
		return "", err
	}
	if !changed {
		return fmt.Sprintf("unchanged %s: %s = %s", r.file, r.key, r.text), nil
	}
	if err := writeAtomic(full, r.file, newData, mode); err != nil {
		return "", err
	}
	return fmt.Sprintf("updated %s: %s = %s", r.file, r.key, r.text), nil
}

func readFile(full, name string) ([]byte, os.FileMode, error) {
	f, err := os.Open(full)
	if err != nil {
		return nil, 0, fail(2, "cannot read %s: %v", name, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fail(2, "cannot read %s: %v", name, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fail(2, "%s is not a regular file", name)
	}
	if st.Size() > maxSize {
		return nil, 0, fail(2, "%s is larger than 16 MiB", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, 0, fail(2, "cannot read %s: %v", name, unwrapPath(err))
	}
	if len(data) > maxSize {
		return nil, 0, fail(2, "%s is larger than 16 MiB", name)
	}
	return data, st.Mode().Perm(), nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// writeAtomic writes data to a temporary file next to full, syncs it and renames it over full.
// On any failure the temporary file is removed and full is left as it was.
func writeAtomic(full, name string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(path.Dir(full), ".update-config-*")
	if err != nil {
		return fail(1, "cannot write %s: %v", name, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fail(1, "cannot write %s: %v", name, unwrapPath(err))
	}
	if err = tmp.Sync(); err != nil {
		return fail(1, "cannot write %s: %v", name, unwrapPath(err))
	}
	if err = tmp.Close(); err != nil {
		return fail(1, "cannot write %s: %v", name, unwrapPath(err))
	}
	_ = os.Chmod(tmp.Name(), mode) // WASI preview 1 has no modes: best effort
	if err = os.Rename(tmp.Name(), full); err != nil {
		return fail(1, "cannot replace %s: %v", name, unwrapPath(err))
	}
	return nil
}

// missing is the exit-3 error for a key part that is not there.
func missing(r *request, i int) error {
	where := "the top level"
	if i > 0 {
		where = strings.Join(r.parts[:i], ".")
	}
	return fail(3, "key %s: %q not found in %s (--create adds it)", r.key, r.parts[i], where)
}

func notMapping(r *request, i int) error {
	if i == 0 {
		return fail(3, "key %s: the top level is not a mapping", r.key)
	}
	return fail(3, "key %s: %s is not a mapping", r.key, strings.Join(r.parts[:i], "."))
}
