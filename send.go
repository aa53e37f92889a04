package courier

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// The retry loop: layer 2 of the path. It sends one request of a redirect
// chain until an attempt succeeds or something stops it, in four named
// steps per attempt:
//
//	gate    wait for the host's rate limit or 429 pause; ask its breaker
//	send    one attempt (or a hedged group of copies) through the attempt
//	        stack; for a buffered call, read a 2xx body in full; tell the
//	        host's breaker and rate limiter what came back
//	decide  hand back, or retry after a wait: the status table, the hard
//	        rules, the policy, Retry-After, the deadline, the breaker and
//	        the budget, in that order
//	report  stats, logs and hooks
//
// It reports up through its return values (tries) and keeps the
// RoundTripper contract: a final 503 is a response with a nil error.

// loop is the state of one retry loop.
type loop struct {
	s   *Session
	c   *call
	req *http.Request
	ctx context.Context
	h   *host
	p   *RetryPolicy
	// deadline is when the request must be done (zero: never).
	deadline time.Time
	start    time.Time
	tries
}

// attempt is one turn of the loop: what was sent and what came back.
type attempt struct {
	n     int
	req   *http.Request
	probe bool // a half-open breaker's probe
	// paced is how long the attempt waited for the server's pause,
	// throttled for its turn of the rate limit.
	paced, throttled time.Duration
	sent             time.Time
	dur              time.Duration
	// copies is how many requests the attempt sent (hedging sends more).
	copies int
	resp   *http.Response
	err    error
	kind   Kind
	// connected: the attempt got a connection, so it may have reached the
	// server. reused: the last connection came from the pool.
	connected, reused bool
	// release ends the attempt's own context (AttemptTimeout, hedging),
	// once its body is done with; nil when it has none.
	release func()
	body    *bufferedBody
}

// decision is what the loop does after an attempt.
type decision struct {
	final bool          // hand the attempt's result back
	wait  time.Duration // before the next attempt
	stop  Kind          // why a failure is handed back, when not the policy
}

// retryLoop runs the loop for req, a hop of call c.
func (s *Session) retryLoop(c *call, req *http.Request) (*http.Response, tries, error) {
	l := loop{s: s, c: c, req: req, ctx: req.Context(), p: &s.cfg.retry, start: time.Now()}
	l.deadline, _ = c.deadlineOf(l.ctx)
	if s.cfg.autoIdempotencyKey && (req.Method == http.MethodPost || req.Method == http.MethodPatch) && req.Header.Get("Idempotency-Key") == "" {
		l.req = req.Clone(l.ctx)
		l.req.Header.Set("Idempotency-Key", newUUID())
	}
	l.h = s.hosts.get(req.URL.Host, l.start)
	if c.resend && !c.resendPaid && l.h.budget != nil {
		// The first hop pays; the redirects it leads to do not.
		c.resendPaid = true
		if !l.h.budget.take(l.p.Budget.RetryCost) {
			return nil, l.tries, fmt.Errorf("%w for %s: a request sent again needs %d, %d left",
				ErrRetryBudget, req.URL.Host, l.p.Budget.RetryCost, l.h.budgetLeft())
		}
	}
	for n := 1; ; n++ {
		var a attempt
		if err := l.gate(&a, n); err != nil {
			return nil, l.tries, err
		}
		l.send(&a)
		l.observe(&a)
		d := l.decide(&a)
		l.report(&a, d)
		if d.final {
			return l.hand(&a, d)
		}
		if a.resp != nil {
			discardResponse(a.resp)
		}
		release(a.release)
		if err := sleepCtx(l.ctx, d.wait); err != nil {
			// The caller gave up (or the deadline came) during the wait:
			// report that, not the stale failure.
			return nil, l.tries, err
		}
	}
}

