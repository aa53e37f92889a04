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
	breaker *breaker
	limiter *rate.Limiter
	// pausedUntil is a UnixNano time before which no attempt goes (429).
	pausedUntil atomic.Int64
}

// hosts holds the per-host state of a session, created on first use.
type hosts struct {
	m       sync.Map // host string -> *host
	budget  *RetryBudget
	breaker *BreakerPolicy
	limit   *RateLimit
}

func (h *hosts) get(name string) *host {
	if v, ok := h.m.Load(name); ok {
		return v.(*host)
	}
	x := &host{}
	if h.budget != nil {
		x.budget = &budget{cap: int64(h.budget.Capacity)}
		x.budget.tokens.Store(x.budget.cap)
	}
	if h.breaker != nil {
		x.breaker = &breaker{p: h.breaker, now: time.Now}
	}
	if h.limit != nil {
		x.limiter = rate.NewLimiter(rate.Limit(h.limit.PerSecond), h.limit.Burst)
	}
	v, _ := h.m.LoadOrStore(name, x)
	return v.(*host)
}

// wait holds an attempt back for a 429 pause and the rate limiter, within
// the request's deadline dl (zero: none).
func (x *host) wait(ctx context.Context, dl time.Time) error {
	if until := x.pausedUntil.Load(); until != 0 {
		d := time.Until(time.Unix(0, until))
		if d > 0 {
			if !dl.IsZero() && time.Now().Add(d).After(dl) {
				return fmt.Errorf("%w: the server asked for a pause of %v", ErrRateLimited, d.Round(time.Millisecond))
			}
			if err := sleepCtx(ctx, d); err != nil {
				return err
			}
		}
	}
	if x.limiter == nil {
		return nil
	}
	r := x.limiter.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	if !dl.IsZero() && time.Now().Add(d).After(dl) {
		r.Cancel()
		return fmt.Errorf("%w: next turn in %v", ErrRateLimited, d.Round(time.Millisecond))
	}
	if err := sleepCtx(ctx, d); err != nil {
		r.Cancel()
		return err
	}
	return nil
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
