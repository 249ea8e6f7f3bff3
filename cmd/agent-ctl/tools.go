package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// state is the installed tools and the operator's grants under a home.
// The grants are read where a command needs them, not here: a damaged
// policy file must not stop the commands that do not use it (list,
// install without --yes, token).
type state struct {
	home  string
	store *store.Store
}

func policyPath(home string) string { return catalog.PolicyPath(home) }

func openState(home string) (*state, error) {
	if home == "" {
		var err error
		if home, err = supervisor.DefaultHome(); err != nil {
			return nil, err
		}
	}
	home, err := filepath.Abs(home)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	st, err := store.Open(filepath.Join(home, "modules"))
	if err != nil {
		return nil, err
	}
	return &state{home: home, store: st}, nil
}

// grants reads the operator's grants, for commands that only read them.
func (s *state) grants() (*policies.Grants, error) { return policies.LoadGrants(policyPath(s.home)) }

// updateGrants changes the tool's grants under the policy file's lock,
// provided the tool is still installed at the version the command loaded:
// a grant must not outlive a concurrent remove, nor go to another version
// than the one whose manifest the operator was shown.
func (s *state) updateGrants(t *store.Tool, change func(*policies.ToolGrants) error) error {
	return policies.UpdateGrants(policyPath(s.home), func(g *policies.Grants) error {
		v, err := s.store.Version(t.Name())
		if err != nil {
			return fmt.Errorf("%s was removed meanwhile", t.Name())
		}
		if filepath.Join(s.store.Dir(), v) != t.Dir {
			return fmt.Errorf("%s was replaced by another install meanwhile; run the command again", t.Name())
		}
		return change(g.Tool(t.Name()))
	})
}

