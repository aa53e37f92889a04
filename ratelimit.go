package courier

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited: the session's own rate limit (see [WithRateLimit]), or a
// server's 429 Retry-After pause, would have made the request wait past its
// deadline, so it failed at once without being sent.
var ErrRateLimited = errors.New("courier: rate limit wait exceeds the deadline")

// RateLimit paces the attempts a session sends to each host.
type RateLimit struct {
	// PerSecond is the steady rate of attempts per host; it must be
	// positive.
	PerSecond float64
	// Burst is how many attempts may go at once after a quiet spell
	// (default: PerSecond rounded up, at least 1).
	Burst int
}

// WithRateLimit paces attempts per host on the client side, with
// golang.org/x/time/rate. A request waits for its turn within its deadline,
// and fails at once with [ErrRateLimited] when its turn would come after it.
// With a rate limit, a 429 response with a Retry-After hint also holds back
// every request to that host until the hint has passed.
func WithRateLimit(l RateLimit) Option {
	return sessionOption(func(c *config) error {
		if !(l.PerSecond > 0) || math.IsInf(l.PerSecond, 0) {
			return &OptionError{"WithRateLimit.PerSecond", fmt.Errorf("must be a positive number, got %v", l.PerSecond)}
		}
		if l.Burst < 0 {
			return &OptionError{"WithRateLimit.Burst", fmt.Errorf("must not be negative, got %d", l.Burst)}
		}
		if l.Burst == 0 {
			l.Burst = max(1, int(math.Ceil(l.PerSecond)))
		}
		c.rateLimit = &l
		return nil
	})
}

// host is what layer 2 keeps per host: the retry budget, the breaker, the
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
	now     func() time.Time
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
		x.breaker = &breaker{p: h.breaker, now: h.now}
	}
	if h.limit != nil {
		x.limiter = rate.NewLimiter(rate.Limit(h.limit.PerSecond), h.limit.Burst)
	}
	v, _ := h.m.LoadOrStore(name, x)
	return v.(*host)
}

// wait holds an attempt back for a 429 pause and the rate limiter, within
// ctx's deadline.
func (x *host) wait(ctx context.Context) error {
	if until := x.pausedUntil.Load(); until != 0 {
		d := time.Until(time.Unix(0, until))
		if d > 0 {
			if dl, ok := ctx.Deadline(); ok && time.Now().Add(d).After(dl) {
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
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(d).After(dl) {
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
