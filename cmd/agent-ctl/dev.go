package main

import (
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

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
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
		}, grantFlagDefs(" for this call")...),
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
			if b, err := statefile.ReadFile(p, devHashLimit); err == nil {
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
