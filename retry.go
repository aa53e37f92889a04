package courier

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// RetryPolicy says which failed attempts are sent again and how long to wait
// between them. A zero field means the default given beside it.
//
// Whatever the policy says, courier never retries: a request whose body
// cannot be replayed; a POST, PATCH or other non-idempotent request unless it
// carries an Idempotency-Key header or nothing was sent (a failure to
// connect); a status that no retry can change (see [DefaultShouldRetry]); an
// attempt after the response body was handed to the caller.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included (default
	// 3). 1 turns retries off.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the default backoff: exponential with
	// full jitter, the wait before retry n drawn uniformly from
	// [0, min(MaxDelay, BaseDelay*2^(n-1))] (defaults 100ms and 20s).
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter caps the wait a server may ask for with Retry-After
	// (default 60s). A longer hint ends the retries at once with
	// [ErrRetryAfterTooLong].
	MaxRetryAfter time.Duration
	// AttemptTimeout bounds each attempt, up to the response headers
	// (default: none beyond the request's own timeout). An attempt that
	// times out is retried like any other timeout.
	AttemptTimeout time.Duration
	// ShouldRetry decides whether a failed attempt is worth another, once
	// the rules above allow one (default [DefaultShouldRetry]).
	ShouldRetry func(AttemptInfo) bool
	// Backoff returns the wait before the next attempt (default: the full
	// jitter described above). A Retry-After hint overrides it upward.
	Backoff func(AttemptInfo) time.Duration
	// Budget bounds retries per host.
	Budget RetryBudget
	// HedgeAfter turns hedging on: an attempt of an idempotent request
	// (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, with a replayable body)
	// that has not answered after HedgeAfter gets a copy sent beside it,
	// and the first good response wins (default 0: no hedging). Set it
	// near the latency percentile to cut, such as the p95. Each copy draws
	// RetryCost from the host's budget.
	HedgeAfter time.Duration
	// MaxHedges is how many extra copies an attempt may get (default 1).
	MaxHedges int
}

// RetryBudget is a token bucket per host in the style of the AWS SDKs'
// standard retry mode: each retry takes tokens, each first-try success puts
// one back, and an empty bucket means failures are returned at once. With the
// defaults, a host that fails every request gets at most 100 retries from a
// full bucket, and then about one attempt per request: retries do not
// multiply an outage. A zero field means the default given beside it.
type RetryBudget struct {
	// Capacity is the bucket's size, and where it starts (default 500).
	Capacity int
	// RetryCost is taken per retry (default 5), TimeoutCost per retry after
	// a timeout (default twice RetryCost, at most Capacity: 10).
	RetryCost   int
	TimeoutCost int
	// SuccessRefund is put back for each request that succeeds on its first
	// attempt (default 1).
	SuccessRefund int
	// Disabled turns the budget off: retries are bounded by MaxAttempts
	// alone.
	Disabled bool
}

// The defaults of RetryPolicy and RetryBudget.
const (
	defaultMaxAttempts   = 3
	defaultBaseDelay     = 100 * time.Millisecond
	defaultMaxDelay      = 20 * time.Second
	defaultMaxRetryAfter = 60 * time.Second
	defaultBudget        = 500
	defaultRetryCost     = 5
	defaultSuccessRefund = 1
)

// AttemptInfo describes an attempt, for the policy functions and hooks.
type AttemptInfo struct {
	// Request is the attempt's request. Do not change it.
	Request *http.Request
	// Attempt is the attempt's number, from 1.
	Attempt int
	// Response is the attempt's response, or nil when it failed. Its body
	// has not been read: do not read or close it.
	Response *http.Response
	// Err is why the attempt failed, when it did, and Kind its kind (0
	// when it did not fail).
	Err  error
	Kind Kind
	// Stop says why a failed attempt was not retried, when something other
	// than the retry policy decided it (ErrRetryBudget, ErrRetryDeadline,
	// ErrRetryAfterTooLong, ErrMaybeApplied, ErrBodyNotReplayable,
	// ErrCircuitOpen); 0 otherwise.
	Stop Kind
	// Elapsed is the time since the request's first attempt started.
	Elapsed time.Duration
	// Duration is how long this attempt took (0 before it is sent).
	Duration time.Duration
	// Wait is the pause chosen before the next attempt (OnRetry only).
	Wait time.Duration
	// BudgetLeft is the host's retry budget after this attempt, or -1
	// when the session has none.
	BudgetLeft int
	// Reused reports whether the attempt's connection came from the pool.
	Reused bool
	// Paced is how long the attempt was held back, before it was sent,
	// because the server had said it had no requests left for now (its
	// rate-limit headers, or a 429's Retry-After for the whole host); 0
	// when it was not. Such attempts are counted in Stats.Paced.
	Paced time.Duration
	// Throttled is how long the attempt waited for its turn of the rate
	// limit (WithRateLimit, or a Pacer's); counted in Stats.Throttled.
	Throttled time.Duration
}

// statusRule is what a response status means to courier. One table,
// statusRuleOf, holds it; the retry loop, the default retry policy, the
// breaker, hedging and the logs all read it.
type statusRule struct {
	// transient: a later attempt may get another answer, so a policy may
	// retry it (and a hedged copy that got it loses). Every other status
	// is the server's answer and is never retried.
	transient bool
	// retried: DefaultShouldRetry retries it.
	retried bool
	// failure: the server failed (5xx); the default breaker counts it.
	failure bool
}

