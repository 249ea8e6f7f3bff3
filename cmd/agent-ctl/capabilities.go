package main

import (
	"fmt"
	"strings"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies"
)

// capability is one thing a manifest asks for: how to say it and how to
// grant it. Which are granted is policies' to decide
// (policies.ToolGrants.Unaddressed); this is only the printing.
type capability struct {
	desc, grant string
}

// capabilities renders what a asks for, one capability each.
func capabilities(a policies.Asks) []capability {
	var out []capability
	for _, d := range a.Dirs {
		out = append(out, capability{
			desc:  fmt.Sprintf("files: %s at %s (%s)", d.Host, d.Guest, d.Mode()),
			grant: fmt.Sprintf("agent-ctl grant %s --dir %s:%s:%s", a.Tool, d.Host, d.Guest, d.Mode()),
		})
	}
	for _, e := range a.Env {
		out = append(out, capability{
			desc:  "env: " + e,
			grant: fmt.Sprintf("agent-ctl grant %s --env %s", a.Tool, e),
		})
	}
	for _, n := range a.Net {
		out = append(out, capability{
			desc:  fmt.Sprintf("network: %s ports %s", n.Host, joinInts(n.Ports)),
			grant: fmt.Sprintf("agent-ctl grant %s --net %s:%s", a.Tool, n.Host, joinInts(n.Ports)),
		})
	}
	return out
}

// describeCaps renders what a manifest asks for, one capability a line.
func describeCaps(m *manifest.Manifest) []string {
	var out []string
	for _, c := range capabilities(m.Asks()) {
		out = append(out, c.desc)
	}
	return out
}

// grantCommands are the commands that would grant all of it.
func grantCommands(m *manifest.Manifest) []string {
	var out []string
	for _, c := range capabilities(m.Asks()) {
		out = append(out, c.grant)
	}
	return out
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
