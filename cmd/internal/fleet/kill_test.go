package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// poll waits for cond, failing the test after 20 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, cond, "%s", what)
}

// toolDigest waits (up to a minute) for node's status to list tool and
// returns its digest: a node that has just joined may not have published
// its status yet.
func toolDigest(t *testing.T, cl *fleet.Client, node, tool string) string {
	t.Helper()
	var digest string
	testutil.Eventually(t, time.Minute, func() bool {
		nodes, err := cl.Nodes(context.Background())
		if err != nil {
			return false
		}
		for _, n := range nodes {
			for _, ts := range n.Tools {
				if n.Node == node && ts.Name == tool {
					digest = ts.Digest
					return true
				}
			}
		}
		return false
	}, "node %s lists no tool %s", node, tool)
	return digest
}

// runningSleep starts a long sleep call on node alpha (agent a) under
// ctx and returns, once the node runs it, where its result will arrive:
// the tests stop it (a kill, a cancel) long before it ends by itself.
func runningSleep(t *testing.T, ctx context.Context, cl *fleet.Client, a *fleet.Agent) <-chan fleet.CallResult {
	t.Helper()
	done := make(chan fleet.CallResult, 1)
	go func() {
		done <- cl.Call(ctx, []string{"alpha"}, fleet.CallRequest{Tool: "sleep", Argv: []string{"120000"}}, 5*time.Minute)[0]
	}()
	poll(t, "the sleep call is not running", func() bool { return a.Running() == 1 })
	return done
}

// killRunningSleep kills the module sleep (its digest) fleet-wide for
// reason while a call of it runs on alpha, and returns that call's result.
func killRunningSleep(t *testing.T, cl *fleet.Client, a *fleet.Agent, sleep, reason string) fleet.CallResult {
	t.Helper()
	done := runningSleep(t, context.Background(), cl, a)
	if err := cl.Kill(context.Background(), sleep, reason); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// TestKill checks the kill switch: a running call of the killed module is
// stopped, later calls are refused while other modules still run, fleet ls
// shows it, a node that joins later learns it, and a node keeps its list
// across a restart even when the controller's list is lost.
func TestKill(t *testing.T) {
	c, home := startController(t)
	state := t.TempDir()
	a, local, nodeHome := nodeWith(t, c, "alpha", fleet.AgentOptions{StateDir: state})
	cl, err := fleet.Dial(c.URL(), c.AdminCreds(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	sleep := toolDigest(t, cl, "alpha", "sleep")

	if err := cl.Kill(ctx, "sha256:1234", ""); err == nil {
		t.Error("a malformed digest was accepted")
	}

	r := killRunningSleep(t, cl, a, sleep, "test")
	if r.ExitCode != supervisor.ExitInvalid || !strings.Contains(r.Error, "killed fleet-wide") || r.Duration > 30 {
		t.Errorf("the running call of a killed module: %+v, want it stopped with exit 126 and a kill message", r)
	}
	if err := cl.Kill(ctx, sleep, "again"); err != nil {
		t.Errorf("killing twice: %v", err)
	}

	r = cl.Call(ctx, []string{"alpha"}, fleet.CallRequest{Tool: "sleep", Argv: []string{"1"}}, 30*time.Second)[0]
	if r.ExitCode != supervisor.ExitInvalid || !strings.Contains(r.Error, "killed fleet-wide") {
		t.Errorf("a later call of the killed module: %+v, want it refused", r)
	}
	if r := cl.Call(ctx, []string{"alpha"}, fleet.CallRequest{Tool: "hello", Argv: []string{"x"}}, 30*time.Second)[0]; r.ExitCode != 0 {
		t.Errorf("another module after the kill: %+v, want it to run", r)
	}
	// The node's audit log records the fleet's calls as the controller's,
	// the one stopped by the kill too.
	logs, _ := filepath.Glob(filepath.Join(supervisor.AuditDir(nodeHome), "*"))
	var log []byte
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		log = append(log, b...)
	}
	if n := strings.Count(string(log), `"caller":"controller"`); n < 2 || !strings.Contains(string(log), `"frontend":"fleet"`) {
		t.Errorf("the node's audit log has %d calls by the controller, want 2 or more, from the fleet front-end:\n%s", n, log)
	}
	poll(t, "fleet ls does not show the kill", func() bool {
		nodes, err := cl.Nodes(ctx)
		return err == nil && len(nodes) == 1 && slices.Contains(nodes[0].Killed, sleep)
	})

	// A node that joins after the kill learns it at once.
	b := node(t, c, "beta", nil)
	defer b.Close(ctx)
	if r := cl.Call(ctx, []string{"beta"}, fleet.CallRequest{Tool: "sleep", Argv: []string{"1"}}, 30*time.Second)[0]; r.ExitCode != supervisor.ExitInvalid {
		t.Errorf("a node that joined after the kill: %+v, want the module refused", r)
	}

	// alpha keeps its list: it refuses the module after a restart even
	// when the controller has lost its own.
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(fleet.Dir(home), "killed.json")); err != nil {
		t.Fatal(err)
	}
	a2, err := fleet.StartAgent(local, fleet.AgentOptions{URL: c.URL(), Name: "alpha", Creds: joinToken(t, c, "alpha", 0), StateDir: state, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close(ctx)
	if r := cl.Call(ctx, []string{"alpha"}, fleet.CallRequest{Tool: "sleep", Argv: []string{"1"}}, 30*time.Second)[0]; r.ExitCode != supervisor.ExitInvalid {
		t.Errorf("after a restart: %+v, want the module still refused", r)
	}
}
