package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// A logFile is one file to search: its path relative to the root, and where
// it sits in its rotation set.
type logFile struct {
	name string // relative to the root, with "/" separators
	base string // the rotation set: name without .N, -YYYYMMDD[HH] and .gz
	age  age
	link bool // a symbolic link: followed only inside the root (the sandbox refuses the others)
}

// age orders the files of one rotation set, oldest first.
type age struct {
	kind int   // kindNumbered < kindDated < kindGzip < kindCurrent
	n    int64 // numbered: minus N (app.log.3 before app.log.2); dated: the date
}

const (
	kindNumbered = iota // app.log.1, app.log.2.gz (logrotate's default)
	kindDated           // app.log-20240102, app.log-2024010215.gz (logrotate's dateext)
	kindGzip            // app.log.gz
	kindCurrent         // app.log
)

// rotation splits a file name into its rotation set's base name and its age.
func rotation(name string) (base string, a age) {
	s, gz := strings.CutSuffix(name, ".gz")
	if i := strings.LastIndexByte(s, '.'); i > 0 && allDigits(s[i+1:], 1, 6) {
		n, _ := strconv.ParseInt(s[i+1:], 10, 64)
		return s[:i], age{kindNumbered, -n}
	}
	if i := strings.LastIndexByte(s, '-'); i > 0 && (allDigits(s[i+1:], 8, 8) || allDigits(s[i+1:], 10, 10)) {
		n, _ := strconv.ParseInt(s[i+1:], 10, 64)
		if len(s)-i-1 == 8 {
			n *= 100 // YYYYMMDD sorts with YYYYMMDDHH
		}
		return s[:i], age{kindDated, n}
	}
	if gz && s != "" {
		return s, age{kindGzip, 0}
	}
	return name, age{kindCurrent, 0}
}

func allDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// sortFiles orders files by rotation set (directory, then base name), and
// each set oldest first, so its lines come out in the order they were written.
func sortFiles(files []logFile) {
	slices.SortFunc(files, func(a, b logFile) int {
		da, db := path.Dir(a.name), path.Dir(b.name)
		if c := strings.Compare(da, db); c != 0 {
			return c
		}
		if c := strings.Compare(a.base, b.base); c != 0 {
			return c
		}
		if a.age.kind != b.age.kind {
			return a.age.kind - b.age.kind
		}
		if a.age.n != b.age.n {
			if a.age.n < b.age.n {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
}

func newLogFile(name string) logFile {
	base, a := rotation(path.Base(name))
	return logFile{name: name, base: path.Join(path.Dir(name), base), age: a}
}

// cleanFile checks --file: a path relative to the root that stays inside it.
// The sandbox would stop an escape anyway; this says why, before trying.
func cleanFile(file, root string) (string, error) {
	if file == "" || strings.ContainsRune(file, 0) {
		return "", usageErr("bad --file %q", file)
	}
	if path.IsAbs(file) || strings.HasPrefix(file, `\`) {
		return "", usageErr("--file %q: want a path relative to %s (e.g. syslog or nginx/access.log), not an absolute one", file, root)
	}
	clean := path.Clean(strings.ReplaceAll(file, `\`, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", usageErr("--file %q: outside %s: .. is refused", file, root)
	}
	return clean, nil
}

// findFiles lists what to search: every file under root (recursively), or,
// with --file, the directory it names or the file and its rotations. Errors
// reading a subdirectory are returned in errs, and the walk goes on.
func findFiles(root, file string) (files []logFile, errs []error, err error) {
	start := "."
	if file != "" {
		clean, err := cleanFile(file, root)
		if err != nil {
			return nil, nil, err
		}
		start = clean
		st, err := os.Stat(join(root, clean))
		if err == nil && !st.IsDir() || errors.Is(err, fs.ErrNotExist) {
			files, err := rotationSet(root, clean)
			return files, nil, err
		}
		if err != nil {
			return nil, nil, usageErr("--file %s: %v", clean, explain(err, root))
		}
	}
	err = fs.WalkDir(os.DirFS(root), start, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == start {
				return err
			}
			errs = append(errs, fmt.Errorf("%s: %v", name, plainErr(err)))
			return nil
		}
		if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
			f := newLogFile(name)
			f.link = d.Type()&fs.ModeSymlink != 0
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return nil, nil, usageErr("reading %s: %v", join(root, start), plainErr(err))
	}
	sortFiles(files)
	return files, errs, nil
}

// rotationSet lists the file clean names and its rotations in its directory.
// A name that is itself a rotation (app.log.2.gz) is just that file.
func rotationSet(root, clean string) ([]logFile, error) {
	dir, want := path.Dir(clean), path.Base(clean)
	entries, err := os.ReadDir(join(root, dir))
	if err != nil {
		return nil, usageErr("--file %s: %v", clean, explain(err, root))
	}
	var files []logFile
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if base, _ := rotation(e.Name()); base == want || e.Name() == want {
			f := newLogFile(path.Join(dir, e.Name()))
			f.link = e.Type()&fs.ModeSymlink != 0
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, usageErr("--file %s: no such file in %s (nor rotations of it)", clean, root)
	}
	sortFiles(files)
	return files, nil
}

func join(root, name string) string {
	if name == "." {
		return root
	}
	return root + "/" + name
}

// explain words a permission error: under agent-ctl it is most often a
// symbolic link that leaves the granted directory, which the sandbox refuses.
func explain(err error, root string) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%v (a symbolic link out of %s is refused by the sandbox)", plainErr(err), root)
	}
	return plainErr(err)
}

// plainErr drops the path an *fs.PathError repeats: messages name the file
// relative to the root themselves.
func plainErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