// statusRuleOf is the table:
//
//	status                  transient  retried  failure
//	408, 425, 429           yes        yes      no
//	502, 503, 504           yes        yes      yes
//	501 Not Implemented     no         no       yes
//	other 5xx (500, ...)    yes        no       yes
//	every other status      no         no       no
func statusRuleOf(code int) statusRule {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return statusRule{transient: true, retried: true}
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return statusRule{transient: true, retried: true, failure: true}
	case http.StatusNotImplemented:
		return statusRule{failure: true}
	}
	if code >= 500 && code < 600 {
		return statusRule{transient: true, failure: true}
	}
	return statusRule{}
}

// DefaultShouldRetry retries failures that a later attempt may not meet:
// failures to connect or resolve, timeouts, lost connections, and the
// statuses 408, 425, 429, 502, 503 and 504. A response header
// "X-Should-Retry: false" vetoes a retry and "true" asks for one (of a
// status a retry may change: never a 4xx but 408, 425 and 429, nor a 501).
func DefaultShouldRetry(info AttemptInfo) bool {
	if info.Response != nil {
		switch strings.ToLower(info.Response.Header.Get("X-Should-Retry")) {
		case "false":
			return false
		case "true":
			return true
		}
		return statusRuleOf(info.Response.StatusCode).retried
	}
	switch info.Kind {
	case ErrConnect, ErrDNS, ErrTimeout, ErrConnectTimeout, ErrConnLost:
		return true
	}
	return false
}

func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 {
		return p, &OptionError{"WithRetry.MaxAttempts", fmt.Errorf("must not be negative, got %d", p.MaxAttempts)}
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = defaultMaxAttempts
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"BaseDelay", &p.BaseDelay, defaultBaseDelay},
		{"MaxDelay", &p.MaxDelay, defaultMaxDelay},
		{"MaxRetryAfter", &p.MaxRetryAfter, defaultMaxRetryAfter},
		{"AttemptTimeout", &p.AttemptTimeout, 0},
		{"HedgeAfter", &p.HedgeAfter, 0},
	} {
		if *f.v < 0 {
			return p, &OptionError{"WithRetry." + f.name, fmt.Errorf("negative duration %v", *f.v)}
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if p.MaxDelay < p.BaseDelay {
		return p, &OptionError{"WithRetry.MaxDelay", fmt.Errorf("cap %v is below the base delay %v", p.MaxDelay, p.BaseDelay)}
	}
	if p.ShouldRetry == nil {
		p.ShouldRetry = DefaultShouldRetry
	}
	switch {
	case p.MaxHedges < 0:
		return p, &OptionError{"WithRetry.MaxHedges", fmt.Errorf("must not be negative, got %d", p.MaxHedges)}
	case p.MaxHedges == 0:
		p.MaxHedges = 1
	}
	var err error
	p.Budget, err = p.Budget.withDefaults()
	return p, err
}

func (b RetryBudget) withDefaults() (RetryBudget, error) {
	if b.Disabled {
		return b, nil
	}
	if b.Capacity < 0 || b.RetryCost < 0 || b.TimeoutCost < 0 || b.SuccessRefund < 0 {
		return b, &OptionError{"WithRetry.Budget", errors.New("budget numbers must not be negative")}
	}
	if b.Capacity == 0 {
		b.Capacity = defaultBudget
	}
	if b.RetryCost == 0 {
		b.RetryCost = defaultRetryCost
	}
	if b.TimeoutCost == 0 {
		// Twice a retry, as the defaults (5 and 10) are, within the
		// capacity the user chose.
		b.TimeoutCost = min(2*b.RetryCost, b.Capacity)
	}
	if b.SuccessRefund == 0 {
		b.SuccessRefund = defaultSuccessRefund
	}
	if b.RetryCost > b.Capacity || b.TimeoutCost > b.Capacity {
		return b, &OptionError{"WithRetry.Budget", fmt.Errorf("a retry costs more (%d, %d for a timeout) than the capacity %d", b.RetryCost, b.TimeoutCost, b.Capacity)}
	}
	return b, nil
}

// WithRetry sets the retry policy. Sessions retry by default with the zero
// RetryPolicy's defaults; WithRetry(RetryPolicy{MaxAttempts: 1}) turns
// retries off.
func WithRetry(p RetryPolicy) Option {
	return sessionOption(func(c *config) error {
		merged, err := p.withDefaults()
		if err != nil {
			return err
		}
		c.retry = merged
		return nil
	})
}

// WithIdempotencyKeys gives every POST and PATCH without an Idempotency-Key
// a fresh random one (a UUID), the same on each of its attempts, so that they
// can be retried safely against servers that honour the header.
func WithIdempotencyKeys(enable bool) Option {
	return sessionOption(func(c *config) error {
		c.autoIdempotencyKey = enable
		return nil
	})
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// idempotent reports whether RFC 9110 makes the method safe to repeat.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// repeatable reports whether req may reach the server more than once:
// idempotent, or carrying an Idempotency-Key.
func repeatable(req *http.Request) bool {
	return idempotent(req.Method) || req.Header.Get("Idempotency-Key") != ""
}

// replayable reports whether req's body, if any, can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}
