package courier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier/internal/slots"
)

// call is one logical request: the state that the top of the path (Do, or
// the adapter behind Client) owns. It is handed down explicitly to the
// layers courier writes on both sides of (the redirect loop and the retry
// loop); they report back through their return values, which the top keeps
// here. Below the retry loop, through middleware that is not courier's,
// only the standard httptrace hooks of the call's context report up.
type call struct {
	s     *Session
	start time.Time
	// ctx is what the request carries: the caller's context, which the
	// session's own timers end too (with a timeoutCause), and the call's
	// trace. Its Deadline is the caller's alone, and never changes.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// deadline is when the request timeout fires (zero: none). The
	// retry loop reads it, with the request context's own deadline, so
	// that it never starts a wait that cannot end in time.
	deadline time.Time
	timer    *time.Timer
	// bodyIdle > 0 switches the timer to guard each body read.
	bodyIdle time.Duration
	idle     atomic.Bool
	finished atomic.Bool
	// release gives back the slot a fan-out's gate gave the call, or nil.
	release func()

	// buffered: the caller gets the body only once it is read in full (Do
	// without Stream), so the retry loop reads it and retries a body that
	// breaks. decode: courier decodes content codings.
	buffered bool
	decode   bool
	// cache is what the session's cache did for the last hop, cacheAge
	// the age of the stored response it served.
	cache    CacheStatus
	cacheAge time.Duration
	// resend: the first attempt is paid for from the retry budget, and
	// no success earns a refund (Resend); resendPaid once it is.
	resend, resendPaid bool

	// Written by net/http's httptrace hooks, from its goroutines.
	trace  httptrace.ClientTrace
	conns  atomic.Int32 // connections handed to the call's attempts
	reused atomic.Bool  // the last connection came from the pool
	clock  clock

	// out is what the layers below reported for the last request sent.
	out outcome
	// buf holds the body the retry loop read in full (out.body).
	buf bufferedBody
}

// outcome is what the redirect loop reports up: the retry loop's report on
// the last hop, and the hops.
type outcome struct {
	tries
	// redirects lists the URLs redirected from (redacted), hop the URL of
	// the last request sent (nil: the first).
	redirects []string
	hop       *url.URL
}

// tries is what the retry loop reports up for one hop.
type tries struct {
	// attempts counts the attempts sent, hedged copies included.
	attempts int
	// kind is the last attempt's kind of failure, when it failed.
	kind Kind
	// stop says why a failure was handed back without another attempt,
	// when something other than the policy decided it.
	stop Kind
	// body is the response body, read in full by the retry loop for a
	// buffered call (see call.buffered); nil when it was not read. The
	// response handed back carries it as its Body.
	body *bufferedBody
}

// start begins a logical request with the given overall timeout (0: none).
func (s *Session) start(parent context.Context, timeout time.Duration) (*call, error) {
	if !s.begin() {
		return nil, errClosedSession
	}
	s.stats.requests.Add(1)
	c := &call{s: s, start: time.Now()}
	ctx, cancel := context.WithCancelCause(parent)
	c.cancel = cancel
	if timeout > 0 {
		c.deadline = c.start.Add(timeout)
		c.timer = time.AfterFunc(timeout, c.expire)
	}
	c.trace.GotConn = c.gotConn
	if s.cfg.detailedTimings {
		c.detailedTrace()
	}
	c.ctx = httptrace.WithClientTrace(ctx, &c.trace)
	return c, nil
}

// deadlineOf returns when a request running under ctx must be done: the
// earlier of ctx's deadline and the request timeout's.
func (c *call) deadlineOf(ctx context.Context) (time.Time, bool) {
	dl, ok := ctx.Deadline()
	if c.deadline.IsZero() || c.idle.Load() {
		return dl, ok
	}
	if ok && dl.Before(c.deadline) {
		return dl, true
	}
	return c.deadline, true
}

func (c *call) expire() {
	if c.idle.Load() {
		c.cancel(errBodyIdle)
		// The stream is dead: release its slot, so that Close does not
		// wait for a body its caller abandoned (it still counts as
		// unclosed until closed).
		c.finish()
	} else {
		c.cancel(errRequestTimeout)
	}
}

// streaming switches the call from the request timeout to the body idle
// timeout, once the headers are in.
func (c *call) streaming() {
	idle := c.s.cfg.timeouts.BodyIdle
	if idle == NoTimeout {
		if c.timer != nil {
			c.timer.Stop()
		}
		return
	}
	c.bodyIdle = idle
	c.idle.Store(true)
	if c.timer == nil {
		c.timer = time.AfterFunc(idle, c.expire)
		return
	}
	c.timer.Reset(idle)
}

// progress restarts the idle timer after a read of a streamed body.
func (c *call) progress() {
	if c.bodyIdle > 0 {
		c.timer.Reset(c.bodyIdle)
	}
}

// errCallDone is the cancel cause of a call that finished: its context is
// released, and that is no failure.
var errCallDone = errors.New("courier: request finished")

