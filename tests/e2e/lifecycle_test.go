//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/mcptest"
)

// versionDir writes a module directory of the tool greet: the fixture
// wasm, with a custom section naming the version so that every version
// has a digest of its own, and a manifest whose fields after the
// description are rest ("" for an input schema of no parameters).
func versionDir(t *testing.T, version, wasm, rest string) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(fixtures.Path(wasm))
	if err != nil {
		t.Fatal(err)
	}
	payload := "v" + version
	sec := append([]byte{byte(len(payload))}, payload...)
	b = append(append(b, 0, byte(len(sec))), sec...)
	if err := os.WriteFile(filepath.Join(dir, "module.wasm"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if rest == "" {
		rest = `"inputSchema": {"type": "object"}`
	}
	m := fmt.Sprintf(`{"name": "greet", "version": %q, "description": "a tool of the lifecycle tests", %s}`, version, rest)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// agentCtlCode runs agent-ctl with home and returns its exit code, stdout
// and stderr.
func agentCtlCode(t *testing.T, home string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errs.String()
	case err != nil:
		t.Fatalf("agent-ctl %v: %v", args, err)
	}
	return 0, out.String(), errs.String()
}

func wantRun(t *testing.T, what string, code int, out, errs string, wantCode int, wantOut, wantErr string) {
	t.Helper()
	if code != wantCode || !strings.Contains(out, wantOut) || !strings.Contains(errs, wantErr) {
		t.Fatalf("%s: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout with %q, stderr with %q", what, code, out, errs, wantCode, wantOut, wantErr)
	}
}

// TestLifecycle_grantsPinned: a module installed under the name of a
// granted one does not get its grants (the issue: an rw directory carried
// over to a version that asked for nothing); the install says what changes;
// its calls are refused, saying why and how to confirm, until confirmed;
// history lists both versions and rollback goes back to the granted one.
func TestLifecycle_grantsPinned(t *testing.T) {
	home := t.TempDir()
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "secret"), []byte("granted bytes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noAsks := `"args": {"positional": ["path"]}, "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}`
	asks := noAsks + fmt.Sprintf(`, "capabilities": {"files": [{"host": %q, "guest": "/data", "mode": "rw"}]}`, data)
	code, out, errs := agentCtlCode(t, home, "install", "--yes", versionDir(t, "1.0.0", "cat.wasm", asks))
	wantRun(t, "install 1.0.0", code, out, errs, 0, "granted", "")
	code, out, errs = agentCtlCode(t, home, "greet", "/data/secret")
	wantRun(t, "call 1.0.0", code, out, errs, 0, "granted bytes", "")

	// 0.9.0: another module, asking for nothing.
	code, out, errs = agentCtlCode(t, home, "install", versionDir(t, "0.9.0", "cat.wasm", noAsks))
	wantRun(t, "install 0.9.0", code, out, errs, 0, "replacing greet 1.0.0 → 0.9.0 (downgrade)", "")
	for _, want := range []string{"it asks for no capabilities", "granted, for 1.0.0", "files: " + data + " at /data (rw)",
		"these grants are held", "agent-ctl grant greet --confirm"} {
		if !strings.Contains(out, want) {
			t.Errorf("install 0.9.0 does not say %q:\n%s", want, out)
		}
	}
	code, out, errs = agentCtlCode(t, home, "greet", "/data/secret")
	wantRun(t, "call 0.9.0 before confirming", code, out, errs, 126, "", "grants were given for 1.0.0")
	if strings.Contains(out, "granted bytes") || !strings.Contains(errs, "agent-ctl grant greet --confirm") || !strings.Contains(errs, "not signed") {
		t.Fatalf("call 0.9.0 before confirming: stdout %q stderr %q", out, errs)
	}
	// Over MCP too.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e"}, nil).Connect(ctx, &mcp.CommandTransport{Command: exec.Command(bin, "--home", home, "mcp")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"path": "/data/secret"}})
	if err != nil || !res.IsError || !strings.Contains(mcptest.Text(res), "agent-ctl grant greet --confirm") || strings.Contains(mcptest.Text(res), "granted bytes") {
		t.Fatalf("MCP call of 0.9.0 before confirming: %v %q", err, mcptest.Text(res))
	}
	cs.Close()
	// A plain grant must not confirm them on the way.
	code, out, errs = agentCtlCode(t, home, "grant", "greet", "--env", "TZ")
	wantRun(t, "grant while held", code, out, errs, 125, "", "add --confirm")

	code, out, errs = agentCtlCode(t, home, "history", "greet", "--json")
	wantRun(t, "history", code, out, errs, 0, "", "")
	var hist []struct {
		Version string  `json:"version"`
		Digest  string  `json:"digest"`
		Signer  *string `json:"signer"`
		Current bool    `json:"current"`
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Version != "0.9.0" || !hist[0].Current || hist[1].Version != "1.0.0" || hist[1].Current || hist[0].Signer != nil || len(hist[1].Digest) != 64 {
		t.Fatalf("history: %s", out)
	}
	code, out, errs = agentCtlCode(t, home, "history", "greet")
	wantRun(t, "history (text)", code, out, errs, 0, "unsigned", "")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "current") || !strings.Contains(lines[1], "0.9.0") || !strings.Contains(lines[2], hist[1].Digest[:12]) {
		t.Errorf("history:\n%s", out)
	}

	// Back to the version granted: its grants apply again.
	code, out, errs = agentCtlCode(t, home, "rollback", "greet")
	wantRun(t, "rollback", code, out, errs, 0, "rolled back greet 0.9.0 → 1.0.0", "")
	code, out, errs = agentCtlCode(t, home, "greet", "/data/secret")
	wantRun(t, "call after the rollback", code, out, errs, 0, "granted bytes", "")

	// Forward again by digest, and confirm.
	code, out, errs = agentCtlCode(t, home, "rollback", "greet", "--to", "sha256:"+hist[0].Digest[:12])
	wantRun(t, "rollback --to sha256:", code, out, errs, 0, "these grants are held", "")
	code, out, errs = agentCtlCode(t, home, "grant", "greet", "--confirm")
	wantRun(t, "grant --confirm", code, out, errs, 0, "greet is granted", "confirmed for greet 0.9.0")
	code, out, errs = agentCtlCode(t, home, "greet", "/data/secret")
	wantRun(t, "call 0.9.0 after confirming", code, out, errs, 0, "granted bytes", "")

	// An upgrade says so.
	code, out, errs = agentCtlCode(t, home, "install", versionDir(t, "1.2.0", "cat.wasm", noAsks))
	wantRun(t, "install 1.2.0", code, out, errs, 0, "replacing greet 0.9.0 → 1.2.0 (upgrade)", "")
	code, out, errs = agentCtlCode(t, home, "rollback", "greet", "--to", "7.0.0")
	wantRun(t, "rollback to a version not kept", code, out, errs, 125, "", "7.0.0 is not among the versions kept")
	code, out, errs = agentCtlCode(t, home, "rollback", "nosuch")
	wantRun(t, "rollback of a tool not installed", code, out, errs, 127, "", "not installed")
}

// TestLifecycle_changedOnDisk: an installed module whose file changed on
// disk after install (rewritten in place, or replaced by another file) is
// refused before it runs, by the CLI and by a running MCP server whose
// digest cache knew the file as it was.
func TestLifecycle_changedOnDisk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(module string) error
	}{
		{"rewritten in place", func(module string) error {
			f, err := os.OpenFile(module, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(fixtures.Path("env.wasm"))
			if err == nil {
				_, err = f.Write(b)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		}},
		{"replaced", func(module string) error {
			b, err := os.ReadFile(fixtures.Path("env.wasm"))
			if err != nil {
				return err
			}
			tmp := module + ".new"
			if err := os.WriteFile(tmp, b, 0o600); err != nil {
				return err
			}
			return os.Rename(tmp, module)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			agentCtl(t, home, "install", versionDir(t, "1.0.0", "hello.wasm", ""))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e"}, nil).Connect(ctx, &mcp.CommandTransport{Command: exec.Command(bin, "--home", home, "mcp")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{}})
			if err != nil || res.IsError || mcptest.Text(res) != "hello, world\n" {
				t.Fatalf("MCP call before: %v %q", err, mcptest.Text(res))
			}
			target, err := os.Readlink(filepath.Join(home, "modules", "greet"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.tamper(filepath.Join(home, "modules", target, "module.wasm")); err != nil {
				t.Fatal(err)
			}
			code, out, errs := agentCtlCode(t, home, "greet")
			wantRun(t, "CLI call after the change", code, out, errs, 126, "", "it was changed on disk")
			if strings.Contains(out, "env:") {
				t.Fatalf("the changed module ran: %q", out)
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{}})
			if err != nil || !res.IsError || !strings.Contains(mcptest.Text(res), "changed on disk") {
				t.Fatalf("MCP call after the change: %v %q", err, mcptest.Text(res))
			}
		})
	}
}

// TestLifecycle_rollbackUnderLoad: rollbacks back and forth while clients
// call the tool, through the CLI and through an MCP server: every call is
// answered by exactly one of the two versions, whole, and the MCP client is
// told of each switch (notifications/tools/list_changed).
func TestLifecycle_rollbackUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns hundreds of workers; skipped in -short")
	}
	home := t.TempDir()
	agentCtl(t, home, "install", versionDir(t, "1.0.0", "hello.wasm", ""))
	agentCtl(t, home, "install", versionDir(t, "2.0.0", "env.wasm", ""))
	answers := map[string]string{"hello, world\n": "1.0.0", "env: 0 variables\n": "2.0.0"}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	changed := make(chan struct{}, 100)
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: exec.Command(bin, "--home", home, "mcp")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	const rollbacks = 20
	var mu sync.Mutex
	seen := map[string]int{}
	var failures []string
	done := make(chan struct{})
	calls := make(chan struct{}, 1000)
	record := func(via, text string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if v, ok := answers[text]; ok && err == nil {
			seen[v]++
		} else {
			failures = append(failures, fmt.Sprintf("%s: %q %v", via, text, err))
		}
		select {
		case calls <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if i == 0 {
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{}})
					if err == nil && res.IsError {
						err = errors.New("isError")
					}
					text := ""
					if res != nil {
						text = mcptest.Text(res)
					}
					record("mcp", text, err)
					continue
				}
				cmd := exec.Command(bin, "--home", home, "greet")
				out, err := cmd.Output()
				record("cli", string(out), err)
			}
		}()
	}
	to := []string{"1.0.0", "2.0.0"}
	notified := 0
	for r := range rollbacks {
		// Each switch with calls on either side of it.
		for range 2 {
			select {
			case <-calls:
			case <-ctx.Done():
				t.Fatal("calls stopped")
			}
		}
		agentCtl(t, home, "rollback", "greet", "--to", to[r%2])
		select {
		case <-changed:
			notified++
		case <-ctx.Done():
			t.Fatalf("no list_changed after rollback %d", r+1)
		}
	}
	close(done)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d calls not answered by exactly one version, e.g. %s", len(failures), failures[0])
	}
	t.Logf("%d rollbacks, %d list_changed; calls answered by 1.0.0: %d, by 2.0.0: %d", rollbacks, notified, seen["1.0.0"], seen["2.0.0"])
	if seen["1.0.0"] == 0 || seen["2.0.0"] == 0 {
		t.Errorf("one version never answered: %v", seen)
	}
}

// TestLifecycle_removeBroken: a tool whose installed manifest is corrupt
// says so when called, with how to repair or remove it, and is removed;
// an unknown name exits 127.
func TestLifecycle_removeBroken(t *testing.T) {
	home := t.TempDir()
	agentCtl(t, home, "install", versionDir(t, "1.0.0", "hello.wasm", ""))
	target, err := os.Readlink(filepath.Join(home, "modules", "greet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "modules", target, "manifest.json"), []byte(`{"name": `), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := agentCtlCode(t, home, "greet")
	wantRun(t, "call of the corrupt tool", code, out, errs, 126, "", "agent-ctl remove greet")
	if !strings.Contains(errs, "manifest.json") || strings.Contains(errs, "No help topic") {
		t.Fatalf("call of the corrupt tool: %q", errs)
	}
	code, out, errs = agentCtlCode(t, home, "history", "greet")
	wantRun(t, "history of the corrupt tool", code, out, errs, 0, "damaged", "")
	code, out, errs = agentCtlCode(t, home, "remove", "greet")
	wantRun(t, "remove", code, out, errs, 0, "removed greet", "")
	code, out, errs = agentCtlCode(t, home, "greet")
	wantRun(t, "call after remove", code, out, errs, 127, "", "no tool or command named greet")
	code, out, errs = agentCtlCode(t, home, "nosuchcommand")
	wantRun(t, "unknown name", code, out, errs, 127, "", "no tool or command named nosuchcommand")
}
