package courier

import "errors"

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
}

// WithHooks adds hooks to every request of the session.
func WithHooks(h Hooks) Option {
	return sessionOption(func(c *config) error {
		if h.BeforeAttempt == nil && h.AfterAttempt == nil && h.OnRetry == nil {
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
