package courier

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier/internal/redact"
)

// Retry stop reasons, matched with errors.Is on the error a request returns
// (an [*Error], or a [*StatusError] for a final non-2xx response).
var (
	// ErrRetryBudget: the host's retry budget was empty, so a failure that
	// could have been retried was returned at once. Retries are drawn from a
	// budget so that an outage is not multiplied by every client's retries.
	ErrRetryBudget = errors.New("courier: retry budget exhausted")
	// ErrRetryAfterTooLong: the server asked for a wait (Retry-After) longer
	// than RetryPolicy.MaxRetryAfter or than the time left before the
	// deadline, so courier did not wait. The [*StatusError] carries the hint.
	ErrRetryAfterTooLong = errors.New("courier: Retry-After beyond the limit")
	// ErrRetryDeadline: the wait before the next attempt would have ended
	// after the request's deadline, so courier stopped instead of sleeping
	// into certain failure.
	ErrRetryDeadline = errors.New("courier: no time left for another attempt")
	// ErrMaybeApplied: a request that is not idempotent (a POST or PATCH
	// without an Idempotency-Key) failed after it was sent, before its
	// response came: the server may have applied it. courier does not
	// send it again; do so only if you know it is safe, or give it an
	// Idempotency-Key so that courier can.
	ErrMaybeApplied = errors.New("courier: request may have been applied")
)

// RetryPolicy says which failed attempts are sent again and how long to wait
// between them. A zero field means the default given beside it.
//
// Whatever the policy says, courier never retries: a request whose body
// cannot be replayed; a POST, PATCH or other non-idempotent request unless it
// carries an Idempotency-Key header or nothing was sent (a failure to
// connect); a 501 or any 4xx other than 408, 425 and 429; an attempt after
// the response body was handed to the caller.
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
	// Budget bounds retries per host (default [DefaultRetryBudget]).
	Budget RetryBudget
}

// RetryBudget is a token bucket per host in the style of the AWS SDKs'
// standard retry mode: each retry takes tokens, each first-try success puts
// one back, and an empty bucket means failures are returned at once. With the
// defaults, a host that fails every request gets at most 100 retries from a
// full bucket, and then about one attempt per request: retries do not
// multiply an outage.
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

// DefaultRetryBudget is the budget a zero RetryBudget means.
var DefaultRetryBudget = RetryBudget{Capacity: 500, RetryCost: 5, TimeoutCost: 10, SuccessRefund: 1}