// gate holds attempt n back for the host's rate limit, and asks its
// breaker; an error means the attempt may not go.
func (l *loop) gate(a *attempt, n int) error {
	var w waited
	var err error
	if p := l.s.cfg.pacer; p != nil {
		w, err = waitPacer(l.ctx, p, l.req.URL.Host, l.deadline)
	} else {
		w, err = l.h.wait(l.ctx, l.deadline)
	}
	if w.paused > 0 {
		l.s.stats.paced.Add(1)
		l.s.logPaced(l.ctx, l.req, w.paused)
	}
	if w.turn > 0 {
		l.s.stats.throttled.Add(1)
	}
	if err != nil {
		return err
	}
	if b := l.h.breaker; b != nil {
		ok, probe, err := b.allow(l.ctx)
		if err != nil {
			if l.ctx.Err() != nil {
				return l.ctx.Err()
			}
			// Of the kind ErrCircuitOpen: the breaker could not say yes.
			return fmt.Errorf("%w for %s: breaker store: %w", ErrCircuitOpen, l.req.URL.Host, err)
		}
		if !ok {
			return fmt.Errorf("%w for %s", ErrCircuitOpen, l.req.URL.Host)
		}
		a.probe = probe
	}
	a.n, a.req, a.paced, a.throttled = n, l.req, w.paused, w.turn
	if n > 1 && l.req.Body != nil && l.req.Body != http.NoBody {
		body, err := l.req.GetBody()
		if err != nil {
			return fmt.Errorf("retry: replay body: %w", err)
		}
		a.req = l.req.Clone(l.ctx)
		a.req.Body = body
	}
	return nil
}

// send sends the attempt and notes what came back.
func (l *loop) send(a *attempt) {
	if hooks := l.s.cfg.hooks; len(hooks) > 0 {
		hooks.beforeAttempt(AttemptInfo{Request: a.req, Attempt: a.n, Elapsed: time.Since(l.start), BudgetLeft: l.h.budgetLeft(), Paced: a.paced, Throttled: a.throttled})
	}
	a.sent = time.Now()
	l.c.clock.attemptStart.Store(a.sent.UnixNano())
	l.c.clock.dns.Store(0)
	conns := l.c.conns.Load()
	if l.p.HedgeAfter > 0 && idempotent(a.req.Method) && replayable(a.req) {
		a.resp, a.release, a.copies, a.err = l.hedged(a.req)
	} else {
		a.resp, a.release, a.err = l.one(a.req)
		a.copies = 1
	}
	a.dur = time.Since(a.sent)
	l.attempts += a.copies
	a.connected = l.c.conns.Load() > conns
	a.reused = l.c.reused.Load()
	if a.err != nil {
		a.kind = classify(a.err, ctxFailure(l.ctx), a.connected)
		return
	}
	l.c.clock.firstByte.Store(int64(a.dur))
	if l.c.buffered && a.resp.StatusCode/100 == 2 {
		l.readBody(a)
	}
}

