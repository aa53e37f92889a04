package courier

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
