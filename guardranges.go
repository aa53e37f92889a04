package courier

import (
	"net/netip"
)

// rangeRule is a range of addresses the guard refuses, and why.
type rangeRule struct {
	prefix netip.Prefix
	why    string
}

func rules(list ...string) []rangeRule {
	var rs []rangeRule
	for i := 0; i < len(list); i += 2 {
		rs = append(rs, rangeRule{netip.MustParsePrefix(list[i]), list[i+1]})
	}
	return rs
}

// v4Rules are the IPv4 ranges that are not the public internet (IANA's
// special-purpose registry, RFC 6890 and its updates).
var v4Rules = rules(
	"0.0.0.0/8", "unspecified (this network)",
	"10.0.0.0/8", "private (RFC 1918)",
	"100.64.0.0/10", "shared address space (CGNAT, RFC 6598)",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local (cloud metadata lives here)",
	"172.16.0.0/12", "private (RFC 1918)",
	"192.0.0.0/24", "IETF protocol assignments",
	"192.0.2.0/24", "documentation (TEST-NET-1)",
	"192.88.99.0/24", "6to4 relay anycast (deprecated)",
	"192.168.0.0/16", "private (RFC 1918)",
	"198.18.0.0/15", "benchmarking (RFC 2544)",
	"198.51.100.0/24", "documentation (TEST-NET-2)",
	"203.0.113.0/24", "documentation (TEST-NET-3)",
	"224.0.0.0/4", "multicast",
	"240.0.0.0/4", "reserved (and broadcast)",
)

// v6Rules are the IPv6 ranges that are not the public internet, the more
// specific first. The ranges that carry an IPv4 address are judged by it
// instead (embedded).
var v6Rules = rules(
	"::/128", "unspecified",
	"::1/128", "loopback",
	"100::/64", "discard-only (RFC 6666)",
	"2001:2::/48", "benchmarking (RFC 5180)",
	"2001::/23", "IETF protocol assignments",
	"2001:db8::/32", "documentation",
	"3fff::/20", "documentation (RFC 9637)",
	"5f00::/16", "segment routing (SRv6) SIDs",
	"fc00::/7", "unique-local",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local (deprecated)",
	"ff00::/8", "multicast",
)

// embedders are the IPv6 forms that carry an IPv4 address, and where.
var (
	mapped     = netip.MustParsePrefix("::ffff:0:0/96")
	compatible = netip.MustParsePrefix("::/96")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
)

// judgeAddr returns why ip is refused, or false when it is a public
// address.
func judgeAddr(ip netip.Addr) (string, bool) {
	ip = ip.WithZone("")
	if ip.Is4() {
		return judgeIn(v4Rules, ip)
	}
	if v4, form, ok := embedded(ip); ok {
		if why, bad := judgeAddr(v4); bad {
			return form + " of " + v4.String() + ", " + why, true
		}
		return "", false
	}
	return judgeIn(v6Rules, ip)
}

func judgeIn(rs []rangeRule, ip netip.Addr) (string, bool) {
	for _, r := range rs {
		if r.prefix.Contains(ip) {
			return r.why, true
		}
	}
	return "", false
}

// embedded returns the IPv4 address an IPv6 address carries, and the name
// of the form.
func embedded(ip netip.Addr) (netip.Addr, string, bool) {
	b := ip.As16()
	last := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	switch {
	case mapped.Contains(ip):
		return last, "IPv4-mapped", true
	case compatible.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return last, "IPv4-compatible", true
	case nat64.Contains(ip), nat64Local.Contains(ip):
		return last, "NAT64", true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4", true
	case teredo.Contains(ip):
		// The client's address, obfuscated: each bit inverted.
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), "Teredo", true
	}
	return netip.Addr{}, "", false
}
