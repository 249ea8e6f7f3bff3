package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"golang.org/x/sys/unix"
)

// TestOwnCommandsLoadNoTool checks that agent-ctl's own commands do not
// load every installed tool (with 1,000 tools that made each invocation
// take 8 to 18 times one with none): an inotify watch on the one
// installed tool's manifest reports whoever opens it, and `history` of
// another name must not. (A named pipe for the manifest used to block
// whoever loaded it; it is now refused at once, which tells nothing.)
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
	in, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, filepath.Join(tool.Dir, "manifest.json"), unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
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
			// The call has returned: any open of the manifest is queued.
			if n, _ := unix.Read(in, make([]byte, 4096)); n > 0 {
				t.Errorf("agent-ctl %v loaded the installed tools, which it does not need", tc.args)
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
