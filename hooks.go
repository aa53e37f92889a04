package courier

import (
	"errors"
	"net/http"
	"net/url"
)

// Hooks are functions courier calls as a request runs, for logging,
// metrics and tests. Every field is optional. They run on the request's
// goroutine and must not block; they must not change or read the bodies of
// what they are given.
//
// Several [WithHooks] options compose: each hook of each set is called, in
// the order the options were given; none replaces another.
type Hooks struct {
	// BeforeAttempt is called before each attempt is sent (Response, Err
	// and Duration are zero).
	BeforeAttempt func(AttemptInfo)
	// AfterAttempt is called when an attempt has finished, with its
	// response or its error. A failure that is not retried says why in
	// Reason when something stopped it (budget, deadline, breaker).
	AfterAttempt func(AttemptInfo)
	// OnRetry is called when courier has decided to send the request
	// again, before it waits: Reason says why, Wait for how long,
	// BudgetLeft what the retry left in the host's budget.
	OnRetry func(AttemptInfo)
	// OnRedirect is called before a redirect is followed, with the 3xx
	// response (its body not yet read) and where it leads.
	OnRedirect func(RedirectInfo)
	// OnError is called once when a request fails without a response: its
	// Err and Kind, Attempt (how many were made), Elapsed.
	OnError func(AttemptInfo)
	// OnCache is called for each request hop that the session's cache
	// (WithCache) looked up: a hit, a miss, a revalidation, a stale
	// response served.
	OnCache func(CacheInfo)
}

// RedirectInfo describes a redirect about to be followed.
type RedirectInfo struct {
	// Request is the request that got the redirect, Response the 3xx.
	Request  *http.Request
	Response *http.Response
	// To is where the redirect leads, and Hop its number, from 1.
	To  *url.URL
	Hop int
	// Stripped names the headers removed because the redirect changes
	// origin (credentials).
	Stripped []string
}

// WithHooks adds hooks to every request of the session.
func WithHooks(h Hooks) Option {
	return sessionOption(func(c *config) error {
		if h.BeforeAttempt == nil && h.AfterAttempt == nil && h.OnRetry == nil && h.OnRedirect == nil && h.OnError == nil && h.OnCache == nil {
			return &OptionError{"WithHooks", errors.New("no hook set")}
		}
		c.hooks = append(c.hooks, h)
		return nil
	})
}

// hookList calls each set's hooks in order.
type hookList []Hooks

func (l hookList) beforeAttempt(info AttemptInfo) {
	for _, h := range l {
		if h.BeforeAttempt != nil {
			h.BeforeAttempt(info)
		}
	}
}

func (l hookList) afterAttempt(info AttemptInfo) {
	for _, h := range l {
		if h.AfterAttempt != nil {
			h.AfterAttempt(info)
		}
	}
}

func (l hookList) onRetry(info AttemptInfo) {
	for _, h := range l {
		if h.OnRetry != nil {
			h.OnRetry(info)
		}
	}
}

func (l hookList) onRedirect(info RedirectInfo) {
	for _, h := range l {
		if h.OnRedirect != nil {
			h.OnRedirect(info)
		}
	}
}

func (l hookList) onCache(info CacheInfo) {
	for _, h := range l {
		if h.OnCache != nil {
			h.OnCache(info)
		}
	}
}

func (l hookList) onError(info AttemptInfo) {
	for _, h := range l {
		if h.OnError != nil {
			h.OnError(info)
		}
	}
}
