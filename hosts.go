package courier

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// host is what the retry loop keeps per host: the retry budget, the breaker, the
// rate limiter, and a pause asked for by a 429.
type host struct {
	budget  *budget
	breaker hostBreaker
	limiter *rate.Limiter
	// pausedUntil is a UnixNano time before which no attempt goes (429).
	pausedUntil atomic.Int64
	// used is when the host was last asked for, in Unix seconds.
	used atomic.Int64
}

// hosts holds the per-host state of a session, created on first use and
// forgotten when idle: a session that talks to many hosts (a crawler, a
// webhook sender) keeps the state of those it used lately, not of every
// host it ever met.
type hosts struct {
	m         sync.Map // host string -> *host
	n         atomic.Int64
	lastSweep atomic.Int64 // Unix seconds
	budget    *RetryBudget
	breaker   *BreakerPolicy
	limit     *RateLimit
}

// Forgetting idle hosts: once a session knows more than sweepAbove hosts, a
// new one makes it forget, at most once a minute, those unused for hostIdle
// whose state is back to what a new host's would be but for its budget (a
// closed breaker, no 429 pause). A forgotten host that comes back starts
// with a full budget: after ten quiet minutes that is what it has earned.
const (
	sweepAbove    = 1024
	hostIdle      = 10 * time.Minute
	sweepInterval = time.Minute
)

// get returns the state of host name, used at now (the retry loop's start:
// no clock read of its own on the request path).
func (h *hosts) get(name string, at time.Time) *host {
	now := at.Unix()
	if v, ok := h.m.Load(name); ok {
		x := v.(*host)
		if x.used.Load() != now {
			x.used.Store(now)
		}
		return x
	}
	x := h.newHost(name)
	x.used.Store(now)
	v, loaded := h.m.LoadOrStore(name, x)
	if !loaded && h.n.Add(1) > sweepAbove {
		h.sweep(now)
	}
	return v.(*host)
}

// sweep forgets the idle hosts, when the last sweep is a minute old.
func (h *hosts) sweep(now int64) {
	last := h.lastSweep.Load()
	if now-last < int64(sweepInterval/time.Second) || !h.lastSweep.CompareAndSwap(last, now) {
		return
	}
	idle := int64(hostIdle / time.Second)
	h.m.Range(func(k, v any) bool {
		x := v.(*host)
		if now-x.used.Load() >= idle && x.settled() && h.m.CompareAndDelete(k, v) {
			h.n.Add(-1)
		}
		return true
	})
}

// settled reports whether nothing but the budget sets the host apart from
// a new one: its breaker is closed and no 429 pause is pending.
func (x *host) settled() bool {
	if x.breaker != nil && x.breaker.current() != BreakerClosed {
		return false
	}
	return x.pausedUntil.Load() <= time.Now().UnixNano()
}

// newHost makes a host's state as the session's policies say.
func (h *hosts) newHost(name string) *host {
	x := &host{}
	if h.budget != nil {
		x.budget = &budget{cap: int64(h.budget.Capacity)}
		x.budget.tokens.Store(x.budget.cap)
	}
	switch {
	case h.breaker != nil && h.breaker.Store != nil:
		x.breaker = &sharedBreaker{store: h.breaker.Store, upstream: name, p: h.breaker}
	case h.breaker != nil:
		x.breaker = &breaker{p: h.breaker, now: time.Now}
	}
	if h.limit != nil {
		x.limiter = rate.NewLimiter(rate.Limit(h.limit.PerSecond), h.limit.Burst)
	}
	return x
}

// wait holds an attempt back for a pause the server asked for (a 429, or
// rate-limit headers that say nothing is left) and for the rate limiter,
// within the request's deadline dl (zero: none).
func (x *host) wait(ctx context.Context, dl time.Time) (w waited, err error) {
	if until := x.pausedUntil.Load(); until != 0 {
		d := time.Until(time.Unix(0, until))
		if d > 0 {
			if !dl.IsZero() && time.Now().Add(d).After(dl) {
				return w, fmt.Errorf("%w: the server asked for a pause of %v", ErrRateLimited, d.Round(time.Millisecond))
			}
			if err := sleepCtx(ctx, d); err != nil {
				return w, err
			}
			w.paused = d
		}
	}
	w.turn, err = x.waitLimiter(ctx, dl)
	return w, err
}

// waited is how long an attempt was held back: for a pause the server
// asked for, and for its turn of the rate limit.
type waited struct {
	paused, turn time.Duration
}

// waitLimiter waits for the session's own rate limiter, within dl, and
// returns how long it waited.
func (x *host) waitLimiter(ctx context.Context, dl time.Time) (time.Duration, error) {
	if x.limiter == nil {
		return 0, nil
	}
	r := x.limiter.Reserve()
	d := r.Delay()
	if d == 0 {
		return 0, nil
	}
	if !dl.IsZero() && time.Now().Add(d).After(dl) {
		r.Cancel()
		return 0, fmt.Errorf("%w: next turn in %v", ErrRateLimited, d.Round(time.Millisecond))
	}
	if err := sleepCtx(ctx, d); err != nil {
		r.Cancel()
		return 0, err
	}
	return d, nil
}

// pause holds back every attempt to the host for d (a 429's Retry-After).
func (x *host) pause(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := x.pausedUntil.Load()
		if cur >= until || x.pausedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// budgetLeft returns the tokens in the host's retry budget, or -1.
func (x *host) budgetLeft() int {
	if x.budget == nil {
		return -1
	}
	return int(x.budget.tokens.Load())
}

// budget is one host's token bucket.
type budget struct {
	tokens atomic.Int64
	cap    int64
}

func (b *budget) take(n int) bool {
	for {
		cur := b.tokens.Load()
		if cur < int64(n) {
			return false
		}
		if b.tokens.CompareAndSwap(cur, cur-int64(n)) {
			return true
		}
	}
}

func (b *budget) refund(n int) {
	for {
		cur := b.tokens.Load()
		next := min(cur+int64(n), b.cap)
		if cur == next || b.tokens.CompareAndSwap(cur, next) {
			return
		}
	}
}