func installCommand() *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "install a tool from a module directory (manifest.json and its .wasm), a .tar.gz of one, or an OCI registry",
		ArgsUsage: "DIR|oci://HOST[:PORT]/REPO:TAG|oci://HOST[:PORT]/REPO@sha256:DIGEST",
		Description: `Validates the manifest and the module and installs them; an installed version
of the same name is replaced only if everything checks out. Prints the
capabilities the tool asks for. --yes grants them all; otherwise agent-ctl asks
on a terminal, and on a non-interactive stdin grants nothing and prints the
grant commands that would.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "grant every capability the manifest asks for"},
			&cli.StringFlag{Name: "isolation", Usage: "walls around the worker that precompiles the module (`KIND`)", DefaultText: "container"},
			keepFlag(),
			plainHTTPFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{"install: want exactly one module directory (see 'agent-ctl install --help')"}
			}
			st, err := openState(c.String("home"))
			if err != nil {
				return err
			}
			orig := c.Args().First()
			src, cleanupSrc, err := installSource(c, st, orig)
			if err != nil {
				return err
			}
			defer cleanupSrc()
			dir, signed, cleanup, err := verifiedSource(st.home, src)
			defer cleanup()
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", refusal(orig, err))
				return exitError{installExit(c.App.ErrWriter, st.home, err)}
			}
			ch, err := installWith(st, dir, &store.InstallOptions{Keep: c.Int("keep"), Signer: signed.Signer.Name})
			if err != nil {
				// Name the operator's path, not the private copy's.
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", strings.ReplaceAll(plain(err), dir, orig))
				return exitError{installExit(c.App.ErrWriter, st.home, err)}
			}
			t := ch.Tool
			m := t.Manifest()
			w := c.App.Writer
			printReplacing(w, ch)
			fmt.Fprintf(w, "installed %s %s (%s)\n", m.Name, m.Version, short(t.Digest))
			reportSigner(c, signed)
			// The question comes before the compile (seconds, for a Go
			// module), so that the operator answers and can walk away.
			cmds := grantCommands(m)
			grant := c.Bool("yes")
			if len(cmds) == 0 {
				fmt.Fprintln(w, "it asks for no capabilities")
			} else {
				fmt.Fprintln(w, "it asks for:")
				for _, l := range describeCaps(m) {
					fmt.Fprintln(w, "  "+l)
				}
			}
			printGrantsChange(w, ch)
			if !grant && (len(cmds) > 0 || ch.Held) && isTerminal(c.App.Reader) {
				fmt.Fprint(w, grantQuestion(len(cmds) > 0, ch.Held))
				line, _ := bufio.NewReader(c.App.Reader).ReadString('\n')
				grant = strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
			}
			done := progress(c.App.ErrWriter, "compiling "+m.Name)
			err = precompile(c, t.Module, t.Digest)
			done()
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: warning: %s: not precompiled, the first call will compile it: %s\n", m.Name, plain(err))
			}
			if len(cmds) == 0 && !ch.Held {
				return nil
			}
			if !grant {
				if len(cmds) > 0 {
					fmt.Fprintln(w, "nothing granted; to grant, run:")
					for _, cmd := range cmds {
						fmt.Fprintln(w, "  "+cmd)
					}
				}
				if ch.Held {
					fmt.Fprintf(w, "grants held; to confirm them for %s %s, run:\n  agent-ctl grant %s --confirm\n", m.Name, m.Version, m.Name)
				}
				return nil
			}
			// Granted under the policy file's lock, after the precompile
			// and the question: nobody waits for a worker or a person.
			var refused []string
			err = st.updateGrants(t, func(tg *policies.ToolGrants) error {
				for _, f := range m.Capabilities.Files {
					if err := tg.GrantDir(policies.Dir{Host: f.Host, Guest: f.Guest, Writable: f.Mode == "rw"}, st.home); err != nil {
						refused = append(refused, plain(err))
					}
				}
				for _, e := range m.Capabilities.Env {
					_ = tg.GrantEnv(e)
				}
				for _, n := range m.Capabilities.Network {
					if err := tg.GrantNet(policies.NetGrant{Host: n.Host, Ports: n.Ports}); err != nil {
						refused = append(refused, plain(err))
					}
				}
				// What the operator said yes to is this version: held
				// grants are confirmed for it, new ones pinned to it.
				tg.Digest, tg.Signer = t.Digest, t.Signer
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s installed, nothing granted: %w", m.Name, err)
			}
			for _, r := range refused {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: not granted: %s\n", r)
			}
			fmt.Fprintln(w, "granted")
			return nil
		},
	}
}

// progress shows on w that what is under way: on a terminal a spinner and
// the elapsed time, redrawn in place; elsewhere (a log, a pipe) one line
// when it starts and one with the time it took. The function it returns
// ends it.
func progress(w io.Writer, what string) (done func()) {
	start := time.Now()
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		fmt.Fprintf(w, "agent-ctl: %s...\n", what)
		return func() {
			fmt.Fprintf(w, "agent-ctl: %s: done in %s\n", what, time.Since(start).Round(100*time.Millisecond))
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%c %s %s ", `|/-\`[i%4], what, time.Since(start).Truncate(time.Second))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
		fmt.Fprintf(w, "\r\x1b[K%s: done in %s\n", what, time.Since(start).Round(100*time.Millisecond))
	}
}

// precompile fills the compiled-module cache at install, in a worker behind
// the default walls, so no call of the tool compiles.
func precompile(c *cli.Context, module, digest string) error {
	sup, err := newSupervisor(c)
	if err != nil {
		return err
	}
	defer sup.Close() // the worker's teardown ends before agent-ctl does
	iso, err := policies.ParseIsolation(c.String("isolation"))
	if err != nil {
		return err
	}
	_, err = sup.PrecompileDigest(c.Context, module, digest, iso)
	return err
}

// capability is one thing a manifest asks for: how to say it, how to
// grant it, and whether a tool's grants cover it.
type capability struct {
	desc, grant string
	granted     func(*policies.ToolGrants) bool
}

// capabilities lists what a manifest asks for.
func capabilities(m *manifest.Manifest) []capability {
	var out []capability
	for _, f := range m.Capabilities.Files {
		mode := orDefault(f.Mode, "ro")
		out = append(out, capability{
			desc:  fmt.Sprintf("files: %s at %s (%s)", f.Host, f.Guest, mode),
			grant: fmt.Sprintf("agent-ctl grant %s --dir %s:%s:%s", m.Name, f.Host, f.Guest, mode),
			granted: func(g *policies.ToolGrants) bool {
				return slices.ContainsFunc(g.Dirs, func(d policies.DirGrant) bool { return d.Guest == f.Guest })
			},
		})
	}
	for _, e := range m.Capabilities.Env {
		out = append(out, capability{
			desc:  "env: " + e,
			grant: fmt.Sprintf("agent-ctl grant %s --env %s", m.Name, e),
			granted: func(g *policies.ToolGrants) bool {
				return slices.ContainsFunc(g.Env, func(x policies.EnvGrant) bool { return x.Key == e })
			},
		})
	}
	for _, n := range m.Capabilities.Network {
		out = append(out, capability{
			desc:  fmt.Sprintf("network: %s ports %s", n.Host, joinInts(n.Ports)),
			grant: fmt.Sprintf("agent-ctl grant %s --net %s:%s", m.Name, n.Host, joinInts(n.Ports)),
			// Addressed when the operator granted anything of that range or
			// name: a narrower grant is a decision, not an omission.
			granted: func(g *policies.ToolGrants) bool {
				return slices.ContainsFunc(g.Net, func(x policies.NetGrant) bool { return netOverlaps(x.Host, n.Host) })
			},
		})
	}
	return out
}

// describeCaps renders what a manifest asks for, one capability a line.
func describeCaps(m *manifest.Manifest) []string {
	var out []string
	for _, c := range capabilities(m) {
		out = append(out, c.desc)
	}
	return out
}

// grantCommands are the commands that would grant all of it.
func grantCommands(m *manifest.Manifest) []string {
	var out []string
	for _, c := range capabilities(m) {
		out = append(out, c.grant)
	}
	return out
}

// netOverlaps reports whether two network grant hosts (CIDRs, addresses or
// hostnames) have an address or the name in common.
func netOverlaps(a, b string) bool {
	pa, erra := hostPrefix(a)
	pb, errb := hostPrefix(b)
	if erra != nil || errb != nil {
		return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
	}
	return pa.Overlaps(pb)
}

func hostPrefix(h string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(h); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// listEntry is one line of `list --json`.
type listEntry struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description"`
	Digest      string `json:"digest"`
}

