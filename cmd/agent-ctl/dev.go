package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/modules/wasmfile"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// The tool author's loop: validate a tool directory, try it through its
// manifest without installing it, and dev, which rebuilds, validates and
// tries it again on every change (docs/modules.md, "The dev loop").

// devCommands are validate, try and dev.
func devCommands() []*cli.Command {
	return []*cli.Command{validateCommand(), tryCommand(), devCommand()}
}

// interspersed parses the flags of a command that skips urfave/cli's flag
// parsing, so that they may come before or after DIR (urfave/cli stops at
// the first argument): up to the first "--", flags are read with the
// command's own definitions wherever they stand. It returns a context that
// answers for them (and, through c, for the global flags), the arguments
// that are not flags, and what follows "--" (nil when there is none).
func interspersed(c *cli.Context) (*cli.Context, []string, []string, error) {
	args := c.Args().Slice()
	var after []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, after = args[:i], append([]string{}, args[i+1:]...)
	}
	fs := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range c.Command.Flags {
		if err := f.Apply(fs); err != nil {
			return nil, nil, nil, err
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, nil, err
			}
			return nil, nil, nil, usageError{fmt.Sprintf("%s: %s (see 'agent-ctl %s --help')", c.Command.Name, err, c.Command.Name)}
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	// urfave/cli adds its --help to the command's flags.
	if h := fs.Lookup("help"); h != nil && h.Value.String() == "true" {
		return nil, nil, nil, flag.ErrHelp
	}
	return cli.NewContext(c.App, fs, c), pos, after, nil
}

// dirArg parses a dev-loop command's flags and returns its one DIR.
func dirArg(c *cli.Context) (*cli.Context, string, []string, error) {
	fc, pos, after, err := interspersed(c)
	if errors.Is(err, flag.ErrHelp) {
		// Shown from the parent's context, whose commands hold this one.
		return nil, "", nil, cli.ShowCommandHelp(c.Lineage()[1], c.Command.Name)
	}
	if err != nil {
		return nil, "", nil, err
	}
	if len(pos) != 1 {
		return nil, "", nil, usageError{fmt.Sprintf("%s: want exactly one tool directory, got %d arguments (see 'agent-ctl %s --help')", c.Command.Name, len(pos), c.Command.Name)}
	}
	return fc, pos[0], after, nil
}

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
	f, err := os.Open(path)
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

// grantFlagDefs are try's and dev's grants, named and read as grant's are.
func grantFlagDefs() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "dir", Usage: "grant `HOST:GUEST[:ro|rw]` for this call (repeatable)"},
		&cli.StringSliceFlag{Name: "env", Usage: "grant `KEY` (the host's value) or KEY=VALUE (repeatable)"},
		&cli.StringSliceFlag{Name: "net", Usage: "grant `HOST:PORT[,PORT...]` (repeatable)"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit `SIZE` (only lowers the manifest's)"},
		&cli.StringFlag{Name: "timeout", Usage: "time limit `DURATION` (only lowers the manifest's)"},
		&cli.StringFlag{Name: "max-output", Usage: "output limit `SIZE` (only lowers the manifest's)"},
		&cli.BoolFlag{Name: "force", Usage: "grant a directory or a limit the manifest does not ask for, as grant --force"},
	}
}

func tryCommand() *cli.Command {
	return &cli.Command{
		Name:      "try",
		Usage:     "run a tool directory through its manifest, without installing it",
		ArgsUsage: "DIR [-- FLAGS...]",
		Description: `Runs the tool in DIR as if it were installed: FLAGS are the tool's own flags
and arguments, read and checked against its manifest exactly as 'agent-ctl
NAME FLAGS' reads them, and the exit codes are the same. It is granted only
what --dir, --env, --net and the limits give here, checked as grant checks
them; nothing is written to the policy or the store. The directory is
validated first (as validate --no-compile); the module is compiled into the
cache on the first try. 'agent-ctl try DIR -- --help' shows the tool's flags.

Example:
  agent-ctl try ./greet --dir ./data:/data -- --name world`,
		SkipFlagParsing: true,
		HideHelpCommand: true,
		Flags:           grantFlagDefs(),
		Action: func(c *cli.Context) error {
			fc, dir, after, err := dirArg(c)
			if fc == nil {
				return err
			}
			return tryDir(fc, dir, after)
		},
	}
}

