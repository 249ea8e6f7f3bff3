package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies"
)

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
