package fleet_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/cmd/internal/fleet"
)

// routeInfo connects to a clear-text route port as a stranger would and
// returns the server's INFO line and its answer to a CONNECT with a wrong
// secret.
func routeInfo(t *testing.T, port int) (info, answer string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	info, _ = r.ReadString('\n')
	fmt.Fprintf(c, "CONNECT {\"user\":\"agentctl-route\",\"pass\":\"guessed\",\"name\":\"stranger\",\"cluster\":\"fleet\"}\r\nPING\r\n")
	answer, _ = r.ReadString('\n')
	return info, answer
}

// TestCluster_routes: two controllers (in this process) clustered over
// TLS routes with one identity answer each other's clients; a route
// connection must speak TLS, and without TLS a stranger who does not hold
// the identity's secret is refused.
func TestCluster_routes(t *testing.T) {
	ports := freePorts(t, 3)
	cert, key := selfSigned(t)
	homeA, homeB := t.TempDir(), t.TempDir()
	shareIdentity(t, homeA, homeB)
	routes := []string{fmt.Sprintf("nats-route://127.0.0.1:%d", ports[0]), fmt.Sprintf("nats-route://127.0.0.1:%d", ports[1])}
	start := func(home string, port int) *fleet.Controller {
		c, err := fleet.StartController(home, fleet.ControllerOptions{Listen: "127.0.0.1:0", TLSCert: cert, TLSKey: key,
			Cluster: fleet.ClusterOptions{Name: "fleet", Listen: fmt.Sprintf("127.0.0.1:%d", port), Routes: routes, CA: cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	a, bb := start(homeA, ports[0]), start(homeB, ports[1])
	poll(t, "the two nodes did not route to each other", func() bool { return fleet.NumRoutes(a) > 0 && fleet.NumRoutes(bb) > 0 })

	// An agent on A answers a client on B.
	ag, _, _ := nodeWith(t, a, "alpha", fleet.AgentOptions{TLSCA: cert})
	defer ag.Close(t.Context())
	cl, err := fleet.Dial(bb.URL(), bb.AdminCreds(), cert)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var r fleet.CallResult
	poll(t, "a client on B does not reach the agent on A", func() bool {
		r = cl.Call(t.Context(), []string{"alpha"}, fleet.CallRequest{Tool: "hello", Argv: []string{"routes"}}, time.Minute)[0]
		return r.ExitCode == 0 && strings.Contains(r.Stdout, "routes")
	})

	// The route port is mutual TLS: a handshake without a client
	// certificate fails, one with the node's succeeds.
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(pem)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{{"no client certificate", nil, false}, {"the node's certificate", []tls.Certificate{pair}, true}} {
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]), &tls.Config{RootCAs: pool, Certificates: tc.certs, ServerName: "127.0.0.1"})
		if err == nil {
			// TLS 1.3 reports a refused client certificate at the first read.
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = bufio.NewReader(conn).ReadString('\n')
			conn.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("a route TLS handshake with %s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}

	// Without TLS (loopback), a route with a guessed secret is refused.
	homeC := t.TempDir()
	c, err := fleet.StartController(homeC, fleet.ControllerOptions{Listen: "127.0.0.1:0",
		Cluster: fleet.ClusterOptions{Name: "fleet", Listen: fmt.Sprintf("127.0.0.1:%d", ports[2]), Routes: []string{fmt.Sprintf("nats-route://127.0.0.1:%d", ports[2])}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, answer := routeInfo(t, ports[2]); !strings.Contains(strings.ToLower(answer), "authorization") {
		t.Errorf("a route with a guessed secret: %q, want an authorization error", answer)
	}
}
