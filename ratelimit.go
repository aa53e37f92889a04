package courier

import (
	"fmt"
	"math"
)

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