// tryDir runs the tool in dir with the tool flags args, granted what c's
// flags give.
func tryDir(c *cli.Context, dir string, args []string) error {
	r := checkDir(dir)
	if !r.Valid {
		r.printProblems(c.App.ErrWriter)
		return exitError{r.exitCode()}
	}
	t, m := r.tool, r.tool.Manifest()
	typed, err := parseAsTool(c, t, dir, args)
	if typed == nil || err != nil {
		return err // nil: the tool's help was shown
	}
	// What catalog.Call makes of an installed tool's arguments.
	if err := t.Validate(typed); err != nil {
		return tryHint(argsError(m.Name, err), m.Name, dir)
	}
	argv, err := t.Argv(typed)
	if err != nil {
		return tryHint(argsError(m.Name, err), m.Name, dir)
	}
	home, err := homeDir(c)
	if err != nil {
		return err
	}
	var tg policies.ToolGrants
	var notes []string
	if err := grantFlags(c, &state{home: home}, m, &tg, &notes); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return usageError{"try: " + strings.TrimPrefix(ue.msg, "grant: ")}
		}
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: note: %s\n", n)
	}
	pol, err := tg.Policy(policies.Requested{Memory: m.MemoryLimit(), Timeout: m.TimeoutLimit(), MaxOutput: m.OutputLimit()}, nil)
	if err != nil {
		return usageError{"try: " + plain(err)}
	}
	for _, cp := range capabilities(tg.Unaddressed(m.Asks())) {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s: not granted: %s (%s)\n", m.Name, cp.desc, strings.TrimPrefix(cp.grant, "agent-ctl grant "+m.Name+" "))
	}
	return invoke(c, &supervisor.Call{Module: t.Module, Name: m.Name, Args: argv, Policy: pol, Digest: t.Digest})
}

// parseAsTool reads args with the command an installed tool gets
// (toolCommand) and the same reading of its flags (toolArgs), in an app of
// its own: try's FLAGS are exactly what 'agent-ctl NAME' would take. It
// returns nil arguments and no error when it showed the tool's help.
func parseAsTool(c *cli.Context, t *store.Tool, dir string, args []string) (map[string]any, error) {
	m := t.Manifest()
	var typed map[string]any
	cmd := toolCommand(t)
	cmd.HelpName, cmd.Category = "try "+dir+" --", "" // the app prefixes "agent-ctl"
	cmd.Action = func(tc *cli.Context) error {
		var err error
		typed, err = toolArgs(tc, t)
		return err
	}
	app := &cli.App{
		Name:                      "agent-ctl",
		Reader:                    c.App.Reader,
		Writer:                    c.App.Writer,
		ErrWriter:                 c.App.ErrWriter,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		Commands:                  []*cli.Command{cmd},
	}
	if err := app.RunContext(c.Context, append([]string{app.Name, m.Name}, args...)); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			err = usageError{asTyped(ue.msg, args)} // --nme, as typed, not -nme
		}
		return nil, tryHint(err, m.Name, dir)
	}
	return typed, nil
}

// tryHint points a usage error's "see 'agent-ctl NAME --help'" at try's
// way to that help: NAME is not installed.
func tryHint(err error, name, dir string) error {
	var ue usageError
	if !errors.As(err, &ue) {
		return err
	}
	return usageError{strings.ReplaceAll(ue.msg, "'agent-ctl "+name+" --help'", "'agent-ctl try "+dir+" -- --help'")}
}

// homeDir is the state directory, resolved as openState does but not
// created: try only needs to know it, to refuse granting it.
func homeDir(c *cli.Context) (string, error) {
	home := c.String("home")
	if home == "" {
		var err error
		if home, err = supervisor.DefaultHome(); err != nil {
			return "", err
		}
	}
	return filepath.Abs(home)
}

// exitCodeOf is the exit code run gives err, printing its message as run
// does: dev reports each round's outcome and carries on.
func exitCodeOf(w io.Writer, err error) int {
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(w, "agent-ctl: %s\n", ue.msg)
	default:
		fmt.Fprintf(w, "agent-ctl: %s\n", plain(err))
	}
	return supervisor.ExitInternal
}

