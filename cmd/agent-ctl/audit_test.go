package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// auditHome makes a home whose audit log holds recs, appended in order
// (their seq and prev set by the writer), and returns it.
func auditHome(t *testing.T, recs ...*audit.Record) string {
	t.Helper()
	home := t.TempDir()
	l, err := audit.Open(supervisor.AuditDir(home), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, r := range recs {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// auditRecs are five calls by three callers of two tools over two hours.
func auditRecs(now time.Time) []*audit.Record {
	rec := func(ago time.Duration, caller, frontend, tool string) *audit.Record {
		return &audit.Record{Time: now.Add(-ago).UTC(), Caller: caller, Frontend: frontend, Tool: tool, Version: "1.0.0",
			Module: "/m/" + tool + ".wasm", Params: map[string]any{"name": caller}, Outcome: "exited"}
	}
	return []*audit.Record{
		rec(2*time.Hour, "alice", "cli", "hello"),
		rec(90*time.Minute, "laptop", "mcp-http", "fetch"),
		rec(30*time.Minute, "claude-code", "mcp-stdio", "hello"),
		rec(10*time.Minute, "alice", "cli", "fetch"),
		rec(time.Minute, "laptop", "mcp-http", "hello"),
	}
}

// seqs reads the seq of each line of `audit --json` output.
func seqs(t *testing.T, out string) []int64 {
	t.Helper()
	var got []int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit --json printed a line that is not a record: %q: %v", line, err)
		}
		got = append(got, r.Seq)
	}
	return got
}

// TestAudit_filters: --tool, --caller and --since select the calls they
// name, alone and together; --json prints the lines as recorded.
func TestAudit_filters(t *testing.T) {
	home := auditHome(t, auditRecs(time.Now())...)
	for _, tc := range []struct {
		name string
		args []string
		want []int64
	}{
		{"all", nil, []int64{1, 2, 3, 4, 5}},
		{"tool", []string{"--tool", "hello"}, []int64{1, 3, 5}},
		{"caller", []string{"--caller", "laptop"}, []int64{2, 5}},
		{"since duration", []string{"--since", "45m"}, []int64{3, 4, 5}},
		{"since time", []string{"--since", time.Now().Add(-100 * time.Minute).UTC().Format(time.RFC3339)}, []int64{2, 3, 4, 5}},
		{"tool and caller", []string{"--tool", "hello", "--caller", "alice"}, []int64{1}},
		{"all three", []string{"--tool", "fetch", "--caller", "alice", "--since", "1h"}, []int64{4}},
		{"nothing matches", []string{"--caller", "mallory"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runIn(t, home, "", append([]string{"audit", "--json"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("audit %q: exit %d, stderr %q", tc.args, code, errs)
			}
			if got := seqs(t, out); !equalSeqs(got, tc.want) {
				t.Errorf("audit %q printed seqs %v, want %v", tc.args, got, tc.want)
			}
			// The same selection, for people: one line per call.
			_, text, _ := runIn(t, home, "", append([]string{"audit"}, tc.args...)...)
			if n := strings.Count(text, "\n"); n != len(tc.want) {
				t.Errorf("audit %q printed %d lines, want %d:\n%s", tc.args, n, len(tc.want), text)
			}
		})
	}
	// --json prints each line byte for byte as recorded: the chain's hash
	// can be checked on it.
	_, out, _ := runIn(t, home, "", "audit", "--json")
	raw, err := os.ReadFile(filepath.Join(supervisor.AuditDir(home), audit.CurrentName))
	if err != nil {
		t.Fatal(err)
	}
	if out != string(raw) {
		t.Errorf("audit --json is not the log as written:\n%s\nwant\n%s", out, raw)
	}
	_, text, _ := runIn(t, home, "", "audit", "--tool", "fetch", "--caller", "laptop")
	for _, want := range []string{"#2", "laptop", "mcp-http", "fetch@1.0.0", "exit 0", `{"name":"laptop"}`} {
		if !strings.Contains(text, want) {
			t.Errorf("audit line %q lacks %q", text, want)
		}
	}
}

func equalSeqs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAudit_usage: bad flags are refused with agent-ctl's usage exit code.
func TestAudit_usage(t *testing.T) {
	home := auditHome(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"audit", "--since", "-1h"}, `--since "-1h"`},
		{[]string{"audit", "--verify", "--tool", "hello"}, "--verify walks the whole chain"},
		{[]string{"audit", "--verify", "--follow"}, "--verify walks the whole chain"},
		{[]string{"--audit-sync", "sometimes", "audit"}, `--audit-sync "sometimes": want line or batch`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runIn(t, home, "", tc.args...)
			expect(t, "audit", code, out, errs, 125, "", tc.want)
		})
	}
	// An empty home: nothing recorded yet is not an error.
	code, out, errs := runIn(t, t.TempDir(), "", "audit")
	expect(t, "audit of an empty home", code, out, errs, 0, "", "")
	code, out, errs = runIn(t, t.TempDir(), "", "audit", "--verify")
	expect(t, "verify of an empty home", code, out, errs, 0, "no lines", "")
}

