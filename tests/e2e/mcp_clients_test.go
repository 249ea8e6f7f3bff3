//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// The real MCP clients (Node 22, the official TypeScript SDK through
// tests/mcp/client.mjs, the Inspector CLI, the conformance suite) that
// `make mcp-deps` installs; `make test` tells the tests where.
func mcpHarness(t *testing.T) (node, dir string) {
	t.Helper()
	node, dir = envHarness()
	if node == "" {
		t.Skip("the real MCP clients are installed by `make mcp-deps`; run through `make test` (AGENTCTL_MCP_NODE and AGENTCTL_MCP_DIR unset)")
	}
	return node, dir
}

func envHarness() (node, dir string) {
	node, dir = os.Getenv("AGENTCTL_MCP_NODE"), os.Getenv("AGENTCTL_MCP_DIR")
	if node == "" || dir == "" {
		return "", ""
	}
	return node, dir
}

func agentCtl(t *testing.T, home string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"--home", home}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("agent-ctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// toolHome installs hello and the fixtures the client tests call.
func toolHome(t *testing.T) string {
	home := installHello(t)
	agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "spin", "loop.wasm", `"inputSchema": {"type": "object"}, "limits": {"timeout": "300ms"}`))
	agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "sleep", "sleep.wasm", `"inputSchema": {"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}}, "args": {"positional": ["ms"]}`))
	agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "ticks", "stream.wasm", `"inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}, "ms": {"type": "integer"}}}, "args": {"positional": ["n", "ms"]}`))
	return home
}

