package hostnet_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor/hostnet"
	"github.com/agent-ctl/agent-ctl/tests/loopback"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// TestGate_names checks hostname grants against what the names resolve to,
// with a resolver the test controls: a granted name may not lead to an
// internal address (DNS rebinding, cloud metadata) unless a prefix grant
// covers it, and names nothing could allow are never looked up.
func TestGate_names(t *testing.T) {
	port := loopback.Listen(t, loopback.Close).Port()
	p := fmt.Sprint(port)
	zone := map[string][]string{
		"svc.example":      {"127.0.0.1"},
		"metadata.example": {"169.254.169.254"},
		"private.example":  {"10.0.0.1"},
		"mixed.example":    {"10.0.0.1", "127.0.0.1"},
		"public.example":   {"203.0.113.7"},
		"mapped.example":   {"::ffff:127.0.0.1"},
	}
	for _, tc := range []struct {
		name    string
		grants  []string
		host    string
		want    protocol.Errno
		lookups int32
	}{
		{"granted name to loopback", []string{"svc.example:" + p}, "svc.example", protocol.Denied, 1},
		{"granted name to loopback, loopback granted too", []string{"svc.example:" + p, "127.0.0.1:" + p}, "svc.example", protocol.OK, 1},
		{"ungranted name into a granted prefix", []string{"127.0.0.0/8:" + p}, "svc.example", protocol.OK, 1},
		{"ungranted name into a granted prefix, mapped", []string{"127.0.0.0/8:" + p}, "mapped.example", protocol.OK, 1},
		{"metadata", []string{"metadata.example:" + p}, "metadata.example", protocol.Denied, 1},
		{"private", []string{"private.example:" + p}, "private.example", protocol.Denied, 1},
		{"mixed picks the granted address", []string{"127.0.0.1/32:" + p}, "mixed.example", protocol.OK, 1},
		{"case and trailing dot", []string{"SVC.example:" + p, "127.0.0.1:" + p}, "svc.EXAMPLE.", protocol.OK, 1},
		{"nothing could allow it: no lookup", []string{"other.example:" + p}, "svc.example", protocol.Denied, 0},
		{"wrong port: no lookup", []string{"svc.example:1"}, "svc.example", protocol.Denied, 0},
		{"unknown name", []string{"nx.example:" + p}, "nx.example", protocol.Unreachable, 1},
		{"zone", []string{"::1/128:" + p}, "fe80::1%lo", protocol.Invalid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var grants []policies.NetGrant
			for _, s := range tc.grants {
				g, err := policies.ParseNetGrant(s)
				if err != nil {
					t.Fatal(err)
				}
				grants = append(grants, g)
			}
			var lookups atomic.Int32
			g := hostnet.New(grants, &hostnet.Options{Dial: loopbackOnly(t), Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
				lookups.Add(1)
				var out []netip.Addr
				for _, a := range zone[host] {
					out = append(out, netip.MustParseAddr(a))
				}
				if out == nil {
					return nil, fmt.Errorf("no such host %s", host)
				}
				return out, nil
			}})
			defer g.Shutdown()
			h, e := g.Connect(tc.host, port, time.Second)
			if e != tc.want {
				t.Fatalf("Connect(%s) = %v, want %v", tc.host, e, tc.want)
			}
			if e == protocol.OK && g.Close(h) != protocol.OK {
				t.Error("close failed")
			}
			if lookups.Load() != tc.lookups {
				t.Errorf("%d lookups, want %d", lookups.Load(), tc.lookups)
			}
		})
	}
	// A public address behind a granted name passes the gate: it reaches
	// the dialler, which refuses it without sending a packet.
	var dialled []string
	g := hostnet.New([]policies.NetGrant{{Host: "public.example", Ports: []int{port}}}, &hostnet.Options{
		Lookup: func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("8.8.8.8")}, nil
		},
		Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
			dialled = append(dialled, addr)
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}})
	defer g.Shutdown()
	if _, e := g.Connect("public.example", port, 300*time.Millisecond); e != protocol.Refused || len(dialled) != 1 {
		t.Errorf("public address behind a granted name: %v, dialled %v; want it dialled", e, dialled)
	}
}

// loopbackOnly dials 127.0.0.0/8 and fails the test on anything else,
// before a packet is sent.
func loopbackOnly(t *testing.T) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !netip.MustParsePrefix("127.0.0.0/8").Contains(ap.Addr()) {
			t.Errorf("the gate dialled %s, outside 127.0.0.0/8", addr)
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// TestGate_limits: the probe total, oversized text and the deadline.
func TestGate_limits(t *testing.T) {
	port := loopback.Listen(t, loopback.Close).Port()
	grants := []policies.NetGrant{{Host: "127.0.0.1", Ports: []int{port}}}
	g := hostnet.New(grants, nil)
	defer g.Shutdown()
	one := fmt.Sprintf("127.0.0.1:%d\n", port)
	if _, e := g.Probe(strings.Repeat(one, protocol.MaxProbeText/len(one)+1), time.Second); e != protocol.Invalid {
		t.Errorf("oversized probe text: %v, want INVALID", e)
	}
	lines := strings.Repeat("127.0.0.1:1\n", 40000)
	if _, e := g.Probe(lines, time.Millisecond); e != protocol.OK {
		t.Fatalf("first 40000 probes: %v", e)
	}
	if _, e := g.Probe(lines, time.Millisecond); e != protocol.Limit {
		t.Errorf("probes past the per-call total: %v, want LIMIT", e)
	}

	past := hostnet.New(grants, &hostnet.Options{Deadline: time.Now().Add(-time.Second)})
	defer past.Shutdown()
	if _, e := past.Connect("127.0.0.1", port, time.Second); e != protocol.Timeout {
		t.Errorf("connect after the call's deadline: %v, want TIMEOUT", e)
	}
	g.Shutdown()
	if _, e := g.Connect("127.0.0.1", port, time.Second); e != protocol.IOError {
		t.Errorf("connect after shutdown: %v, want IO", e)
	}
}
