package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// auditRecords reads a node's audit log: none while the node has
// recorded nothing yet.
func auditRecords(t *testing.T, home string) []audit.Record {
	t.Helper()
	var out []audit.Record
	if err := audit.Read(supervisor.AuditDir(home), nil, func(r *audit.Record, _ []byte) error {
		out = append(out, *r)
		return nil
	}); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// TestCancel checks the cancel message: a client whose context ends
// (Ctrl-C in `fleet call`) has the node stop the running call at once, and
// the node's audit log says it was cancelled by the controller.
func TestCancel(t *testing.T) {
	c, ctlHome := startController(t)
	a, _, home := nodeWith(t, c, "alpha", fleet.AgentOptions{})
	cl := adminClient(t, ctlHome)

	ctx, cancel := context.WithCancelCause(context.Background())
	done := runningSleep(t, ctx, cl, a)
	t0 := time.Now()
	cancel(errors.New("interrupted"))
	r := <-done
	if !strings.Contains(r.Error, "cancelled (interrupted)") || r.ExitCode == 0 {
		t.Errorf("the client's result of a cancelled call: %+v, want a cancelled error", r)
	}
	// The node stops the call: within poll's 20 s, before the tool's own
	// 30 s time limit would end it.
	poll(t, "the node still runs the cancelled call", func() bool { return a.Running() == 0 })
	var rec *audit.Record
	poll(t, "the node's audit log has no record of the cancelled call", func() bool {
		recs := auditRecords(t, home)
		if len(recs) == 0 {
			return false
		}
		rec = &recs[len(recs)-1]
		return true
	})
	if rec.Tool != "sleep" || rec.Outcome != "cancelled" || rec.Error != "cancelled by the controller" || rec.CallID == "" || rec.Caller != "controller" {
		t.Errorf("the audit record of the cancelled call: %+v, want sleep, outcome cancelled, error \"cancelled by the controller\", a call id", rec)
	}
	if d := time.Since(t0); d > 60*time.Second {
		t.Errorf("the cancelled call ended after %s", d)
	}
}

// TestCallID_repeat checks the agent's dedupe window: a request repeated
// with the same call ID, while it runs or after it ended, is answered with
// the one call's result and runs once (one audit record); the same ID on
// another request is refused; a cancel that arrives before its request
// keeps the request from running.
func TestCallID_repeat(t *testing.T) {
	c, _ := startController(t)
	_, _, home := nodeWith(t, c, "alpha", fleet.AgentOptions{Logger: slogStderr()})
	nc, err := nats.Connect(c.URL(), nats.UserCredentials(c.AdminCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ask := func(t *testing.T, inbox string, req fleet.CallRequest) {
		t.Helper()
		b, _ := json.Marshal(req)
		if err := nc.PublishRequest("agentctl.call.alpha", inbox, b); err != nil {
			t.Fatal(err)
		}
	}
	answer := func(t *testing.T, sub *nats.Subscription) fleet.CallResult {
		t.Helper()
		m, err := sub.NextMsg(60 * time.Second)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		var r fleet.CallResult
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	runs := func(id string) int {
		n := 0
		for _, r := range auditRecords(t, home) {
			if r.CallID == id {
				n++
			}
		}
		return n
	}

	req := fleet.CallRequest{Tool: "sleep", Argv: []string{"1500"}, ID: "repeat-1", Timeout: 60}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox + ".*")
	if err != nil {
		t.Fatal(err)
	}
	// The first request and two repeats on new reply subjects, as a client
	// sends them, while the call runs: one answer, to the latest.
	for i := range 3 {
		ask(t, inbox+"."+strconv.Itoa(i), req)
	}
	r1 := answer(t, sub)
	if r1.ExitCode != 0 || !strings.Contains(r1.Stdout, "awake") {
		t.Errorf("the answer to a repeated request: %+v, want the sleep's", r1)
	}
	if m, err := sub.NextMsg(2 * time.Second); err == nil {
		t.Errorf("a repeated request was answered twice: %s %s", m.Subject, m.Data)
	}
	// A repeat after the call ended gets the kept answer.
	ask(t, inbox+".9", req)
	if r := answer(t, sub); r.Duration != r1.Duration || r.Stdout != r1.Stdout {
		t.Errorf("a repeat after the end: %+v, want the kept answer %+v", r, r1)
	}
	if n := runs("repeat-1"); n != 1 {
		t.Errorf("the repeated call ran %d times (audit records with its id), want 1", n)
	}

	for _, tc := range []struct {
		name string
		req  fleet.CallRequest
		want string
	}{
		{"same id, another request", fleet.CallRequest{Tool: "hello", Argv: []string{"x"}, ID: "repeat-1"}, "used for another request"},
		{"malformed id", fleet.CallRequest{Tool: "hello", Argv: []string{"x"}, ID: "a.b"}, "malformed call id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ask(t, inbox+".x", tc.req)
			if r := answer(t, sub); r.ExitCode != 125 || !strings.Contains(r.Error, tc.want) {
				t.Errorf("%+v, want exit 125 and %q", r, tc.want)
			}
		})
	}

	// A cancel ahead of its request (the request repeated through another
	// server after the client gave up): the request does not run.
	b, _ := json.Marshal(fleet.CallRequest{Cancel: "early-1"})
	if err := nc.Publish("agentctl.call.alpha", b); err != nil {
		t.Fatal(err)
	}
	ask(t, inbox+".y", fleet.CallRequest{Tool: "hello", Argv: []string{"x"}, ID: "early-1"})
	if r := answer(t, sub); r.ExitCode != 125 || !strings.Contains(r.Error, "cancelled by the controller before it started") {
		t.Errorf("a request after its cancel: %+v, want it refused", r)
	}
	if n := runs("early-1"); n != 0 {
		t.Errorf("a request cancelled ahead ran %d times", n)
	}
}
