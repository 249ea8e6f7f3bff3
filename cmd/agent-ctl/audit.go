package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/cliapp"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// Environment variables behind the global audit flags.
const (
	noAuditEnv   = cliapp.NoAuditEnv
	auditSyncEnv = cliapp.AuditSyncEnv
)

// auditOptions reads the global audit flags.
func auditOptions(c *cli.Context) *supervisor.AuditOptions {
	return &supervisor.AuditOptions{Off: c.Bool("no-audit"), Log: &audit.Options{Batch: c.String("audit-sync") == "batch"}}
}

// auditNotice is what every serve and mcp start says when auditing is off.
const auditNotice = "agent-ctl: warning: auditing is off (--no-audit or " + noAuditEnv + "): calls are not recorded"

// auditCheck is doctor's line about the audit log: not a wall, so never
// required, but an operator must see when it is off.
func auditCheck(c *cli.Context) checkOut {
	if c.Bool("no-audit") {
		return checkOut{"audit log", false, false, "off (--no-audit or " + noAuditEnv + "): calls are not recorded"}
	}
	home, err := homeDir(c)
	if err != nil {
		return checkOut{"audit log", false, false, err.Error()}
	}
	dir := supervisor.AuditDir(home)
	detail := fmt.Sprintf("on: every call recorded in %s, fsync'd per %s", dir, map[bool]string{true: "100ms (batch)", false: "line"}[c.String("audit-sync") == "batch"])
	if _, err := os.Stat(dir); err == nil {
		l, err := audit.Open(dir, nil)
		if err == nil {
			err = l.Check()
			l.Close()
		}
		if err != nil {
			return checkOut{"audit log", false, false, fmt.Sprintf("on, but calls will be refused: %v", err)}
		}
	}
	return checkOut{"audit log", true, false, detail}
}

// shownParams are a tool's parameters as help and describe show them: a
// writeOnly parameter's default is redacted.
func shownParams(t *manifest.Tool) []manifest.Param {
	ps := t.Params()
	for i := range ps {
		if ps[i].Default != nil && t.WriteOnly(ps[i].Name) {
			ps[i].Default = manifest.Redacted
		}
	}
	return ps
}

// shownSchema is a tool's input schema as describe shows it: the
// "default" and "examples" of writeOnly properties are redacted.
func shownSchema(t *manifest.Tool) json.RawMessage {
	raw := t.Manifest().InputSchema
	var doc map[string]any
	if json.Unmarshal(raw, &doc) != nil {
		return raw
	}
	props, _ := doc["properties"].(map[string]any)
	changed := false
	for name, v := range props {
		prop, ok := v.(map[string]any)
		if !ok || !t.WriteOnly(name) {
			continue
		}
		for _, k := range []string{"default", "examples", "const", "enum"} {
			if _, ok := prop[k]; ok {
				prop[k], changed = manifest.Redacted, true
			}
		}
	}
	if !changed {
		return raw
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return raw
	}
	return b
}

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "show the audit log (who ran what, with which grants, and how it ended), or verify its chain",
		Description: `Every call from every front-end (run, installed tools, MCP over stdio and
HTTP) is one JSON line in $AGENTCTL_HOME/audit, chained to the line before it
by its SHA-256. Without flags, prints every call, oldest first.

--verify walks the chain and exits 1 naming the first line that was edited,
removed or reordered; it prints the chain's head (the last line's seq and
hash): keep it elsewhere to detect a cut tail later. Torn lines (a crash
mid-write) are reported, not failed. See docs/audit.md.

Examples:
  agent-ctl audit --since 1h --tool hello
  agent-ctl audit --caller laptop --json | jq .
  agent-ctl audit --follow
  agent-ctl audit --verify`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tool", Usage: "only calls of `TOOL`"},
			&cli.StringFlag{Name: "caller", Usage: "only calls by `CALLER` (an OS user, an MCP client's name, a token's name)"},
			&cli.StringFlag{Name: "since", Usage: "only calls since `WHEN`: a duration back from now (1h, 30m) or a time (RFC 3339)"},
			&cli.BoolFlag{Name: "json", Usage: "print the lines as recorded (JSON, one per line)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing calls as they are recorded, until interrupted"},
			&cli.BoolFlag{Name: "verify", Usage: "walk the hash chain; exit 1 naming the first line edited, removed or reordered"},
		},
		Action: auditAction,
	}
}

