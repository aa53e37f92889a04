package courier

import (
	"net/http"
	"sync/atomic"
)

// Stats is a snapshot of a session's counters since New; see
// [Session.Stats]. Counting is cheap enough to leave on: atomic counters on
// the request path, no locks, no allocations.
type Stats struct {
	// Requests counts logical requests started (each redirect hop and retry
	// is part of its request); InFlight those not finished, streamed bodies
	// not yet closed included.
	Requests int64
	InFlight int64
	// Attempts counts attempts sent, retries and hedged copies included.
	Attempts int64
	// Paced counts the attempts held back because the server had asked
	// for a pause: a 429's Retry-After (with a rate limit), or rate-limit
	// headers that said nothing was left until a reset; with a Pacer, a
	// pause any process sharing it was asked for. Throttled counts those
	// that waited for their turn of the rate limit.
	Paced     int64
	Throttled int64
	// RetriesByStatus counts the retries after a status (503: n), and
	// RetriesByKind those after a failure without a response, by its kind.
	RetriesByStatus map[int]int64
	RetriesByKind   map[Kind]int64
	// Failures counts requests that failed, by kind. Statuses counts the
	// others by the class of their final response, "1xx" to "5xx". A
	// request counts once, when its outcome is known: a response whose body
	// breaks while courier or the caller reads it is a failure, whatever
	// status came first; a streamed one counts when its body ends or is
	// closed.
	Failures map[Kind]int64
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
	// Cache counts what the session's cache did (WithCache).
	Cache CacheStats
}

// counters are the session's live counts behind Stats.
type counters struct {
	requests, attempts    atomic.Int64
	paced                 atomic.Int64
	throttled             atomic.Int64
	connsNew, connsReused atomic.Int64
	statuses              [6]atomic.Int64 // by StatusCode/100; 0 for anything else
	failures              [kindCount]atomic.Int64
	retriedKinds          [kindCount]atomic.Int64
	retriedStatuses       [600]atomic.Int64 // by StatusCode; 0 for anything else
}

func (c *counters) status(code int) {
	i := code / 100
	if i < 1 || i > 5 {
		i = 0
	}
	c.statuses[i].Add(1)
}

func (c *counters) failure(kind Kind) {
	if kind < kindCount {
		c.failures[kind].Add(1)
	}
}

// retried counts a retry after resp, or after a failure of kind.
func (c *counters) retried(resp *http.Response, kind Kind) {
	switch {
	case resp != nil && resp.StatusCode >= 100 && resp.StatusCode < 600:
		c.retriedStatuses[resp.StatusCode].Add(1)
	case resp != nil:
		c.retriedStatuses[0].Add(1)
	case kind < kindCount:
		c.retriedKinds[kind].Add(1)
	}
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	st := Stats{
		Requests:        s.stats.requests.Load(),
		InFlight:        s.state.Load() &^ closedBit,
		Attempts:        s.stats.attempts.Load(),
		Paced:           s.stats.paced.Load(),
		Throttled:       s.stats.throttled.Load(),
		RetriesByStatus: map[int]int64{},
		RetriesByKind:   map[Kind]int64{},
		Failures:        map[Kind]int64{},
		Statuses:        map[string]int64{},
		ConnsOpened:     s.stats.connsNew.Load(),
		ConnsReused:     s.stats.connsReused.Load(),
		BudgetLeft:      make(map[string]int, s.hosts.n.Load()),
	}
	if s.cache != nil {
		st.Cache = s.cache.stats.snapshot()
	}
	for k := range kindCount {
		if n := s.stats.failures[k].Load(); n > 0 {
			st.Failures[k] = n
		}
		if n := s.stats.retriedKinds[k].Load(); n > 0 {
			st.RetriesByKind[k] = n
		}
	}
	for code := range s.stats.retriedStatuses {
		if n := s.stats.retriedStatuses[code].Load(); n > 0 {
			st.RetriesByStatus[code] = n
		}
	}
	for i := 1; i <= 5; i++ {
		if n := s.stats.statuses[i].Load(); n > 0 {
			st.Statuses[string(rune('0'+i))+"xx"] = n
		}
	}
	if s.hosts.breaker != nil {
		st.Breakers = make(map[string]BreakerState, s.hosts.n.Load())
	}
	s.hosts.m.Range(func(k, v any) bool {
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
