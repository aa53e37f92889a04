package courier

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A Pacer decides when attempts to an upstream may go: it gives out the
// turns of a rate limit and keeps the pauses that servers ask for (a 429's
// or 503's Retry-After, rate-limit headers that say nothing is left).
// [WithRateLimit] gives a session a pacer of its own, in process; one shared
// by a fleet of processes (package redisstore keeps its state in Redis)
// makes the fleet one client to the servers it shares: one quota, and a
// pause that one instance is asked for holds all of them back.
//
// The upstream is the request's host (host:port when the URL names a
// port); a pacer may map several to one quota. Durations are on the pacer's
// clock, so that processes whose clocks differ agree.
//
// The session calls Reserve before every attempt, retries and redirect hops
// included, and Pause after a response that asks for a pause. A Pacer must
// be safe for concurrent use, and should return at once when ctx ends.
type Pacer interface {
	// Reserve takes the next turn of upstream's rate limit for one
	// attempt and says how long the attempt must wait for it. While a
	// pause runs it takes no turn and returns the time left of the pause,
	// after which the session asks again. It must take no turn that comes
	// later than within from now (within < 0: no bound), and then returns
	// the wait with OK false. An error fails the attempt at once, unsent,
	// with an error of kind ErrRateLimited that wraps it.
	Reserve(ctx context.Context, upstream string, within time.Duration) (Reservation, error)
	// Pause holds every attempt to upstream back for d from now, or
	// longer if a pause already runs that ends later. Its context is not
	// the request's, which may end as the response arrives, but one of
	// its own, bounded by pauseTimeout. Its error is logged; the response
	// that asked for the pause is handed back as it is.
	Pause(ctx context.Context, upstream string, d time.Duration) error
}

// A Reservation is a [Pacer]'s answer for one attempt.
type Reservation struct {
	// Pause is the time left of a pause a server asked for; no turn was
	// taken.
	Pause time.Duration
	// Turn is the wait until the attempt's turn, when Pause is zero.
	Turn time.Duration
	// OK says the turn was taken: it comes within the bound asked for.
	OK bool
}

// WithPacer makes p pace the session's attempts, in place of the
// in-process pacer of [WithRateLimit], which cannot be given with it.
// Pauses that servers ask for go to p whether or not it limits the rate.
func WithPacer(p Pacer) Option {
	return sessionOption(func(c *config) error {
		if p == nil {
			return &OptionError{"WithPacer", errors.New("nil Pacer")}
		}
		c.pacer = p
		return nil
	})
}

// checkPacer refuses a session given both a Pacer and a rate limit: which
// one limits would be a guess.
func checkPacer(c *config) error {
	if c.pacer != nil && c.rateLimit != nil {
		return &OptionError{"WithPacer", errors.New("WithRateLimit configures the in-process pacer; give the rate limit to the Pacer instead")}
	}
	return nil
}

// waitPacer holds an attempt to upstream back for p, within the request's
// deadline dl (zero: none).
func waitPacer(ctx context.Context, p Pacer, upstream string, dl time.Time) (w waited, err error) {
	for {
		within := time.Duration(-1)
		if !dl.IsZero() {
			within = max(time.Until(dl), 0)
		}
		r, err := p.Reserve(ctx, upstream, within)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return w, ctx.Err()
			}
			// Of the kind ErrRateLimited, whatever the pacer's own
			// error is made of: a Redis timeout is not the upstream's.
			return w, fmt.Errorf("%w: pacer: %w", ErrRateLimited, err)
		case r.Pause > 0:
			if within >= 0 && r.Pause > within {
				return w, fmt.Errorf("%w: the server asked for a pause of %v", ErrRateLimited, r.Pause.Round(time.Millisecond))
			}
			if err := sleepCtx(ctx, r.Pause); err != nil {
				return w, err
			}
			w.paused += r.Pause
		case !r.OK:
			return w, fmt.Errorf("%w: next turn in %v", ErrRateLimited, r.Turn.Round(time.Millisecond))
		default:
			w.turn = r.Turn
			return w, sleepCtx(ctx, r.Turn)
		}
	}
}
