//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agent-ctl/agent-ctl/tests/mcptest"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// dropHello writes modules/hello at version (with the module of the
// language given: hello.wasm is C, hello-rust.wasm Rust; both answer the
// same) into drops/hello, each file written aside and renamed in, as a
// deployment tool does.
func dropHello(t *testing.T, drops, version, module string) {
	t.Helper()
	dir := filepath.Join(drops, "hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	man, err := os.ReadFile("../../modules/hello/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	man = []byte(strings.Replace(string(man), `"version": "1.0.0"`, `"version": "`+version+`"`, 1))
	wasm, err := os.ReadFile("../../modules/hello/" + module)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"hello.wasm": wasm, "manifest.json": man} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// installedVersion is the version `agent-ctl list --json` shows for hello.
func installedVersion(t *testing.T, home string) string {
	t.Helper()
	out, err := exec.Command(bin, "--home", home, "list", "--json").Output()
	if err != nil {
		return ""
	}
	var list []struct{ Name, Version string }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	for _, e := range list {
		if e.Name == "hello" {
			return e.Version
		}
	}
	return ""
}

func waitUntil(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Minute {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestWatch_swapsUnderCalls runs `agent-ctl mcp --watch DIR` as an MCP
// client starts it (the go-sdk client, over stdio) and calls hello in a
// loop while its drop is replaced 20 times (alternating the C and the Rust
// build, so the module's digest changes too): no call fails or goes
// unanswered, the client sees tools/list_changed, a broken drop leaves the
// last version answering and `agent-ctl list` reports it, and removing the
// drop removes the tool.
func TestWatch_swapsUnderCalls(t *testing.T) {
	home, drops := t.TempDir(), t.TempDir()
	dropHello(t, drops, "1.0.0", "hello.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.Command(bin, "--home", home, "--log-level", "info", "mcp", "--watch", drops)
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	var listChanged atomic.Int32
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-watch"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { listChanged.Add(1) },
	})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	waitUntil(t, "hello 1.0.0 installed from the drop", func() bool { return installedVersion(t, home) == "1.0.0" })
	waitUntil(t, "hello published", func() bool {
		res, err := cs.ListTools(ctx, nil)
		return err == nil && slices.ContainsFunc(res.Tools, func(tl *mcp.Tool) bool { return tl.Name == "hello" })
	})

	var calls, failures atomic.Int32
	var failMu sync.Mutex
	var firstFailure string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 2 { // two clients' worth of calls in flight
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				who := fmt.Sprintf("c%d-%d", c, i)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": who}})
				calls.Add(1)
				if err != nil || res.IsError || mcptest.Text(res) != "hello, "+who+"\n" {
					failures.Add(1)
					failMu.Lock()
					if firstFailure == "" && err != nil {
						firstFailure = fmt.Sprintf("call %s: %v", who, err)
					} else if firstFailure == "" {
						firstFailure = fmt.Sprintf("call %s: isError %v, text %q", who, res.IsError, mcptest.Text(res))
					}
					failMu.Unlock()
				}
			}
		})
	}
	var lat []time.Duration
	for i := 1; i <= 20; i++ {
		v := fmt.Sprintf("1.0.%d", i)
		module := "hello.wasm"
		if i%2 == 1 {
			module = "hello-rust.wasm"
		}
		before := calls.Load()
		dropHello(t, drops, v, module)
		lat = append(lat, waitUntil(t, "hello "+v+" installed", func() bool { return installedVersion(t, home) == v }))
		// Calls went on across the swap.
		waitUntil(t, "a call after the swap", func() bool { return calls.Load() > before })
	}

	// A broken drop: the last version keeps answering, list says why.
	before := calls.Load()
	if err := os.WriteFile(filepath.Join(drops, "hello", "hello.wasm"), []byte("\x00asm\x02\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	var listErr string
	waitUntil(t, "the broken drop reported by list", func() bool {
		out, err := exec.Command(bin, "--home", home, "list").CombinedOutput()
		listErr = string(out)
		return err == nil && strings.Contains(listErr, "did not install") && strings.Contains(listErr, "hello keeps its installed version")
	})
	waitUntil(t, "calls after the broken drop", func() bool { return calls.Load() > before+5 })
	if v := installedVersion(t, home); v != "1.0.20" {
		t.Errorf("after a broken drop hello is at %q, want 1.0.20 still", v)
	}
	if !strings.Contains(stderr.String(), "drop not installed") {
		t.Errorf("no log line for the broken drop:\n%s", stderr.String())
	}
	close(stop)
	wg.Wait()

	t.Logf("%d calls during 20 swaps and a broken drop, %d failed; list_changed seen %d times; swap to installed: %s",
		calls.Load(), failures.Load(), listChanged.Load(), summary(lat))
	if failures.Load() != 0 {
		t.Errorf("%d of %d calls failed; the first: %s", failures.Load(), calls.Load(), firstFailure)
	}
	if listChanged.Load() == 0 {
		t.Error("the client saw no notifications/tools/list_changed")
	}

	// Removing the drop removes the tool, and the client hears of it.
	seen := listChanged.Load()
	if err := os.RemoveAll(filepath.Join(drops, "hello")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "hello removed", func() bool { return installedVersion(t, home) == "" })
	waitUntil(t, "list_changed for the removal", func() bool { return listChanged.Load() > seen })
	res, err := cs.ListTools(ctx, nil)
	if err != nil || len(res.Tools) != 0 {
		t.Errorf("tools/list after the drop went: %v %+v", err, res)
	}
}

// TestWatch_serve: serve takes --watch as mcp does.
func TestWatch_serve(t *testing.T) {
	home, drops := t.TempDir(), t.TempDir()
	startServe(t, home, "--no-auth", "--watch", drops)
	dropHello(t, drops, "2.0.0", "hello.wasm")
	waitUntil(t, "hello 2.0.0 installed by serve's watch", func() bool { return installedVersion(t, home) == "2.0.0" })
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("median %s, max %s (polled every 20ms through list --json)", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
