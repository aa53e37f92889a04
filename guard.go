package courier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Guard keeps a session from connecting where a URL a user supplied should
// not lead: the machine itself, the private network, the cloud's metadata
// service. Give it with [WithGuard] to a session that fetches such URLs
// (webhooks, link previews, importers).
//
// The guard judges the address actually dialed, after DNS, on every
// connection the session opens: a name that resolves to a private
// address, a DNS answer that changes between two lookups, a redirect to
// another host and a retry that resolves again are all checked. It
// refuses loopback, private (RFC 1918), shared (CGNAT, 100.64.0.0/10),
// link-local (169.254.0.0/16 and its metadata addresses, fe80::/10),
// unique-local (fc00::/7), multicast, broadcast, unspecified, reserved,
// documentation and benchmarking addresses, in IPv4 and IPv6. An IPv6
// address that carries an IPv4 one (IPv4-mapped and IPv4-compatible,
// NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo
// 2001::/32) is judged by the IPv4 address inside it, so NAT64 keeps
// working on IPv6-only networks while it cannot reach a private address.
// A host written as a number that some resolvers read as IPv4 and Go does
// not (2130706433, 0x7f000001, 0177.0.0.1, 127.1, 0) is refused.
//
// A refused connection fails before any byte leaves the machine, with an
// error of kind [ErrBlocked] that names the host, the address and the
// rule, and is never retried.
//
// A guarded session uses no proxy from the environment: behind a proxy
// the guard would judge the proxy's address, not the target's. [WithProxy]
// with a guard makes [New] fail unless TrustProxy is set; the proxy is then
// the trust boundary (it must refuse private targets itself), and the
// guard still judges the proxy's own address (list it in Allow).
type Guard struct {
	// Allow lists exceptions: address prefixes ("10.20.0.0/16",
	// "fd00:1::/64", or one address) that may be dialed although a rule
	// refuses them, and host:port pairs ("metrics.internal:9100") that
	// may be dialed whatever they resolve to.
	Allow []string
	// Ports, when not empty, are the only ports that may be dialed.
	Ports []int
	// Resolver resolves host names; a *net.Resolver fits. Default: the
	// Dialer's Resolver, else net.DefaultResolver.
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
	// Dialer dials the address once the guard has allowed it; its
	// Control, LocalAddr and other settings apply (its Timeout, when
	// zero, is the session's Timeouts.Dial). Default: the session's own.
	Dialer *net.Dialer
	// TrustProxy lets a guarded session use the proxy given with
	// WithProxy.
	TrustProxy bool
}

// WithGuard turns on the [Guard] for every connection the session opens,
// including those of [Session.Client]. It needs courier's own transport:
// with [WithTransport], [New] fails.
func WithGuard(g Guard) Option {
	return sessionOption(func(c *config) error {
		for _, a := range g.Allow {
			if _, err := parseAllow(a); err != nil {
				return &OptionError{"WithGuard.Allow", err}
			}
		}
		for _, p := range g.Ports {
			if p < 1 || p > 65535 {
				return &OptionError{"WithGuard.Ports", fmt.Errorf("port %d out of range", p)}
			}
		}
		g.Allow = append([]string(nil), g.Allow...)
		g.Ports = append([]int(nil), g.Ports...)
		c.guard = &g
		return nil
	})
}

// checkGuard refuses the combinations a guard cannot make safe. It runs
// once every option is applied.
func checkGuard(c *config) error {
	switch {
	case c.guard == nil:
		return nil
	case c.transport != nil:
		return &OptionError{"WithGuard", errors.New("the guard checks courier's own dialer, and WithTransport replaces it")}
	case c.proxySet && c.proxy != nil && !c.guard.TrustProxy:
		return &OptionError{"WithGuard", errors.New("behind a proxy the guard judges the proxy, not the target: set Guard.TrustProxy to make the proxy the trust boundary")}
	}
	return nil
}

// guardRules is a Guard, parsed.
type guardRules struct {
	prefixes  []netip.Prefix
	hostPorts map[string]bool
	ports     map[int]bool
	resolver  interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
	dialer *net.Dialer
}

// allowEntry is one parsed Allow entry: a prefix, or a host:port.
type allowEntry struct {
	prefix   netip.Prefix
	hostPort string
}

