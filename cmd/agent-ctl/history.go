package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// keepFlag is install's --keep.
func keepFlag() cli.Flag {
	// DefaultText: the flag's zero value means the store's default, and
	// urfave/cli would print "(default: 0)" after it.
	return &cli.IntFlag{Name: "keep", Usage: "keep this many versions of the tool, the current one among them, for history and rollback (`N`)", DefaultText: fmt.Sprint(store.DefaultKeep)}
}

// confirmFlag is grant's --confirm.
func confirmFlag() cli.Flag {
	return &cli.BoolFlag{Name: "confirm", Usage: "confirm the tool's grants, held since another version was installed, for the version installed now"}
}

// installWith installs src through the catalog, which settles the tool's
// grants for the new version (see catalog.Install).
func installWith(st *state, src string, o *store.InstallOptions) (*catalog.Change, error) {
	cat, err := catalog.Open(st.home)
	if err != nil {
		return nil, err
	}
	return cat.Install(src, o)
}

// direction words a change of version: "1.0.0 → 0.9.0 (downgrade)".
func direction(from, to *store.Tool) string {
	a, b := from.Manifest().Version, to.Manifest().Version
	switch c := manifest.CompareVersions(b, a); {
	case from.Digest == to.Digest:
		return fmt.Sprintf("%s → %s (the same module)", a, b)
	case c > 0:
		return fmt.Sprintf("%s → %s (upgrade)", a, b)
	case c < 0:
		return fmt.Sprintf("%s → %s (downgrade)", a, b)
	}
	return fmt.Sprintf("%s → %s (the same version, another module: sha256 %s → %s)", a, b, short(from.Digest), short(to.Digest))
}

// printReplacing says which version an install replaces, and how.
func printReplacing(w io.Writer, ch *catalog.Change) {
	if ch.Replaced != nil {
		fmt.Fprintf(w, "replacing %s %s\n", ch.Tool.Name(), direction(ch.Replaced, ch.Tool))
	}
}

// printGrantsChange says what the tool is granted after an install or a
// rollback, for which version, and whether the grants apply.
func printGrantsChange(w io.Writer, ch *catalog.Change) {
	if ch.GrantsErr != nil {
		fmt.Fprintf(w, "grants not settled: %s\n", plain(ch.GrantsErr))
		return
	}
	lines := grantLines(&ch.Grants)
	if len(lines) == 0 {
		return
	}
	name, version := ch.Tool.Name(), ch.Tool.Manifest().Version
	switch {
	case ch.Held:
		fmt.Fprintf(w, "granted, for %s:\n", ch.HeldFor)
	case ch.Carried:
		fmt.Fprintf(w, "granted (kept: %s %s is signed by %s, as the granted version was, and asks for nothing beyond these):\n", name, version, ch.Tool.Signer)
	default:
		fmt.Fprintln(w, "granted:")
	}
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
	if ch.Held {
		why := "it is not signed"
		if ch.Tool.Signer != "" {
			why = "it is signed by " + ch.Tool.Signer + " and these grants were given for a version signed by " + orDefault(ch.Grants.Signer, "no key")
			if ch.Tool.Signer == ch.Grants.Signer {
				why = "it asks for more than these"
			}
		}
		fmt.Fprintf(w, "these grants are held, not carried over to %s %s (%s): calls of %s are refused until you confirm them ('agent-ctl grant %s --confirm'), take them back ('agent-ctl revoke %s --all') or roll back ('agent-ctl rollback %s')\n",
			name, version, why, name, name, name, name)
	}
}

// grantQuestion is install's question on a terminal.
func grantQuestion(asks, held bool) string {
	switch {
	case asks && held:
		return "grant all it asks for, and confirm the grants above for this version? [y/N] "
	case held:
		return "confirm the grants above for this version? [y/N] "
	}
	return "grant all of these? [y/N] "
}

// confirmGrants applies grant's --confirm: grants held since another
// version was installed are pinned to the installed one. Without it, a
// grant to a tool whose grants are held is refused: it would confirm them
// silently.
func confirmGrants(c *cli.Context, st *state, t *store.Tool, tg *policies.ToolGrants, notes *[]string) error {
	if !c.Bool("confirm") {
		if tg.HeldFrom(t.Digest) {
			return usageError{fmt.Sprintf("grant: %s's grants are held: they were given for another version (sha256 %s) than the installed %s (sha256 %s); add --confirm to confirm them for it (see 'agent-ctl describe %s')",
				t.Name(), short(tg.Digest), t.Manifest().Version, short(t.Digest), t.Name())}
		}
	} else if tg.HeldFrom(t.Digest) {
		*notes = append(*notes, fmt.Sprintf("%s's grants confirmed for %s %s (sha256 %s)", t.Name(), t.Name(), t.Manifest().Version, short(t.Digest)))
	} else if !c.IsSet("dir") && !c.IsSet("env") && !c.IsSet("net") && !c.IsSet("memory") && !c.IsSet("timeout") && !c.IsSet("max-output") {
		return usageError{fmt.Sprintf("grant: %s has no grants held to confirm", t.Name())}
	}
	// Whatever is granted now is granted for this version.
	tg.Digest, tg.Signer = t.Digest, t.Signer
	return nil
}