// Dev's timing: how often it looks at the directory, and how long a change
// must rest before a round starts (an editor's save, a copy, a checkout
// are several writes).
const (
	devPoll     = 200 * time.Millisecond
	devDebounce = 300 * time.Millisecond
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:      "dev",
		Usage:     "rebuild, validate and try a tool directory on every change",
		ArgsUsage: "DIR [--cmd 'FLAGS'] [-- FLAGS...]",
		Description: `Runs a round now and one after every change in DIR: 'make -C DIR' (unless
--no-build, or DIR has no Makefile), validate, then try with the tool flags
of --cmd (split as a shell splits words) or of what follows "--". Each round
starts and ends with a separator line on stderr that gives the time, what
changed, the exit code and how long it took; the tool's stdout stays on
stdout. DIR is polled every 200ms; a round starts once changes have rested
300ms. With a build, *.wasm and object files are its output, not changes.
The tool gets an empty stdin. Ctrl-C ends it (exit 0).

Example:
  agent-ctl dev ./greet --cmd '--name world'`,
		SkipFlagParsing: true,
		HideHelpCommand: true,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "cmd", Usage: "the tool's `FLAGS` for each try, as one string"},
			&cli.BoolFlag{Name: "no-build", Usage: "do not run make: something else builds the module"},
		}, grantFlagDefs()...),
		Action: devAction,
	}
}

func devAction(c *cli.Context) error {
	fc, dir, after, err := dirArg(c)
	if fc == nil {
		return err
	}
	args, err := splitWords(fc.String("cmd"))
	if err != nil {
		return usageError{"dev: --cmd: " + err.Error()}
	}
	if after != nil {
		if fc.IsSet("cmd") {
			return usageError{"dev: give the tool's flags with --cmd or after \"--\", not both"}
		}
		args = after
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageError{fmt.Sprintf("dev: %s is not a directory", dir)}
	}
	if err := checkGrantFlags(fc); err != nil {
		return usageError{"dev: " + plain(err)}
	}
	// Each try reads no stdin: the terminal is the author's, and a tool
	// waiting on it would stall the loop.
	app := *c.App
	app.Reader = strings.NewReader("")
	tc := cli.NewContext(&app, nil, fc)
	d := &devLoop{c: tc, dir: dir, args: args, build: !fc.Bool("no-build"), stderr: c.App.ErrWriter}
	d.run(c.Context)
	return nil
}

// checkGrantFlags refuses, before dev watches anything, the grant flags
// that are wrong whatever the manifest says; each round's try checks them
// against the manifest again.
func checkGrantFlags(c *cli.Context) error {
	var tg policies.ToolGrants
	home, err := homeDir(c)
	if err != nil {
		return err
	}
	for _, s := range c.StringSlice("dir") {
		d, err := policies.ParseDir(s)
		if err == nil {
			err = tg.GrantDir(d, home)
		}
		if err != nil {
			return err
		}
	}
	for _, s := range c.StringSlice("env") {
		if err := tg.GrantEnv(s); err != nil {
			return err
		}
	}
	for _, s := range c.StringSlice("net") {
		if _, err := policies.ParseNetGrant(s); err != nil {
			return err
		}
	}
	tg.Limits = policies.LimitGrants{Memory: c.String("memory"), Timeout: c.String("timeout"), MaxOutput: c.String("max-output")}
	_, err = tg.Policy(policies.Requested{}, nil)
	return err
}

// devLoop is one `agent-ctl dev`.
type devLoop struct {
	c      *cli.Context
	dir    string
	args   []string
	build  bool
	stderr io.Writer
}

// run runs rounds until ctx ends.
func (d *devLoop) run(ctx context.Context) {
	seen := d.snapshot(nil)
	d.round(ctx, "start")
	for {
		// Changes made while a round ran count (seen was taken before
		// it); the build's own output is not in the snapshot.
		changed, next := d.wait(ctx, seen)
		if ctx.Err() != nil {
			fmt.Fprintln(d.stderr, "agent-ctl: dev: stopped")
			return
		}
		seen = next
		d.round(ctx, "changed: "+changed)
	}
}

// round builds, validates and tries once, between two separators.
func (d *devLoop) round(ctx context.Context, why string) {
	start := time.Now()
	rule := strings.Repeat("─", 8)
	fmt.Fprintf(d.stderr, "%s %s %s %s\n", rule, start.Format("15:04:05"), why, rule)
	outcome := d.steps(ctx)
	fmt.Fprintf(d.stderr, "%s %s in %s; watching %s (Ctrl-C ends) %s\n", rule, outcome, time.Since(start).Round(time.Millisecond), d.dir, rule)
}

