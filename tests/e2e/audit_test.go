//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// auditRecord is the part of an audit line these tests read.
type auditRecord struct {
	Seq      int64          `json:"seq"`
	Caller   string         `json:"caller"`
	Frontend string         `json:"frontend"`
	Tool     string         `json:"tool"`
	Version  string         `json:"version"`
	Digest   string         `json:"digest"`
	Params   map[string]any `json:"params"`
	Outcome  string         `json:"outcome"`
}

// auditJSON is `agent-ctl audit --json` of home, and whether --verify
// passes.
func auditJSON(t *testing.T, home string, args ...string) []auditRecord {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"--home", home, "audit", "--json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("audit --json: %v", err)
	}
	var recs []auditRecord
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r auditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func verifyChain(t *testing.T, home string, lines int) {
	t.Helper()
	out, err := exec.Command(bin, "--home", home, "audit", "--verify").CombinedOutput()
	want := fmt.Sprintf("ok: %d lines chain", lines)
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("audit --verify: %v\n%s\nwant %q", err, out, want)
	}
}

func token(t *testing.T, home, name string) string {
	t.Helper()
	out, err := exec.Command(bin, "--home", home, "token", "create", name).Output()
	if err != nil {
		t.Fatalf("token create %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// stdioClient starts `agent-ctl mcp` under a client named name.
func stdioClient(t *testing.T, ctx context.Context, home, name string, args ...string) *mcp.ClientSession {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home, "mcp"}, args...)...)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: name}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func callHello(t *testing.T, ctx context.Context, cs *mcp.ClientSession, args map[string]any, want string) {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: args})
	if err != nil || res.IsError || mcptest.Text(res) != want {
		t.Fatalf("tools/call hello %v: %v %q, want %q", args, err, mcptest.Text(res), want)
	}
}

