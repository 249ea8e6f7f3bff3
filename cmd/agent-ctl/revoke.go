package main

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
)

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
			if err := needOneOf(c, "revoke", "dir", "env", "net", "memory", "timeout", "max-output", "all"); err != nil {
				return err
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
			now, err := changeGrants(st, t, func(tg *policies.ToolGrants) error { return revokeFlags(c, t, tg) })
			if err != nil {
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