// fitWidth cuts a line to width columns, ending it with "…"; width 0 (not
// a terminal: a pipe or a file keeps whole lines) leaves it whole.
func fitWidth(line string, width int) string {
	r := []rune(line)
	if width <= 0 || len(r) <= width {
		return line
	}
	return string(r[:max(width-1, 0)]) + "…"
}

// termWidth is the width of the terminal w is, or 0 when it is none.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	return terminalWidth(f)
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the installed tools",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			st, err := openState(c.String("home"))
			if err != nil {
				return err
			}
			tools, lerr := st.store.List()
			entries := []listEntry{}
			for _, t := range tools {
				m := t.Manifest()
				entries = append(entries, listEntry{m.Name, m.Version, m.Description, t.Digest})
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if err := enc.Encode(entries); err != nil {
					return err
				}
			} else if len(entries) == 0 && lerr == nil {
				fmt.Fprintln(c.App.Writer, "no tools installed (agent-ctl install DIR)")
			} else {
				width := termWidth(c.App.Writer)
				for _, e := range append([]listEntry{{"NAME", "VERSION", "DESCRIPTION", "DIGEST"}}, entries...) {
					fmt.Fprintln(c.App.Writer, fitWidth(fmt.Sprintf("%-20s %-10s %-12s %s", e.Name, e.Version, short(e.Digest), e.Description), width))
				}
			}
			printWatchErrors(c, st)
			if lerr != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", plain(lerr))
				return exitError{supervisor.ExitInvalid}
			}
			return nil
		},
	}
}

// describeOut is `describe --json`, in camelCase like every --json.
type describeOut struct {
	Name        string                `json:"name"`
	Version     string                `json:"version"`
	Description string                `json:"description"`
	Digest      string                `json:"digest"`
	InputSchema json.RawMessage       `json:"inputSchema"`
	Params      []paramOut            `json:"params"`
	Requested   manifest.Capabilities `json:"requested"`
	Granted     grantsOut             `json:"granted"`
	Limits      manifest.Limits       `json:"limits"`
}

