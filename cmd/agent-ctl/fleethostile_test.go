package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
)

// TestFleet_hostileNode: a node publishes its own status and answers its
// own calls, so a compromised node chooses its labels, its tools' names
// and versions, and the error a call reports. fleet ls and fleet call show
// them escaped: the escape sequences in them never reach the operator's
// terminal raw. The tool's own stderr passes through as it is.
func TestFleet_hostileNode(t *testing.T) {
	home, creds := t.TempDir(), filepath.Join(t.TempDir(), "a.creds")
	ctl, err := fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	code, out, errs := runIn(t, home, "", "fleet", "join-token", "a", "--out", creds)
	expect(t, "fleet join-token", code, out, errs, 0, "", "")
	nc, err := nats.Connect(ctl.URL(), nats.UserCredentials(creds), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := json.Marshal(fleet.Status{
		Node:     "a",
		Labels:   map[string]string{"role\x1b[2J": "web\x1b]52;c;cHduZWQ=\x07"},
		Tools:    []fleet.ToolStatus{{Name: "hello\r\u202e", Version: "1.0\x1b[8m"}, {Name: "broken\x1b]0;t\x07", Error: "no"}},
		Time:     time.Now(),
		Interval: 60,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Published until the controller has it: its subscription may not be
	// in place at the first publish.
	deadline := time.Now().Add(time.Minute)
	for {
		if err := nc.Publish("agentctl.status.a", st); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		code, out, errs = runIn(t, home, "", "fleet", "ls")
		if code != 0 {
			t.Fatalf("fleet ls: exit %d: %s", code, errs)
		}
		if strings.Contains(out, "\na ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet ls never listed node a: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkShown(t, "fleet ls", out, `role\x1b[2J=web\x1b]52;c;cHduZWQ=\a`, `hello\r\u202e@1.0\x1b[8m`, `broken\x1b]0;t\a(broken)`)

	// The node answers a call with an error of its choosing.
	sub, err := nc.Subscribe("agentctl.call.a", func(m *nats.Msg) {
		b, _ := json.Marshal(fleet.CallResult{Node: "a", ExitCode: 1, Stderr: "tool\x1b[1m\n", Error: "gone\x1b[2J\rall fine"})
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runIn(t, home, "", "fleet", "call", "--nodes", "a", "hello")
	if code != 1 {
		t.Fatalf("fleet call: exit %d, want the node's 1; stdout %q stderr %q", code, out, errs)
	}
	own, ok := strings.CutPrefix(errs, "tool\x1b[1m\n")
	if !ok {
		t.Fatalf("fleet call: stderr %q, want the tool's stderr first, unchanged", errs)
	}
	checkShown(t, "fleet call", own, `agent-ctl: a: gone\x1b[2J\rall fine`)
}

// checkShown fails t unless out holds no control byte but newlines, and
// each of want.
func checkShown(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for i := 0; i < len(out); i++ {
		if c := out[i]; (c < 0x20 && c != '\n') || c == 0x7f {
			t.Fatalf("%s: %q holds control byte 0x%02x at %d", what, out, c, i)
		}
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: %q, want it to hold %q", what, out, w)
		}
	}
}
