package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
)

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
		Flags: append(grantFlagDefs(""),
			confirmFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print the resulting grants as JSON"},
		),
		Action: func(c *cli.Context) error {
			if err := needOneOf(c, "grant", "dir", "env", "net", "memory", "timeout", "max-output", "confirm"); err != nil {
				return err
			}
			st, t, err := toolArg(c)
			if err != nil {
				return err
			}
			var notes []string
			now, err := changeGrants(st, t, func(tg *policies.ToolGrants) error {
				notes = nil
				if err := confirmGrants(c, st, t, tg, &notes); err != nil {
					return err
				}
				return grantFlags(c, st, t.Manifest(), tg, &notes)
			})
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: note: %s\n", n)
			}
			return printGrants(c, t.Name(), &now)
		},
	}
}

// needOneOf refuses a call of grant or revoke (cmd) that sets none of the
// flags that change something, naming them all.
func needOneOf(c *cli.Context, cmd string, flags ...string) error {
	if slices.ContainsFunc(flags, c.IsSet) {
		return nil
	}
	give := "--" + strings.Join(flags, ", --")
	if i := strings.LastIndex(give, ", "); i >= 0 {
		give = give[:i] + " or" + give[i+1:]
	}
	return usageError{fmt.Sprintf("%s: nothing to %s: give %s (see 'agent-ctl %s --help')", cmd, cmd, give, cmd)}
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
	asks := m.Asks()
	unasked := func(format string, a ...any) error {
		return usageError{fmt.Sprintf("grant: "+format+"; --force grants it anyway", a...)}
	}
	// The flags are granted as install --yes grants a manifest's asks;
	// what would hand over the host is refused first, and always.
	want := policies.Asks{Tool: m.Name, Env: c.StringSlice("env")}
	for _, s := range c.StringSlice("dir") {
		d, err := policies.ParseDir(s)
		if err != nil {
			return usageError{plain(err)}
		}
		want.Dirs = append(want.Dirs, d)
	}
	for _, s := range c.StringSlice("net") {
		n, err := policies.ParseNetGrant(s)
		if err != nil {
			return usageError{plain(err)}
		}
		want.Net = append(want.Net, n)
	}
	if refused := tg.GrantAll(want, st.home); len(refused) > 0 {
		return usageError{plain(refused[0])}
	}
	for _, d := range want.Dirs {
		if !force {
			if err := asks.CheckDir(d); err != nil {
				return unasked("%s", err)
			}
		}
	}
	for _, s := range want.Env {
		k, _, _ := strings.Cut(s, "=")
		if !force && !slices.Contains(m.Capabilities.Env, k) {
			*notes = append(*notes, fmt.Sprintf("%s's manifest does not ask for the variable %s (it asks for: %s); granted all the same", m.Name, k, orDefault(strings.Join(m.Capabilities.Env, ", "), "none")))
		}
	}
	for i, n := range want.Net {
		if !force && !asks.AsksNet(n) {
			var asked []string
			for _, a := range m.Capabilities.Network {
				asked = append(asked, a.Host+":"+joinInts(a.Ports))
			}
			*notes = append(*notes, fmt.Sprintf("%s's manifest does not ask for %s (it asks for: %s); granted all the same", m.Name, c.StringSlice("net")[i], orDefault(strings.Join(asked, ", "), "no network")))
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

// changeGrants changes t's grants as st.updateGrants does, and returns a
// copy of them as changed, for grant and revoke to print.
func changeGrants(st *state, t *store.Tool, change func(*policies.ToolGrants) error) (policies.ToolGrants, error) {
	var now policies.ToolGrants
	err := st.updateGrants(t, func(tg *policies.ToolGrants) error {
		if err := change(tg); err != nil {
			return err
		}
		now = cloneGrants(tg)
		return nil
	})
	return now, err
}

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
