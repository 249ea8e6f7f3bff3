package fleet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
)

// TestStartAgent_refusesOthersCreds: an agent started with credentials
// that are not its node's own does not join. Before, it joined, served
// nothing (the server refused its subjects) and logged a refusal every
// interval for as long as it ran.
func TestStartAgent_refusesOthersCreds(t *testing.T) {
	c, cat := controllerAndCatalog(t)
	write := func(name string, b []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return CredsFile(t, name, b)
	}
	ownB, ownErr := c.Identity().JoinToken("a", 0)
	otherB, otherErr := c.Identity().JoinToken("b", 0)
	// Named "a" but holding b's permissions: only the server can tell.
	forged, _, forgedErr := c.Identity().userCreds("a", &jwt.Permissions{
		Pub:  jwt.Permission{Allow: jwt.StringList{statusSubject("b")}},
		Sub:  jwt.Permission{Allow: jwt.StringList{callSubject("b"), "$SRV.>"}},
		Resp: &jwt.ResponsePermission{MaxMsgs: 1},
	}, 0)
	for _, tc := range []struct {
		name, creds, want string
	}{
		{"own", write("a", ownB, ownErr), ""},
		{"another node's", write("b", otherB, otherErr), `are for node "b", not "a"`},
		{"the admin's", c.AdminCreds(), `are for node "admin", not "a"`},
		{"named right, another's subjects", write("forged", forged, forgedErr), "do not allow node a's own subjects"},
		{"not credentials", write("junk", []byte("junk"), nil), "reading credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := StartAgent(&Local{Catalog: cat}, AgentOptions{URL: c.URL(), Name: "a", Creds: tc.creds})
			if a != nil {
				defer a.Close(context.Background())
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("with its own credentials: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestStartController_loopbackOnly: with no TLS, the controller listens on
// loopback only (ErrNeedTLS). Before, it listened in the clear on whatever
// it was given.
func TestStartController_loopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"[::]:0", false},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			c, err := StartController(t.TempDir(), ControllerOptions{Listen: tc.listen})
			if c != nil {
				c.Close()
			}
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && !errors.Is(err, ErrNeedTLS):
				t.Fatalf("got %v, want ErrNeedTLS", err)
			}
		})
	}
}

// TestAgent_lost: an agent whose token expires while it runs is lost, and
// says so, instead of staying up with a closed connection; one that is
// closed is not lost. Before, nothing told its owner.
func TestAgent_lost(t *testing.T) {
	c, cat := controllerAndCatalog(t)
	start := func(name string, ttl time.Duration) *Agent {
		t.Helper()
		path := JoinTokenFile(t, c.Identity(), name, ttl)
		a, err := StartAgent(&Local{Catalog: cat}, AgentOptions{URL: c.URL(), Name: name, Creds: path})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// Long enough to join on a loaded machine; the expiry is the point.
	expiring := start("expiring", 5*time.Second)
	kept := start("kept", 0)
	select {
	case <-expiring.Lost():
		if err := expiring.Err(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("lost with %v, want an authorization error", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the agent whose token expired is not lost 2 minutes on")
	}
	if err := kept.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kept.Lost():
		t.Errorf("a closed agent is lost: %v", kept.Err())
	default:
	}
}

// TestAgent_oneTokenTwice: two agents running with one node's token (a
// copied credentials file) take turns at its calls; a call never runs on
// both. Before, each call ran on every one of them.
func TestAgent_oneTokenTwice(t *testing.T) {
	c, cat := controllerAndCatalog(t)
	path := JoinTokenFile(t, c.Identity(), "twin", 0)
	var twins []*Agent
	for range 2 {
		a, err := StartAgent(&Local{Catalog: cat}, AgentOptions{URL: c.URL(), Name: "twin", Creds: path})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close(context.Background())
		twins = append(twins, a)
	}
	url, creds := c.URL(), c.AdminCreds()
	cl, err := Dial(url, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// An unknown tool: answered by the node without a worker.
	const calls = 20
	for range calls {
		if r := cl.Call(context.Background(), []string{"twin"}, CallRequest{Tool: "nope"}, 30*time.Second)[0]; r.ExitCode != 127 {
			t.Fatalf("call: %+v, want the node's unknown-tool answer", r)
		}
	}
	handled := func() (n int) {
		for _, a := range twins {
			for _, e := range a.svc.Stats().Endpoints {
				n += e.NumRequests
			}
		}
		return n
	}
	// Every call was answered, so each was handled at least once; a
	// second delivery reaches the other twin at the same moment. Give it
	// ample time to show before concluding it does not come.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && handled() <= calls {
		time.Sleep(50 * time.Millisecond)
	}
	if n := handled(); n != calls {
		t.Errorf("%d calls handled %d times by the two agents, want once each", calls, n)
	}
}

// TestNodes_goneAtOnce: a node whose agent vanished without a word (its
// connection dropped, as when it is killed) is offline in Nodes at once,
// not when its last status grows old three intervals later; a node that
// is there stays online.
func TestNodes_goneAtOnce(t *testing.T) {
	c, cat := controllerAndCatalog(t)
	agents := map[string]*Agent{}
	for _, name := range []string{"gone", "here"} {
		path := JoinTokenFile(t, c.Identity(), name, 0)
		// The default interval: a status stays fresh for 30 s.
		a, err := StartAgent(&Local{Catalog: cat}, AgentOptions{URL: c.URL(), Name: name, Creds: path})
		if err != nil {
			t.Fatal(err)
		}
		agents[name] = a
	}
	defer agents["here"].Close(context.Background())
	url, creds := c.URL(), c.AdminCreds()
	cl, err := Dial(url, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	online := func() map[string]bool {
		t.Helper()
		nodes, err := cl.Nodes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, n := range nodes {
			m[n.Node] = n.Online
		}
		return m
	}
	if m := online(); !m["gone"] || !m["here"] {
		t.Fatalf("before: %v, want both online", m)
	}
	// Drop the connection without the agent's goodbye. The server notices
	// soon, not at a moment the test can wait for; well within the 30 s
	// its status stays fresh (counted from the join, above).
	agents["gone"].nc.Close()
	defer close(agents["gone"].stop) // its status loop
	deadline := time.Now().Add(15 * time.Second)
	for m := online(); m["gone"] || !m["here"]; m = online() {
		if time.Now().After(deadline) {
			t.Fatalf("15 s after gone's connection dropped: %v, want gone offline, here online", m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// JoinTokenFile writes node's join token from id (a controller's
// Identity, or a cluster's shared one), valid for ttl (0: no expiry), to
// a credentials file of the test's and returns its path; exported for
// the package's external tests and benchmarks too.
func JoinTokenFile(tb testing.TB, id *Identity, node string, ttl time.Duration) string {
	tb.Helper()
	b, err := id.JoinToken(node, ttl)
	if err != nil {
		tb.Fatal(err)
	}
	return CredsFile(tb, node, b)
}

// CredsFile writes credentials b to a file name.creds of the test's, as
// an operator hands them to an agent, and returns its path.
func CredsFile(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name+".creds")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// controllerAndCatalog starts a controller on loopback, closed when the test
// ends, and opens an empty catalog for the test's agents.
func controllerAndCatalog(t *testing.T) (*Controller, *catalog.Catalog) {
	t.Helper()
	c, err := StartController(t.TempDir(), ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cat, err := catalog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c, cat
}
