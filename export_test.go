package courier

import (
	"context"
	"net"
	"net/netip"
)

// Internals for the tests in package courier_test.

// Classify is classify, for a table of the standard library's errors.
var Classify = classify

// MaxErrorBody is the cap on StatusError.Body.
const MaxErrorBody = maxErrorBody

// Version is courier's version, as the default User-Agent sends it.
const Version = version

// ParseRetryAfter is parseRetryAfter, for its table and fuzz tests.
var ParseRetryAfter = parseRetryAfter

// ExhaustedFor is exhaustedFor, for its fuzz test.
var ExhaustedFor = exhaustedFor

// GateAddrs returns how many addresses the connection gate of s holds
// state for (-1: s has no gate, its transport being another).
func GateAddrs(s *Session) int {
	g, ok := s.base.(gatedTransport)
	if !ok {
		return -1
	}
	g.gate.mu.Lock()
	defer g.gate.mu.Unlock()
	return len(g.gate.addrs)
}

// GuardVerdict judges host (a name or an address, as a URL gives it) as a
// guard with allow would, without resolving names or dialing: "" when it
// passes (a name passes, as no address is known for it), else the error
// text.
func GuardVerdict(host string, allow ...string) string {
	r := newGuardRules(&Guard{Allow: allow, Resolver: noDNS{}}, &net.Dialer{})
	ips, err := r.resolve(context.Background(), "tcp", guardName(host))
	if err != nil {
		return err.Error()
	}
	for _, ip := range ips {
		if rule, bad := r.judge(ip); bad {
			return blocked(host, "%s is %s", ip, rule).Error()
		}
	}
	return ""
}

// noDNS resolves nothing: tests never send a DNS query.
type noDNS struct{}

func (noDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) { return nil, nil }

// WithClientCertClock makes the session read the time from now, instead of
// time.Now, when it decides whether to look at the files of the
// WithClientCertFiles given before it, which it needs.
func WithClientCertClock(now nowFunc) Option {
	return sessionOption(func(c *config) error {
		c.clientCert.now = now
		return nil
	})
}

// CloseIdleConnections closes the idle connections of s, so that its next
// request makes a new one.
func CloseIdleConnections(s *Session) { s.closeIdle() }