// one sends a single copy under the policy's AttemptTimeout, when it sets
// one. The timeout bounds the attempt up to its response headers: once they
// are in, its timer stops, and the body is the request timeout's (buffered)
// or the idle timeout's (streamed). release, when not nil, ends the copy's
// context: call it once the response body is done with.
func (l *loop) one(req *http.Request) (resp *http.Response, release func(), err error) {
	if l.p.AttemptTimeout <= 0 {
		resp, err = l.s.attempt.RoundTrip(req)
		return resp, nil, err
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(l.p.AttemptTimeout, func() { cancel(errAttemptTimeout) })
	resp, err = l.s.attempt.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() && err == nil {
		// The headers came as the timer fired: the context is gone, and
		// the body with it.
		resp.Body.Close()
		resp, err = nil, errAttemptTimeout
	}
	if err != nil && context.Cause(ctx) == errAttemptTimeout && req.Context().Err() == nil && !errors.Is(err, errAttemptTimeout) {
		err = fmt.Errorf("%w: %w", errAttemptTimeout, err)
	}
	return resp, func() { cancel(nil) }, err
}

var errAttemptTimeout = &timeoutCause{"attempt"}

// readBody reads a successful attempt's body in full for a buffered call:
// the caller sees it only then, so a body that breaks on the way is a
// failed attempt like any other, and retried where that is safe.
func (l *loop) readBody(a *attempt) {
	body, err := l.c.readAll(a.resp)
	if err != nil {
		release(a.release)
		a.resp, a.release, a.err = nil, nil, err
		a.kind = classify(err, ctxFailure(l.ctx), true)
		return
	}
	// Read to its end: the attempt's context has nothing left to guard.
	release(a.release)
	a.release = nil
	l.c.buf = bufferedBody{data: body}
	a.body = &l.c.buf
	a.resp.Body = a.body
}

// observe tells the host's breaker and pacing what the attempt came to,
// before the loop decides: a breaker that opens on it stops the retries, and
// a server that says it has no requests left holds back the next ones.
func (l *loop) observe(a *attempt) {
	if b := l.h.breaker; b != nil {
		if err := b.record(l.ctx, l.s.cfg.breaker.IsFailure(l.info(a)), a.probe); err != nil {
			l.s.logStoreFailed(l.ctx, l.req, "breaker store", err)
		}
	}
	if a.resp == nil {
		return
	}
	if p := l.s.cfg.pacer; p != nil {
		l.pauseShared(p, a.resp)
		return
	}
	if a.resp.StatusCode == http.StatusTooManyRequests && l.h.limiter != nil {
		if hint, ok := parseRetryAfter(a.resp.Header.Get("Retry-After"), time.Now()); ok {
			l.h.pause(min(hint, l.p.MaxRetryAfter))
		}
	}
	if d, ok := exhaustedFor(a.resp.Header, time.Now()); ok {
		// The server says the host has nothing left: hold every request
		// to it back until the reset, rather than provoke a 429.
		l.h.pause(d)
	}
}

// pauseShared tells a Pacer about a pause the response asks for: a 429's
// or 503's Retry-After (capped at MaxRetryAfter), or rate-limit headers
// that say nothing is left.
func (l *loop) pauseShared(p Pacer, resp *http.Response) {
	now := time.Now()
	var d time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if hint, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			d = min(hint, l.p.MaxRetryAfter)
		}
	}
	if left, ok := exhaustedFor(resp.Header, now); ok {
		d = max(d, left)
	}
	if d <= 0 {
		return
	}
	// The pause outlives the request that learned of it: record it even
	// when the request's context is ending.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), pauseTimeout)
	defer cancel()
	if err := p.Pause(ctx, l.req.URL.Host, d); err != nil {
		l.s.logStoreFailed(l.ctx, l.req, "pacer: pause of "+d.String(), err)
	}
}

// pauseTimeout bounds a Pacer's Pause call.
const pauseTimeout = 2 * time.Second

// decide says what follows an attempt.
func (l *loop) decide(a *attempt) decision {
	if a.err == nil && !statusRuleOf(a.resp.StatusCode).transient {
		if a.n == 1 && a.copies == 1 && l.h.budget != nil && !l.c.resend {
			// A first-try success (not one after a hedge).
			l.h.budget.refund(l.p.Budget.SuccessRefund)
		}
		return decision{final: true}
	}
	info := l.info(a)
	if retry, stop := l.allowed(a, info); !retry {
		return decision{final: true, stop: stop}
	}
	wait, stop := l.wait(info)
	switch {
	case stop != 0:
	case l.h.breaker != nil && l.h.breaker.current() == BreakerOpen:
		stop = ErrCircuitOpen
	case l.h.budget != nil && !l.h.budget.take(l.cost(a)):
		stop = ErrRetryBudget
	}
	return decision{final: stop != 0, wait: wait, stop: stop}
}