func parseAllow(a string) (allowEntry, error) {
	if p, err := netip.ParsePrefix(a); err == nil {
		return allowEntry{prefix: p.Masked()}, nil
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		return allowEntry{prefix: netip.PrefixFrom(ip.WithZone(""), ip.BitLen())}, nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return allowEntry{}, fmt.Errorf("%q is neither an address prefix nor a host:port", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return allowEntry{}, fmt.Errorf("%q: bad port", a)
	}
	return allowEntry{hostPort: guardName(host) + ":" + port}, nil
}

func newGuardRules(g *Guard, session *net.Dialer) *guardRules {
	r := &guardRules{hostPorts: map[string]bool{}, resolver: g.Resolver, dialer: session}
	for _, a := range g.Allow {
		e, _ := parseAllow(a) // checked by WithGuard
		if e.hostPort != "" {
			r.hostPorts[e.hostPort] = true
		} else {
			r.prefixes = append(r.prefixes, e.prefix)
		}
	}
	if len(g.Ports) > 0 {
		r.ports = map[int]bool{}
		for _, p := range g.Ports {
			r.ports[p] = true
		}
	}
	if g.Dialer != nil {
		d := *g.Dialer
		if d.Timeout == 0 {
			d.Timeout = session.Timeout
		}
		r.dialer = &d
	}
	if r.resolver == nil {
		if r.dialer.Resolver != nil {
			r.resolver = r.dialer.Resolver
		} else {
			r.resolver = net.DefaultResolver
		}
	}
	return r
}

// blocked is the error of a refused dial of host.
func blocked(host, format string, args ...any) error {
	why := fmt.Sprintf(format, args...)
	if _, err := netip.ParseAddr(host); err == nil {
		return fmt.Errorf("%w: %s", ErrBlocked, why) // why names the address
	}
	return fmt.Errorf("%w: %s: %s", ErrBlocked, host, why)
}

// dial resolves addr, judges each address, and dials the first allowed
// one that answers.
func (r *guardRules) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, blocked(addr, "port %q is not a number", portStr)
	}
	if r.ports != nil && !r.ports[port] {
		return nil, blocked(addr, "port %d is not among the ports allowed", port)
	}
	name := guardName(host)
	excepted := r.hostPorts[name+":"+portStr]
	ips, err := r.resolve(ctx, network, name)
	if err != nil {
		return nil, err
	}
	var refused error
	for _, ip := range ips {
		if rule, bad := r.judge(ip); bad && !excepted {
			if refused == nil {
				refused = blocked(host, "%s is %s", ip, rule)
			}
			continue
		}
		conn, err := r.dialer.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		refused = err
	}
	if refused == nil {
		return nil, &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
	}
	return nil, refused
}

// guardName is host as the guard compares and resolves it: an address
// as written (a zone may end in a dot: "::1%." is ::1), a name in lower
// case without the dot that makes it fully qualified.
func guardName(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return host
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// resolve returns the addresses of host: the host itself when it is an
// address, those DNS gives for a name. A number that is not a canonical
// IPv4 address is refused.
func (r *guardRules) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if numericHost(host) {
		return nil, blocked(host, "a host written as a number is read as an IPv4 address by some resolvers and proxies")
	}
	fam := "ip"
	switch network {
	case "tcp4":
		fam = "ip4"
	case "tcp6":
		fam = "ip6"
	}
	return r.resolver.LookupNetIP(ctx, fam, host)
}

// numericHost reports whether host is all digits, dots and hex spellings:
// a form of IPv4 address (decimal 2130706433, hex 0x7f000001, octal
// 0177.0.0.1, short 127.1) that inet_aton reads and Go does not. No host
// name has a numeric last label.
func numericHost(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") || strings.HasPrefix(last, "0X") {
		_, err := strconv.ParseUint(last[2:], 16, 64)
		return err == nil || last[2:] == ""
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// judge returns the rule that refuses ip, if one does and no Allow prefix
// excepts it.
func (r *guardRules) judge(ip netip.Addr) (string, bool) {
	ip = ip.WithZone("")
	rule, bad := judgeAddr(ip)
	if !bad {
		return "", false
	}
	for _, p := range r.prefixes {
		if p.Contains(ip) {
			return "", false
		}
	}
	return rule, true
}
