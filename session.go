package courier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier/internal/redact"
)

// Version is courier's version, sent in the default User-Agent.
const Version = "0.1.0"

// Session is a configured, long-lived HTTP client identity: a base URL,
// default headers and query parameters, timeouts, a tuned connection pool and
// a stack of layers every request goes through. Create one with [New] at
// start-up, share it, and [Session.Close] it at shutdown.
//
// A Session never changes after New and is safe for concurrent use. The zero
// Session is not usable: make one with New.
type Session struct {
	cfg config
	// base is the transport at the bottom of the stack.
	base http.RoundTripper
	// countsDials says base is courier's own transport, whose dialer
	// counts the connections it opens (Stats.ConnsOpened); with another
	// transport, a connection that was not reused counts as opened.
	countsDials bool
	// stats counts what the session did (Stats).
	stats counters
	// plain and creds split the default headers once: creds (sensitive
	// ones) go only to the base URL's origin.
	plain, creds defaults
	// next is the stack below the top layer: redirects, retries,
	// middleware, base.
	next http.RoundTripper
	// retrier is layer 2, kept for its per-host state (BudgetLeft,
	// BreakerState).
	retrier *retrier
	// stream is the top layer in streaming mode, for RoundTripper and Client.
	stream http.RoundTripper

	// state counts requests in flight; closedBit marks a closed session.
	state     atomic.Int64
	drained   chan struct{}
	drainOnce sync.Once
	closeOnce sync.Once

	// open counts streamed bodies handed out and not closed.
	open  atomic.Int64
	sites sync.Map // *trackedBody -> string (leak tracking only)
}

const closedBit = int64(1) << 62

// New creates a session. It validates every option and returns an
// [*OptionError] naming the first bad setting.
func New(opts ...Option) (*Session, error) {
	c := config{
		header:        http.Header{"User-Agent": {"courier/" + Version}},
		removedHeader: map[string]bool{},
		maxBodySize:   DefaultMaxBodySize,
		maxRedirects:  DefaultMaxRedirects,
	}
	var err error
	if c.timeouts, err = (Timeouts{}).withDefaults(); err != nil {
		return nil, err
	}
	if err := WithPool(Pool{}).applySession(&c); err != nil {
		return nil, err
	}
	if err := WithRetry(RetryPolicy{}).applySession(&c); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if o == nil {
			return nil, &OptionError{"New", errors.New("nil option")}
		}
		if err := o.applySession(&c); err != nil {
			return nil, err
		}
	}
	if u := c.baseURL; u != nil && u.User != nil {
		// Userinfo in the base URL is the session's Basic auth, bound to
		// its origin like any credential; it is not kept in the URL.
		if _, ok := c.header["Authorization"]; !ok {
			pass, _ := u.User.Password()
			r := http.Request{Header: http.Header{}}
			r.SetBasicAuth(u.User.Username(), pass)
			c.header["Authorization"] = r.Header["Authorization"]
		}
		v := *u
		v.User = nil
		c.baseURL = &v
	}
	s := &Session{cfg: c, drained: make(chan struct{})}
	s.plain = newDefaults(c.header, func(k string) bool { return !s.sensitiveHeader(k) })
	s.creds = newDefaults(c.header, s.sensitiveHeader)
	if c.transport != nil {
		s.base = c.transport
	} else {
		s.base = newTransport(&c)
		s.countsDials = true
	}
	var rt http.RoundTripper = markTransportErrors{s.base}
	for i := len(c.middleware) - 1; i >= 0; i-- {
		rt = c.middleware[i](rt)
		if rt == nil {
			return nil, &OptionError{"WithMiddleware", fmt.Errorf("middleware %d returned a nil RoundTripper", i)}
		}
	}
	if len(c.auth) > 0 {
		authed := rt
		for i := len(c.auth) - 1; i >= 0; i-- {
			if authed = c.auth[i](authed); authed == nil {
				return nil, &OptionError{"WithAuth", fmt.Errorf("auth layer %d returned a nil RoundTripper", i)}
			}
		}
		rt = authGate{s: s, authed: authed, plain: rt}
	}
	if !c.jarSet {
		s.cfg.jar = NewJar(JarOptions{})
	}
	rt = cookieLayer{jar: s.cfg.jar, next: rt}
	// Layer 2 (retries, budget, breaker, rate limit) sits under the
	// redirect loop, so that each hop is retried on its own, and over the
	// middleware, so that every attempt is logged, authenticated and signed
	// anew.
	s.retrier = newRetrier(rt, &c, &s.stats)
	rt = s.retrier
	if c.maxRedirects > 0 {
		rt = &redirector{next: rt, max: c.maxRedirects, sensitive: c.sensitive, hooks: c.hooks}
	}
	// Request middleware wraps the whole logical request, redirects and
	// retries included: the place for a span per request.
	for i := len(c.requestMiddleware) - 1; i >= 0; i-- {
		if rt = c.requestMiddleware[i](rt); rt == nil {
			return nil, &OptionError{"WithRequestMiddleware", fmt.Errorf("middleware %d returned a nil RoundTripper", i)}
		}
	}
	s.next = rt
	s.stream = RoundTripperFunc(s.roundTripStream)
	return s, nil
}

