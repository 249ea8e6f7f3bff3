package fleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
)

// TestKill_auditLog: an agent that receives a kill writes a line of its
// own in its audit log (outcome "killed", the digest, the reason and the
// calls it stopped) once, before the line of the call it stopped, which
// says "cancelled" because of the kill.
func TestKill_auditLog(t *testing.T) {
	c, ctlHome := startController(t)
	a, _, home := nodeWith(t, c, "alpha", fleet.AgentOptions{})
	cl := adminClient(t, ctlHome)
	ctx := context.Background()
	sleep := toolDigest(t, cl, "alpha", "sleep")

	r := killRunningSleep(t, cl, a, sleep, "bad build")
	if err := cl.Kill(ctx, sleep, "again"); err != nil {
		t.Fatal(err)
	}
	// The second kill changes nothing: still one line.
	if r := cl.Call(ctx, []string{"alpha"}, fleet.CallRequest{Tool: "hello", Argv: []string{"x"}}, time.Minute)[0]; r.ExitCode != 0 {
		t.Fatalf("hello after the kill: %+v", r)
	}

	var kills []audit.Record
	var call *audit.Record
	for _, rec := range auditRecords(t, home) {
		switch {
		case rec.Outcome == "killed":
			kills = append(kills, rec)
		case rec.CallID == r.ID:
			call = &rec
		}
	}
	if len(kills) != 1 {
		t.Fatalf("%d kill lines in the node's audit log, want 1: %+v", len(kills), kills)
	}
	k := kills[0]
	if "sha256:"+k.Digest != sleep || k.Caller != "controller" || k.Frontend != "fleet" ||
		!strings.Contains(k.Error, "bad build") || !strings.Contains(k.Error, "1 running call(s) stopped") {
		t.Errorf("the kill line: %+v, want the digest, the reason and one call stopped", k)
	}
	if call == nil {
		t.Fatalf("no audit line for the stopped call %s", r.ID)
	}
	if call.Outcome != "cancelled" || !strings.Contains(call.Error, "killed fleet-wide") || !strings.Contains(call.Error, sleep) || call.Seq < k.Seq {
		t.Errorf("the stopped call's line: %+v, want cancelled by the kill, after the kill's line (seq %d)", call, k.Seq)
	}
}