// paramOut is one parameter in `describe --json`: position is the index
// among the positional arguments, absent for a flag.
type paramOut struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	ItemType    string   `json:"itemType,omitempty"`
	Description string   `json:"description,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Default     any      `json:"default,omitempty"`
	Required    bool     `json:"required"`
	Nullable    bool     `json:"nullable,omitempty"`
	Position    *int     `json:"position,omitempty"`
}

func paramsJSON(ps []manifest.Param) []paramOut {
	out := []paramOut{}
	for _, p := range ps {
		o := paramOut{Name: p.Name, Type: p.Type, ItemType: p.ItemType, Description: p.Description, Enum: p.Enum,
			Default: p.Default, Required: p.Required, Nullable: p.Nullable}
		if p.Position >= 0 {
			o.Position = &p.Position
		}
		out = append(out, o)
	}
	return out
}

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a tool's parameters, the capabilities it asks for and what is granted",
		ArgsUsage: "TOOL",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			st, t, err := toolArg(c)
			if err != nil {
				return err
			}
			m := t.Manifest()
			all, err := st.grants()
			if err != nil {
				return err
			}
			g := all.Tools[m.Name]
			if g == nil {
				g = &policies.ToolGrants{}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(describeOut{m.Name, m.Version, m.Description, t.Digest, m.InputSchema, paramsJSON(t.Params()), m.Capabilities, grantsJSON(g), m.Limits})
			}
			w := c.App.Writer
			fmt.Fprintf(w, "%s %s — %s\ndigest: %s\n\nparameters:\n", m.Name, m.Version, m.Description, t.Digest)
			for _, p := range t.Params() {
				fmt.Fprintf(w, "  %s\n", paramLine(p))
			}
			fmt.Fprintln(w, "\nasks for:")
			if caps := describeCaps(m); len(caps) == 0 {
				fmt.Fprintln(w, "  nothing")
			} else {
				for _, l := range caps {
					fmt.Fprintln(w, "  "+l)
				}
			}
			fmt.Fprintln(w, "\ngranted:")
			if g.HeldFrom(t.Digest) {
				fmt.Fprintf(w, "  (held: given for another module, sha256 %s; calls are refused until 'agent-ctl grant %s --confirm')\n", short(g.Digest), m.Name)
			}
			lines := grantLines(g)
			if len(lines) == 0 {
				fmt.Fprintln(w, "  nothing")
			}
			for _, l := range lines {
				fmt.Fprintln(w, "  "+l)
			}
			fmt.Fprintf(w, "\nlimits: memory %s, timeout %s, output %s\n", orDefault(m.Limits.Memory, policies.FormatSize(policies.DefaultMemory)),
				orDefault(m.Limits.Timeout, policies.DefaultTimeout.String()), orDefault(m.Limits.MaxOutput, policies.FormatSize(policies.DefaultMaxOutput)))
			return nil
		},
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func paramLine(p manifest.Param) string {
	name := "--" + p.Name
	if p.Position >= 0 {
		name = strings.ToUpper(p.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s", name, p.Type)
	if p.Type == "array" {
		fmt.Fprintf(&b, " of %s", p.ItemType)
	}
	b.WriteString(")")
	if p.Required {
		b.WriteString(" required")
	}
	if p.Description != "" {
		b.WriteString(": " + p.Description)
	}
	if len(p.Enum) > 0 {
		b.WriteString(" [one of: " + strings.Join(p.Enum, ", ") + "]")
	}
	if p.Default != nil {
		fmt.Fprintf(&b, " (default %v)", p.Default)
	}
	return b.String()
}

// toolArg opens the state and loads the tool named by the only argument.
func toolArg(c *cli.Context) (*state, *store.Tool, error) {
	if c.NArg() != 1 {
		return nil, nil, usageError{fmt.Sprintf("%s: want exactly one tool name (see 'agent-ctl %s --help')", c.Command.Name, c.Command.Name)}
	}
	st, err := openState(c.String("home"))
	if err != nil {
		return nil, nil, err
	}
	t, err := st.store.Get(c.Args().First())
	if err != nil {
		return nil, nil, toolErr(c, err)
	}
	return st, t, nil
}

// toolErr reports a tool that cannot be loaded: 127 when it is not
// installed, 126 when its installed files are damaged.
func toolErr(c *cli.Context, err error) error {
	fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", plain(err))
	switch {
	case errors.Is(err, store.ErrNotInstalled):
		return exitError{supervisor.ExitNotFound}
	case errors.Is(err, store.ErrDamaged), errors.Is(err, catalog.ErrGrantsHeld):
		return exitError{supervisor.ExitInvalid}
	}
	return exitError{supervisor.ExitInternal}
}

// short is the start of a digest, as list and install print it.
func short(digest string) string { return digest[:min(12, len(digest))] }

func removeCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Usage:     "uninstall a tool and forget what it was granted",
		ArgsUsage: "TOOL",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{"remove: want exactly one tool name (see 'agent-ctl remove --help')"}
			}
			name := c.Args().First()
			st, err := openState(c.String("home"))
			if err != nil {
				return err
			}
			// Only the tool's link is needed: a tool whose files are
			// damaged is removed all the same. The policy file is checked
			// first so that a damaged one stops the remove before anything
			// changed, rather than leaving grants behind for the name.
			if _, err := st.grants(); err != nil {
				return fmt.Errorf("not removing %s: %w", name, err)
			}
			if err := st.store.Remove(name); err != nil {
				return toolErr(c, err)
			}
			if err := policies.UpdateGrants(policyPath(st.home), func(g *policies.Grants) error {
				delete(g.Tools, name)
				return nil
			}); err != nil {
				return fmt.Errorf("removed %s but not its grants: %w", name, err)
			}
			fmt.Fprintf(c.App.Writer, "removed %s\n", name)
			return nil
		},
	}
}

func grantCommand() *cli.Command {
	return &cli.Command{
		Name:      "grant",
		Usage:     "grant a tool a directory, an environment variable or network access",
		ArgsUsage: "TOOL",
		Description: `Examples:
  agent-ctl grant logs --dir /var/log:/logs:ro
  agent-ctl grant logs --env TZ            (the host's value, read at each call)
  agent-ctl grant logs --env TZ=UTC
  agent-ctl grant scan --net 10.0.0.0/24:22,80,443
  agent-ctl grant logs --memory 64MiB --timeout 10s   (can only lower the manifest's limits)
Prints the tool's grants as they now are. A directory the manifest does not ask
for (another guest path, or rw where it asks ro) and a limit above the
manifest's (or, where it sets none, the default) are refused unless --force; a
variable, host or port it does not ask for is granted with a note on stderr
(the network and the environment are the operator's to choose). Grants that would hand over the host (/, /proc, /sys,
/dev, agent-ctl's own state) are refused even then. A change takes effect at
the next call.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "dir", Usage: "`HOST:GUEST[:ro|rw]`"},
			&cli.StringSliceFlag{Name: "env", Usage: "`KEY` or KEY=VALUE"},
			&cli.StringSliceFlag{Name: "net", Usage: "`HOST:PORT[,PORT...]` (HOST: a CIDR, an address or a hostname)"},
			&cli.StringFlag{Name: "memory", Usage: "memory limit `SIZE` (only lowers)"},
			&cli.StringFlag{Name: "timeout", Usage: "time limit `DURATION` (only lowers)"},
			&cli.StringFlag{Name: "max-output", Usage: "output limit `SIZE` (only lowers)"},
			&cli.BoolFlag{Name: "force", Usage: "grant a directory or a limit the manifest does not ask for"},
			confirmFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print the resulting grants as JSON"},
		},
		Action: func(c *cli.Context) error {
			if !slices.ContainsFunc([]string{"dir", "env", "net", "memory", "timeout", "max-output", "confirm"}, c.IsSet) {
				return usageError{"grant: nothing to grant: give --dir, --env, --net, --memory, --timeout or --max-output (see 'agent-ctl grant --help')"}
			}
			st, t, err := toolArg(c)
			if err != nil {
				return err
			}
			var now policies.ToolGrants
			var notes []string
			if err := st.updateGrants(t, func(tg *policies.ToolGrants) error {
				notes = nil
				if err := confirmGrants(c, st, t, tg, &notes); err != nil {
					return err
				}
				if err := grantFlags(c, st, t.Manifest(), tg, &notes); err != nil {
					return err
				}
				now = cloneGrants(tg)
				return nil
			}); err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: note: %s\n", n)
			}
			return printGrants(c, t.Name(), &now)
		},
	}
}

