//go:build unix

package supervisor_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/loopback"
)

func grant(t *testing.T, s string) policies.NetGrant {
	t.Helper()
	n, err := policies.ParseNetGrant(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNetwork drives the agent_ctl host functions from a module: what the
// grants allow reaches the host's listeners; everything else is refused
// with an errno the module sees, and the listeners prove nothing else got
// through.
func TestNetwork(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		allowed, other := loopback.Listen(t, loopback.Echo), loopback.Listen(t, loopback.Echo)
		closed := loopback.ClosedPort(t)
		a, o := fmt.Sprint(allowed.Port()), fmt.Sprint(other.Port())
		g := grant(t, fmt.Sprintf("127.0.0.1:%s,%d", a, closed))
		for _, tc := range []struct {
			name  string
			args  []string
			net   []policies.NetGrant
			want  []string
			code  int
			reach int // connections the allowed listener sees
		}{
			{"granted", []string{"echo", "127.0.0.1", a, "ping"}, []policies.NetGrant{g},
				[]string{"connect 127.0.0.1:" + a + " OK", "send OK 4", "recv OK ping", "close OK", "close-again BADHANDLE"}, 0, 1},
			{"other port", []string{"connect", "127.0.0.1", o}, []policies.NetGrant{g},
				[]string{"connect 127.0.0.1:" + o + " DENIED"}, 1, 0},
			{"no grant", []string{"connect", "127.0.0.1", a}, nil,
				[]string{"connect 127.0.0.1:" + a + " DENIED"}, 1, 0},
			{"closed port", []string{"connect", "127.0.0.1", fmt.Sprint(closed)}, []policies.NetGrant{g},
				[]string{"REFUSED"}, 2, 0},
			{"other address", []string{"connect", "127.0.0.2", a}, []policies.NetGrant{g},
				[]string{"DENIED"}, 1, 0},
			{"mapped address", []string{"connect", "::ffff:127.0.0.1", a}, []policies.NetGrant{g},
				[]string{"connect ::ffff:127.0.0.1:" + a + " OK"}, 0, 1},
			{"ipv6 loopback", []string{"connect", "::1", a}, []policies.NetGrant{g}, []string{"DENIED"}, 1, 0},
			{"name resolving into a granted address", []string{"connect", "localhost", a}, []policies.NetGrant{g},
				[]string{"connect localhost:" + a + " OK"}, 0, 1},
			{"name not granted", []string{"connect", "localhost", o}, []policies.NetGrant{g}, []string{"DENIED"}, 1, 0},
			{"name malformed", []string{"connect", "bad host!", a}, []policies.NetGrant{g}, []string{"INVALID"}, 5, 0},
			{"name granted, resolves to loopback", []string{"connect", "localhost", o},
				[]policies.NetGrant{grant(t, "localhost:"+o)}, []string{"DENIED"}, 1, 0},
			{"cidr", []string{"connect", "127.0.0.1", a}, []policies.NetGrant{grant(t, "127.0.0.0/8:"+a)},
				[]string{"OK"}, 0, 1},
			{"probe", []string{"probe", "127.0.0.1:" + a, "127.0.0.1:" + o, fmt.Sprintf("127.0.0.1:%d", closed), "10.1.2.3:" + a},
				[]policies.NetGrant{g},
				[]string{"probe OK", "127.0.0.1:" + a + " OK", "127.0.0.1:" + o + " DENIED",
					fmt.Sprintf("127.0.0.1:%d REFUSED", closed), "10.1.2.3:" + a + " DENIED"}, 0, 1},
			{"probe without grants", []string{"probe", "127.0.0.1:" + a}, nil,
				[]string{"probe OK", "127.0.0.1:" + a + " DENIED"}, 0, 0},
			{"connection limit", []string{"many", "127.0.0.1", a, "20"}, []policies.NetGrant{g},
				[]string{"connect 17 LIMIT", "connect 20 LIMIT", "opened 16"}, 0, 16},
			{"bad pointers", []string{"badptr"}, []policies.NetGrant{g},
				[]string{"host-oob INVALID", "host-huge INVALID", "host-empty INVALID", "out-oob INVALID",
					"port-zero INVALID", "port-big INVALID", "probe-short INVALID", "probe-oob INVALID",
					"probe-junk OK INVALID INVALID INVALID"}, 0, 0},
			{"bad handles", []string{"badhandle"}, []policies.NetGrant{g},
				[]string{"send BADHANDLE", "recv BADHANDLE", "close BADHANDLE"}, 0, 0},
			{"bad handles, no grants", []string{"badhandle"}, nil,
				[]string{"send BADHANDLE", "recv BADHANDLE", "close BADHANDLE"}, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := allowed.Count()
				res, out, errs, err := invoke(t, s, supervisor.Call{Module: "net.wasm", Args: tc.args,
					Policy: policies.Policy{Net: tc.net}})
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != supervisor.Exited || res.ExitCode != tc.code {
					t.Errorf("outcome %v exit %d, want exit %d; stderr %q", res.Outcome, res.ExitCode, tc.code, errs)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s", w, out)
					}
				}
				if got := allowed.Count() - before; got != tc.reach {
					t.Errorf("allowed listener saw %d connections, want %d", got, tc.reach)
				}
				if other.Count() != 0 {
					t.Errorf("the listener that was never granted saw %d connections", other.Count())
				}
			})
		}
	})
}

// TestNetwork_timeLimit: a module waiting on a connection is still bound by
// its time limit, and the connections it left open are closed by the
// supervisor when the call ends.
func TestNetwork_timeLimit(t *testing.T) {
	both(t, func(t *testing.T, iso policies.Isolation) {
		s := newSupervisor(t, iso)
		l := loopback.Listen(t, loopback.Hold)
		p := fmt.Sprint(l.Port())
		res, out, _, err := invoke(t, s, supervisor.Call{Module: "net.wasm", Args: []string{"hold", "127.0.0.1", p, "60000"},
			Policy: policies.Policy{Net: []policies.NetGrant{grant(t, "127.0.0.1:"+p)}, Timeout: 700 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != supervisor.TimedOut || !strings.Contains(out, "connect OK") {
			t.Fatalf("outcome %v, output %q: want a timeout after connecting", res.Outcome, out)
		}
		waitPeerClosed(t, l)

		res, out, _, err = invoke(t, s, supervisor.Call{Module: "net.wasm", Args: []string{"leak", "127.0.0.1", p},
			Policy: policies.Policy{Net: []policies.NetGrant{grant(t, "127.0.0.1:"+p)}}})
		if err != nil || res.ExitCode != 0 || !strings.Contains(out, "connect OK") {
			t.Fatalf("leak: %v %+v %q", err, res, out)
		}
		waitPeerClosed(t, l)
	})
}

// waitPeerClosed waits until the last connection l accepted is closed by
// its peer.
func waitPeerClosed(t *testing.T, l *loopback.Listener) {
	t.Helper()
	c := l.Last()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection left open after the call ended: read gave %v, want EOF", err)
	}
}