// TestAudit_verify: --verify exits 1 naming the first line an edited
// byte, a deleted line or a swapped pair of lines touched, and 0 on the
// untouched chain.
func TestAudit_verify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func([][]byte) [][]byte
		want   string // in stderr
	}{
		{"untouched", func(ls [][]byte) [][]byte { return ls }, ""},
		{"edited byte", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"caller":"claude-code"`), []byte(`"caller":"claude-codf"`), 1)
			return ls
		}, "chain broken at audit.log:3: edited"},
		{"deleted line", func(ls [][]byte) [][]byte { return append(ls[:1], ls[2:]...) }, "chain broken at audit.log:2: lines were removed before it"},
		{"swapped pair", func(ls [][]byte) [][]byte { ls[3], ls[4] = ls[4], ls[3]; return ls }, "chain broken at audit.log:4: out of order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := auditHome(t, auditRecs(time.Now())...)
			path := filepath.Join(supervisor.AuditDir(home), audit.CurrentName)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ls := bytes.SplitAfter(raw, []byte{'\n'})
			ls = ls[:len(ls)-1] // after the last newline
			if err := os.WriteFile(path, bytes.Join(tc.tamper(ls), nil), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runIn(t, home, "", "audit", "--verify")
			if tc.want == "" {
				expect(t, "verify", code, out, errs, 0, "ok: 5 lines chain; head seq 5 sha256 ", "")
				return
			}
			where := strings.Fields(strings.TrimPrefix(tc.want, "chain broken at "))[0]
			expect(t, "verify", code, out, errs, 1, "broken at "+strings.TrimSuffix(where, ":")+"\n", tc.want)
		})
	}
}

// TestAudit_tornLine: a torn last line (a crash mid-write) is reported by
// --verify, which still passes; the next call is recorded after it and the
// chain verifies past it.
func TestAudit_tornLine(t *testing.T) {
	home := auditHome(t, auditRecs(time.Now())[:3]...)
	path := filepath.Join(supervisor.AuditDir(home), audit.CurrentName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":4,"time":"2026-01-02T03:04:05Z","caller":"al`)
	f.Close()
	code, out, errs := runIn(t, home, "", "audit", "--verify")
	expect(t, "verify with a torn last line", code, out, errs, 0, "ok: 3 lines chain", "torn line audit.log:4")

	code, out, errs = runIn(t, home, "", "run", "--isolation", "process", fixtures.Path("hello.wasm"), "--", "after")
	expect(t, "call after the tear", code, out, errs, 0, "hello, after\n", "")
	code, out, errs = runIn(t, home, "", "audit", "--verify")
	expect(t, "verify after the next call", code, out, errs, 0, "ok: 4 lines chain; head seq 4", "torn line audit.log:4")
	_, out, _ = runIn(t, home, "", "audit", "--json")
	if got := seqs(t, out); !equalSeqs(got, []int64{1, 2, 3, 4}) {
		t.Errorf("after the torn line, audit prints seqs %v, want 1 to 4", got)
	}
}

// TestAudit_follow: --follow prints what is recorded, then each call as it
// is recorded, filtered, until its context ends. Lines appended just as
// --follow starts were lost by a follower that learned the last seq in a
// second read: 2 runs in 10 caught it; rounds are cheap, so 15 of them.
func TestAudit_follow(t *testing.T) {
	for round := range 15 {
		t.Run(fmt.Sprint(round), followRound)
	}
}