// finish releases the call: its timer, its context, its in-flight slot.
func (c *call) finish() {
	if !c.finished.CompareAndSwap(false, true) {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.cancel(errCallDone)
	if c.release != nil {
		c.release()
	}
	c.s.end()
}

// acquire waits for the slot a fan-out's gate, carried by the request's
// context, holds for requests to req's host and route; the call keeps it
// until it finishes.
func (c *call) acquire(req *http.Request) error {
	g := slots.From(c.ctx)
	if g == nil {
		return nil
	}
	start := time.Now()
	release, err := g.Acquire(c.ctx, req.URL)
	if err != nil {
		cause := c.failure()
		if cause == nil {
			cause = err
		}
		return fmt.Errorf("%w: waited %v for a slot to %s: %w", ErrNoSlot, time.Since(start).Round(time.Millisecond), req.URL.Host, cause)
	}
	c.release = release
	return nil
}

// failure returns why the call's context ended before the call finished,
// or nil while it runs or once it finished normally. The first cause wins,
// so a timeout that fired before finish is still reported after it.
func (c *call) failure() error { return ctxFailure(c.ctx) }

// ctxFailure returns why ctx ended early (the caller canceled, a deadline
// or one of the session's timers passed), or nil. A call that finished
// normally is not a failure.
func ctxFailure(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != errCallDone {
		return cause
	}
	return nil
}

// wrapErr returns the call's failure in place of err when its context
// ended early: its cause is the truth, whatever text the transport chose
// for the cancellation.
func (c *call) wrapErr(err error) error {
	if cause := c.failure(); cause != nil && !errors.Is(err, cause) {
		return cause
	}
	return err
}

// hopURL returns the URL of the hop the request was on: the first
// request's, or the redirect target's it had reached.
func (c *call) hopURL(first *http.Request) *url.URL {
	if c.out.hop != nil {
		return c.out.hop
	}
	return first.URL
}

// gotConn is the call's httptrace hook: it counts the connections its
// attempts get, and takes the connection's timings.
func (c *call) gotConn(info httptrace.GotConnInfo) {
	c.conns.Add(1)
	c.reused.Store(info.Reused)
	c.clock.idle.Store(int64(info.IdleTime))
	if info.Reused {
		// This attempt did not dial: no connect or TLS time of its own.
		c.clock.connect.Store(0)
		c.clock.tls.Store(0)
		c.clock.dns.Store(0)
		c.s.stats.connsReused.Add(1)
		return
	}
	if d, ok := dialTimes(info.Conn); ok {
		c.clock.connect.Store(int64(d.connect) - c.clock.dns.Load())
		c.clock.tls.Store(int64(d.tls))
	}
	if !c.s.countsDials {
		c.s.stats.connsNew.Add(1)
	}
}

// exchange runs layers 2 to 4 for the call: it sets Accept-Encoding, sends
// req through the interceptors and the redirect loop, and decodes the final
// response's body unless the retry loop read it already. On error the call
// is finished.
func (c *call) exchange(req *http.Request) (*http.Response, error) {
	if err := c.acquire(req); err != nil {
		c.finish()
		return nil, err
	}
	decode := true
	if v, ok := req.Header["Accept-Encoding"]; ok {
		decode = false
		if len(v) == 1 && v[0] == "" {
			delete(req.Header, "Accept-Encoding")
		}
	} else if req.Header.Get("Range") != "" {
		// As net/http does: a range of a compressed representation
		// cannot be decoded on its own, so ask for none.
		decode = false
	} else {
		req.Header["Accept-Encoding"] = []string{acceptEncoding}
	}
	c.decode = decode && req.Method != http.MethodHead
	resp, err := c.run(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		c.finish()
		return nil, c.wrapErr(err)
	}
	if c.decode && resp.StatusCode != http.StatusSwitchingProtocols && (c.out.body == nil || resp.Body != io.ReadCloser(c.out.body)) {
		if err := decodeBody(resp); err != nil {
			c.drainClose(resp.Body)
			c.finish()
			return nil, err
		}
	}
	return resp, nil
}

// run sends req through the session's interceptors, the outermost first,
// and then the redirect loop, whose report it keeps in c.out.
func (c *call) run(req *http.Request) (*http.Response, error) {
	if len(c.s.cfg.interceptors) == 0 {
		return c.follow(req)
	}
	return c.intercept(0, req)
}

// intercept calls interceptor i with the rest of the path as its next.
func (c *call) intercept(i int, req *http.Request) (*http.Response, error) {
	ics := c.s.cfg.interceptors
	if i == len(ics) {
		return c.follow(req)
	}
	return ics[i](req, rest{c, i + 1})
}

// rest is the path below interceptor i-1: the next interceptor, or the
// redirect loop.
type rest struct {
	c *call
	i int
}

func (r rest) RoundTrip(req *http.Request) (*http.Response, error) { return r.c.intercept(r.i, req) }

func (c *call) follow(req *http.Request) (*http.Response, error) {
	resp, out, err := c.s.follow(c, req)
	c.out = out
	return resp, err
}

// kind returns the kind of the call's failure err: the call's own cause
// when its context ended early, else what err says, else what the retry
// loop made of its last attempt.
func (c *call) kind(err error) Kind {
	k := classify(err, c.failure(), false)
	if k == ErrOther && c.out.kind != 0 {
		return c.out.kind
	}
	return k
}

// requestError describes the call's failure err.
func (c *call) requestError(err error) *Error {
	e := &Error{Op: "request", Attempts: c.out.attempts, Redirects: c.out.redirects, Kind: c.kind(err), Stop: c.out.stop, Err: err}
	var inner *Error
	if errors.As(err, &inner) {
		// Another session's error, through an interceptor: keep what it
		// says of the failure.
		e.Kind, e.Err = inner.Kind, inner.Err
	}
	return e
}

// failed counts and reports a call that failed without a response, and
// returns its error.
func (c *call) failed(req *http.Request, e *Error) error {
	s := c.s
	s.stats.failure(e.Kind)
	if len(s.cfg.hooks) > 0 {
		s.cfg.hooks.onError(AttemptInfo{Request: req, Attempt: e.Attempts, Err: e, Kind: e.Kind, Stop: e.Stop,
			Elapsed: time.Since(c.start), BudgetLeft: -1})
	}
	return e
}
