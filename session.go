package courier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// version is courier's version, sent in the default User-Agent.
const version = "0.2.0"

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
	// attempt is what one attempt goes through: the cookie jar, the auth
	// layers (for the credential origins), the middleware, base.
	attempt http.RoundTripper
	// hosts is the per-host state of the retry loop: budget, breaker,
	// rate limiter.
	hosts hosts
	// stats counts what the session did (Stats).
	stats counters
	// plain and creds split the default headers once: creds (sensitive
	// ones) go only to the base URL's origin.
	plain, creds defaults

	// state counts requests in flight; closedBit marks a closed session.
	state     atomic.Int64
	drained   chan struct{}
	drainOnce sync.Once
	closeOnce sync.Once

	// cache is the session's HTTP cache, or nil; bg is the context of
	// the work it does in the background, which Close cancels.
	cache    *cacheLayer
	bg       context.Context
	bgCancel context.CancelFunc

	// open counts streamed bodies handed out and not closed.
	open  atomic.Int64
	sites sync.Map // *trackedBody -> string (leak tracking only)
}

const closedBit = int64(1) << 62

// New creates a session. It validates every option and returns an
// [*OptionError] naming the first bad setting.
func New(opts ...Option) (*Session, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: c, drained: make(chan struct{})}
	s.plain = newDefaults(c.header, func(k string) bool { return !s.sensitiveHeader(k) })
	s.creds = newDefaults(c.header, s.sensitiveHeader)
	if c.transport != nil {
		s.base = c.transport
	} else {
		s.base = newTransport(&s.cfg, &s.stats)
		s.countsDials = true
	}
	if s.attempt, err = s.attemptStack(); err != nil {
		return nil, err
	}
	s.hosts = hosts{breaker: c.breaker, limit: c.rateLimit}
	s.bg, s.bgCancel = context.WithCancel(context.Background())
	if c.cache != nil {
		s.cache = newCacheLayer(s, c.cache)
	}
	if !c.retry.Budget.Disabled && c.retry.MaxAttempts > 1 {
		s.hosts.budget = &s.cfg.retry.Budget
	}
	return s, nil
}

// attemptStack stacks the layers one attempt goes through, outermost
// first: the cookie jar, the auth layers (only toward the credential
// origins), the middleware, the base transport.
func (s *Session) attemptStack() (http.RoundTripper, error) {
	rt := s.base
	mw := s.cfg.middleware
	for i := len(mw) - 1; i >= 0; i-- {
		if rt = mw[i](rt); rt == nil {
			return nil, &OptionError{"WithMiddleware", fmt.Errorf("middleware %d returned a nil RoundTripper", i)}
		}
	}
	if auth := s.cfg.auth; len(auth) > 0 {
		authed := rt
		for i := len(auth) - 1; i >= 0; i-- {
			if authed = auth[i](authed); authed == nil {
				return nil, &OptionError{"WithAuth", fmt.Errorf("auth layer %d returned a nil RoundTripper", i)}
			}
		}
		rt = authGate{s: s, authed: authed, plain: rt}
	}
	return cookieLayer{jar: s.cfg.jar, next: rt}, nil
}

// Client returns an *http.Client for third-party SDKs (go-github, the AWS
// SDK, generated clients) that sends every request through the session's
// path: interceptors, redirects with courier's rules, retries, middleware,
// decoding, and the session's default headers for names the request does
// not set (sensitive ones only toward the base URL's origin). The session's
// query parameters and base URL are not applied: an SDK builds its own URLs,
// and may have signed them. It keeps the standard semantics: a 404 is a
// response, not an error; the caller closes the body. Response bodies are
// bounded by Timeouts.BodyIdle between reads rather than by the request
// timeout.
//
// A protocol switch (101 Switching Protocols) works as with net/http, so
// WebSocket libraries that take an *http.Client can use this one: the
// response's Body is the connection, an io.ReadWriteCloser that the caller
// owns and closes, bounded by none of the session's timeouts.
//
// Redirects are followed inside the session's path, with its rules, so the
// Client sees only the final response: a CheckRedirect or Jar set on it is
// not consulted for the hops. Use WithRedirects(NoRedirects) on the session
// to leave redirects to the caller.
//
// Each call returns a new Client; changing it does not change the session.
func (s *Session) Client() *http.Client {
	return &http.Client{
		Transport: sessionTransport{s},
		// The session follows redirects itself; the client must not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sessionTransport is the top of the path for Client.
type sessionTransport struct{ s *Session }

// RoundTrip sends req with standard semantics, the body handed over under
// the idle timeout.
func (t sessionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	c, err := s.start(req.Context(), off(s.cfg.timeouts.Request))
	if err != nil {
		closeRequestBody(req)
		return nil, &Error{Op: "request", Kind: ErrClosed, Err: err}
	}
	r2 := req.WithContext(c.ctx)
	r2.Header = s.mergeDefaults(req)
	resp, err := c.exchange(r2)
	if err != nil {
		return nil, c.failed(req, c.requestError(err))
	}
	if resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		// Nothing to read (204, 304, HEAD, Content-Length 0): callers
		// often skip Close then, which costs nothing with net/http. Or a
		// protocol switch, whose body is the connection, handed over as
		// the io.ReadWriteCloser net/http made it: the request is done,
		// and no timeout of the session's bounds what comes next.
		s.stats.status(resp.StatusCode)
		c.finish()
		return resp, nil
	}
	c.streaming()
	resp.Body = s.track(c, r2, resp)
	return resp, nil
}

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
		s.bgCancel()
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

// errClosedSession is the cause of a request refused by a closed session.
var errClosedSession = errors.New("session is closed")

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
