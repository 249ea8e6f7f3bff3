package policies

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// Asks is what a tool's manifest asks to be granted, in the grants' own
// terms. A manifest only asks: the operator grants all of it (install
// --yes), part of it (grant), or nothing, and these are the rules that
// compare the two.
type Asks struct {
	// Tool names the tool in messages.
	Tool string
	// Dirs are the directories it asks for; Host is the manifest's
	// suggestion, Guest the path the module opens.
	Dirs []Dir
	// Env are the variables it asks for, by name; in a grant, KEY=VALUE
	// fixes the value (see ToolGrants.GrantEnv).
	Env []string
	// Net are the hosts and ports it asks to connect to.
	Net []NetGrant
}

// GrantAll grants t everything a asks for (what install --yes does), each
// capability on its own: one that is refused (a directory that would hand
// over the host or expose a protected one) leaves the others granted. It
// returns why each refused capability was.
func (t *ToolGrants) GrantAll(a Asks, protected ...string) []error {
	var refused []error
	for _, d := range a.Dirs {
		if err := t.GrantDir(d, protected...); err != nil {
			refused = append(refused, err)
		}
	}
	for _, e := range a.Env {
		if err := t.GrantEnv(e); err != nil {
			refused = append(refused, err)
		}
	}
	for _, n := range a.Net {
		if err := t.GrantNet(n); err != nil {
			refused = append(refused, err)
		}
	}
	return refused
}

// Covers reports whether t covers everything a asks for: a directory at
// each guest path it asks for (writable where it asks rw), each variable,
// and each network host and port. A new version whose asks its old
// grants cover may keep them.
func (t *ToolGrants) Covers(a Asks) bool {
	for _, d := range a.Dirs {
		if !slices.ContainsFunc(t.Dirs, func(g DirGrant) bool { return g.Guest == d.Guest && (g.Writable || !d.Writable) }) {
			return false
		}
	}
	for _, e := range a.Env {
		if !slices.ContainsFunc(t.Env, func(g EnvGrant) bool { return g.Key == e }) {
			return false
		}
	}
	for _, n := range a.Net {
		if !netCovers(t.Net, n) {
			return false
		}
	}
	return true
}

// Unaddressed is what a asks for that the operator has not addressed in
// t: a directory at no granted guest path, a variable not granted, a
// network host none of whose addresses is granted. A narrower grant than
// the one asked for is a decision, not an omission, and is not listed.
func (t *ToolGrants) Unaddressed(a Asks) Asks {
	out := Asks{Tool: a.Tool}
	if t == nil {
		t = &ToolGrants{}
	}
	for _, d := range a.Dirs {
		if !slices.ContainsFunc(t.Dirs, func(g DirGrant) bool { return g.Guest == d.Guest }) {
			out.Dirs = append(out.Dirs, d)
		}
	}
	for _, e := range a.Env {
		if !slices.ContainsFunc(t.Env, func(g EnvGrant) bool { return g.Key == e }) {
			out.Env = append(out.Env, e)
		}
	}
	for _, n := range a.Net {
		if !slices.ContainsFunc(t.Net, func(g NetGrant) bool { return NetOverlaps(g.Host, n.Host) }) {
			out.Net = append(out.Net, n)
		}
	}
	return out
}

// CheckDir says how a directory grant goes beyond what a asks for: a
// guest path it does not ask for, or write access where it asks
// read-only. The guest path is exact because the module opens that path.
func (a Asks) CheckDir(d Dir) error {
	var asked []string
	guest := path.Clean(d.Guest)
	for _, f := range a.Dirs {
		if f.Guest == guest {
			if d.Writable && !f.Writable {
				return fmt.Errorf("%s's manifest asks for %s read-only, not rw", a.Tool, guest)
			}
			return nil
		}
		asked = append(asked, f.Guest+" ("+f.Mode()+")")
	}
	if len(asked) == 0 {
		asked = []string{"none"}
	}
	return fmt.Errorf("%s's manifest asks for no directory at %s (it asks for: %s)", a.Tool, guest, strings.Join(asked, ", "))
}

// AsksNet reports whether a asks for every address and port of n.
func (a Asks) AsksNet(n NetGrant) bool { return netCovers(a.Net, n) }

// Mode is how a directory is granted, as grants and manifests write it:
// "ro" or "rw".
func (d Dir) Mode() string {
	if d.Writable {
		return "rw"
	}
	return "ro"
}

// netCovers reports whether the grants in have take in every port of want
// at every address of its host.
func netCovers(have []NetGrant, want NetGrant) bool {
	for _, port := range want.Ports {
		if !slices.ContainsFunc(have, func(g NetGrant) bool { return slices.Contains(g.Ports, port) && HostCovers(g.Host, want.Host) }) {
			return false
		}
	}
	return true
}

// HostCovers reports whether a network grant's host (a CIDR, an address or
// a name) takes in every address of host, or is the same name.
func HostCovers(grant, host string) bool {
	pg, errg := hostPrefix(grant)
	ph, errh := hostPrefix(host)
	if errg != nil || errh != nil {
		return errg != nil && errh != nil && sameName(grant, host)
	}
	return pg.Bits() <= ph.Bits() && pg.Contains(ph.Addr())
}

// NetOverlaps reports whether two network grant hosts (CIDRs, addresses or
// hostnames) have an address or the name in common.
func NetOverlaps(a, b string) bool {
	pa, erra := hostPrefix(a)
	pb, errb := hostPrefix(b)
	if erra != nil || errb != nil {
		return sameName(a, b)
	}
	return pa.Overlaps(pb)
}

func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// hostPrefix is a CIDR or an address as the prefix of the addresses it
// names (an IPv4-mapped IPv6 address as IPv4).
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