// grantFlags applies grant's flags to a tool's grants. What its manifest m
// does not ask for is refused, unless --force, where the manifest is
// exact: a directory's guest path and mode (the module opens that path)
// and a limit above the manifest's (a grant only lowers). A variable or a
// network grant beyond the manifest's gets a note: the operator's network
// and environment are the operator's to choose (docs: grant scan --net
// 10.0.0.0/24:22 for a manifest that names 127.0.0.1/32).
func grantFlags(c *cli.Context, st *state, m *manifest.Manifest, tg *policies.ToolGrants, notes *[]string) error {
	force := c.Bool("force")
	unasked := func(format string, a ...any) error {
		return usageError{fmt.Sprintf("grant: "+format+"; --force grants it anyway", a...)}
	}
	for _, s := range c.StringSlice("dir") {
		// What would hand over the host is refused first, and always.
		d, err := policies.ParseDir(s)
		if err == nil {
			err = tg.GrantDir(d, st.home)
		}
		if err != nil {
			return usageError{plain(err)}
		}
		if !force {
			if err := askedDir(m, d); err != nil {
				return unasked("%s", err)
			}
		}
	}
	for _, s := range c.StringSlice("env") {
		k, _, _ := strings.Cut(s, "=")
		if !force && !slices.Contains(m.Capabilities.Env, k) {
			*notes = append(*notes, fmt.Sprintf("%s's manifest does not ask for the variable %s (it asks for: %s); granted all the same", m.Name, k, orDefault(strings.Join(m.Capabilities.Env, ", "), "none")))
		}
		if err := tg.GrantEnv(s); err != nil {
			return usageError{plain(err)}
		}
	}
	for _, s := range c.StringSlice("net") {
		n, err := policies.ParseNetGrant(s)
		if err == nil && !force && !askedNet(m, n) {
			var asked []string
			for _, a := range m.Capabilities.Network {
				asked = append(asked, a.Host+":"+joinInts(a.Ports))
			}
			*notes = append(*notes, fmt.Sprintf("%s's manifest does not ask for %s (it asks for: %s); granted all the same", m.Name, s, orDefault(strings.Join(asked, ", "), "no network")))
		}
		if err == nil {
			err = tg.GrantNet(n)
		}
		if err != nil {
			return usageError{plain(err)}
		}
	}
	for _, l := range limitFlags(m) {
		if !c.IsSet(l.flag) {
			continue
		}
		v := c.String(l.flag)
		if !force {
			if n, err := l.parse(v); err == nil && n > l.cap {
				return unasked("--%s %s is above %s's %s", l.flag, v, m.Name, l.capText)
			}
		}
		*l.dst(tg) = v
	}
	if _, err := tg.Policy(policies.Requested{}, nil); err != nil {
		return usageError{plain(err)}
	}
	return nil
}

// askedDir says how a directory grant goes beyond what m asks for: a guest
// path it does not ask for, or write access where it asks read-only.
func askedDir(m *manifest.Manifest, d policies.Dir) error {
	var asked []string
	guest := path.Clean(d.Guest)
	for _, f := range m.Capabilities.Files {
		mode := orDefault(f.Mode, "ro")
		if f.Guest == guest {
			if d.Writable && mode != "rw" {
				return fmt.Errorf("%s's manifest asks for %s read-only, not rw", m.Name, guest)
			}
			return nil
		}
		asked = append(asked, f.Guest+" ("+mode+")")
	}
	return fmt.Errorf("%s's manifest asks for no directory at %s (it asks for: %s)", m.Name, guest, orDefault(strings.Join(asked, ", "), "none"))
}

// askedNet reports whether m asks for every address and port of n.
func askedNet(m *manifest.Manifest, n policies.NetGrant) bool {
	pn, errn := hostPrefix(n.Host)
	for _, port := range n.Ports {
		ok := slices.ContainsFunc(m.Capabilities.Network, func(a manifest.NetCap) bool {
			if !slices.Contains(a.Ports, port) {
				return false
			}
			pa, erra := hostPrefix(a.Host)
			if errn != nil || erra != nil {
				return strings.EqualFold(strings.TrimSuffix(a.Host, "."), strings.TrimSuffix(n.Host, "."))
			}
			return pa.Contains(pn.Addr()) && pa.Bits() <= pn.Bits()
		})
		if !ok {
			return false
		}
	}
	return true
}

// limitFlag is one of the limits an operator can lower: its flag, the
// manifest's cap (or the default where the manifest sets none) and where
// the grant keeps it.
type limitFlag struct {
	flag, capText string
	cap           int64
	parse         func(string) (int64, error)
	dst           func(*policies.ToolGrants) *string
}

