package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// problem is one thing wrong with a tool directory: the check that found
// it (dir, manifest, module, imports or compile) and what it found.
type problem struct {
	Check   string `json:"check"`
	Message string `json:"message"`
}

// checked is what validate found in a tool directory.
type checked struct {
	Valid   bool   `json:"valid"`
	Dir     string `json:"dir"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// Module is the module file's path, Digest its hex sha256.
	Module string `json:"module,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Compiled says the module was compiled (or found in the
	// compiled-module cache) by a worker; false when that was skipped or
	// the checks before it failed.
	Compiled bool      `json:"compiled"`
	Problems []problem `json:"problems"`

	tool     *store.Tool
	notFound bool
}

func (r *checked) add(check, format string, a ...any) {
	r.Problems = append(r.Problems, problem{check, fmt.Sprintf(format, a...)})
}

// exitCode is validate's: 0 valid, 127 DIR does not exist, 126 anything
// else wrong with it.
func (r *checked) exitCode() int {
	switch {
	case len(r.Problems) == 0:
		return 0
	case r.notFound:
		return supervisor.ExitNotFound
	}
	return supervisor.ExitInvalid
}

// printProblems writes one line per problem.
func (r *checked) printProblems(w io.Writer) {
	for _, p := range r.Problems {
		fmt.Fprintf(w, "agent-ctl: %s: %s: %s\n", r.Dir, p.Check, p.Message)
	}
}

// checkDir makes the checks of a tool directory that need no worker, the
// same that install makes and more: the manifest (its schema compiled as
// the tool's flags), the module file (a regular file, its size and
// header) and what it imports and exports. Nothing is written anywhere.
func checkDir(dir string) *checked {
	r := &checked{Dir: dir, Problems: []problem{}}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.notFound = true
		r.add("dir", "does not exist")
		return r
	case err != nil:
		r.add("dir", "%s", err)
		return r
	case !fi.IsDir():
		r.add("dir", "is not a directory (want a tool directory: manifest.json and the .wasm it names)")
		return r
	}
	raw, err := readAtMost(filepath.Join(dir, "manifest.json"), manifest.MaxSize)
	if err != nil {
		r.add("manifest", "%s", err)
		return r
	}
	m, err := manifest.Parse(raw)
	if err != nil {
		r.add("manifest", "%s", strings.TrimPrefix(err.Error(), manifest.ErrInvalid.Error()+": "))
		return r
	}
	r.Name, r.Version = m.Name, m.Version
	t, err := m.Compile()
	if err != nil {
		r.add("manifest", "%s", strings.TrimPrefix(err.Error(), manifest.ErrInvalid.Error()+": "))
	}
	r.Module = filepath.Join(dir, m.ModuleFile())
	// Not followed: install copies a regular file and refuses a link.
	if mfi, err := os.Lstat(r.Module); err != nil {
		r.add("module", "the manifest names %s: %s", m.ModuleFile(), plainPathErr(err))
		return r
	} else if !mfi.Mode().IsRegular() {
		r.add("module", "%s is not a regular file", m.ModuleFile())
		return r
	}
	b, err := readAtMost(r.Module, wasmfile.MaxSize)
	if err != nil {
		r.add("module", "%s", err)
		return r
	}
	sum := sha256.Sum256(b)
	r.Digest = fmt.Sprintf("%x", sum)
	in, err := wasmfile.ReadInterface(b)
	if err != nil {
		r.add("module", "%s %s", m.ModuleFile(), err)
		return r
	}
	for _, p := range wasmfile.CheckInterface(in) {
		r.add("imports", "%s %s", m.ModuleFile(), p)
	}
	if t != nil && len(r.Problems) == 0 {
		r.tool = &store.Tool{Tool: t, Dir: dir, Module: r.Module, Digest: r.Digest}
	}
	r.Valid = len(r.Problems) == 0
	return r
}

// readAtMost reads a file of at most limit bytes.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := statefile.Open(path)
	if nr := (*statefile.NotRegularError)(nil); errors.As(err, &nr) {
		return nil, &statefile.NotRegularError{Path: filepath.Base(path), Kind: nr.Kind}
	}
	if err != nil {
		return nil, errors.New(plainPathErr(err))
	}
	defer f.Close()
	// Sized from the file's length: io.ReadAll's growing and clearing
	// was most of validate's time on a module of a few MiB.
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = min(fi.Size(), limit)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(f, limit+1))
	b := buf.Bytes()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(path), limit)
	}
	return b, nil
}

// plainPathErr words a file error by the file's base name.
func plainPathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Base(pe.Path) + " does not exist"
		}
		return filepath.Base(pe.Path) + ": " + pe.Err.Error()
	}
	return err.Error()
}

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a tool directory (manifest and module) without installing it",
		ArgsUsage: "DIR",
		Description: `Checks what install would, and more, writing nothing: the manifest (its
fields, its input schema as the tool's flags), the module (a regular file, its
size, a core WebAssembly module, imports only of WASI preview 1 and agent_ctl
with the right types, a _start function) and, unless --no-compile, that a
worker compiles it (into the compiled-module cache, where try and install
find it). Prints "valid: NAME VERSION", or one line per problem on stderr.

Exit codes: 0 valid; 126 a problem found; 127 DIR does not exist; 125
agent-ctl's own error (a bad flag, or the compile could not be run); 130/143
interrupted.`,
		SkipFlagParsing: true,
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON on stdout"},
			&cli.BoolFlag{Name: "no-compile", Usage: "skip compiling the module in a worker"},
		},
		Action: func(c *cli.Context) error {
			fc, dir, after, err := dirArg(c)
			if fc == nil {
				return err
			}
			if after != nil {
				return usageError{"validate: unexpected \"--\": it takes only DIR (see 'agent-ctl validate --help')"}
			}
			r := checkDir(dir)
			if r.Valid && !fc.Bool("no-compile") {
				if err := compileCheck(fc, r); err != nil {
					return err
				}
			}
			if fc.Bool("json") {
				if err := writeJSON(fc, r); err != nil {
					return err
				}
			} else if r.Valid {
				fmt.Fprintf(c.App.Writer, "valid: %s %s\n", r.Name, r.Version)
			} else {
				r.printProblems(c.App.ErrWriter)
			}
			return exitError{r.exitCode()}
		},
	}
}

// compileCheck compiles the module in a worker behind the default walls,
// as install does, and records a refusal as a problem. An error is
// agent-ctl's own: the check could not be made.
func compileCheck(c *cli.Context, r *checked) error {
	sup, err := newSupervisor(c)
	if err != nil {
		return err
	}
	defer sup.Close()
	res, err := sup.PrecompileDigest(c.Context, r.Module, r.Digest, policies.IsolationContainer)
	switch {
	case err == nil && res.Outcome == supervisor.Exited:
		r.Compiled = true
	case err == nil: // interrupted: nothing was learnt
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", res.Describe())
		return exitError{supervisor.ExitCode(res, nil)}
	case errors.Is(err, supervisor.ErrModuleInvalid):
		r.add("compile", "%s", plain(err))
		r.Valid = false
	default:
		return fmt.Errorf("compiling %s to check it (--no-compile skips it): %w", r.Module, err)
	}
	return nil
}