func followRound(t *testing.T) {
	now := time.Now()
	recs := auditRecs(now)
	home := auditHome(t, recs[:2]...)
	t.Setenv("AGENTCTL_HOME", home)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"agent-ctl", "audit", "--follow", "--json", "--caller", "laptop"}, strings.NewReader(""), pw, &errb)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	next := func() int64 {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("audit --follow ended early: %v; stderr %q", lines.Err(), errb.String())
		}
		return seqs(t, lines.Text())[0]
	}
	if got := next(); got != 2 {
		t.Fatalf("first line followed: seq %d, want 2 (laptop's)", got)
	}
	l, err := audit.Open(supervisor.AuditDir(home), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Written after --follow read the log: alice's is filtered out.
	for _, r := range recs[3:] {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := next(); got != 4 {
		t.Fatalf("line followed after an append: seq %d, want 4 (laptop's)", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("audit --follow exited %d after its context ended; stderr %q", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("audit --follow did not end with its context")
	}
}

// TestAudit_off: doctor says whether calls are recorded, and a call under
// --no-audit (or its variable) leaves no line.
func TestAudit_off(t *testing.T) {
	home := t.TempDir()
	_, out, _ := runIn(t, home, "", "doctor")
	if !strings.Contains(out, "audit log") || !strings.Contains(out, "on: every call recorded in "+supervisor.AuditDir(home)) {
		t.Errorf("doctor does not say auditing is on:\n%s", out)
	}
	_, out, _ = runIn(t, home, "", "--no-audit", "doctor")
	if !strings.Contains(out, "off (--no-audit or AGENT_CTL_NO_AUDIT): calls are not recorded") {
		t.Errorf("doctor --no-audit does not say auditing is off:\n%s", out)
	}
	t.Setenv(noAuditEnv, "1")
	code, out, errs := runIn(t, home, "", "run", "--isolation", "process", fixtures.Path("hello.wasm"))
	expect(t, "call", code, out, errs, 0, "hello, world\n", "")
	if _, err := os.Stat(filepath.Join(supervisor.AuditDir(home), audit.CurrentName)); !os.IsNotExist(err) {
		t.Errorf("a call with %s=1 was recorded: %v", noAuditEnv, err)
	}
}

// TestDescribe_writeOnly: describe never shows a writeOnly parameter's
// default, in text or JSON.
func TestDescribe_writeOnly(t *testing.T) {
	home, mod := t.TempDir(), t.TempDir()
	wasm := readRepoFile(t, "modules/hello/hello.wasm")
	os.WriteFile(filepath.Join(mod, "hello.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(mod, "manifest.json"), []byte(`{"name":"greet","version":"1.0.0","description":"greets in secret","module":"hello.wasm",
	"inputSchema":{"type":"object","properties":{
		"name":{"type":"string","writeOnly":true,"description":"who to greet","default":"s3cr3t-default","examples":["s3cr3t-example"]},
		"shout":{"type":"boolean","description":"greet in capitals"}}}}`), 0o644)
	code, out, errs := runIn(t, home, "", "install", "--yes", mod)
	expect(t, "install", code, out, errs, 0, "installed greet", "")
	for _, args := range [][]string{{"describe", "greet"}, {"describe", "--json", "greet"}, {"greet", "--help"}} {
		code, out, errs := runIn(t, home, "", args...)
		expect(t, strings.Join(args, " "), code, out, errs, 0, "name", "")
		if strings.Contains(out, "s3cr3t") || !strings.Contains(out, "[redacted]") {
			t.Errorf("%q shows the writeOnly default, or does not say it is redacted:\n%s", args, out)
		}
	}
}

// TestAudit_errorText: the one-line view shows why a call was cancelled,
// why a module was killed and why a deploy was refused, as --json does,
// on the call's own line: text with newlines or terminal escapes (a
// client's name, a controller's reason) can neither forge a line nor
// reach the terminal, and a long text is cut.
func TestAudit_errorText(t *testing.T) {
	home := t.TempDir()
	// A call cancelled by a signal, through the real call path: its
	// reason is the context's cause.
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(signalError{Sig: syscall.SIGTERM})
	t.Setenv("AGENTCTL_HOME", home)
	var out, errb bytes.Buffer
	run(ctx, []string{"agent-ctl", "run", "--isolation", "process", fixtures.Path("hello.wasm")}, strings.NewReader(""), &out, &errb)
	// Lines as the fleet agent writes them for a kill and a refused
	// deploy, and a hostile caller's.
	l, err := audit.Open(supervisor.AuditDir(home), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*audit.Record{
		{Time: time.Now().UTC(), Caller: "controller", Frontend: "fleet", Digest: "ab12", Outcome: "killed", ExitCode: supervisor.ExitInvalid,
			Error: "module killed fleet-wide: CVE-2026-1 in the parser; 2 running call(s) stopped"},
		{Time: time.Now().UTC(), Caller: "controller", Frontend: "fleet-deploy", Tool: "hello", Version: "2.0.0", Outcome: "error",
			ExitCode: supervisor.ExitInvalid, Error: "deploy refused: signature not trusted"},
		{Time: time.Now().UTC(), Caller: "evil\n2026-01-01 00:00:00.000  #1  root\x1b[2J", Frontend: "mcp-stdio", Tool: "hello", Outcome: "cancelled",
			Error: "line one\r\nline two\x1b]0;pwned\x07 " + strings.Repeat("x", 300)},
	} {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	code, text, errs := runIn(t, home, "", "audit")
	if code != 0 {
		t.Fatalf("audit: exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("audit printed %d lines, want 4 (one per record):\n%s", len(lines), text)
	}
	for i, want := range []string{
		"cancelled: received terminated",
		"killed: module killed fleet-wide: CVE-2026-1 in the parser; 2 running call(s) stopped",
		fmt.Sprintf("error (%d): deploy refused: signature not trusted", supervisor.ExitInvalid),
		`evil 2026-01-01 00:00:00.000 #1 root\x1b[2J  mcp-stdio  hello  cancelled: line one line two\x1b]0;pwned\a ` + strings.Repeat("x", maxShownError-28) + "…  ", // 28 runes before the x's
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("audit line %d lacks %q:\n%s", i+1, want, lines[i])
		}
	}
	if strings.ContainsAny(text, "\x1b\x07\r") {
		t.Errorf("audit printed control characters:\n%q", text)
	}
}
