package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/policies"
)

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
	// Stdin is the manifest's stdin declaration: what the tool reads
	// there (over MCP, its input parameter); omitted when none.
	Stdin *manifest.StdinSpec `json:"stdin,omitempty"`
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
				return writeJSON(c, describeOut{m.Name, m.Version, m.Description, t.Digest, shownSchema(t.Tool), paramsJSON(shownParams(t.Tool)), m.Capabilities, grantsJSON(g), m.Limits, m.Stdin})
			}
			w := c.App.Writer
			fmt.Fprintf(w, "%s %s — %s\ndigest: %s\n\nparameters:\n", m.Name, m.Version, m.Description, t.Digest)
			for _, p := range shownParams(t.Tool) {
				fmt.Fprintf(w, "  %s\n", paramLine(p))
			}
			if m.Stdin != nil {
				fmt.Fprintf(w, "  stdin: %s (over MCP: the %s parameter)\n", m.Stdin.Description, manifest.StdinParam)
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
