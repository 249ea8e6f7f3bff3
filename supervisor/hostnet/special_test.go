package hostnet

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// noDial records what a gate would dial and refuses it before any packet
// is sent.
type noDial struct {
	mu    sync.Mutex
	addrs []string
}

func (d *noDial) dial(_ context.Context, _, address string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, address)
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
}

func (d *noDial) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// samples returns addresses inside p: its first and last, and one in the
// middle.
func samples(p netip.Prefix) []netip.Addr {
	first := p.Masked().Addr()
	b := first.AsSlice()
	last := append([]byte(nil), b...)
	mid := append([]byte(nil), b...)
	for i := p.Bits(); i < len(b)*8; i++ {
		last[i/8] |= 0x80 >> (i % 8)
	}
	if p.Bits() < len(b)*8 {
		i := p.Bits()
		mid[i/8] |= 0x80 >> (i % 8) // the top half's first address
		mid[len(mid)-1] |= 1
	}
	l, _ := netip.AddrFromSlice(last)
	m, _ := netip.AddrFromSlice(mid)
	return []netip.Addr{first, m, l}
}

// gateFor returns a gate whose resolver answers every name with addr and
// whose dialer records without connecting.
func gateFor(t *testing.T, grants []string, addr netip.Addr) (*Gate, *noDial) {
	t.Helper()
	var gs []policies.NetGrant
	for _, s := range grants {
		g, err := policies.ParseNetGrant(s)
		if err != nil {
			t.Fatalf("grant %q: %v", s, err)
		}
		gs = append(gs, g)
	}
	d := &noDial{}
	g := New(gs, &Options{
		Lookup: func(context.Context, string) ([]netip.Addr, error) { return []netip.Addr{addr}, nil },
		Dial:   d.dial,
	})
	t.Cleanup(g.Shutdown)
	return g, d
}

// TestSpecialBlocks: a hostname grant never leads to an address of any
// entry of the special-purpose registries (first, middle and last address
// of each block; the gate refuses before dialling), by Connect or by Probe,
// and a prefix grant that covers the block still allows exactly it.
func TestSpecialBlocks(t *testing.T) {
	for _, s := range specialBlocks {
		t.Run(s.prefix.String(), func(t *testing.T) {
			if s.rfc == "" || s.name == "" {
				t.Errorf("entry %v names no RFC or purpose", s.prefix)
			}
			if s.mapped {
				return // TestPublicAddr covers the embedded IPv4 addresses
			}
			for _, a := range samples(s.prefix) {
				if !s.prefix.Contains(a) {
					t.Fatalf("sample %v outside %v", a, s.prefix)
				}
				g, d := gateFor(t, []string{"svc.example:443"}, a)
				if _, e := g.Connect("svc.example", 443, time.Second); e != protocol.Denied {
					t.Errorf("name granted, resolves to %v: Connect = %v, want DENIED", a, e)
				}
				if out, e := g.Probe("svc.example:443\n", time.Second); e != protocol.OK || len(out) != 1 || protocol.Errno(out[0]) != protocol.Denied {
					t.Errorf("name granted, resolves to %v: Probe = %v %v, want DENIED", a, out, e)
				}
				if got := d.dialled(); len(got) != 0 {
					t.Errorf("name granted, resolves to %v: dialled %v", a, got)
				}
				if ok, why := publicAddr(a); ok || why == "" {
					t.Errorf("publicAddr(%v) = %v %q", a, ok, why)
				}

				// The same address under a prefix grant of the block.
				g, d = gateFor(t, []string{"svc.example:443", s.prefix.String() + ":443"}, a)
				if _, e := g.Connect("svc.example", 443, time.Second); e != protocol.Refused {
					t.Errorf("prefix %v granted, name resolves to %v: Connect = %v, want the dialler's REFUSED", s.prefix, a, e)
				}
				want := netip.AddrPortFrom(a, 443).String()
				if got := d.dialled(); len(got) != 1 || got[0] != want {
					t.Errorf("prefix %v granted: dialled %v, want [%s]", s.prefix, got, want)
				}
			}
		})
	}
}

// TestPublicAddr: the addresses the issue names, the embedded IPv4 of a
// mapped address, and public controls that must still be dialled.
func TestPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		want string // part of the reason; empty means public
	}{
		{"64:ff9b::a00:1", "NAT64"},
		{"64:ff9b::808:808", "NAT64"}, // even a public IPv4 behind it: the gateway is local
		{"64:ff9b:1::1", "local-use IPv4-IPv6 translation"},
		{"::a00:1", "IPv4-compatible"},
		{"::808:808", "IPv4-compatible"},
		{"2002:a00:1::1", "6to4"},
		{"2002:808:808::1", "6to4"},
		{"2001::1", "Teredo"},
		{"0.1.2.3", "this network"},
		{"100.64.0.1", "shared address space"},
		{"192.0.0.1", "DS-Lite"},
		{"192.0.0.100", "IETF protocol assignments"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "limited broadcast"},
		{"224.0.0.1", "multicast"},
		{"fec0::1", "site-local"},
		{"fc00::1", "unique local"},
		{"fd00::1", "unique local"},
		{"fe80::1", "link-local"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		{"169.254.169.254", "link local"},
		{"192.0.2.1", "documentation"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"4000::1", "outside 2000::/3"},
		{"::ffff:10.0.0.1", "private use"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:198.18.0.1", "benchmarking"},
		{"::ffff:0.0.0.0", "this network"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		// Public: dialled.
		{"8.8.8.8", ""},
		{"::ffff:8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"192.0.1.255", ""},
		{"223.255.255.255", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			ok, why := publicAddr(a)
			if tt.want == "" {
				if !ok {
					t.Fatalf("publicAddr(%v) refused it: %s", a, why)
				}
			} else if ok || !strings.Contains(why, tt.want) {
				t.Fatalf("publicAddr(%v) = %v %q, want refused as %q", a, ok, why, tt.want)
			}
			g, d := gateFor(t, []string{"svc.example:443"}, a)
			_, e := g.Connect("svc.example", 443, time.Second)
			got := d.dialled()
			if tt.want != "" && (e != protocol.Denied || len(got) != 0) {
				t.Errorf("Connect = %v, dialled %v; want DENIED before dialling", e, got)
			}
			if tt.want == "" && (e != protocol.Refused || len(got) != 1 || got[0] != netip.AddrPortFrom(a.Unmap(), 443).String()) {
				t.Errorf("Connect = %v, dialled %v; want %v dialled", e, got, a.Unmap())
			}
		})
	}
}

// TestSpecialBlocks_masked keeps the table free of malformed entries.
func TestSpecialBlocks_masked(t *testing.T) {
	for _, s := range specialBlocks {
		if s.prefix != s.prefix.Masked() {
			t.Errorf("%v is not a masked prefix", s.prefix)
		}
		if strings.Count(s.rfc, "RFC") == 0 {
			t.Errorf("%v: %q cites no RFC", s.prefix, s.rfc)
		}
	}
}
