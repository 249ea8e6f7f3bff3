package fleet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/workertest"
)

func TestMain(m *testing.M) { workertest.Main(m) }

func startController(t *testing.T) (*fleet.Controller, string) {
	t.Helper()
	home := t.TempDir()
	c, err := fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, home
}

// adminClient dials the controller of home as the CLI's fleet commands
// do (fleet.Endpoint: the address and credentials kept in home); the
// client is closed when the test ends.
func adminClient(t *testing.T, home string) *fleet.Client {
	t.Helper()
	url, creds, err := fleet.Endpoint(home)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := fleet.Dial(url, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func joinToken(t *testing.T, c *fleet.Controller, node string, ttl time.Duration) string {
	t.Helper()
	return fleet.JoinTokenFile(t, c.Identity(), node, ttl)
}

// connectAs connects with creds and collects the asynchronous errors
// (permission violations arrive that way).
func connectAs(t *testing.T, url, creds string, opts ...nats.Option) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 16)
	opts = append([]nats.Option{nats.UserCredentials(creds), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	})}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// action is something a connection tries, that the server must refuse
// (expectDenied) or allow (expectAllowed).
type action struct {
	name string
	do   func() error
}

// expectDenied runs each action on nc and wants the server's permissions
// violation for it on errs (they arrive asynchronously) within 10 s. It
// leaves errs empty for what the test tries next.
func expectDenied(t *testing.T, nc *nats.Conn, errs chan error, denied []action) {
	t.Helper()
	for _, d := range denied {
		t.Run(d.name, func(t *testing.T) {
			for len(errs) > 0 {
				<-errs
			}
			if err := d.do(); err != nil {
				t.Fatal(err)
			}
			nc.Flush()
			select {
			case err := <-errs:
				if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
					t.Fatalf("got %v, want a permissions violation", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server allowed it: no permissions violation within 10s")
			}
		})
	}
	for len(errs) > 0 {
		<-errs
	}
}

// expectAllowed runs each action on nc and wants no error from any: none
// returned, and no permissions violation on errs within 500 ms of the
// server having them all (errs is empty before, as expectDenied leaves
// it, so that what arrives is theirs).
func expectAllowed(t *testing.T, nc *nats.Conn, errs chan error, allowed []action) {
	t.Helper()
	for _, a := range allowed {
		if err := a.do(); err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
	}
	nc.Flush()
	select {
	case err := <-errs:
		t.Fatalf("what the credentials allow was refused: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestJoinToken_permissions checks that an agent's credentials allow its
// own subjects and nothing else: it cannot call another node, answer or
// publish status as another, or read anyone's inbox.
func TestJoinToken_permissions(t *testing.T) {
	c, _ := startController(t)
	credsA := joinToken(t, c, "a", 0)
	joinToken(t, c, "b", 0)
	nc, errs := connectAs(t, c.URL(), credsA)

	denied := []action{
		{"publish a call to b", func() error { return nc.Publish("agentctl.call.b", []byte("{}")) }},
		{"publish status as b", func() error { return nc.Publish("agentctl.status.b", []byte("{}")) }},
		{"subscribe to b's calls", func() error { _, err := nc.SubscribeSync("agentctl.call.b"); return err }},
		{"subscribe to every inbox", func() error { _, err := nc.SubscribeSync("_INBOX.>"); return err }},
		{"subscribe to everything", func() error { _, err := nc.SubscribeSync(">"); return err }},
		{"read the status stream", func() error { return nc.Publish("$JS.API.STREAM.INFO.AGENTCTL_STATUS", nil) }},
		{"ask the controller to reload", func() error { return nc.Publish("agentctl.admin.reload", nil) }},
		{"kill a module", func() error { return nc.Publish("agentctl.admin.kill", []byte("{}")) }},
		{"announce a kill list", func() error { return nc.Publish("agentctl.killed", []byte("{}")) }},
		{"read b's inbox", func() error { _, err := nc.SubscribeSync("_INBOX_AGENT.b.>"); return err }},
	}
	expectDenied(t, nc, errs, denied)
	// What it may do draws no error.
	expectAllowed(t, nc, errs, []action{
		{"subscribe to its calls", func() error { _, err := nc.SubscribeSync("agentctl.call.a"); return err }},
		{"publish its status", func() error { return nc.Publish("agentctl.status.a", []byte(`{"node":"a"}`)) }},
	})
}

// TestJoinToken_expires checks that an expired join token is refused.
func TestJoinToken_expires(t *testing.T) {
	c, _ := startController(t)
	creds := joinToken(t, c, "brief", time.Second)
	time.Sleep(2100 * time.Millisecond) // the token's own lifetime, not a synchronisation
	_, err := nats.Connect(c.URL(), nats.UserCredentials(creds), nats.MaxReconnects(0))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("connect with an expired token: %v, want an authorization error", err)
	}
}

func TestJoinToken_badNode(t *testing.T) {
	c, _ := startController(t)
	for _, bad := range []string{"", "a.b", "a*", ">", "A", "a b", strings.Repeat("x", 64)} {
		if _, err := c.Identity().JoinToken(bad, 0); err == nil {
			t.Errorf("JoinToken(%q) accepted", bad)
		}
	}
}

// node installs the test tools in a home of its own and joins the fleet.
func node(t *testing.T, c *fleet.Controller, name string, labels map[string]string) *fleet.Agent {
	t.Helper()
	a, _, _ := nodeWith(t, c, name, fleet.AgentOptions{Labels: labels})
	return a
}

// nodeWith is node with options (URL, Name, Creds and Interval are set
// here), and returns the node's Local and home too.
func nodeWith(t *testing.T, c *fleet.Controller, name string, o fleet.AgentOptions) (*fleet.Agent, *fleet.Local, string) {
	t.Helper()
	home := t.TempDir()
	cat, err := catalog.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	installInto(t, cat)
	sup, err := supervisor.New(&supervisor.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	o.URL, o.Name, o.Creds, o.Interval = c.URL(), name, joinToken(t, c, name, 0), time.Second
	local := &fleet.Local{Catalog: cat, Supervisor: sup}
	a, err := fleet.StartAgent(local, o)
	if err != nil {
		t.Fatal(err)
	}
	return a, local, home
}

// installInto installs the test tools (hello, sleep, exit) in cat.
func installInto(t *testing.T, cat *catalog.Catalog) {
	t.Helper()
	for _, tool := range []struct{ name, wasm, extra string }{
		{"hello", "hello.wasm", `"inputSchema": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 16}}}, "args": {"positional": ["name"]}`},
		{"sleep", "sleep.wasm", `"inputSchema": {"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}}, "args": {"positional": ["ms"]}`},
		{"exit", "exit.wasm", `"inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}}}, "args": {"positional": ["code"]}`},
	} {
		if _, err := cat.Store().Install(fixtures.ToolDir(t, tool.name, tool.wasm, tool.extra)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCall(t *testing.T) {
	c, home := startController(t)
	a := node(t, c, "alpha", map[string]string{"role": "web"})
	b := node(t, c, "beta", nil)
	t.Cleanup(func() { b.Close(context.Background()) })

	cl := adminClient(t, home)
	ctx := context.Background()

	nodes, err := cl.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Node != "alpha" || nodes[1].Node != "beta" || !nodes[0].Online || !nodes[1].Online {
		t.Fatalf("Nodes = %+v, want alpha and beta online", nodes)
	}
	if nodes[0].Labels["role"] != "web" || len(nodes[0].Tools) != 3 || !strings.HasPrefix(nodes[0].Tools[1].Digest, "sha256:") {
		t.Errorf("alpha's status = %+v, want its label and three tools with digests", nodes[0].Status)
	}

	res := cl.Call(ctx, []string{"alpha", "beta", "gamma"}, fleet.CallRequest{Tool: "hello", Argv: []string{"fleet"}}, 30*time.Second)
	for _, r := range res[:2] {
		if r.Error != "" || r.ExitCode != 0 || !strings.Contains(r.Stdout, "fleet") || r.Outcome != "exited" {
			t.Errorf("%s: %+v, want hello's greeting", r.Node, r)
		}
	}
	if g := res[2]; g.Node != "gamma" || g.ExitCode == 0 || !strings.Contains(g.Error, "not connected") {
		t.Errorf("gamma (no such agent): %+v, want a not-connected error", g)
	}

	for _, tc := range []struct {
		name string
		req  fleet.CallRequest
		code int
		want string
	}{
		{"exit code carried", fleet.CallRequest{Tool: "exit", Argv: []string{"7"}}, 7, ""},
		{"unknown tool", fleet.CallRequest{Tool: "nope"}, supervisor.ExitNotFound, "nope"},
		{"unknown flag", fleet.CallRequest{Tool: "hello", Argv: []string{"--bogus", "x"}}, supervisor.ExitInternal, "unknown flag"},
		{"schema refuses", fleet.CallRequest{Tool: "hello", Arguments: map[string]any{"name": strings.Repeat("x", 40)}}, supervisor.ExitInternal, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cl.Call(ctx, []string{"alpha"}, tc.req, 30*time.Second)[0]
			if r.ExitCode != tc.code || !strings.Contains(r.Error, tc.want) {
				t.Errorf("%+v, want exit code %d and an error naming %q", r, tc.code, tc.want)
			}
		})
	}

	// The caller's time limit reaches the node: the call is stopped there.
	r := cl.Call(ctx, []string{"alpha"}, fleet.CallRequest{Tool: "sleep", Argv: []string{"60000"}}, time.Second)[0]
	if r.Outcome != "cancelled" || r.Duration > 20 {
		t.Errorf("a 60 s sleep with a 1 s limit: %+v, want it cancelled on the node", r)
	}

	// A node that leaves says so.
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	nodes, err = cl.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Node != "alpha" || nodes[0].Online {
		t.Errorf("after alpha left: %+v, want it offline", nodes[0])
	}
}
