package catalog

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
)

// Change is what an install or a rollback did to a tool and its grants.
type Change struct {
	// Tool is the version now current.
	Tool *store.Tool
	// Replaced is the version it replaced; nil when the tool was not
	// installed (or the replaced version no longer loads).
	Replaced *store.Tool
	// Grants are the tool's grants after the change; empty when nothing is
	// granted or the policy file does not load (GrantsErr).
	Grants policies.ToolGrants
	// Held is set when the grants were given for another version: they do
	// not apply, and calls are refused, until the operator confirms them.
	Held bool
	// HeldFor names the version the held grants were given for.
	HeldFor string
	// Carried is set when the grants moved to the new version by the rule
	// (signed by the same key as the granted version, asking for nothing
	// beyond the grants).
	Carried bool
	// GrantsErr is why the grants could not be read or settled; the install
	// stands, and every call reports the policy file's error itself.
	GrantsErr error
}

// Install installs a tool as store.InstallWith does and settles its grants
// for the new version: grants given for the same module still apply;
// grants given for another module carry over only when the new version is
// signed by the same key as the granted one and asks for nothing beyond
// them, and are otherwise held until the operator confirms them. Grants
// written before grants were pinned are first pinned to the version
// installed then, so that an install never passes them on silently.
func (c *Catalog) Install(src string, o *store.InstallOptions) (*Change, error) {
	return c.change(func() (*store.Tool, *store.Tool, error) { return c.store.InstallWith(src, o) })
}

// Rollback makes another kept version of a tool current (see
// store.Rollback) and settles the grants by the same rule as Install: a
// rollback to the version they were given for gets them back.
func (c *Catalog) Rollback(name, to string) (*Change, error) {
	return c.change(func() (*store.Tool, *store.Tool, error) { return c.store.Rollback(name, to) })
}

// change makes a tool's current version another (swap returns the new
// version and the one it replaced) and settles the grants for it. Grants
// not yet pinned are pinned first, to the version they were given for.
func (c *Catalog) change(swap func() (t, old *store.Tool, err error)) (*Change, error) {
	pinErr := c.pinUnpinned()
	t, old, err := swap()
	if err != nil {
		return nil, err
	}
	ch := c.settle(t, old)
	if ch.GrantsErr == nil {
		ch.GrantsErr = pinErr
	}
	return ch, nil
}

// errUnchanged ends a policy update that has nothing to write.
var errUnchanged = errors.New("unchanged")

// update is policies.UpdateGrants that writes only when change changed
// something (it returns errUnchanged otherwise).
func (c *Catalog) update(change func(*policies.Grants) error) error {
	err := policies.UpdateGrants(PolicyPath(c.home), change)
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// pinUnpinned pins the grants of installed tools that name no digest (a
// policy file written before grants were pinned) to the version installed
// now, the one the operator granted them with.
func (c *Catalog) pinUnpinned() error {
	g, err := c.loadGrants()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(mapsValues(g.Tools), func(tg *policies.ToolGrants) bool { return tg.Digest == "" && !tg.Empty() }) {
		return nil
	}
	return c.update(func(g *policies.Grants) error {
		changed := false
		for name, tg := range g.Tools {
			if tg.Digest != "" || tg.Empty() {
				continue
			}
			t, err := c.store.Get(name)
			if err != nil {
				continue
			}
			tg.Digest, tg.Signer = t.Digest, t.Signer
			changed = true
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
}

func mapsValues(m map[string]*policies.ToolGrants) []*policies.ToolGrants {
	out := make([]*policies.ToolGrants, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// settle applies the pinning rule to t's grants after t became current,
// provided it still is.
func (c *Catalog) settle(t, old *store.Tool) *Change {
	ch := &Change{Tool: t, Replaced: old}
	name := t.Name()
	ch.GrantsErr = c.update(func(g *policies.Grants) error {
		tg := g.Tools[name]
		if tg.Empty() {
			return errUnchanged
		}
		defer func() { ch.Grants = Clone(tg) }()
		if v, err := c.store.Version(name); err != nil || filepath.Join(c.store.Dir(), v) != t.Dir {
			// Replaced again meanwhile: that change settles them.
			return errUnchanged
		}
		switch {
		case tg.Digest == t.Digest:
			return errUnchanged
		case tg.Digest == "":
			// Unpinned grants the pinning above did not see (written
			// meanwhile): given for the version replaced, if any.
			if old == nil {
				tg.Digest, tg.Signer = t.Digest, t.Signer
				return nil
			}
			tg.Digest, tg.Signer = old.Digest, old.Signer
		}
		if t.Signer != "" && t.Signer == tg.Signer && tg.Covers(t.Manifest().Asks()) {
			tg.Digest = t.Digest
			ch.Carried = true
			return nil
		}
		ch.Held = true
		ch.HeldFor = c.versionOf(name, tg.Digest)
		return nil
	})
	return ch
}

// Clone copies a tool's grants.
func Clone(g *policies.ToolGrants) policies.ToolGrants {
	if g == nil {
		return policies.ToolGrants{}
	}
	out := *g
	out.Dirs, out.Env, out.Net = slices.Clone(g.Dirs), slices.Clone(g.Env), nil
	for _, n := range g.Net {
		out.Net = append(out.Net, policies.NetGrant{Host: n.Host, Ports: slices.Clone(n.Ports)})
	}
	return out
}

// versionOf names the kept version of a tool whose module has digest:
// "1.0.0 (sha256 0123456789ab)", or the digest alone when no version kept
// has it.
func (c *Catalog) versionOf(name, digest string) string {
	short := digest[:min(12, len(digest))]
	hist, _ := c.store.History(name)
	for _, v := range hist {
		if v.Digest == digest {
			return fmt.Sprintf("%s (sha256 %s)", v.Version, short)
		}
	}
	return fmt.Sprintf("a version no longer kept (sha256 %s)", short)
}

// held is the error of a call refused because the grants are held.
func (c *Catalog) held(t *store.Tool, g *policies.ToolGrants) error {
	why := "it is not signed"
	switch {
	case t.Signer != "" && t.Signer != g.Signer:
		why = fmt.Sprintf("it is signed by %s, not by the granted version's key", t.Signer)
	case t.Signer != "" && !g.Covers(t.Manifest().Asks()):
		why = "it asks for more than was granted"
	case t.Signer != "":
		why = "they were not confirmed for it"
	}
	return fmt.Errorf("%s: %w: its grants were given for %s, not for the installed %s (sha256 %s), and %s: calls are refused until you confirm them for this version with 'agent-ctl grant %s --confirm' (or take them back with 'agent-ctl revoke %s --all', or roll back with 'agent-ctl rollback %s')",
		t.Name(), ErrGrantsHeld, c.versionOf(t.Name(), g.Digest), t.Manifest().Version, t.Digest[:12], why, t.Name(), t.Name(), t.Name())
}
