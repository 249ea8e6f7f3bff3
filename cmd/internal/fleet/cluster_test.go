package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// helperEnv carries a helper process's role: the test binary re-executed
// as a controller or an agent (TestHelperProcess), so that each is a
// process of its own that the test can kill.
const helperEnv = "AGENTCTL_FLEET_HELPER"

type helperSpec struct {
	Role string // "controller" or "agent"
	Home string
	// Controller.
	Listen, Cluster, ClusterListen string
	Routes                         []string
	// Agent.
	URL, Name, Creds string
}

// TestHelperProcess is not a test: it is the controller or agent process
// of the cluster test, run when helperEnv is set.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("a helper process of TestCluster, run by it")
	}
	var s helperSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := slogStderr()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch s.Role {
	case "controller":
		c, err := fleet.StartController(s.Home, fleet.ControllerOptions{Listen: s.Listen, Logger: log,
			Cluster: fleet.ClusterOptions{Name: s.Cluster, Listen: s.ClusterListen, Routes: s.Routes}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "controller:", err)
			os.Exit(125)
		}
		<-ctx.Done()
		c.Close()
	case "agent":
		cat, err := catalog.Open(s.Home)
		if err == nil {
			var sup *supervisor.Supervisor
			if sup, err = supervisor.New(&supervisor.Options{Home: s.Home, Logger: log}); err == nil {
				defer sup.Close()
				var a *fleet.Agent
				a, err = fleet.StartAgent(&fleet.Local{Catalog: cat, Supervisor: sup}, fleet.AgentOptions{
					URL: s.URL, Name: s.Name, Creds: s.Creds, Interval: time.Second, Concurrency: 8, Logger: log})
				if err == nil {
					<-ctx.Done()
					gctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					err = a.Close(gctx)
				}
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "agent:", err)
			os.Exit(125)
		}
	}
	os.Exit(0)
}

// proc is a helper process.
type proc struct {
	spec helperSpec
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   *sync.Mutex
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startHelper(t *testing.T, s helperSpec) *proc {
	t.Helper()
	raw, _ := json.Marshal(s)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	p := &proc{spec: s, cmd: cmd, out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Stdout = lockedBuffer{p.mu, p.out}
	cmd.Stderr = lockedBuffer{p.mu, p.out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s %s%s output:\n%s", s.Role, s.Name, s.Listen, p.out.String())
			p.mu.Unlock()
		}
	})
	return p
}

// stop signals the process and waits for it.
func (p *proc) stop(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	_ = p.cmd.Wait()
}

// freePorts returns n loopback ports free now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// cluster is three controller processes clustered by routes, their homes
// sharing one fleet identity.
type cluster struct {
	id    *fleet.Identity
	homes []string // homes[0] made the identity; the others hold a copy
	urls  []string // the client URLs, one per node
	ctls  []*proc
	start func(i int) // (re)starts node i
}