// allowed applies the rules no policy can override, then the policy.
// stop says why not, when that is not simply the policy.
func (l *loop) allowed(a *attempt, info AttemptInfo) (retry bool, stop Kind) {
	switch {
	case a.err != nil && a.connected && !repeatable(l.req) && (a.kind == ErrConnLost || a.kind.timeout()):
		// Whatever else holds, it may have happened: say so.
		return false, ErrMaybeApplied
	case a.n >= l.p.MaxAttempts || l.ctx.Err() != nil:
		return false, 0
	case a.resp != nil && !statusRuleOf(a.resp.StatusCode).transient:
		return false, 0
	case a.kind == ErrTLS || a.kind == ErrInvalidRequest || a.kind == ErrCanceled || a.kind == ErrRefused:
		return false, 0
	}
	nothingSent := a.kind == ErrConnect || a.kind == ErrDNS || a.kind == ErrConnectTimeout
	if !nothingSent && !repeatable(l.req) {
		return false, 0
	}
	if !replayable(l.req) {
		return false, ErrBodyNotReplayable
	}
	return l.p.ShouldRetry(info), 0
}

// wait picks the wait before the next attempt and checks it against the
// deadline and the Retry-After cap.
func (l *loop) wait(info AttemptInfo) (time.Duration, Kind) {
	var wait time.Duration
	if l.p.Backoff != nil {
		wait = l.p.Backoff(info)
	} else {
		wait = backoff(l.p, info.Attempt)
	}
	if info.Response != nil {
		if hint, ok := parseRetryAfter(info.Response.Header.Get("Retry-After"), time.Now()); ok {
			if hint > l.p.MaxRetryAfter || !l.deadline.IsZero() && time.Now().Add(hint).After(l.deadline) {
				return 0, ErrRetryAfterTooLong
			}
			wait = max(wait, hint)
		}
	}
	if !l.deadline.IsZero() && !time.Now().Add(wait).Before(l.deadline) {
		return 0, ErrRetryDeadline
	}
	return wait, 0
}

// backoff is the default full-jitter wait before retry n (n from 1).
func backoff(p *RetryPolicy, n int) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < n && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(mrand.Int64N(int64(ceiling) + 1))
}

// cost is what a retry after a takes from the budget.
func (l *loop) cost(a *attempt) int {
	if a.kind.timeout() {
		return l.p.Budget.TimeoutCost
	}
	return l.p.Budget.RetryCost
}

// info describes an attempt for the policy functions and hooks.
func (l *loop) info(a *attempt) AttemptInfo {
	return AttemptInfo{Request: a.req, Attempt: a.n, Response: a.resp, Err: a.err, Kind: a.kind,
		Elapsed: time.Since(l.start), Duration: a.dur, BudgetLeft: l.h.budgetLeft(), Reused: a.reused, Paced: a.paced, Throttled: a.throttled}
}

// report tells everyone who counts what the attempt came to.
func (l *loop) report(a *attempt, d decision) {
	s := l.s
	s.stats.attempts.Add(int64(a.copies))
	if !d.final {
		s.stats.retried(a.resp, a.kind)
	}
	if len(s.cfg.hooks) == 0 && s.cfg.logger == nil {
		return
	}
	info := l.info(a)
	info.Stop = d.stop
	s.logAttempt(l.ctx, info, d)
	if hooks := s.cfg.hooks; len(hooks) > 0 {
		hooks.afterAttempt(info)
		if !d.final {
			info.Wait = d.wait
			hooks.onRetry(info)
		}
	}
}

// hand returns the attempt's result as the loop's.
func (l *loop) hand(a *attempt, d decision) (*http.Response, tries, error) {
	l.stop, l.kind = d.stop, a.kind
	if a.err != nil {
		release(a.release)
		return nil, l.tries, a.err
	}
	if a.resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection is the caller's now (the transport no longer
		// watches the attempt's context), and its body must stay an
		// io.ReadWriteCloser.
		release(a.release)
	} else {
		a.resp.Body = releaseOnClose(a.resp.Body, a.release)
	}
	l.body = a.body
	return a.resp, l.tries, nil
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

func release(f func()) {
	if f != nil {
		f()
	}
}