func limitFlags(m *manifest.Manifest) []limitFlag {
	capOf := func(n, def int64, text, defText string) (int64, string) {
		if n == 0 {
			return def, "default of " + defText + " (its manifest sets none)"
		}
		return n, "manifest cap of " + text + " (a grant only lowers it: it would have no effect)"
	}
	mem, memText := capOf(m.MemoryLimit(), policies.DefaultMemory, m.Limits.Memory, policies.FormatSize(policies.DefaultMemory))
	tmo, tmoText := capOf(int64(m.TimeoutLimit()), int64(policies.DefaultTimeout), m.Limits.Timeout, policies.DefaultTimeout.String())
	out, outText := capOf(m.OutputLimit(), policies.DefaultMaxOutput, m.Limits.MaxOutput, policies.FormatSize(policies.DefaultMaxOutput))
	duration := func(s string) (int64, error) {
		d, err := time.ParseDuration(s)
		return int64(d), err
	}
	return []limitFlag{
		{"memory", memText, mem, policies.ParseSize, func(g *policies.ToolGrants) *string { return &g.Limits.Memory }},
		{"timeout", tmoText, tmo, duration, func(g *policies.ToolGrants) *string { return &g.Limits.Timeout }},
		{"max-output", outText, out, policies.ParseSize, func(g *policies.ToolGrants) *string { return &g.Limits.MaxOutput }},
	}
}

// cloneGrants copies a tool's grants out of the policy file's lock.
func cloneGrants(g *policies.ToolGrants) policies.ToolGrants { return catalog.Clone(g) }

// masked is a tool's grants as agent-ctl shows them: a fixed environment
// value may be a secret, so only its presence is shown.
func masked(g *policies.ToolGrants) policies.ToolGrants {
	out := cloneGrants(g)
	for i := range out.Env {
		if !out.Env[i].FromHost {
			out.Env[i].Value = maskedValue
		}
	}
	return out
}

// grantsOut is a tool's grants in --json: every list present, empty or
// not, so that scripts need not tell a missing key from an empty list.
type grantsOut struct {
	Dirs   []policies.DirGrant  `json:"dirs"`
	Env    []policies.EnvGrant  `json:"env"`
	Net    []policies.NetGrant  `json:"net"`
	Limits policies.LimitGrants `json:"limits"`
}

func grantsJSON(g *policies.ToolGrants) grantsOut {
	m := masked(g)
	return grantsOut{Dirs: append([]policies.DirGrant{}, m.Dirs...), Env: append([]policies.EnvGrant{}, m.Env...),
		Net: append([]policies.NetGrant{}, m.Net...), Limits: m.Limits}
}

// maskedValue stands for a fixed environment value in what agent-ctl prints.
const maskedValue = "***"

// grantLines renders a tool's grants, one a line; none when nothing is
// granted.
func grantLines(g *policies.ToolGrants) []string {
	var out []string
	for _, d := range g.Dirs {
		mode := "ro"
		if d.Writable {
			mode = "rw"
		}
		out = append(out, fmt.Sprintf("files: %s at %s (%s)", d.Host, d.Guest, mode))
	}
	for _, e := range g.Env {
		if e.FromHost {
			out = append(out, fmt.Sprintf("env: %s (the host's value)", e.Key))
		} else {
			out = append(out, fmt.Sprintf("env: %s=%s", e.Key, maskedValue))
		}
	}
	for _, nt := range g.Net {
		out = append(out, fmt.Sprintf("network: %s ports %s", nt.Host, joinInts(nt.Ports)))
	}
	for _, l := range []struct{ name, v string }{{"memory", g.Limits.Memory}, {"timeout", g.Limits.Timeout}, {"output", g.Limits.MaxOutput}} {
		if l.v != "" {
			out = append(out, fmt.Sprintf("limit: %s %s", l.name, l.v))
		}
	}
	return out
}

// printGrants prints what grant and revoke leave a tool with.
func printGrants(c *cli.Context, name string, g *policies.ToolGrants) error {
	if c.Bool("json") {
		return writeJSON(c, grantsJSON(g))
	}
	w := c.App.Writer
	lines := grantLines(g)
	if len(lines) == 0 {
		fmt.Fprintf(w, "%s is granted nothing\n", name)
		return nil
	}
	fmt.Fprintf(w, "%s is granted:\n", name)
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
	return nil
}

