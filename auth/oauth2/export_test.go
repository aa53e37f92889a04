package oauth2

import (
	"time"

	"github.com/courierhttp/courier"
)

// WithClock makes the layer read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) error {
		c.now = now
		return nil
	})
}

// NewProbed is New, with a func that reports how many requests have waited
// for the refresh in flight (0 when there is none).
func NewProbed(src Source, opts ...Option) (courier.Middleware, func() int) {
	c := newCache(src, opts)
	return c.middleware, func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.flight == nil {
			return 0
		}
		return c.flight.waiters
	}
}
