package hostnet

import "net/netip"

// special is one block of addresses that a name grant never reaches.
type special struct {
	prefix netip.Prefix
	name   string
	rfc    string
	// mapped marks ::ffff:0:0/96: such an address is dialled as its
	// embedded IPv4 address, which is what gets checked.
	mapped bool
}

func sp(prefix, name, rfc string) special {
	return special{prefix: netip.MustParsePrefix(prefix), name: name, rfc: rfc}
}

// specialBlocks holds every entry of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890 set them up), whatever their "globally
// reachable" column says, and the blocks outside them that are not global
// unicast (multicast, limited broadcast, IPv6 site-local and
// IPv4-compatible, everything outside 2000::/3). A hostname grant names a
// service on the internet; an address in one of these blocks behind a name
// is what DNS rebinding, a NAT64 or 6to4 gateway, a cloud's metadata
// service or a misconfigured zone leads to. A prefix grant that covers such
// an address still allows it: it says exactly what it allows.
var specialBlocks = []special{
	// IANA IPv4 Special-Purpose Address Registry.
	sp("0.0.0.0/8", "this network", "RFC 791 §3.2"),
	sp("0.0.0.0/32", "this host on this network", "RFC 1122 §3.2.1.3"),
	sp("10.0.0.0/8", "private use", "RFC 1918"),
	sp("100.64.0.0/10", "shared address space (carrier-grade NAT)", "RFC 6598"),
	sp("127.0.0.0/8", "loopback", "RFC 1122 §3.2.1.3"),
	sp("169.254.0.0/16", "link local", "RFC 3927"),
	sp("172.16.0.0/12", "private use", "RFC 1918"),
	sp("192.0.0.0/24", "IETF protocol assignments", "RFC 6890 §2.1"),
	sp("192.0.0.0/29", "IPv4 service continuity prefix (DS-Lite)", "RFC 7335"),
	sp("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
	sp("192.0.0.9/32", "Port Control Protocol anycast", "RFC 7723"),
	sp("192.0.0.10/32", "TURN anycast", "RFC 8155"),
	sp("192.0.0.170/32", "NAT64/DNS64 discovery", "RFC 8880, RFC 7050 §2.2"),
	sp("192.0.0.171/32", "NAT64/DNS64 discovery", "RFC 8880, RFC 7050 §2.2"),
	sp("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
	sp("192.31.196.0/24", "AS112-v4", "RFC 7535"),
	sp("192.52.193.0/24", "AMT", "RFC 7450"),
	sp("192.88.99.0/24", "deprecated 6to4 relay anycast", "RFC 7526"),
	sp("192.88.99.2/32", "6a44 relay anycast", "RFC 6751"),
	sp("192.168.0.0/16", "private use", "RFC 1918"),
	sp("192.175.48.0/24", "direct delegation AS112 service", "RFC 7534"),
	sp("198.18.0.0/15", "benchmarking", "RFC 2544"),
	sp("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
	sp("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
	sp("240.0.0.0/4", "reserved", "RFC 1112 §4"),
	sp("255.255.255.255/32", "limited broadcast", "RFC 8190, RFC 919 §7"),
	// Not unicast: the IPv4 multicast address space registry.
	sp("224.0.0.0/4", "multicast", "RFC 5771"),

	// IANA IPv6 Special-Purpose Address Registry.
	sp("::1/128", "loopback", "RFC 4291"),
	sp("::/128", "unspecified", "RFC 4291"),
	{prefix: netip.MustParsePrefix("::ffff:0:0/96"), name: "IPv4-mapped", rfc: "RFC 4291", mapped: true},
	sp("64:ff9b::/96", "IPv4-IPv6 translation (NAT64)", "RFC 6052"),
	sp("64:ff9b:1::/48", "local-use IPv4-IPv6 translation", "RFC 8215"),
	sp("100::/64", "discard-only", "RFC 6666"),
	sp("100:0:0:1::/64", "dummy IPv6 prefix", "RFC 9780"),
	sp("2001::/23", "IETF protocol assignments", "RFC 2928"),
	sp("2001::/32", "Teredo", "RFC 4380, RFC 8190"),
	sp("2001:1::1/128", "Port Control Protocol anycast", "RFC 7723"),
	sp("2001:1::2/128", "TURN anycast", "RFC 8155"),
	sp("2001:1::3/128", "DNS-SD service registration protocol anycast", "RFC 9665"),
	sp("2001:2::/48", "benchmarking", "RFC 5180"),
	sp("2001:3::/32", "AMT", "RFC 7450"),
	sp("2001:4:112::/48", "AS112-v6", "RFC 7535"),
	sp("2001:10::/28", "deprecated ORCHID", "RFC 4843"),
	sp("2001:20::/28", "ORCHIDv2", "RFC 7343"),
	sp("2001:30::/28", "drone remote ID protocol entity tags", "RFC 9374"),
	sp("2001:db8::/32", "documentation", "RFC 3849"),
	sp("2002::/16", "6to4", "RFC 3056"),
	sp("2620:4f:8000::/48", "direct delegation AS112 service", "RFC 7534"),
	sp("3fff::/20", "documentation", "RFC 9637"),
	sp("5f00::/16", "segment routing (SRv6) SIDs", "RFC 9602"),
	sp("fc00::/7", "unique local", "RFC 4193, RFC 8190"),
	sp("fe80::/10", "link-local unicast", "RFC 4291"),
	// Not global unicast: the IPv6 address space registry.
	sp("::/96", "IPv4-compatible (deprecated)", "RFC 4291 §2.5.5.1"),
	sp("fec0::/10", "site-local (deprecated)", "RFC 3879"),
	sp("ff00::/8", "multicast", "RFC 4291 §2.7"),
}

// globalUnicast6 is the only IPv6 block allocated as global unicast (the
// IANA IPv6 Address Space registry, RFC 4291 §2.4); the rest is reserved.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// publicAddr reports whether a hostname grant may lead to a: a global
// unicast address in no special-purpose block. An IPv4-mapped address is
// judged by the IPv4 address it embeds, which is what a dial reaches. When
// it may not, why names the block.
func publicAddr(a netip.Addr) (ok bool, why string) {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" {
		return false, "not a plain address"
	}
	var hit *special // the most specific block, to name it
	for i, s := range specialBlocks {
		if !s.mapped && s.prefix.Contains(a) && (hit == nil || s.prefix.Bits() > hit.prefix.Bits()) {
			hit = &specialBlocks[i]
		}
	}
	if hit != nil {
		return false, hit.name + " (" + hit.prefix.String() + ", " + hit.rfc + ")"
	}
	if a.Is6() && !globalUnicast6.Contains(a) {
		return false, "reserved IPv6 space outside 2000::/3 (RFC 4291 §2.4)"
	}
	if !a.IsGlobalUnicast() { // not reached while the table is complete
		return false, "not global unicast"
	}
	return true, ""
}
