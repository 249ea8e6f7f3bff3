package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// TestOwnCommandsLoadNoTool checks that agent-ctl's own commands do not
// load every installed tool (with 1,000 tools that made each invocation
// take 8 to 18 times one with none): the one tool installed has a FIFO
// for a manifest, which blocks whoever loads it, and `history` of
// another name must still answer at once.
func TestOwnCommandsLoadNoTool(t *testing.T) {
	home := t.TempDir()
	st, err := store.Open(filepath.Join(home, "modules"))
	if err != nil {
		t.Fatal(err)
	}
	tool, err := st.Install(fixtures.ToolDir(t, "blocker", "hello.wasm", `"inputSchema": {"type": "object"}`))
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(tool.Dir, "manifest.json")
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, unblock a reader before the test ends.
	t.Cleanup(func() {
		if f, err := os.OpenFile(manifest, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, tc := range []struct {
		args []string
		ok   func(code int, out, errs string) bool
	}{
		{[]string{"history", "other"}, func(code int, _, errs string) bool { return code != 0 && strings.Contains(errs, "not installed") }},
		{[]string{"--version"}, func(code int, out, _ string) bool { return code == 0 && strings.Contains(out, version) }},
	} {
		done := make(chan bool, 1)
		go func() {
			code, out, errs := runIn(t, home, "", tc.args...)
			done <- tc.ok(code, out, errs)
		}()
		select {
		case ok := <-done:
			if !ok {
				t.Errorf("agent-ctl %v: wrong answer", tc.args)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("agent-ctl %v blocked loading the installed tools, which it does not need", tc.args)
		}
	}
}

func TestNeedsTools(t *testing.T) {
	app := newApp(strings.NewReader(""), io.Discard, io.Discard)
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"agent-ctl"}, true},
		{[]string{"agent-ctl", "--help"}, true},
		{[]string{"agent-ctl", "--version"}, false},
		{[]string{"agent-ctl", "--home", "/x", "-v"}, false},
		{[]string{"agent-ctl", "--version", "--help"}, true},
		{[]string{"agent-ctl", "list"}, false},
		{[]string{"agent-ctl", "--home", "/x", "install", "dir"}, false},
		{[]string{"agent-ctl", "help", "hello"}, true},
		{[]string{"agent-ctl", "hello", "--name", "x"}, true},
		{[]string{"agent-ctl", "grant", "--generate-bash-completion"}, true},
	} {
		_, cmd := globalFlags(app, tc.args)
		if got := needsTools(app, tc.args, cmd); got != tc.want {
			t.Errorf("%q: needsTools %v, want %v", tc.args, got, tc.want)
		}
	}
}