// Defaults of RetryPolicy.
const (
	DefaultMaxAttempts   = 3
	DefaultBaseDelay     = 100 * time.Millisecond
	DefaultMaxDelay      = 20 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

// NoBackoff retries at once: for tests.
func NoBackoff(AttemptInfo) time.Duration { return 0 }

// AttemptInfo describes an attempt that has finished, for the policy
// functions and hooks.
type AttemptInfo struct {
	// Request is the attempt's request. Do not change it.
	Request *http.Request
	// Attempt is the attempt's number, from 1.
	Attempt int
	// Response is the attempt's response, or nil when it failed. Its body
	// has not been read: do not read or close it.
	Response *http.Response
	// Err is why the attempt failed, when it did, and Kind its courier
	// kind (ErrTimeout, ErrConnect, ...), or nil.
	Err  error
	Kind error
	// Elapsed is the time since the request's first attempt started.
	Elapsed time.Duration
	// Duration is how long this attempt took (0 before it is sent).
	Duration time.Duration
	// Wait is the pause chosen before the next attempt (OnRetry only).
	Wait time.Duration
	// Reason says why the attempt is retried (OnRetry), or why it was not
	// although it failed (AfterAttempt): a status such as "503", a kind
	// such as "connect failed", or a stop such as "retry budget
	// exhausted". Empty otherwise.
	Reason string
	// BudgetLeft is the host's retry budget after this attempt, or -1
	// when the session has none.
	BudgetLeft int
	// Reused reports whether the attempt's connection came from the pool.
	Reused bool
}

// DefaultShouldRetry retries failures that a later attempt may not meet:
// failures to connect or resolve, timeouts, lost connections, and the
// statuses 408, 425, 429, 502, 503 and 504. A response header
// "X-Should-Retry: false" vetoes a retry and "true" asks for one.
func DefaultShouldRetry(info AttemptInfo) bool {
	if info.Response != nil {
		switch strings.ToLower(info.Response.Header.Get("X-Should-Retry")) {
		case "false":
			return false
		case "true":
			return true
		}
		switch info.Response.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	switch info.Kind {
	case ErrConnect, ErrDNS, ErrTimeout, ErrConnLost, errConnectTimeout:
		return true
	}
	return false
}

// RetryStatuses returns a ShouldRetry that retries what DefaultShouldRetry
// does and also the given statuses, such as 500.
func RetryStatuses(codes ...int) func(AttemptInfo) bool {
	codes = slices.Clone(codes)
	return func(info AttemptInfo) bool {
		if info.Response != nil && slices.Contains(codes, info.Response.StatusCode) &&
			!strings.EqualFold(info.Response.Header.Get("X-Should-Retry"), "false") {
			return true
		}
		return DefaultShouldRetry(info)
	}
}

func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 {
		return p, &OptionError{"WithRetry.MaxAttempts", fmt.Errorf("must not be negative, got %d", p.MaxAttempts)}
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"BaseDelay", &p.BaseDelay, DefaultBaseDelay},
		{"MaxDelay", &p.MaxDelay, DefaultMaxDelay},
		{"MaxRetryAfter", &p.MaxRetryAfter, DefaultMaxRetryAfter},
	} {
		if *f.v < 0 {
			return p, &OptionError{"WithRetry." + f.name, fmt.Errorf("negative duration %v", *f.v)}
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if p.AttemptTimeout < 0 {
		return p, &OptionError{"WithRetry.AttemptTimeout", fmt.Errorf("negative duration %v", p.AttemptTimeout)}
	}
	if p.MaxDelay < p.BaseDelay {
		return p, &OptionError{"WithRetry.MaxDelay", fmt.Errorf("cap %v is below the base delay %v", p.MaxDelay, p.BaseDelay)}
	}
	if p.ShouldRetry == nil {
		p.ShouldRetry = DefaultShouldRetry
	}
	b := &p.Budget
	if !b.Disabled {
		if b.Capacity < 0 || b.RetryCost < 0 || b.TimeoutCost < 0 || b.SuccessRefund < 0 {
			return p, &OptionError{"WithRetry.Budget", errors.New("budget numbers must not be negative")}
		}
		if b.Capacity == 0 {
			b.Capacity = DefaultRetryBudget.Capacity
		}
		if b.RetryCost == 0 {
			b.RetryCost = DefaultRetryBudget.RetryCost
		}
		if b.TimeoutCost == 0 {
			// Twice a retry, as the defaults (5 and 10) are, within the
			// capacity the user chose.
			b.TimeoutCost = min(2*b.RetryCost, b.Capacity)
		}
		if b.SuccessRefund == 0 {
			b.SuccessRefund = DefaultRetryBudget.SuccessRefund
		}
		if b.RetryCost > b.Capacity || b.TimeoutCost > b.Capacity {
			return p, &OptionError{"WithRetry.Budget", fmt.Errorf("a retry costs more (%d, %d for a timeout) than the capacity %d", b.RetryCost, b.TimeoutCost, b.Capacity)}
		}
	}
	return p, nil
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

// IdempotencyKey sets the Idempotency-Key header, which makes a POST or
// PATCH retryable: the server promises to apply it once, whatever the number
// of attempts. Every attempt carries the same key.
func IdempotencyKey(key string) RequestOption {
	return Header("Idempotency-Key", key)
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

func neverRetryStatus(code int) bool {
	switch {
	case code == http.StatusNotImplemented:
		return true
	case code >= 400 && code < 500:
		return code != http.StatusRequestTimeout && code != http.StatusTooEarly && code != http.StatusTooManyRequests
	}
	return false
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

// retrier is layer 2: the one retry loop, with the per-host budget,
// breaker and rate limiter.
type retrier struct {
	next    http.RoundTripper
	policy  RetryPolicy
	autoKey bool
	hosts   hosts
	hooks   hookList
	hedging *Hedging
	stats   *counters
	logger  *slog.Logger
	// sleep and jitter are replaced by tests.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(n int64) int64
}

var _ http.RoundTripper = (*retrier)(nil)

func newRetrier(next http.RoundTripper, c *config, stats *counters) *retrier {
	r := &retrier{next: next, policy: c.retry, autoKey: c.autoIdempotencyKey, hooks: c.hooks, hedging: c.hedging, stats: stats, logger: c.logger, sleep: sleepCtx, jitter: mrand.Int64N}
	r.hosts = hosts{breaker: c.breaker, limit: c.rateLimit, now: time.Now}
	if !c.retry.Budget.Disabled && c.retry.MaxAttempts > 1 {
		r.hosts.budget = &r.policy.Budget
	}
	return r
}

// BudgetLeft returns the tokens left in a host's retry budget (host as in a
// URL: "api.example.com" or "api.example.com:8443"), or -1 when the session
// has no budget.
func (s *Session) BudgetLeft(host string) int {
	if s.retrier.hosts.budget == nil {
		return -1
	}
	return int(s.retrier.hosts.get(host).budget.tokens.Load())
}

// BreakerState returns the state of a host's circuit breaker; a session
// without one is always closed.
func (s *Session) BreakerState(host string) BreakerState {
	if s.retrier.hosts.breaker == nil {
		return BreakerClosed
	}
	return s.retrier.hosts.get(host).breaker.current()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the default full-jitter wait before retry n (n from 1).
func (r *retrier) backoff(n int) time.Duration {
	ceiling := r.policy.BaseDelay
	for i := 1; i < n && ceiling < r.policy.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, r.policy.MaxDelay)
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(r.jitter(int64(ceiling) + 1))
}

// retryStop wraps the last failure with why retrying stopped.
type retryStop struct {
	reason error
	err    error
}

func (e *retryStop) Error() string {
	return e.err.Error() + " (" + strings.TrimPrefix(e.reason.Error(), "courier: ") + ")"
}
func (e *retryStop) Unwrap() []error { return []error{e.err, e.reason} }

func (r *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	c := callFrom(ctx)
	start := time.Now()
	if r.autoKey && (req.Method == http.MethodPost || req.Method == http.MethodPatch) && req.Header.Get("Idempotency-Key") == "" {
		req = req.Clone(ctx)
		req.Header.Set("Idempotency-Key", newUUID())
	}
	h := r.hosts.get(req.URL.Host)
	extra := 0 // attempts beyond the loop's: hedges, and net/http's own resends
	for attempt := 1; ; attempt++ {
		if c != nil {
			c.attempts = attempt - 1 + extra // of this hop: a redirect starts over
		}
		if err := h.wait(ctx); err != nil {
			return nil, err
		}
		probe := false
		if h.breaker != nil {
			var ok bool
			if ok, probe = h.breaker.allow(); !ok {
				return nil, fmt.Errorf("%w for %s", ErrCircuitOpen, req.URL.Host)
			}
		}
		if c != nil {
			c.attempts = attempt + extra
		}
		areq := req
		if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("retry: replay body: %w", err)
			}
			areq = req.Clone(ctx)
			areq.Body = body
		}
		if len(r.hooks) > 0 {
			r.hooks.beforeAttempt(AttemptInfo{Request: areq, Attempt: attempt, Elapsed: time.Since(start), BudgetLeft: h.budgetLeft()})
		}
		sent := time.Now()
		var resp *http.Response
		var cancel func()
		var err error
		var before, sendsBefore int32
		if c != nil {
			before, sendsBefore = c.conns.Load(), c.sends.Load()
		}
		extraBefore := extra
		if r.hedging != nil && hedgeable(areq) {
			var copies int
			resp, cancel, copies, err = r.hedged(ctx, h, areq)
			extra += copies - 1
			if c != nil {
				c.attempts = attempt + extra
			}
		} else {
			resp, cancel, err = r.attempt(areq)
			if c != nil {
				if resent := int(c.conns.Load()-before) - int(max(c.sends.Load()-sendsBefore, 1)); resent > 0 {
					// net/http sent it again on a new connection after
					// a reused one failed: those are attempts, and
					// retries the budget pays for. (More sends than one
					// are a layer's own: a Digest challenge answered.)
					extra += resent
					c.attempts = attempt + extra
					if h.budget != nil {
						h.budget.take(resent * r.policy.Budget.RetryCost)
					}
				}
			}
		}
		r.stats.attempts.Add(int64(1 + (extra - extraBefore)))
		info := AttemptInfo{Request: areq, Attempt: attempt, Response: resp, Err: err,
			Elapsed: time.Since(start), Duration: time.Since(sent), BudgetLeft: -1}
		if err != nil {
			info.Kind = classify(ctx, err)
		}
		if c != nil {
			info.Reused = c.reused.Load()
		}
		if h.breaker != nil {
			h.breaker.record(h.breaker.p.IsFailure(info), probe)
		}
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests && h.limiter != nil {
			if hint, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				h.pause(min(hint, r.policy.MaxRetryAfter))
			}
		}
		if err == nil && !isFailure(resp.StatusCode) && c != nil && c.buffered &&
			resp.StatusCode/100 == 2 && attempt < r.policy.MaxAttempts && mayRepeat(req) {
			// The caller will see this body only once courier has read
			// it all: if it breaks on the way, that is a failed attempt
			// like any other, and retried where that is safe.
			if rerr := c.readInFull(resp); rerr != nil {
				release(cancel)
				cancel = nil
				resp, err = nil, rerr
				info.Response, info.Err, info.Kind = nil, rerr, classify(ctx, rerr)
			}
		}
		if err == nil && !isFailure(resp.StatusCode) {
			if attempt == 1 && extra == 0 && h.budget != nil {
				// A first-try success (not one after a hedge or a resend).
				h.budget.refund(r.policy.Budget.SuccessRefund)
			}
			if len(r.hooks) > 0 {
				info.BudgetLeft = h.budgetLeft()
				r.hooks.afterAttempt(info)
			}
			r.log(ctx, slog.LevelDebug, "attempt", info, c, 0, nil)
			resp.Body = releaseOnClose(resp.Body, cancel)
			return resp, nil
		}
		stop := r.stopReason(ctx, req, info, attempt)
		if err != nil && maybeApplied(req, info, c == nil || c.conns.Load() > before) {
			// Whatever the reason it is not retried, say that it may
			// have happened.
			stop = ErrMaybeApplied
		}
		var wait time.Duration
		if stop == nil {
			wait, stop = r.wait(ctx, info, attempt)
		}
		if stop == nil && h.breaker != nil && h.breaker.current() == BreakerOpen {
			stop = ErrCircuitOpen
		}
		if stop == nil && h.budget != nil {
			cost := r.policy.Budget.RetryCost
			if info.Kind == ErrTimeout || info.Kind == errConnectTimeout {
				cost = r.policy.Budget.TimeoutCost
			}
			if !h.budget.take(cost) {
				stop = ErrRetryBudget
			}
		}
		if stop == nil {
			r.stats.retries.add(retryReason(info))
			r.log(ctx, slog.LevelInfo, "retrying", info, c, wait, nil)
		} else {
			r.log(ctx, failLevel(info), "attempt failed", info, c, 0, stop)
		}
		if len(r.hooks) > 0 {
			info.BudgetLeft = h.budgetLeft()
			if stop != nil && !errors.Is(stop, errNoRetry) {
				info.Reason = strings.TrimPrefix(stop.Error(), "courier: ")
			}
			r.hooks.afterAttempt(info)
			if stop == nil {
				info.Wait, info.Reason = wait, retryReason(info)
				r.hooks.onRetry(info)
			}
		}
		if stop != nil {
			if c != nil && !errors.Is(stop, errNoRetry) {
				c.retryStop = stop
			}
			if err != nil {
				release(cancel)
				if errors.Is(stop, errNoRetry) {
					return nil, err
				}
				return nil, &retryStop{reason: stop, err: err}
			}
			resp.Body = releaseOnClose(resp.Body, cancel)
			return resp, nil
		}
		if resp != nil {
			discardResponse(resp)
		}
		release(cancel)
		if err := r.sleep(ctx, wait); err != nil {
			// The caller gave up (or the deadline came) during the wait:
			// report that, not the stale failure.
			return nil, err
		}
	}
}

// mayRepeat reports whether req may be sent again: idempotent, or carrying
// an Idempotency-Key, with a body that can be replayed.
func mayRepeat(req *http.Request) bool {
	return (idempotent(req.Method) || req.Header.Get("Idempotency-Key") != "") && replayable(req)
}

// replayable reports whether req's body, if any, can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// maybeApplied reports whether a failed attempt of a request that is not
// idempotent may have reached the server: it had a connection and broke or
// timed out after that.
func maybeApplied(req *http.Request, info AttemptInfo, connected bool) bool {
	if idempotent(req.Method) || req.Header.Get("Idempotency-Key") != "" || !connected {
		return false
	}
	return info.Kind == ErrConnLost || info.Kind == ErrTimeout
}

// errNoRetry marks a failure that is simply not retryable: the attempt's own
// result is returned as it is.
var errNoRetry = errors.New("not retryable")

// isFailure reports whether a status may call for a retry at all.
func isFailure(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooEarly ||
		code == http.StatusTooManyRequests || code >= 500
}

// stopReason applies the rules no policy can override, then the policy.
func (r *retrier) stopReason(ctx context.Context, req *http.Request, info AttemptInfo, attempt int) error {
	switch {
	case attempt >= r.policy.MaxAttempts:
		return errNoRetry
	case ctx.Err() != nil:
		return errNoRetry
	case info.Response != nil && neverRetryStatus(info.Response.StatusCode):
		return errNoRetry
	case info.Kind == ErrTLS || info.Kind == ErrInvalidRequest || info.Kind == ErrCanceled:
		return errNoRetry
	}
	nothingSent := info.Kind == ErrConnect || info.Kind == ErrDNS || info.Kind == errConnectTimeout
	if !nothingSent && !idempotent(req.Method) && req.Header.Get("Idempotency-Key") == "" {
		return errNoRetry
	}
	if !replayable(req) {
		return fmt.Errorf("%w, so it was not retried", ErrBodyNotReplayable)
	}
	if !r.policy.ShouldRetry(info) {
		return errNoRetry
	}
	return nil
}

// wait picks the wait before the next attempt and checks it against the
// deadline and the Retry-After cap.
func (r *retrier) wait(ctx context.Context, info AttemptInfo, attempt int) (time.Duration, error) {
	var wait time.Duration
	if r.policy.Backoff != nil {
		wait = r.policy.Backoff(info)
	} else {
		wait = r.backoff(attempt)
	}
	if info.Response != nil {
		if hint, ok := ParseRetryAfter(info.Response.Header.Get("Retry-After"), time.Now()); ok {
			if hint > r.policy.MaxRetryAfter {
				return 0, ErrRetryAfterTooLong
			}
			if dl, ok := ctx.Deadline(); ok && time.Now().Add(hint).After(dl) {
				return 0, ErrRetryAfterTooLong
			}
			wait = max(wait, hint)
		}
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Add(wait).Before(dl) {
		return 0, ErrRetryDeadline
	}
	return wait, nil
}

// attempt sends one attempt under its own timeout, when the policy sets
// one. cancel, when not nil, releases the attempt's context: call it once
// the response body is done with.
func (r *retrier) attempt(req *http.Request) (*http.Response, func(), error) {
	if r.policy.AttemptTimeout <= 0 {
		resp, err := r.next.RoundTrip(req)
		return resp, nil, err
	}
	ctx, cancel := context.WithTimeoutCause(req.Context(), r.policy.AttemptTimeout, errAttemptTimeout)
	resp, err := r.next.RoundTrip(req.WithContext(ctx))
	if err != nil && ctx.Err() != nil && req.Context().Err() == nil {
		err = fmt.Errorf("%w: %w", errAttemptTimeout, err)
	}
	return resp, cancel, err
}

var errAttemptTimeout = &timeoutCause{"attempt"}

// releaseOnClose runs release, if any, when the body is closed or read to
// its end.
func releaseOnClose(rc io.ReadCloser, release func()) io.ReadCloser {
	if release == nil {
		return rc
	}
	if rc == nil {
		release()
		return rc
	}
	return &releasingBody{ReadCloser: rc, release: release}
}

type releasingBody struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

func release(cancel func()) {
	if cancel != nil {
		cancel()
	}
}

// failLevel is the level of a failed attempt that is not retried: a give-up
// (a failure a retry could have helped) is a Warn; a response the server
// meant, such as a 404, is only a Debug.
func failLevel(info AttemptInfo) slog.Level {
	if info.Err != nil || isFailure(info.Response.StatusCode) {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// log writes one line for an attempt, when the session has a logger that
// takes the level: method, redacted URL, status or error, attempt, its
// duration, whether the connection was reused, and the retry's reason and
// wait or why retrying stopped. Nothing is built when the level is off.
func (r *retrier) log(ctx context.Context, level slog.Level, msg string, info AttemptInfo, c *call, wait time.Duration, stop error) {
	if r.logger == nil || !r.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", info.Request.Method),
		slog.String("url", redact.URL(info.Request.URL)),
		slog.Int("attempt", info.Attempt),
		slog.Duration("duration", info.Duration))
	if info.Response != nil {
		attrs = append(attrs, slog.Int("status", info.Response.StatusCode))
		if info.Response.ContentLength >= 0 {
			attrs = append(attrs, slog.Int64("bytes", info.Response.ContentLength))
		}
	}
	if info.Err != nil {
		attrs = append(attrs, slog.String("error", info.Err.Error()))
	}
	if c != nil {
		attrs = append(attrs, slog.Bool("reused", c.reused.Load()))
	}
	if level == slog.LevelInfo {
		attrs = append(attrs, slog.String("reason", retryReason(info)), slog.Duration("wait", wait))
	}
	if stop != nil && !errors.Is(stop, errNoRetry) {
		attrs = append(attrs, slog.String("stopped", strings.TrimPrefix(stop.Error(), "courier: ")))
	}
	r.logger.LogAttrs(ctx, level, "courier: "+msg, attrs...)
}

// retryReason names why an attempt is retried, for hooks and logs.
func retryReason(info AttemptInfo) string {
	if info.Response != nil {
		return strconv.Itoa(info.Response.StatusCode)
	}
	if info.Kind != nil {
		return kindText(info.Kind)
	}
	if info.Err != nil {
		return "error"
	}
	return ""
}