// TestAudit_frontends: a call through each front-end is one line of the
// log, naming its front-end and its caller: the OS user for `run` and an
// installed tool, the client's name from initialize over stdio, the
// token's name over HTTP.
func TestAudit_frontends(t *testing.T) {
	home := installHello(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if out, err := exec.Command(bin, "--home", home, "run", "--isolation", "process", fixtures.Path("hello.wasm"), "--", "run").Output(); err != nil || string(out) != "hello, run\n" {
		t.Fatalf("run: %v %q", err, out)
	}
	if out, err := exec.Command(bin, "--home", home, "hello", "--name", "cli").Output(); err != nil || string(out) != "hello, cli\n" {
		t.Fatalf("installed tool: %v %q", err, out)
	}
	cs := stdioClient(t, ctx, home, "audit-stdio-client")
	callHello(t, ctx, cs, map[string]any{"name": "stdio"}, "hello, stdio\n")
	cs.Close()
	tok := token(t, home, "laptop")
	url := startServe(t, home)
	hc := mcptest.Connect(t, "ignored-over-http", url, mcptest.Bearer{Token: tok}, nil)
	callHello(t, ctx, hc, map[string]any{"name": "http"}, "hello, http\n")
	hc.Close()

	recs := auditJSON(t, home)
	type who struct{ Frontend, Caller, Tool string }
	want := []who{{"run", me.Username, "hello.wasm"}, {"cli", me.Username, "hello"}, {"mcp-stdio", "audit-stdio-client", "hello"}, {"mcp-http", "laptop", "hello"}}
	if len(recs) != len(want) {
		t.Fatalf("%d lines for %d calls: %+v", len(recs), len(want), recs)
	}
	for i, r := range recs {
		if got := (who{r.Frontend, r.Caller, r.Tool}); got != want[i] || r.Outcome != "exited" || len(r.Digest) != 64 {
			t.Errorf("line %d: %+v, want %+v, exited, with the module's digest", i+1, r, want[i])
		}
	}
	if got := auditJSON(t, home, "--caller", "laptop"); len(got) != 1 || got[0].Params["name"] != "http" {
		t.Errorf("audit --caller laptop: %+v", got)
	}
	verifyChain(t, home, 4)
}

// TestAudit_writeOnly: the value of a writeOnly parameter, given on the
// command line or over MCP, and a fixed env value, appear nowhere in the
// home (audit log, logs, caches); the log says they were redacted.
func TestAudit_writeOnly(t *testing.T) {
	home, mod := t.TempDir(), t.TempDir()
	wasm, err := os.ReadFile("../../modules/hello/hello.wasm")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mod, "hello.wasm"), wasm, 0o644)
	os.WriteFile(filepath.Join(mod, "manifest.json"), []byte(`{"name":"hello","version":"1.0.0","description":"greets whom it is told","module":"hello.wasm",
	"inputSchema":{"type":"object","properties":{"name":{"type":"string","writeOnly":true,"description":"who to greet"},"shout":{"type":"boolean"}}}}`), 0o644)
	if out, err := exec.Command(bin, "--home", home, "install", "--yes", mod).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	const secret = "s3cr3t-"
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--home", home, "--log-level", "debug", "hello", "--name", secret+"cli")
	cmd.Stderr = &logs
	if out, err := cmd.Output(); err != nil || string(out) != "hello, "+secret+"cli\n" {
		t.Fatalf("cli call: %v %q", err, out)
	}
	cmd = exec.Command(bin, "--home", home, "--log-level", "debug", "run", "--isolation", "process", "--env", "TOKEN="+secret+"env", fixtures.Path("hello.wasm"))
	cmd.Stderr = &logs
	if err := cmd.Run(); err != nil {
		t.Fatalf("run with a fixed env value: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mcpLogs testutil.SyncBuffer
	mc := exec.Command(bin, "--home", home, "--log-level", "debug", "mcp")
	mc.Stderr = &mcpLogs
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "wo"}, nil).Connect(ctx, &mcp.CommandTransport{Command: mc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	callHello(t, ctx, cs, map[string]any{"name": secret + "mcp"}, "hello, "+secret+"mcp\n")
	cs.Close()

	// Not a byte of the secrets anywhere in the home.
	err = filepath.WalkDir(home, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds a writeOnly or env value", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cs.Wait()
	logs.WriteString(mcpLogs.String())
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the debug logs hold a writeOnly or env value:\n%s", logs.String())
	}
	recs := auditJSON(t, home)
	if len(recs) != 3 || recs[0].Params["name"] != "[redacted]" || recs[2].Params["name"] != "[redacted]" {
		t.Errorf("audit lines: %+v, want 3 with the name redacted", recs)
	}
	verifyChain(t, home, 3)
}

// TestAudit_processes: four agent-ctl processes serving MCP over stdio,
// each making calls two at a time, all at once: no line is lost and the
// chain verifies.
func TestAudit_processes(t *testing.T) {
	const procs, calls = 4, 24
	home := installHello(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for p := range procs {
		cs := stdioClient(t, ctx, home, fmt.Sprintf("writer-%d", p))
		defer cs.Close()
		for half := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls / 2 {
					name := fmt.Sprintf("p%dh%di%d", p, half, i)
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": name}})
					if err != nil || mcptest.Text(res) != "hello, "+name+"\n" {
						t.Errorf("call %s: %v %q", name, err, mcptest.Text(res))
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	recs := auditJSON(t, home)
	seen := map[string]bool{}
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Errorf("line %d has seq %d", i+1, r.Seq)
		}
		seen[fmt.Sprint(r.Params["name"])] = true
	}
	if len(recs) != procs*calls || len(seen) != procs*calls {
		t.Errorf("%d lines (%d distinct calls) for %d calls", len(recs), len(seen), procs*calls)
	}
	verifyChain(t, home, procs*calls)
}

var metricsRE = regexp.MustCompile(`metrics at (\S+)`)

// scrape GETs url with token ("": none) and returns the status and body.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metricValue is the value of the sample line that starts with series.
func metricValue(body, series string) string {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest
		}
	}
	return ""
}

// promtool checks body with `promtool check metrics` (Debian's prometheus
// package, which make deps installs).
func promtool(t *testing.T, body string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed: `make deps` installs Debian's prometheus package")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetrics_serve: serve's /metrics takes the bearer token /mcp takes,
// parses with promtool, and counts the calls made; --metrics-listen
// serves the same on a listener of its own.
func TestMetrics_serve(t *testing.T) {
	home := installHello(t)
	tok := token(t, home, "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"on the MCP listener", nil},
		{"on a listener of its own", []string{"--metrics-listen", "127.0.0.1:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--home", home, "serve", "--listen", "127.0.0.1:0"}, tc.args...)...)
			errp := testutil.StartPiped(t, cmd, testutil.Pipes{Stderr: true}).Stderr
			var mcpURL, metricsURL string
			r := bufio.NewReader(errp)
			for mcpURL == "" || metricsURL == "" {
				line, err := r.ReadString('\n')
				if m := servingRE.FindStringSubmatch(line); m != nil {
					mcpURL = m[1]
				}
				if m := metricsRE.FindStringSubmatch(line); m != nil {
					metricsURL = m[1]
				}
				if err != nil {
					t.Fatalf("serve did not start: %v (last line %q)", err, line)
				}
			}
			go io.Copy(io.Discard, r)
			if (tc.args == nil) != strings.HasPrefix(metricsURL, strings.TrimSuffix(mcpURL, "/mcp")) {
				t.Errorf("metrics at %s, MCP at %s", metricsURL, mcpURL)
			}
			if code, _ := scrape(t, metricsURL, ""); code != http.StatusUnauthorized {
				t.Errorf("GET /metrics without a token: %d, want 401", code)
			}
			if code, _ := scrape(t, metricsURL, "not-a-token"); code != http.StatusUnauthorized {
				t.Errorf("GET /metrics with a wrong token: %d, want 401", code)
			}
			cs := mcptest.Connect(t, "m", mcpURL, mcptest.Bearer{Token: tok}, nil)
			const calls = 3
			for i := range calls {
				callHello(t, ctx, cs, map[string]any{"name": fmt.Sprint(i)}, fmt.Sprintf("hello, %d\n", i))
			}
			code, body := scrape(t, metricsURL, tok)
			if code != http.StatusOK {
				t.Fatalf("GET /metrics with the token: %d\n%s", code, body)
			}
			promtool(t, body)
			// The warm pool starts workers of its own: at least one per call.
			var starts int
			if _, err := fmt.Sscan(metricValue(body, "agentctl_worker_starts_total"), &starts); err != nil || starts < calls {
				t.Errorf("agentctl_worker_starts_total = %d (%v), want at least %d", starts, err, calls)
			}
			for series, want := range map[string]string{
				`agentctl_calls_total{outcome="exited",tool="hello"}`:           fmt.Sprint(calls),
				`agentctl_call_duration_seconds_count{tool="hello"}`:            fmt.Sprint(calls),
				`agentctl_limit_hits_total{kind="time"}`:                        "0",
				`agentctl_mcp_sessions`:                                         "1",
				`agentctl_worker_start_failures_total`:                          "0",
				`agentctl_pool_in_use`:                                          "0",
				`go_goroutines`:                                                 "",
				`agentctl_call_duration_seconds_bucket{tool="hello",le="+Inf"}`: fmt.Sprint(calls),
			} {
				got := metricValue(body, series)
				if want == "" && got == "" || want != "" && got != want {
					t.Errorf("%s = %q, want %q", series, got, want)
				}
			}
		})
	}
}