func (d *devLoop) steps(ctx context.Context) string {
	if d.build {
		if _, err := os.Stat(filepath.Join(d.dir, "Makefile")); err == nil {
			cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", d.dir)
			cmd.Stdout, cmd.Stderr = d.stderr, d.stderr
			killGroup(cmd)
			if err := cmd.Run(); err != nil {
				if ctx.Err() != nil {
					return "stopped"
				}
				fmt.Fprintf(d.stderr, "agent-ctl: dev: make -C %s: %s\n", d.dir, err)
				return "build failed"
			}
		}
	}
	r := checkDir(d.dir)
	if !r.Valid {
		r.printProblems(d.stderr)
		return "not valid"
	}
	code := exitCodeOf(d.stderr, tryDir(d.c, d.dir, d.args))
	return fmt.Sprintf("exit %d", code)
}

// fileState is what dev compares of a file: a change of content (its hash)
// or of kind; the size and modification time only save hashing it again.
type fileState struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
	sum   [32]byte
}

// devHashLimit bounds the files dev hashes: a larger one is compared by
// size and modification time.
const devHashLimit = 4 << 20

// snapshot reads the directory's files, reusing prev's hashes of files
// whose size and time have not changed. Left out: hidden entries, the
// dependency and build directories of the usual toolchains, editor
// back-ups and, when dev builds, the build's output.
func (d *devLoop) snapshot(prev map[string]fileState) map[string]fileState {
	out := map[string]fileState{}
	_ = filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile: the next look sees it
		}
		name := e.Name()
		if p != d.dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") || strings.HasSuffix(name, "~")) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			if p != d.dir && slices.Contains([]string{"node_modules", "target"}, name) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.build && slices.Contains([]string{".wasm", ".o", ".a", ".d", ".rlib", ".rmeta", ".cwasm"}, filepath.Ext(name)) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		st := fileState{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode().Type()}
		if old, ok := prev[p]; ok && old.size == st.size && old.mtime.Equal(st.mtime) && old.mode == st.mode {
			st.sum = old.sum
		} else if fi.Mode().IsRegular() && fi.Size() <= devHashLimit {
			if b, err := os.ReadFile(p); err == nil {
				st.sum = sha256.Sum256(b)
			}
		}
		out[p] = st
		return nil
	})
	return out
}

// differs names a file that differs between two snapshots, or "".
func differs(a, b map[string]fileState) string {
	same := func(x, y fileState) bool {
		if x.mode != y.mode {
			return false
		}
		if x.size > devHashLimit || y.size > devHashLimit {
			return x.size == y.size && x.mtime.Equal(y.mtime)
		}
		return x.sum == y.sum
	}
	var names []string
	for p, x := range a {
		if y, ok := b[p]; !ok || !same(x, y) {
			names = append(names, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			names = append(names, p)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[0]
}

// wait polls until the directory differs from seen and has then rested
// for devDebounce, and returns a changed file (relative to the directory)
// and the snapshot it settled on; or returns when ctx ends.
func (d *devLoop) wait(ctx context.Context, seen map[string]fileState) (string, map[string]fileState) {
	tick := time.NewTicker(devPoll)
	defer tick.Stop()
	var changed string
	var last map[string]fileState
	var quiet time.Time
	for {
		select {
		case <-ctx.Done():
			return "", nil
		case <-tick.C:
		}
		now := d.snapshot(last)
		if changed == "" {
			if changed = differs(seen, now); changed == "" {
				last = now
				continue
			}
			last, quiet = now, time.Now()
			continue
		}
		if differs(last, now) != "" {
			last, quiet = now, time.Now()
			continue
		}
		if time.Since(quiet) >= devDebounce {
			if differs(seen, now) == "" {
				// Changed and changed back: nothing to do.
				changed, last = "", now
				continue
			}
			rel, err := filepath.Rel(d.dir, changed)
			if err != nil {
				rel = changed
			}
			return rel, now
		}
	}
}

// splitWords splits s into words as a POSIX shell does, without expanding
// anything: blanks separate words, single quotes keep everything, double
// quotes keep all but \" \\ \$ and \` escapes, and a backslash outside
// quotes keeps the character after it.
func splitWords(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				out, inWord = append(out, w.String()), false
				w.Reset()
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			w.WriteString(s[i+1 : i+1+j])
			i, inWord = i+1+j, true
		case ch == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(s) {
					return nil, errors.New("unterminated double quote")
				}
				if s[i] == '"' {
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("backslash at the end")
			}
			i++
			w.WriteByte(s[i])
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}