// historyEntry is one line of `history --json`; Signer is null when the
// version is unsigned.
type historyEntry struct {
	Version   string    `json:"version"`
	Digest    string    `json:"digest"`
	Installed time.Time `json:"installed"`
	Signer    *string   `json:"signer"`
	Current   bool      `json:"current"`
	Error     string    `json:"error,omitempty"`
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "list the versions of a tool kept for rollback, newest first",
		ArgsUsage: "TOOL",
		Description: fmt.Sprintf(`Lists the versions of TOOL the store keeps, newest install first: version,
digest, when it was installed, the key it was signed with (or "unsigned"), and
which one is current. The last %d versions are kept unless install --keep says
otherwise; older ones are removed a minute after they stopped being current.`, store.DefaultKeep),
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			st, name, err := toolNameArg(c)
			if err != nil {
				return err
			}
			hist, err := st.store.History(name)
			if err != nil {
				return toolErr(c, err)
			}
			entries := []historyEntry{}
			for _, v := range hist {
				e := historyEntry{Version: v.Version, Digest: v.Digest, Installed: v.Installed, Current: v.Current}
				if v.Signer != "" {
					e.Signer = &v.Signer
				}
				if v.Err != nil {
					e.Error = plain(v.Err)
				}
				entries = append(entries, e)
			}
			if c.Bool("json") {
				return writeJSON(c, entries)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "%-8s %-16s %-12s %-20s %s\n", "", "VERSION", "DIGEST", "INSTALLED", "SIGNER")
			for _, e := range entries {
				mark := ""
				if e.Current {
					mark = "current"
				}
				when := "unknown"
				if !e.Installed.IsZero() {
					when = e.Installed.UTC().Format("2006-01-02 15:04:05")
				}
				signer := "unsigned"
				if e.Signer != nil {
					signer = *e.Signer
				}
				if e.Error != "" {
					fmt.Fprintf(w, "%-8s %-16s %-12s %-20s damaged: %s\n", mark, "?", "?", when, e.Error)
					continue
				}
				fmt.Fprintf(w, "%-8s %-16s %-12s %-20s %s\n", mark, e.Version, short(e.Digest), when, signer)
			}
			return nil
		},
	}
}

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "make an earlier version of a tool current again",
		ArgsUsage: "TOOL",
		Description: `Makes the version installed before the current one current again, or the one
--to names: a version (1.0.0) or a digest (sha256: and at least 12 hex digits).
The switch is atomic, as an install's: each call runs one version or the other,
and MCP clients are told the tool list changed. Grants follow the same rule as
an install: a rollback to the version they were given for gets them back; to
another, they are held until confirmed (agent-ctl grant TOOL --confirm).
See 'agent-ctl history TOOL' for the versions kept.`,
		Flags: []cli.Flag{&cli.StringFlag{Name: "to", Usage: "the version to make current: `VERSION` or sha256:DIGEST"}},
		Action: func(c *cli.Context) error {
			name, err := oneArg(c, "tool name")
			if err != nil {
				return err
			}
			_, cat, err := openCatalog(c)
			if err != nil {
				return err
			}
			ch, err := cat.Rollback(name, c.String("to"))
			switch {
			case errors.Is(err, store.ErrNotInstalled), errors.Is(err, store.ErrDamaged):
				return toolErr(c, err)
			case errors.Is(err, store.ErrNoVersion):
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", plain(err))
				return exitError{supervisor.ExitInternal}
			case err != nil:
				return err
			}
			w := c.App.Writer
			t := ch.Tool
			if ch.Replaced != nil {
				fmt.Fprintf(w, "rolled back %s %s\n", t.Name(), direction(ch.Replaced, t))
			} else {
				fmt.Fprintf(w, "rolled back %s to %s\n", t.Name(), t.Manifest().Version)
			}
			fmt.Fprintf(w, "current: %s %s (%s)\n", t.Name(), t.Manifest().Version, short(t.Digest))
			printGrantsChange(w, ch)
			return nil
		},
	}
}
