package courier

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// Pacing by the server's own rate-limit headers: when a response says the
// host has nothing left, every request to it waits for the reset, within
// its deadline, instead of provoking a 429. Read, in this order:
//
//   - RateLimit (draft-ietf-httpapi-ratelimit-headers): items such as
//     "default";r=0;t=5, r the requests left, t the seconds to the reset;
//   - RateLimit-Remaining with RateLimit-Reset (earlier drafts), seconds;
//   - X-RateLimit-Remaining with X-RateLimit-Reset (GitHub and many
//     others), the reset in seconds from now when it is at most a day,
//     else a Unix time in seconds.
//
// A value that does not parse is ignored; so is a reset past maxPace.
const maxPace = 24 * time.Hour

// exhaustedFor returns how long until a host whose response carried h has
// requests left again, and whether h says it has none now.
func exhaustedFor(h http.Header, now time.Time) (time.Duration, bool) {
	// The names are written canonical, so that Get does not copy them
	// on every response.
	if v := h.Get("Ratelimit"); v != "" {
		if d, ok := structuredRateLimit(v); ok {
			return d, d > 0
		}
	}
	for _, p := range [...][2]string{{"Ratelimit-Remaining", "Ratelimit-Reset"}, {"X-Ratelimit-Remaining", "X-Ratelimit-Reset"}} {
		remaining := h.Get(p[0])
		if remaining == "" {
			continue
		}
		reset := h.Get(p[1])
		if reset == "" {
			continue
		}
		r, err := strconv.ParseInt(strings.TrimSpace(remaining), 10, 64)
		if err != nil || r > 0 {
			return 0, false
		}
		d, ok := resetIn(reset, now)
		return d, ok && d > 0
	}
	return 0, false
}

// structuredRateLimit reads the draft's RateLimit field: a list of items,
// each with r (remaining) and t (seconds to reset). The wait is the longest
// t among items with r=0.
func structuredRateLimit(v string) (time.Duration, bool) {
	var wait time.Duration
	found := false
	for item := range strings.SplitSeq(v, ",") {
		var r, t int64 = -1, -1
		for param := range strings.SplitSeq(item, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			switch strings.TrimSpace(k) {
			case "r":
				r = n
			case "t":
				t = n
			}
		}
		if r == 0 && t >= 0 && time.Duration(t)*time.Second <= maxPace {
			wait, found = max(wait, time.Duration(t)*time.Second), true
		}
	}
	return wait, found
}

// resetIn reads a reset as seconds from now when it is at most a day (what
// pacing would wait at the most), or else as a Unix time in seconds.
func resetIn(v string, now time.Time) (time.Duration, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	d := time.Duration(n) * time.Second
	if n > int64(maxPace/time.Second) {
		d = time.Unix(n, 0).Sub(now)
	}
	if d > maxPace {
		return 0, false
	}
	return max(d, 0), true
}
