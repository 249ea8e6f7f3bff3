package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// within polls cond until it holds or d passes, and says which. Unlike
// poll it does not stop the test, so that each part of a test reports.
func within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dialOnce connects to url with creds once, without reconnecting.
func dialOnce(url, creds string) error {
	nc, err := nats.Connect(url, nats.UserCredentials(creds), nats.NoReconnect(), nats.Timeout(20*time.Second))
	if err == nil {
		nc.Close()
	}
	return err
}

// TestCluster_state: revocations and kills reach the whole cluster. Three
// controller processes (homes sharing one identity, the join tokens
// issued and revoked in the first home only). A join token revoked on
// node A is refused at the next connect to B and to C, where the agent
// was connected. A kill issued while C is stopped reaches C when it
// restarts: once A and B are stopped, an agent that joins C alone, with a
// home of its own that never heard of the kill, refuses the module.
func TestCluster_state(t *testing.T) {
	c := startCluster(t)
	id, homes, urls, ctls, startCtl := c.id, c.homes, c.urls, c.ctls, c.start
	var err error
	token := func(node string) string { return fleet.JoinTokenFile(t, id, node, 0) }
	// r1 joins through B only, once every node takes its token.
	r1 := token("r1")
	for i := range 3 {
		var last error
		if !within(time.Minute, func() bool { last = dialOnce(urls[i], r1); return last == nil }) {
			t.Fatalf("r1's token refused by node %d before the revocation: %v", i, last)
		}
	}
	home := t.TempDir()
	installTools(t, home)
	startHelper(t, helperSpec{Role: "agent", Home: home, URL: urls[1], Name: "r1", Creds: r1})

	var cl *fleet.Client
	poll(t, "node A cannot be reached", func() bool {
		cl, err = fleet.Dial(urls[0], filepath.Join(fleet.Dir(homes[0]), fleet.AdminCreds), "")
		return err == nil
	})
	defer cl.Close()
	ctx := context.Background()
	// Ready when the status stream (replicated: the cluster has a quorum)
	// shows r1 online.
	if !within(2*time.Minute, func() bool {
		ns, err := cl.Nodes(ctx)
		return err == nil && len(ns) == 1 && ns[0].Online
	}) {
		t.Fatal("r1 not online after 2 min")
	}
	sleep := toolDigest(t, cl, "r1", "sleep")

	// Revoked on A (its home's registry, its reload); B and C never saw
	// the token's registry entry.
	if _, err := id.Revoke("r1"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = cl.Reload(rctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		var last error
		if !within(60*time.Second, func() bool {
			last = dialOnce(urls[i], r1)
			return last != nil && strings.Contains(strings.ToLower(last.Error()), "authorization")
		}) {
			t.Errorf("node %d still takes r1's revoked token 60 s after the revocation: %v", i, last)
		}
	}

	// C stopped; the kill issued through A; C restarted.
	ctls[2].stop(syscall.SIGTERM)
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = cl.Kill(kctx, sleep, "test")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	startCtl(2)
	// C has it once its kill list (fleet/killed.json) names it: the sign
	// that A and B may go.
	if !within(60*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(fleet.Dir(homes[2]), "killed.json"))
		return err == nil && strings.Contains(string(b), sleep)
	}) {
		t.Fatal("node C has not learned the kill 60 s after its restart")
	}
	ctls[0].stop(syscall.SIGTERM)
	ctls[1].stop(syscall.SIGTERM)
	cl.Close()

	// k1 joins C, now alone, with a new home: only C can tell it.
	home = t.TempDir()
	installTools(t, home)
	startHelper(t, helperSpec{Role: "agent", Home: home, URL: urls[2], Name: "k1", Creds: token("k1")})
	var cc *fleet.Client
	poll(t, "node C cannot be reached", func() bool {
		cc, err = fleet.Dial(urls[2], filepath.Join(fleet.Dir(homes[2]), fleet.AdminCreds), "")
		return err == nil
	})
	defer cc.Close()
	if !within(60*time.Second, func() bool {
		return cc.Call(ctx, []string{"k1"}, fleet.CallRequest{Tool: "hello", Argv: []string{"x"}}, 30*time.Second)[0].ExitCode == 0
	}) {
		t.Fatal("k1 does not answer through C")
	}
	if r := cc.Call(ctx, []string{"k1"}, fleet.CallRequest{Tool: "sleep", Argv: []string{"1"}}, 30*time.Second)[0]; r.ExitCode != supervisor.ExitInvalid || !strings.Contains(r.Error, "killed fleet-wide") {
		t.Errorf("the killed module on k1, joined to C after C restarted: %+v, want it refused", r)
	}
}