// TestMetrics_stdio: `agent-ctl mcp --metrics-listen` serves the metrics
// of its calls behind the home's tokens.
func TestMetrics_stdio(t *testing.T) {
	home := installHello(t)
	tok := token(t, home, "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(bin, "--home", home, "mcp", "--metrics-listen", "127.0.0.1:0")
	errp, _ := cmd.StderrPipe()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "s"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	r := bufio.NewReader(errp)
	var url string
	for url == "" {
		line, err := r.ReadString('\n')
		if m := metricsRE.FindStringSubmatch(line); m != nil {
			url = m[1]
		}
		if err != nil {
			t.Fatalf("mcp did not say where its metrics are: %v (last line %q)", err, line)
		}
	}
	go io.Copy(io.Discard, r)
	callHello(t, ctx, cs, map[string]any{"name": "m"}, "hello, m\n")
	if code, _ := scrape(t, url, ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d, want 401", code)
	}
	code, body := scrape(t, url, tok)
	if code != http.StatusOK || metricValue(body, `agentctl_calls_total{outcome="exited",tool="hello"}`) != "1" {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	promtool(t, body)
}

// TestAudit_offSaid: with auditing off, every serve and mcp start says so
// on stderr, and calls leave no line.
func TestAudit_offSaid(t *testing.T) {
	home := installHello(t)
	const notice = "auditing is off (--no-audit or AGENT_CTL_NO_AUDIT): calls are not recorded"
	cmd := exec.Command(bin, "--home", home, "--no-audit", "serve", "--listen", "127.0.0.1:0")
	errp := testutil.StartPiped(t, cmd, testutil.Pipes{Stderr: true}).Stderr
	var said bool
	r := bufio.NewReader(errp)
	for {
		line, err := r.ReadString('\n')
		said = said || strings.Contains(line, notice)
		if servingRE.MatchString(line) || err != nil {
			break
		}
	}
	if !said {
		t.Error("serve --no-audit did not say auditing is off before serving")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs testutil.SyncBuffer
	mc := exec.Command(bin, "--home", home, "mcp")
	mc.Env = append(os.Environ(), "AGENT_CTL_NO_AUDIT=1")
	mc.Stderr = &logs
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "off"}, nil).Connect(ctx, &mcp.CommandTransport{Command: mc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	callHello(t, ctx, cs, map[string]any{"name": "off"}, "hello, off\n")
	cs.Close()
	if !strings.Contains(logs.String(), notice) {
		t.Errorf("mcp with AGENT_CTL_NO_AUDIT=1 did not say auditing is off:\n%s", logs.String())
	}
	if recs := auditJSON(t, home); len(recs) != 0 {
		t.Errorf("calls with auditing off were recorded: %+v", recs)
	}
}