// clientRun is one run of client.mjs.
type clientRun struct {
	OK    bool `json:"ok"`
	Steps []struct {
		Op    string          `json:"op"`
		Name  string          `json:"name"`
		OK    bool            `json:"ok"`
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"steps"`
	ServerStderr string `json:"serverStderr"`
	raw          string
}

func (r *clientRun) step(t *testing.T, i int, v any) {
	t.Helper()
	if i >= len(r.Steps) {
		t.Fatalf("no step %d in %s", i, r.raw)
	}
	if v != nil {
		if err := json.Unmarshal(r.Steps[i].Data, v); err != nil {
			t.Fatalf("step %d data: %v in %s", i, err, r.raw)
		}
	}
}

// callResult is a tools/call result as client.mjs reports it.
type callResult struct {
	Result struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"result"`
	Progress []struct {
		Progress float64 `json:"progress"`
		Message  string  `json:"message"`
	} `json:"progress"`
}

func (c callResult) text() string {
	var b strings.Builder
	for _, x := range c.Result.Content {
		b.WriteString(x.Text)
	}
	return b.String()
}

// startClient starts client.mjs with spec; onMark runs when the client
// reaches a mark step. It returns the parsed output.
func runClient(t *testing.T, spec map[string]any, onMark func(label string)) *clientRun {
	t.Helper()
	node, dir := mcpHarness(t)
	b, _ := json.Marshal(spec)
	cmd := exec.Command(node, filepath.Join(dir, "client.mjs"), "--spec-json", string(b))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(errp)
	for sc.Scan() {
		line := sc.Text()
		var m struct{ Mark string }
		if onMark != nil && json.Unmarshal([]byte(line), &m) == nil && m.Mark != "" {
			onMark(m.Mark)
			continue
		}
		stderr.WriteString(line + "\n")
	}
	err := cmd.Wait()
	r := &clientRun{raw: stdout.String()}
	if jerr := json.Unmarshal(stdout.Bytes(), r); jerr != nil {
		t.Fatalf("client output: %v (exit %v)\nstdout: %s\nstderr: %s", jerr, err, stdout.String(), stderr.String())
	}
	if !r.OK {
		t.Fatalf("client: a step failed its expectation (exit %v):\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return r
}

// clientSteps are the same checks over any transport.
func clientSteps() []map[string]any {
	return []map[string]any{
		{"op": "listTools", "namesOnly": true},
		{"op": "callTool", "name": "hello", "args": map[string]any{"name": "ts"}},
		{"op": "callTool", "name": "hello", "args": map[string]any{"name": strings.Repeat("x", 65)}, "expect": "isError"},
		{"op": "callTool", "name": "spin", "expect": "isError"},
		{"op": "callTool", "name": "nosuch", "expect": "error"},
		{"op": "cancel", "name": "sleep", "args": map[string]any{"ms": 30000}, "afterMs": 300},
		{"op": "callTool", "name": "ticks", "args": map[string]any{"n": 6, "ms": 150}, "progress": true},
		{"op": "concurrent", "name": "hello", "args": map[string]any{"name": "c{client}-{call}"}, "clients": 8, "calls": 2, "collect": true},
	}
}

func checkClientSteps(t *testing.T, r *clientRun) {
	t.Helper()
	var names struct{ Names []string }
	r.step(t, 0, &names)
	for _, n := range []string{"hello", "spin", "sleep", "ticks"} {
		if !slices.Contains(names.Names, n) {
			t.Errorf("tools/list lacks %s: %v", n, names.Names)
		}
	}
	var ok, bad, limit callResult
	r.step(t, 1, &ok)
	r.step(t, 2, &bad)
	r.step(t, 3, &limit)
	if ok.text() != "hello, ts\n" {
		t.Errorf("call: %q", ok.text())
	}
	if !strings.Contains(bad.text(), "invalid arguments") || !strings.Contains(bad.text(), "name") {
		t.Errorf("schema violation: %q", bad.text())
	}
	if !strings.Contains(limit.text(), "time limit of 300ms reached") {
		t.Errorf("limit: %q", limit.text())
	}
	if e := r.Steps[4].Error; e == nil || fmt.Sprint(e.Code) != "-32602" {
		t.Errorf("unknown tool: %+v, want error -32602", e)
	}
	var cancel struct {
		Cancelled       bool
		RejectedAfterMs float64
	}
	r.step(t, 5, &cancel)
	if !cancel.Cancelled || cancel.RejectedAfterMs > 2000 {
		t.Errorf("cancel: %+v", cancel)
	}
	var ticks callResult
	r.step(t, 6, &ticks)
	if strings.Count(ticks.text(), "tick") != 6 || len(ticks.Progress) < 3 {
		t.Errorf("progress: %d notifications, output %q", len(ticks.Progress), ticks.text())
	}
	for i := 1; i < len(ticks.Progress); i++ {
		if ticks.Progress[i].Progress <= ticks.Progress[i-1].Progress {
			t.Errorf("progress does not increase: %+v", ticks.Progress)
		}
	}
	var conc struct {
		OK, IsError int
		Results     []struct {
			Client, Call int
			Text         string
			IsError      bool
		}
	}
	r.step(t, 7, &conc)
	if conc.OK != 16 || len(conc.Results) != 16 {
		t.Fatalf("concurrent: %d ok of 16 (%s)", conc.OK, r.Steps[7].Data)
	}
	for _, c := range conc.Results {
		if want := fmt.Sprintf("hello, c%d-%d\n", c.Client, c.Call); c.Text != want || c.IsError {
			t.Errorf("concurrent call got %q, want %q", c.Text, want)
		}
	}
}

// TestTSClientStdio drives `agent-ctl mcp` with the official TypeScript
// SDK: every kind of call, cancellation, progress, 8 clients at once, and
// list_changed after an install while connected.
func TestTSClientStdio(t *testing.T) {
	home := toolHome(t)
	steps := append(clientSteps(),
		map[string]any{"op": "mark", "label": "install"},
		map[string]any{"op": "waitToolsListChanged", "timeoutMs": 10000},
		map[string]any{"op": "callTool", "name": "greet", "args": map[string]any{}},
	)
	r := runClient(t, map[string]any{
		"timeoutMs": 120000,
		"transport": map[string]any{"type": "stdio", "command": bin, "args": []string{"--home", home, "mcp"}},
		"steps":     steps,
	}, func(string) {
		agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "greet", "hello.wasm", `"inputSchema": {"type": "object"}`))
	})
	checkClientSteps(t, r)
	var greet callResult
	r.step(t, len(steps)-1, &greet)
	if greet.text() != "hello, world\n" {
		t.Errorf("the tool installed while connected: %q", greet.text())
	}
}

// TestTSClientHTTP: the same over Streamable HTTP with a token, list_changed
// after a removal while connected, and the refusal without a valid token.
func TestTSClientHTTP(t *testing.T) {
	home := toolHome(t)
	token := strings.TrimSpace(strings.Split(agentCtl(t, home, "token", "create", "ts"), "\n")[0])
	url := startServe(t, home)
	steps := append(clientSteps(),
		map[string]any{"op": "mark", "label": "install"},
		map[string]any{"op": "waitToolsListChanged", "timeoutMs": 10000},
		map[string]any{"op": "listTools", "namesOnly": true},
	)
	r := runClient(t, map[string]any{
		"timeoutMs": 120000,
		"transport": map[string]any{"type": "http", "url": url, "token": token},
		"steps":     steps,
	}, func(string) {
		agentCtl(t, home, "remove", "spin")
	})
	checkClientSteps(t, r)
	var after struct{ Names []string }
	r.step(t, len(steps)-1, &after)
	if slices.Contains(after.Names, "spin") || !slices.Contains(after.Names, "hello") {
		t.Errorf("after a removal while connected over HTTP: %v", after.Names)
	}

	node, dir := mcpHarness(t)
	b, _ := json.Marshal(map[string]any{"timeoutMs": 20000, "transport": map[string]any{"type": "http", "url": url, "token": "act_wrong"},
		"steps": []map[string]any{{"op": "listTools"}}})
	out, _ := exec.Command(node, filepath.Join(dir, "client.mjs"), "--spec-json", string(b)).Output()
	if !strings.Contains(string(out), `"code": 401`) {
		t.Errorf("wrong token: want a 401, got %s", out)
	}
}

// TestInspectorCLI: the MCP Inspector's CLI lists and calls tools of
// `agent-ctl mcp`.
func TestInspectorCLI(t *testing.T) {
	node, dir := mcpHarness(t)
	home := installHello(t)
	inspector := filepath.Join(dir, "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js")
	run := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(node, append([]string{inspector, "--cli", "--format", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
			}
		}()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("inspector %v: %v\n%s", args, err, out)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("inspector output: %v\n%s", err, out)
		}
		return v
	}
	list := run("--method", "tools/list", "--", bin, "--home", home, "mcp")
	if b, _ := json.Marshal(list); !strings.Contains(string(b), `"name":"hello"`) {
		t.Errorf("tools/list: %s", b)
	}
	call := run("--method", "tools/call", "--tool-name", "hello", "--tool-arg", "name=inspector", "--", bin, "--home", home, "mcp")
	if b, _ := json.Marshal(call); !strings.Contains(string(b), `hello, inspector\n`) {
		t.Errorf("tools/call: %s", b)
	}
}

