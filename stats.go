package courier

import (
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of a session's counters since New; see
// [Session.Stats]. Counting is cheap enough to leave on: atomic counters on
// the request path, no locks, no allocations for a request that succeeds.
type Stats struct {
	// Requests counts logical requests started (each redirect hop and retry
	// is part of its request); InFlight those not finished, streamed bodies
	// not yet closed included.
	Requests int64
	InFlight int64
	// Attempts counts attempts sent, retries, hedges and net/http's own
	// resends included.
	Attempts int64
	// Retries counts retries by reason: a status ("503") or a failure kind
	// ("timeout", "connection lost").
	Retries map[string]int64
	// Failures counts requests that failed without a response, by kind
	// ("timeout", "connect failed", "circuit open", ...).
	Failures map[string]int64
	// Statuses counts final responses by class: "1xx" to "5xx".
	Statuses map[string]int64
	// ConnsOpened counts the connections the session opened (TCP
	// connections its dialer made; with WithTransport, the attempts that
	// did not get a pooled connection). ConnsReused counts the attempts
	// that got a connection from the pool. A connection dialed for a
	// request that got a pooled one first joins the pool: it is opened
	// once and its first use is a reuse.
	ConnsOpened int64
	ConnsReused int64
	// BudgetLeft is the retry budget left per host that has one.
	BudgetLeft map[string]int
	// Breakers is the circuit breaker's state per host, when the session
	// has breakers.
	Breakers map[string]BreakerState
}

// counters are the session's live counts behind Stats.
type counters struct {
	requests, attempts    atomic.Int64
	connsNew, connsReused atomic.Int64
	statuses              [6]atomic.Int64 // by StatusCode/100; 0 for anything else
	retries, failures     countMap
}

// countMap counts by name. Names are few (statuses, kinds), so entries are
// made once and then only loaded.
type countMap struct{ m sync.Map } // string -> *atomic.Int64

func (c *countMap) add(name string) {
	v, ok := c.m.Load(name)
	if !ok {
		v, _ = c.m.LoadOrStore(name, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (c *countMap) snapshot() map[string]int64 {
	out := map[string]int64{}
	c.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

func (c *counters) status(code int) {
	i := code / 100
	if i < 1 || i > 5 {
		i = 0
	}
	c.statuses[i].Add(1)
}

func (c *counters) failure(kind error) {
	name := "other"
	if kind != nil {
		name = kindText(kind)
	}
	c.failures.add(name)
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	st := Stats{
		Requests:    s.stats.requests.Load(),
		InFlight:    s.state.Load() &^ closedBit,
		Attempts:    s.stats.attempts.Load(),
		Retries:     s.stats.retries.snapshot(),
		Failures:    s.stats.failures.snapshot(),
		Statuses:    map[string]int64{},
		ConnsOpened: s.stats.connsNew.Load(),
		ConnsReused: s.stats.connsReused.Load(),
		BudgetLeft:  map[string]int{},
	}
	for i := 1; i <= 5; i++ {
		if n := s.stats.statuses[i].Load(); n > 0 {
			st.Statuses[string(rune('0'+i))+"xx"] = n
		}
	}
	if s.retrier.hosts.breaker != nil {
		st.Breakers = map[string]BreakerState{}
	}
	s.retrier.hosts.m.Range(func(k, v any) bool {
		h := v.(*host)
		if h.budget != nil {
			st.BudgetLeft[k.(string)] = h.budgetLeft()
		}
		if h.breaker != nil {
			st.Breakers[k.(string)] = h.breaker.current()
		}
		return true
	})
	return st
}