// writeJSON prints v as indented JSON, as every --json does.
func writeJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func revokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "take back what a tool was granted",
		ArgsUsage: "TOOL",
		Description: `Takes back grants, written as grant takes them or by what names them:
  agent-ctl revoke logs --dir /var/log:/logs:ro   (or --dir /logs: the guest path)
  agent-ctl revoke logs --env TZ                  (TZ=UTC works too)
  agent-ctl revoke scan --net 10.0.0.0/24:22      (or --net 10.0.0.0/24: the host)
  agent-ctl revoke logs --memory --timeout        (back to the manifest's limits)
  agent-ctl revoke logs --all
Where --dir gives the host path or the mode, they must match the grant. Each
revocation must find something to take back, or nothing changes. Prints the
tool's grants as they now are.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "dir", Usage: "a directory grant: `HOST:GUEST[:ro|rw]` or its GUEST path"},
			&cli.StringSliceFlag{Name: "env", Usage: "a variable `KEY` (or KEY=VALUE)"},
			&cli.StringSliceFlag{Name: "net", Usage: "a network grant's `HOST` (or HOST:PORT[,PORT...])"},
			&cli.BoolFlag{Name: "memory", Usage: "the memory limit granted"},
			&cli.BoolFlag{Name: "timeout", Usage: "the time limit granted"},
			&cli.BoolFlag{Name: "max-output", Usage: "the output limit granted"},
			&cli.BoolFlag{Name: "all", Usage: "everything"},
			&cli.BoolFlag{Name: "json", Usage: "print the resulting grants as JSON"},
		},
		Action: func(c *cli.Context) error {
			if !slices.ContainsFunc([]string{"dir", "env", "net", "memory", "timeout", "max-output", "all"}, c.IsSet) {
				return usageError{"revoke: nothing to revoke: give --dir, --env, --net, --memory, --timeout, --max-output or --all (see 'agent-ctl revoke --help')"}
			}
			st, t, err := toolArg(c)
			if err != nil {
				return err
			}
			if c.Bool("all") {
				if err := policies.UpdateGrants(policyPath(st.home), func(g *policies.Grants) error {
					delete(g.Tools, t.Name())
					return nil
				}); err != nil {
					return err
				}
				return printGrants(c, t.Name(), &policies.ToolGrants{})
			}
			var now policies.ToolGrants
			if err := st.updateGrants(t, func(tg *policies.ToolGrants) error {
				if err := revokeFlags(c, t, tg); err != nil {
					return err
				}
				now = cloneGrants(tg)
				return nil
			}); err != nil {
				return err
			}
			return printGrants(c, t.Name(), &now)
		},
	}
}

// revokeFlags applies revoke's flags to a tool's grants.
func revokeFlags(c *cli.Context, t *store.Tool, tg *policies.ToolGrants) error {
	for _, s := range c.StringSlice("dir") {
		if err := revokeDir(tg, s); err != nil {
			return usageError{fmt.Sprintf("revoke: %s %s", t.Name(), err)}
		}
	}
	for _, s := range c.StringSlice("env") {
		k, _, _ := strings.Cut(s, "=")
		if !tg.RevokeEnv(k) {
			return usageError{fmt.Sprintf("revoke: %s has no variable %s granted", t.Name(), k)}
		}
	}
	for _, s := range c.StringSlice("net") {
		h := s
		if n, err := policies.ParseNetGrant(s); err == nil {
			h = n.Host
		}
		if !tg.RevokeNet(h) {
			return usageError{fmt.Sprintf("revoke: %s has no network grant for %s", t.Name(), h)}
		}
	}
	for _, l := range limitFlags(t.Manifest()) {
		if !c.Bool(l.flag) {
			continue
		}
		dst := l.dst(tg)
		if *dst == "" {
			return usageError{fmt.Sprintf("revoke: %s has no %s limit granted", t.Name(), l.flag)}
		}
		*dst = ""
	}
	return nil
}

// revokeDir takes back the directory grant s names: its guest path alone,
// or HOST:GUEST[:ro|rw] as grant takes it, whose host and mode must match.
func revokeDir(tg *policies.ToolGrants, s string) error {
	d, err := policies.ParseDir(s)
	if err != nil {
		return fmt.Errorf("%s", plain(err))
	}
	rest, hasMode := strings.CutSuffix(s, ":ro")
	if !hasMode {
		rest, hasMode = strings.CutSuffix(s, ":rw")
	}
	guest := path.Clean(d.Guest)
	i := slices.IndexFunc(tg.Dirs, func(x policies.DirGrant) bool { return x.Guest == guest })
	if i < 0 {
		return fmt.Errorf("has no directory granted at %s", guest)
	}
	g := tg.Dirs[i]
	if strings.Contains(rest, ":") {
		host, err := filepath.Abs(d.Host)
		if err != nil || host != g.Host {
			return fmt.Errorf("has %s granted from %s, not from %s", guest, g.Host, d.Host)
		}
	}
	if hasMode && d.Writable != g.Writable {
		mode := "ro"
		if g.Writable {
			mode = "rw"
		}
		return fmt.Errorf("has %s granted %s, not %s", guest, mode, s[len(rest)+1:])
	}
	tg.RevokeDir(guest)
	return nil
}

// toolCommands makes each installed tool a command whose flags come from
// its manifest. A tool that does not load is still a command, one that
// reports why (and exits 126), so that its name never reads as unknown;
// and a state directory that cannot be opened leaves only agent-ctl's own
// commands, whose errors say why.
func toolCommands(home string) []*cli.Command {
	st, err := openState(home)
	if err != nil {
		return nil
	}
	names, _ := st.store.Names()
	var cmds []*cli.Command
	for _, n := range names {
		t, err := st.store.Get(n)
		if err != nil {
			cmds = append(cmds, brokenToolCommand(n, err))
			continue
		}
		cmds = append(cmds, toolCommand(t))
	}
	return cmds
}

// toolCategory groups the installed tools in help and tells them from
// agent-ctl's own commands.
const toolCategory = "installed tools"

// brokenToolCommand stands for an installed tool that does not load.
func brokenToolCommand(name string, err error) *cli.Command {
	return &cli.Command{
		Name:            name,
		Usage:           "(damaged: see 'agent-ctl " + name + "')",
		Category:        toolCategory,
		SkipFlagParsing: true,
		Action:          func(c *cli.Context) error { return toolErr(c, err) },
	}
}

func toolCommand(t *store.Tool) *cli.Command {
	m := t.Manifest()
	var flags []cli.Flag
	var positional []string
	for _, p := range t.Params() {
		if p.Position >= 0 {
			positional = append(positional, strings.ToUpper(p.Name))
			continue
		}
		usage := strings.TrimPrefix(paramLine(p), "--"+p.Name+" ")
		switch p.Type {
		case "boolean":
			flags = append(flags, &cli.BoolFlag{Name: p.Name, Usage: usage})
		case "array":
			flags = append(flags, &cli.StringSliceFlag{Name: p.Name, Usage: usage + " (repeatable)"})
		default:
			flags = append(flags, &cli.StringFlag{Name: p.Name, Usage: usage})
		}
	}
	return &cli.Command{
		Name:      m.Name,
		Usage:     m.Description,
		Category:  toolCategory,
		ArgsUsage: strings.Join(positional, " "),
		Flags:     flags,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{fmt.Sprintf("%s: %s (see 'agent-ctl %s --help')", m.Name, err, m.Name)}
		},
		Action: func(c *cli.Context) error { return runTool(c, t) },
	}
}

// toolArgs reads a tool's command line (c, parsed with toolCommand's
// flags) into arguments typed by its schema: the one reading of a tool's
// flags, for its calls and for try.
func toolArgs(c *cli.Context, t *store.Tool) (map[string]any, error) {
	m := t.Manifest()
	values := map[string][]string{}
	var positional []manifest.Param
	for _, p := range t.Params() {
		if p.Position >= 0 {
			positional = append(positional, p)
			continue
		}
		if !c.IsSet(p.Name) {
			continue
		}
		switch p.Type {
		case "boolean":
			values[p.Name] = []string{fmt.Sprint(c.Bool(p.Name))}
		case "array":
			values[p.Name] = c.StringSlice(p.Name)
		default:
			values[p.Name] = []string{c.String(p.Name)}
		}
	}
	args := c.Args().Slice()
	for i, a := range args {
		switch {
		case i < len(positional):
			values[positional[i].Name] = []string{a}
		case len(positional) > 0 && positional[len(positional)-1].Type == "array":
			// A last positional array takes every remaining argument.
			last := positional[len(positional)-1].Name
			values[last] = append(values[last], a)
		default:
			return nil, usageError{fmt.Sprintf("%s: unexpected argument %q (see 'agent-ctl %s --help')", m.Name, a, m.Name)}
		}
	}
	typed, err := t.ParseFlags(values)
	if err != nil {
		return nil, argsError(m.Name, err)
	}
	return typed, nil
}

func runTool(c *cli.Context, t *store.Tool) error {
	m := t.Manifest()
	typed, err := toolArgs(c, t)
	if err != nil {
		return err
	}
	st, err := openState(c.String("home"))
	if err != nil {
		return err
	}
	cat, err := catalog.Open(st.home)
	if err != nil {
		return err
	}
	p, err := cat.Call(m.Name, typed)
	if errors.Is(err, catalog.ErrArgs) {
		return argsError(m.Name, err)
	}
	if errors.Is(err, store.ErrNotInstalled) || errors.Is(err, store.ErrDamaged) || errors.Is(err, catalog.ErrGrantsHeld) {
		return toolErr(c, err)
	}
	if err != nil {
		return err
	}
	g, err := cat.Grants(m.Name)
	if err != nil {
		return err
	}
	for _, missing := range ungranted(m, g) {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s: not granted: %s\n", m.Name, missing)
	}
	return invoke(c, &supervisor.Call{Module: p.Module, Name: p.Name, Args: p.Args, Policy: p.Policy, Digest: p.Digest})
}

// argsError words a refused argument for the command line.
func argsError(tool string, err error) error {
	return usageError{fmt.Sprintf("%s: %s (see 'agent-ctl %s --help')", tool, strings.TrimPrefix(err.Error(), manifest.ErrArgs.Error()+": "), tool)}
}

// ungranted lists the capabilities a manifest asks for that the operator
// has not granted, each with the command that would grant it.
func ungranted(m *manifest.Manifest, g *policies.ToolGrants) []string {
	if g == nil {
		g = &policies.ToolGrants{}
	}
	var out []string
	for _, c := range capabilities(m) {
		if !c.granted(g) {
			out = append(out, fmt.Sprintf("%s (%s)", c.desc, c.grant))
		}
	}
	return out
}

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "new",
		Usage:     "start a new tool: hello under a new name, in the language you choose",
		ArgsUsage: "NAME",
		Description: `Writes DIR/NAME (DIR defaults to the current directory): the source, a
manifest.json, a Makefile whose 'make' builds NAME.wasm from source and whose
'make test' runs it through agent-ctl, and a README. Then:
  cd NAME && make && make test && agent-ctl install .`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lang", Usage: "`LANGUAGE`: " + strings.Join(modules.LanguageNames(), ", "), Value: "c"},
			&cli.StringFlag{Name: "dir", Usage: "parent `DIR` of the new tool's directory", Value: "."},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{"new: want exactly one tool name (see 'agent-ctl new --help')"}
			}
			name := c.Args().First()
			dir := filepath.Join(c.String("dir"), name)
			if err := modules.Scaffold(dir, name, c.String("lang")); err != nil {
				return usageError{"new: " + err.Error()}
			}
			fmt.Fprintf(c.App.Writer, "created %s (%s): cd %s && make && make test && agent-ctl install .\n", dir, c.String("lang"), dir)
			return nil
		},
	}
}