// Client returns an *http.Client for third-party SDKs (go-github, the AWS
// SDK, generated clients) that sends every request through the session's
// stack: timeouts, redirects with courier's rules, middleware, decoding, and
// the session's default headers for names the request does not set
// (sensitive ones only toward the base URL's origin). The session's query
// parameters and base URL are not applied: an SDK builds its own URLs, and
// may have signed them. It keeps the standard semantics: a 404 is a response, not an error; the
// caller closes the body. Response bodies are bounded by Timeouts.BodyIdle
// between reads rather than by the request timeout.
//
// Redirects are followed inside the session's stack, with its rules, so the
// Client sees only the final response: a CheckRedirect or Jar set on it is
// not consulted for the hops. Use WithRedirects(0) on the session to leave
// redirects to the caller.
//
// Each call returns a new Client; changing it does not change the session.
func (s *Session) Client() *http.Client {
	return &http.Client{
		Transport: s.stream,
		// The session follows redirects itself; the client must not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RoundTripper returns the session's stack as an http.RoundTripper, with the
// semantics of [Session.Client].
func (s *Session) RoundTripper() http.RoundTripper { return s.stream }

// begin registers a request in flight, or reports that the session is closed.
func (s *Session) begin() bool {
	if s.state.Add(1)&closedBit != 0 {
		s.end()
		return false
	}
	return true
}

func (s *Session) end() {
	if s.state.Add(-1) == closedBit {
		s.drainOnce.Do(func() { close(s.drained) })
		// The last request of a closed session: its connection went back
		// to the pool, maybe after Close closed the idle ones (when its
		// ctx ended first), and would stay open until the idle timeout.
		s.closeIdle()
	}
}

func (s *Session) closeIdle() {
	if ci, ok := s.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// Close stops the session: new requests fail with [ErrClosed] at once,
// requests in flight (and streamed bodies not yet closed) are waited for
// until ctx ends, and then idle connections are closed. If ctx ends first,
// or a streamed body was read to its end but never closed, Close returns a
// [*CloseError] that counts what was left, and says where unclosed bodies were
// opened when leak tracking is on. Close may be called more than once; later
// calls wait in the same way.
//
// Pass a ctx with a deadline: a body nobody closes would otherwise be waited
// for forever.
func (s *Session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if s.state.Add(closedBit) == closedBit {
			s.drainOnce.Do(func() { close(s.drained) })
		}
	})
	var ctxErr error
	select {
	case <-s.drained:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	var err error
	if inFlight, unclosed := int(s.state.Load()&^closedBit), int(s.open.Load()); inFlight > 0 || unclosed > 0 {
		ce := &CloseError{InFlight: inFlight, Unclosed: unclosed, Err: ctxErr}
		s.sites.Range(func(_, v any) bool {
			ce.Sites = append(ce.Sites, v.(string))
			return true
		})
		err = ce
	}
	s.closeIdle()
	return err
}

// call is one logical request: it is the request's context (so that layers
// below can find it), and it owns the request's timer and in-flight slot.
type call struct {
	context.Context
	s *Session
	// trace counts the connections the transport hands this request
	// (GotConn): more than one in an attempt means net/http resent it
	// on its own, which counts as an attempt.
	trace httptrace.ClientTrace
	conns atomic.Int32
	// sends counts the requests handed to the base transport: a layer
	// may send more than one per attempt (a Digest challenge), which is
	// not a resend.
	sends  atomic.Int32
	reused atomic.Bool // the last connection came from the pool
	clock  clock       // timings as they come in
	cancel context.CancelCauseFunc
	timer  *time.Timer
	// bodyIdle > 0 switches the timer to guard each body read.
	bodyIdle time.Duration
	idle     atomic.Bool
	finished atomic.Bool
	// Written by the layers below while the request runs, read after.
	attempts int
	// hop is the URL of the current redirect hop (nil: the first).
	hop *url.URL
	// retryStop says why the retry loop returned a failure without trying
	// again (ErrRetryBudget, ErrRetryAfterTooLong...), or nil.
	retryStop error
	// deadline is when the request timeout fires (zero: none).
	deadline  time.Time
	redirects []string
	// buffered: the caller gets the body only once it is read in full (Do
	// without Stream), so layer 2 may read it and retry a body that
	// breaks. decode: courier decodes the body. body holds what layer 2
	// read.
	buffered bool
	decode   bool
	body     bufferedBody
}

type callKey struct{}

// Value returns the call itself for callKey, so layers below can find it
// without a separate context value.
func (c *call) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// startCall begins a logical request with the given overall timeout.
func (s *Session) startCall(parent context.Context, timeout time.Duration) (*call, error) {
	if !s.begin() {
		return nil, ErrClosed
	}
	s.stats.requests.Add(1)
	c := &call{s: s}
	c.clock.start = time.Now()
	c.Context, c.cancel = context.WithCancelCause(parent)
	if timeout > 0 {
		c.deadline = time.Now().Add(timeout)
		c.timer = time.AfterFunc(timeout, c.expire)
	}
	return c, nil
}

// Deadline returns the earlier of the caller's deadline and the session's
// request timeout, so that layers below (the retry loop) never start what
// cannot finish. Once a streamed body is handed over only the caller's
// deadline remains.
func (c *call) Deadline() (time.Time, bool) {
	parent, ok := c.Context.Deadline()
	if c.deadline.IsZero() || c.idle.Load() {
		return parent, ok
	}
	if ok && parent.Before(c.deadline) {
		return parent, true
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
	c.s.end()
}

// bufferedBody is a body read in full by layer 2, handed to Do.
type bufferedBody struct {
	data []byte
	off  int
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	if b.off >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

func (b *bufferedBody) Close() error { return nil }

// readInFull decodes and reads a response's body for a buffered call, within
// the session's limit, and replaces the body with what it read. An error
// means the body could not be had: the caller has seen nothing of it.
func (c *call) readInFull(resp *http.Response) error {
	if c.decode {
		if err := decodeBody(resp); err != nil {
			c.drainClose(resp.Body)
			return err
		}
	}
	data, err := readBody(resp, c.s.cfg.maxBodySize, true, c.drainClose)
	if err != nil {
		return err
	}
	c.body = bufferedBody{data: data}
	resp.Body = &c.body
	return nil
}

// traced returns the call's context with its connection counter attached
// (composed with any trace the caller had set).
func (c *call) traced() context.Context {
	c.trace.GotConn = c.gotConn
	if c.s.cfg.detailedTimings {
		c.detailedTrace()
	}
	return httptrace.WithClientTrace(c, &c.trace)
}

func (c *call) gotConn(info httptrace.GotConnInfo) {
	c.conns.Add(1)
	c.reused.Store(info.Reused)
	c.clock.idle.Store(int64(info.IdleTime))
	if info.Reused {
		// This attempt did not dial: no connect or TLS time of its own.
		c.clock.connect.Store(0)
		c.clock.tls.Store(0)
		c.clock.dns.Store(0)
	}
	switch {
	case info.Reused:
		c.s.stats.connsReused.Add(1)
	case !c.s.countsDials:
		c.s.stats.connsNew.Add(1)
	}
}

// hopURL returns the URL of the hop the request was on: the first
// request's, or the redirect target's it had reached.
func (c *call) hopURL(first *http.Request) *url.URL {
	if c.hop != nil {
		return c.hop
	}
	return first.URL
}

// failure returns why the call's context ended before the call finished
// (the caller canceled, a deadline or one of the session's timers passed),
// or nil while it runs or once it finished normally. The first cause wins,
// so a timeout that fired before finish is still reported after it.
func (c *call) failure() error {
	if c.Err() == nil {
		return nil
	}
	if cause := context.Cause(c); cause != errCallDone {
		return cause
	}
	return nil
}

// wrapErr gives a failure of the stack its kind, keeping the cause. When the
// call's context ended early its cause is the truth, whatever text the
// transport chose for the cancellation.
func (c *call) wrapErr(err error) error {
	if cause := c.failure(); cause != nil && !errors.Is(err, cause) {
		err = cause
	}
	return err
}

// exchange runs the stack for one logical request: it sets Accept-Encoding,
// sends through redirects and middleware, and decodes the final response.
// On error the call is finished.
func (c *call) exchange(req *http.Request) (*http.Response, error) {
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
	resp, err := c.s.next.RoundTrip(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		c.finish()
		return nil, c.wrapErr(err)
	}
	if decode && req.Method != http.MethodHead {
		if err := decodeBody(resp); err != nil {
			c.drainClose(resp.Body)
			c.finish()
			return nil, err
		}
	}
	return resp, nil
}

// roundTripStream is the top layer for RoundTripper and Client: standard
// semantics, with the body handed over under the idle timeout.
func (s *Session) roundTripStream(req *http.Request) (*http.Response, error) {
	c, err := s.startCall(req.Context(), off(s.cfg.timeouts.Request))
	if err != nil {
		closeRequestBody(req)
		return nil, kindError(ErrClosed, err)
	}
	r2 := req.WithContext(c.traced())
	r2.Header = s.mergeDefaults(req)
	resp, err := c.exchange(r2)
	if err != nil {
		kind := classify(c, err)
		s.stats.failure(kind)
		if len(s.cfg.hooks) > 0 {
			s.cfg.hooks.onError(AttemptInfo{Request: req, Attempt: c.attempts, Err: err, Kind: kind, Elapsed: time.Since(c.clock.start), BudgetLeft: -1})
		}
		return nil, kindError(kind, err)
	}
	s.stats.status(resp.StatusCode)
	if resp.Body == http.NoBody {
		// Nothing to read (204, 304, HEAD, Content-Length 0): callers
		// often skip Close then, which costs nothing with net/http.
		c.finish()
		return resp, nil
	}
	c.streaming()
	resp.Body = s.track(c, r2, resp.Body)
	return resp, nil
}

// kindError attaches a kind to an error for the RoundTripper path, where
// http.Client adds the method and URL itself.
func kindError(kind, err error) error {
	if kind == nil || errors.Is(err, kind) {
		return err
	}
	return &Error{Kind: kind, Err: err, Op: "request"}
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// trackedBody is a streamed body: it restarts the idle timer on each read
// and finishes the call on EOF or Close.
type trackedBody struct {
	rc  io.ReadCloser
	c   *call
	req *http.Request // for errors: method and URL
	// mu is held by Read, so that Close, which drains and closes rc,
	// never does so under a Read in progress (decoders are not safe for
	// that).
	mu     sync.Mutex
	closed atomic.Bool
}

// errBodyClosed is returned by a Read after Close, or by one that Close
// ended, as net/http does.
var errBodyClosed = errors.New("courier: read on closed response body")

func (s *Session) track(c *call, req *http.Request, rc io.ReadCloser) io.ReadCloser {
	b := &trackedBody{rc: rc, c: c, req: req}
	s.open.Add(1)
	if s.cfg.leakTracking {
		s.sites.Store(b, callerSite())
	}
	return b
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.closed.Load() {
		return n, errBodyClosed // Close ended this Read
	}
	if err == nil {
		b.c.progress()
		return n, nil
	}
	if err == io.EOF {
		// Like net/http, a body read to its end releases its request; it
		// still counts as unclosed until Close.
		b.c.finish()
	} else {
		err = b.c.wrapErr(err)
		if kind := classify(b.c, err); kind != nil && !errors.Is(err, kind) {
			err = &Error{Op: "read", Method: b.req.Method, URL: redact.URL(b.req.URL),
				Attempts: max(b.c.attempts, 1), Redirects: b.c.redirects, Kind: kind, Err: err}
		}
	}
	return n, err
}

// Close closes the body after draining a bounded amount of what is left, so
// that the connection can be reused. Closing a body from another goroutine
// to end a Read in progress works, as with net/http.
func (b *trackedBody) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	if !b.mu.TryLock() {
		// A Read is in progress. End the call's context, which ends the
		// Read (and gives up the connection), then close once it has
		// returned.
		b.c.cancel(errCallDone)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	err := b.c.drainClose(b.rc)
	b.c.s.open.Add(-1)
	if b.c.s.cfg.leakTracking {
		b.c.s.sites.Delete(b)
	}
	b.c.finish()
	return err
}

// maxDrain bounds what is read from an unwanted body so its connection can
// be reused; beyond it, closing the connection is cheaper.
const maxDrain = 256 << 10

// maxDrainWait bounds how long draining waits for the rest of a body to
// arrive. A server that stalls would otherwise hold the caller (closing a
// streamed body, or a request whose body passed its cap) until a timeout;
// past it, closing the connection is cheaper.
const maxDrainWait = 100 * time.Millisecond

// drainClose drains and closes a body of this call within maxDrainWait:
// then the call's context ends, as if it had finished, which aborts the
// read and closes the connection.
func (c *call) drainClose(rc io.ReadCloser) error {
	if c.finished.Load() || rc == nil || rc == http.NoBody {
		return drainClose(rc)
	}
	t := time.AfterFunc(maxDrainWait, func() { c.cancel(errCallDone) })
	defer t.Stop()
	return drainClose(rc)
}

// maxDiscard is what is read of a response the caller never sees (a
// redirect, a retried failure) so that its connection can be reused.
const maxDiscard = 2 << 10

// discardResponse reads a small body of known length to its end, so that an
// HTTP/1 connection goes back to the pool, and closes it. Any other body is
// closed unread: a stalled server must not hold up the next hop or attempt,
// and a new connection is cheaper than waiting. (net/http's redirect loop
// also reads 2 KiB, but of bodies of unknown length too.)
func discardResponse(resp *http.Response) {
	if resp.ContentLength >= 0 && resp.ContentLength <= maxDiscard {
		io.CopyN(io.Discard, resp.Body, maxDiscard)
	}
	resp.Body.Close()
}

func drainClose(rc io.ReadCloser) error {
	if rc == nil {
		return nil
	}
	if d, ok := rc.(*decodedBody); ok {
		// Its Close drains the compressed bytes: cheaper than decoding
		// what nobody will read.
		return d.Close()
	}
	io.CopyN(io.Discard, rc, maxDrain)
	return rc.Close()
}

// callerSite describes the first frame outside courier.
func callerSite() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "github.com/courierhttp/courier.") && !strings.HasPrefix(f.Function, "net/http.") {
			return fmt.Sprintf("%s (%s:%d)", f.Function, f.File, f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}
