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
	"strconv"
	"strings"
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
	file, key, value, typ string
	create                bool
	parts                 []string
	typed                 any // string, int64 or bool
	text                  string
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

func parseArgs(args []string) (*request, error) {
	r := &request{typ: "string"}
	set := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case "--create":
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return nil, fail(2, "bad --create value %q", val)
				}
				r.create = b
			} else {
				r.create = true
			}
			continue
		case "--file", "--key", "--value", "--type":
		default:
			return nil, fail(2, "unknown argument %s", a)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fail(2, "%s needs a value", name)
			}
			i++
			val = args[i]
		}
		set[name] = true
		switch name {
		case "--file":
			r.file = val
		case "--key":
			r.key = val
		case "--value":
			r.value = val
		case "--type":
			r.typ = val
		}
	}
	for _, f := range []string{"--file", "--key", "--value"} {
		if !set[f] {
			return nil, fail(2, "%s is required (usage: update-config --file F --key a.b.c --value V [--type string|int|bool] [--create])", f)
		}
	}
	r.parts = strings.Split(r.key, ".")
	for _, p := range r.parts {
		if p == "" {
			return nil, fail(2, "bad --key %q: empty part", r.key)
		}
	}
	switch r.typ {
	case "string":
		r.typed, r.text = r.value, r.value
	case "int":
		n, err := strconv.ParseInt(r.value, 10, 64)
		if err != nil {
			return nil, fail(2, "bad int value %q", r.value)
		}
		r.typed, r.text = n, strconv.FormatInt(n, 10)
	case "bool":
		b, err := strconv.ParseBool(r.value)
		if err != nil {
			return nil, fail(2, "bad bool value %q", r.value)
		}
		r.typed, r.text = b, strconv.FormatBool(b)
	default:
		return nil, fail(2, "bad --type %q: want string, int or bool", r.typ)
	}
	return r, nil
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