func auditAction(c *cli.Context) error {
	home, err := homeDir(c)
	if err != nil {
		return err
	}
	dir := supervisor.AuditDir(home)
	if c.Bool("verify") {
		if c.Bool("follow") || c.IsSet("tool") || c.IsSet("caller") || c.IsSet("since") {
			return usageError{"audit: --verify walks the whole chain: it takes no filter and no --follow"}
		}
		return verifyAction(c, dir)
	}
	f := &audit.Filter{Tool: c.String("tool"), Caller: c.String("caller")}
	if s := c.String("since"); s != "" {
		if f.Since, err = parseSince(s, time.Now()); err != nil {
			return usageError{err.Error()}
		}
	}
	w := c.App.Writer
	print := func(r *audit.Record, raw []byte) error {
		if c.Bool("json") {
			_, err := fmt.Fprintf(w, "%s\n", raw)
			return err
		}
		_, err := fmt.Fprintln(w, auditLine(r))
		return err
	}
	if c.Bool("follow") {
		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return audit.Follow(ctx, dir, f, 0, print)
	}
	return audit.Read(dir, f, print)
}

// parseSince reads --since: a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("audit: --since %q: want a duration (1h, 30m) or a time (2026-01-02T15:04:05Z)", s)
}

// auditLine renders a record for people, one line.
func auditLine(r *audit.Record) string {
	var b strings.Builder
	tool := r.Tool
	if r.Version != "" {
		tool += "@" + r.Version
	}
	fmt.Fprintf(&b, "%s  #%d  %s  %s  %s  ", r.Time.Local().Format("2006-01-02 15:04:05.000"), r.Seq,
		printable(orDefault(r.Caller, "-"), 0), printable(orDefault(r.Frontend, "-"), 0), printable(orDefault(tool, "-"), 0))
	switch r.Outcome {
	case "exited":
		fmt.Fprintf(&b, "exit %d", r.ExitCode)
	case "error":
		fmt.Fprintf(&b, "error (%d): %s", r.ExitCode, printable(r.Error, maxShownError))
	default:
		b.WriteString(printable(r.Outcome, 0))
		if r.Trap != "" {
			b.WriteString(": " + printable(r.Trap, 0))
		}
		if r.Limit != "" {
			b.WriteString(" " + r.Limit)
		}
		if r.Error != "" {
			// Why a call was cancelled (a signal, a fleet kill, the
			// controller's cancel), what a kill line stopped.
			b.WriteString(": " + printable(r.Error, maxShownError))
		}
	}
	fmt.Fprintf(&b, "  %.1fms", r.DurationMS)
	if r.Digest != "" {
		fmt.Fprintf(&b, "  sha256:%.12s", r.Digest)
	}
	if len(r.Params) > 0 {
		p, _ := json.Marshal(r.Params)
		fmt.Fprintf(&b, "  %s", p)
	} else if len(r.Args) > 0 {
		p, _ := json.Marshal(r.Args)
		fmt.Fprintf(&b, "  %s", p)
	}
	var g []string
	for _, d := range r.Grants.Dirs {
		g = append(g, "dir "+d.Host+":"+d.Guest+":"+d.Mode)
	}
	if len(r.Grants.Env) > 0 {
		g = append(g, "env "+strings.Join(r.Grants.Env, ","))
	}
	for _, n := range r.Grants.Net {
		g = append(g, fmt.Sprintf("net %s:%v", n.Host, n.Ports))
	}
	if len(g) > 0 {
		fmt.Fprintf(&b, "  [%s]", strings.Join(g, "; "))
	}
	return b.String()
}

// maxShownError is how many runes of a record's error text the one-line
// view shows; --json has all of it.
const maxShownError = 200

// printable makes text from a record fit the one-line view and safe for a
// terminal: the caller's name, a cancel's reason and an error's text come
// from clients and the controller, so a newline in them would forge a
// second line, and an escape sequence would reach the operator's
// terminal. Runs of white space become one space, other control and
// non-printing runes are shown escaped (\x1b), and text past max runes
// (0: no limit) is cut with an ellipsis.
func printable(s string, max int) string {
	var b strings.Builder
	n, space := 0, false
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if max > 0 && n >= max {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
			n++
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		}
		n++
	}
	return b.String()
}

// verifyAction is `audit --verify`.
func verifyAction(c *cli.Context, dir string) error {
	rep, err := audit.Verify(dir)
	if err != nil {
		return err
	}
	w, ew := c.App.Writer, c.App.ErrWriter
	for _, t := range rep.Torn {
		fmt.Fprintf(ew, "agent-ctl: audit: torn line %s: a crash while writing it; the chain continues past it\n", t)
	}
	if rep.Problem != nil {
		fmt.Fprintf(ew, "agent-ctl: audit: chain broken at %s: %s\n", rep.Problem.Where, rep.Problem.What)
		fmt.Fprintf(w, "broken at %s\n", rep.Problem.Where)
		return exitError{1}
	}
	if rep.Lines == 0 {
		fmt.Fprintf(w, "%s: no lines\n", dir)
		return nil
	}
	fmt.Fprintf(w, "ok: %d lines chain; head seq %d sha256 %s\n", rep.Lines, rep.HeadSeq, rep.Head)
	return nil
}

// auditStartNote prints, at a long-running front-end's start, that
// auditing is off.
func auditStartNote(c *cli.Context, w io.Writer) {
	if c.Bool("no-audit") {
		fmt.Fprintln(w, auditNotice)
	}
}