// conformanceApplies are the conformance suite's server scenarios that
// apply to a tools-only server whose tools return text (and log their
// stderr): every one must pass. The others need resources, prompts,
// completion, image/audio/resource content or server-to-client requests
// (sampling, elicitation), which agent-ctl does not offer (see
// docs/mcp.md).
var conformanceApplies = []string{
	"server-initialize", "ping", "logging-set-level", "tools-list", "resources-list", "prompts-list",
	"server-sse-multiple-streams", "dns-rebinding-protection",
	"tools-call-simple-text", "tools-call-error", "tools-call-with-progress", "tools-call-with-logging",
}

// resultTimeRE is the time the suite appends to a result directory.
var resultTimeRE = regexp.MustCompile(`-\d{4}-\d{2}-\d{2}T[0-9-]+Z$`)

// TestConformance runs the MCP conformance suite's server scenarios
// against `agent-ctl serve` (unauthenticated on loopback: the suite sends
// no token) with the fixture tools the scenarios call, installed as
// WebAssembly modules like any other tool.
func TestConformance(t *testing.T) {
	node, dir := mcpHarness(t)
	home := installHello(t)
	agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "test_simple_text", "hello.wasm", `"inputSchema": {"type": "object"}`))
	agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "test_error_handling", "trap.wasm", `"inputSchema": {"type": "object"}`))
	agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "test_tool_with_progress", "stream.wasm", `"inputSchema": {"type": "object"}`))
	agentCtl(t, home, "install", "--yes", fixtures.ToolDir(t, "test_tool_with_logging", "logs3.wasm", `"inputSchema": {"type": "object"}`))
	url := startServe(t, home, "--no-auth")
	results := t.TempDir()
	cmd := exec.Command(node, filepath.Join(dir, "node_modules/@modelcontextprotocol/conformance/dist/index.js"),
		"server", "--url", url, "-o", results)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, _ := cmd.CombinedOutput() // exit 1: the scenarios that do not apply fail
	type check struct {
		ID, Status, ErrorMessage string
	}
	status := map[string][]check{}
	dirs, _ := filepath.Glob(filepath.Join(results, "server-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "checks.json"))
		if err != nil {
			continue
		}
		var checks []check
		if err := json.Unmarshal(b, &checks); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		name := resultTimeRE.ReplaceAllString(strings.TrimPrefix(filepath.Base(d), "server-"), "")
		status[name] = checks
	}
	passed := 0
	for _, sc := range conformanceApplies {
		checks, ok := status[sc]
		if !ok {
			t.Errorf("scenario %s did not run", sc)
			continue
		}
		failed := false
		for _, c := range checks {
			if c.Status == "FAILURE" {
				failed = true
				t.Errorf("scenario %s: check %s failed: %s", sc, c.ID, c.ErrorMessage)
			}
		}
		if !failed {
			passed++
		}
	}
	t.Logf("conformance: %d of %d applicable scenarios pass (%d scenarios ran)", passed, len(conformanceApplies), len(status))
	if t.Failed() {
		t.Logf("suite output:\n%s", out)
	}
}