// shareIdentity creates the fleet identity in home and gives each of
// others a copy of its identity.json, the documented way to cluster
// controllers.
func shareIdentity(t *testing.T, home string, others ...string) *fleet.Identity {
	t.Helper()
	id, _, err := fleet.LoadIdentity(fleet.Dir(home))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(fleet.Dir(home), "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range others {
		if err := os.MkdirAll(fleet.Dir(h), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fleet.Dir(h), "identity.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// startCluster starts three clustered controllers on loopback ports. Each
// node gets the identity the documented way: a copy of the first home's
// identity.json.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	ports := freePorts(t, 6)
	c := &cluster{homes: []string{t.TempDir(), t.TempDir(), t.TempDir()}, ctls: make([]*proc, 3)}
	c.id = shareIdentity(t, c.homes[0], c.homes[1:]...)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	c.start = func(i int) {
		c.ctls[i] = startHelper(t, helperSpec{Role: "controller", Home: c.homes[i], Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Cluster: "fleet", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[3+i]), Routes: routes})
	}
	for i := range 3 {
		c.start(i)
	}
	return c
}

// TestCluster: three controllers clustered by routes (separate processes,
// homes with one identity), three agent processes given all three URLs,
// and a client making 200 calls, four at a time, while the server the
// client is connected to is killed (SIGKILL), brought back, and the one
// the client then uses stopped (SIGTERM). Every call gets exactly one
// result, a successful one, and runs exactly once: each call ID appears
// once in the agents' audit logs, and no other call does.
func TestCluster(t *testing.T) {
	const calls, parallel = 200, 4
	c := startCluster(t)
	id, homes, urls, ctls, startCtl := c.id, c.homes, c.urls, c.ctls, c.start
	var err error
	all := strings.Join(urls, ",")
	// Every controller serves clients before the agents start: an agent
	// that finds no server at all exits (125), as documented.
	for _, u := range urls {
		testutil.Eventually(t, 2*time.Minute, func() bool {
			c, err := fleet.Dial(u, filepath.Join(fleet.Dir(homes[0]), fleet.AdminCreds), "")
			if err == nil {
				c.Close()
			}
			return err == nil
		}, "controller %s does not serve clients", u)
	}

	nodes := []string{"n1", "n2", "n3"}
	agentHomes := map[string]string{}
	for _, n := range nodes {
		home := t.TempDir()
		installTools(t, home)
		creds := fleet.JoinTokenFile(t, id, n, 0)
		agentHomes[n] = home
		startHelper(t, helperSpec{Role: "agent", Home: home, URL: all, Name: n, Creds: creds})
	}

	var cl *fleet.Client
	poll(t, "the cluster cannot be reached", func() bool {
		cl, err = fleet.Dial(all, filepath.Join(fleet.Dir(homes[0]), fleet.AdminCreds), "")
		return err == nil
	})
	defer cl.Close()
	ctx := context.Background()
	// Ready when the status stream (replicated, created once the cluster
	// has a quorum) shows every agent online.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ns, err := cl.Nodes(ctx)
		online := 0
		for _, n := range ns {
			if n.Online {
				online++
			}
		}
		if err == nil && online == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 min: nodes %+v, %v; want 3 online", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// stopAt: at these call numbers, the server the client uses is
	// stopped (or the first one brought back).
	connected := func() int {
		u, err := url.Parse(fleet.ConnectedURL(cl))
		if err != nil {
			return -1
		}
		for i, cu := range urls {
			if v, err := url.Parse(cu); err == nil && v.Port() == u.Port() {
				return i
			}
		}
		return -1
	}
	var next atomic.Int64
	results := make([]fleet.CallResult, calls)
	events := make(chan int64, calls)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= calls {
					return
				}
				events <- i
				n := nodes[i%3]
				results[i] = cl.Call(ctx, []string{n}, fleet.CallRequest{Tool: "sleep", Argv: []string{"200"}}, 2*time.Minute)[0]
			}
		}()
	}
	var killed []int
	// stopped is closed when the goroutine below has done its last stop:
	// killed is read after it.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := range events {
			switch i {
			case 50:
				k := connected()
				killed = append(killed, k)
				ctls[k].stop(syscall.SIGKILL)
			case 100:
				startCtl(killed[0])
			case 150:
				k := connected()
				killed = append(killed, k)
				ctls[k].stop(syscall.SIGTERM)
			}
		}
	}()
	wg.Wait()
	close(events)
	<-stopped

	t.Logf("stopped controllers %v (the client's at each moment)", killed)
	if len(killed) != 2 || killed[0] < 0 || killed[1] < 0 {
		t.Errorf("the client's server was not found to stop: %v", killed)
	}
	ids := map[string]int{}
	for i, r := range results {
		if r.ExitCode != 0 || r.Error != "" || !strings.Contains(r.Stdout, "awake") {
			t.Errorf("call %d on %s: %+v, want the sleep's result", i, r.Node, r)
		}
		if r.ID == "" {
			t.Errorf("call %d has no id", i)
		}
		ids[r.ID]++
	}
	if len(ids) != calls {
		t.Errorf("%d distinct call ids for %d calls", len(ids), calls)
	}
	// Each call ran once, on the node it was sent to: its ID in that
	// node's audit log once, in no other's.
	runs := map[string]int{}
	for n, home := range agentHomes {
		for _, r := range auditRecords(t, home) {
			if r.Tool != "sleep" {
				continue
			}
			runs[r.CallID]++
			if r.CallID == "" || ids[r.CallID] == 0 {
				t.Errorf("node %s ran a call that no result names: %+v", n, r)
			}
		}
	}
	twice := 0
	for id := range ids {
		if runs[id] != 1 {
			twice++
			if twice < 10 {
				t.Errorf("call %s ran %d times, want once", id, runs[id])
			}
		}
	}
	total := 0
	for _, n := range runs {
		total += n
	}
	t.Logf("%d calls, %d results, %d executions in the audit logs", calls, len(results), total)
}

func slogStderr() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// installTools installs the test tools in home.
func installTools(t *testing.T, home string) {
	t.Helper()
	cat, err := catalog.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	installInto(t, cat)
}

// TestStartController_clusterRefusals: routes off loopback without TLS
// are refused before anything is bound, and so are malformed cluster
// options.
func TestStartController_clusterRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    fleet.ClusterOptions
		want string
	}{
		{"listen off loopback", fleet.ClusterOptions{Name: "f", Listen: "0.0.0.0:6222", Routes: []string{"nats-route://127.0.0.1:6223"}}, "need TLS"},
		{"route off loopback", fleet.ClusterOptions{Name: "f", Listen: "127.0.0.1:6222", Routes: []string{"nats-route://10.1.2.3:6222"}}, "need TLS"},
		{"ca without a certificate", fleet.ClusterOptions{Name: "f", CA: "ca.pem", Routes: []string{"nats-route://127.0.0.1:6222"}}, "--cluster-ca needs --tls-cert"},
		{"no routes", fleet.ClusterOptions{Name: "f"}, "needs --routes"},
		{"routes without a name", fleet.ClusterOptions{Routes: []string{"nats-route://127.0.0.1:6222"}}, "need --cluster NAME"},
		{"bad name", fleet.ClusterOptions{Name: "a b"}, "invalid --cluster"},
		{"port 0", fleet.ClusterOptions{Name: "f", Listen: "127.0.0.1:0", Routes: []string{"nats-route://127.0.0.1:6222"}}, "fixed port"},
		{"credentials in a route", fleet.ClusterOptions{Name: "f", Routes: []string{"nats-route://u:p@127.0.0.1:6222"}}, "invalid route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := fleet.StartController(t.TempDir(), fleet.ControllerOptions{Listen: "127.0.0.1:0", Cluster: tc.o})
			if err == nil {
				c.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want %q", err, tc.want)
			}
			if tc.want == "need TLS" && !errors.Is(err, fleet.ErrClusterNeedTLS) {
				t.Errorf("%v is not ErrClusterNeedTLS", err)
			}
		})
	}
}
