package manifest

import (
	"slices"

	"github.com/agent-ctl/agent-ctl/policies"
)

// Asks is what m asks to be granted, in the grants' own terms: the
// install, grant and call paths compare it with the operator's grants
// (policies.ToolGrants.Covers, Unaddressed, GrantAll).
func (m *Manifest) Asks() policies.Asks {
	a := policies.Asks{Tool: m.Name, Env: slices.Clone(m.Capabilities.Env)}
	for _, f := range m.Capabilities.Files {
		a.Dirs = append(a.Dirs, policies.Dir{Host: f.Host, Guest: f.Guest, Writable: f.Mode == "rw"})
	}
	for _, n := range m.Capabilities.Network {
		a.Net = append(a.Net, policies.NetGrant{Host: n.Host, Ports: slices.Clone(n.Ports)})
	}
	return a
}
