package sse

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"time"

	"github.com/courierhttp/courier"
	"golang.org/x/net/http/httpguts"
)

// NoReconnects, given to [MaxReconnects], turns reconnecting off: the first
// drop ends the stream with a [*DropError].
const NoReconnects = -1

const (
	defaultMaxReconnects = 5
	// defaultRetry is the reconnection delay until the server sets one.
	defaultRetry = 3 * time.Second
	// minRetry is the shortest wait before a reconnect, whatever the
	// server asks (a "retry: 0" would otherwise make a hot loop).
	minRetry = 10 * time.Millisecond
)

// ErrNotEventStream: the response's Content-Type was not text/event-stream.
// The error that wraps it names the type.
var ErrNotEventStream = errors.New("sse: response is not text/event-stream")

// A DropError ends a stream whose connection dropped (a read error, or the
// server ended the response) when it could not be reconnected: the request
// is not sent again (see [Stream] for when), [MaxReconnects] reconnects
// in a row failed, or the session's retry budget refused one.
type DropError struct {
	// Method is the request's method.
	Method string
	// Err is the last failure: io.EOF when the server ended the response,
	// else the [*courier.Error] of the read or of the reconnect (such as
	// courier.ErrConnLost, courier.ErrTimeout, or courier.ErrRetryBudget
	// for a reconnect the budget refused).
	Err error
	// LastEventID is the stream's last event ID when it ended ("" when
	// none), from which a caller may resume by hand with [LastEventID].
	LastEventID string
	// Reconnects is how many reconnects failed in a row; 0 when the
	// request was not sent again.
	Reconnects int
}

func (e *DropError) Error() string {
	if e.Reconnects == 0 {
		return fmt.Sprintf("sse: %s stream dropped, not sent again: %v", e.Method, e.Err)
	}
	return fmt.Sprintf("sse: %s stream dropped, %d reconnects failed: %v", e.Method, e.Reconnects, e.Err)
}

// Unwrap returns Err, so that errors.Is(err, courier.ErrTimeout) and
// errors.Is(err, io.EOF) look through a DropError.
func (e *DropError) Unwrap() error { return e.Err }

// An Option changes a stream. Options apply in order; for a setting with
// one value the last one wins, and [Request] accumulates. Only this package
// defines options.
type Option interface {
	apply(*config) error
}

type option func(*config) error

func (f option) apply(c *config) error { return f(c) }

type config struct {
	maxEventSize  int
	maxReconnects int
	request       []courier.RequestOption
	lastID        string
}

// MaxEventSize caps a line and an event's data, in bytes (default 1 MiB; 0
// means the default). A larger one ends the stream with
// [ErrEventTooLarge]. Memory is bounded by about twice the cap.
func MaxEventSize(n int) Option {
	return option(func(c *config) error {
		switch {
		case n < 0:
			return fmt.Errorf("sse: MaxEventSize: negative size %d", n)
		case n == 0:
			n = defaultMaxEventSize
		}
		c.maxEventSize = n
		return nil
	})
}

// MaxReconnects bounds how many reconnects in a row may fail, that is end
// without delivering an event, before the stream ends with a [*DropError]
// (default 5; 0 means the default, [NoReconnects] none). A reconnect that
// delivers an event starts the count again.
func MaxReconnects(n int) Option {
	return option(func(c *config) error {
		switch {
		case n == NoReconnects:
			n = 0
		case n < 0:
			return fmt.Errorf("sse: MaxReconnects: negative count %d (use sse.NoReconnects to turn reconnecting off)", n)
		case n == 0:
			n = defaultMaxReconnects
		}
		c.maxReconnects = n
		return nil
	})
}

// Request gives options for the HTTP request, sent as they are on every
// connection and reconnection: headers, a query, a body
// (sse.Request(courier.JSON(body)) for a POST). The name says where they go:
// into the courier request, not into the parsing of the stream. The stream's
// own headers (Accept, Cache-Control, Last-Event-ID) and courier.Stream are
// added after them and win. Several Request options accumulate.
func Request(opts ...courier.RequestOption) Option {
	return option(func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errors.New("sse: Request: nil request option")
			}
		}
		c.request = append(c.request, opts...)
		return nil
	})
}

// LastEventID resumes a stream: the first request sends id as Last-Event-ID,
// as a reconnect would, and events without an id field carry it.
func LastEventID(id string) Option {
	return option(func(c *config) error {
		if !httpguts.ValidHeaderFieldValue(id) {
			return fmt.Errorf("sse: LastEventID: %q is not a valid header value", id)
		}
		c.lastID = id
		return nil
	})
}

func newConfig(opts []Option) (config, error) {
	c := config{maxEventSize: defaultMaxEventSize, maxReconnects: defaultMaxReconnects}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("sse: nil option")
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Stream sends a request for an event stream through s and yields its
// events; see the package documentation for the rules it follows. The
// request is method to path, resolved as [courier.Session.Do] resolves it,
// with the options of [Request], "Accept: text/event-stream",
// "Cache-Control: no-cache" and [courier.Stream].
//
// The stream ends without an error when the server answers 204 No Content.
// Otherwise it ends with one error, yielded with a zero Event:
//   - a bad option, or any error of [courier.Session.Do] for the first
//     request: a [*courier.StatusError] for a non-2xx status, a
//     [*courier.Error] otherwise;
//   - [ErrNotEventStream] (wrapped, naming the type) for another
//     Content-Type;
//   - [ErrEventTooLarge] (wrapped) for a line or data over [MaxEventSize];
//   - a [*DropError] when the connection dropped and could not be
//     reconnected: a method other than GET, HEAD, OPTIONS, TRACE, PUT and
//     DELETE is sent again only when its request carried an
//     Idempotency-Key header, and reconnects are bounded by
//     [MaxReconnects] and by the session's retry budget;
//   - the context's error when it ends (a [*courier.Error] of kind
//     courier.ErrCanceled or courier.ErrTimeout during a read).
//
// After a drop, Stream waits the server's retry delay (3s until a retry
// field sets one, at least 10ms), give or take 20%, and sends the request
// again with Last-Event-ID when it knows one. A reconnect that fails to
// connect (courier.ErrConnect and the like) counts as a failed reconnect; one
// answered with an error status, another type or 204 ends the stream as the
// first request would.
//
// Breaking out of the loop, or the context ending, closes the body and
// returns at once. Stream starts no goroutine. The sequence may be ranged
// over more than once; each range sends a new request.
func Stream(ctx context.Context, s *courier.Session, method, path string, opts ...Option) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		cfg, err := newConfig(opts)
		if err == nil && s == nil {
			err = errors.New("sse: nil session")
		}
		if err != nil {
			yield(Event{}, err)
			return
		}
		st := &stream{ctx: ctx, s: s, method: method, path: path, cfg: cfg,
			p: newParser(nil, cfg.maxEventSize), resend: idempotent(method)}
		st.p.lastID = cfg.lastID
		st.run(yield)
	}
}

// stream is one range over a Stream's sequence.
type stream struct {
	ctx          context.Context
	s            *courier.Session
	method, path string
	cfg          config
	p            *parser
	// resend: the request may be sent again after a drop.
	resend bool
	// key is the first request's Idempotency-Key, sent again with every
	// reconnect: a key the session makes up (courier.WithIdempotencyKeys)
	// would otherwise be a new one each time, and the server would take
	// the reconnect for a new request.
	key string
}

func idempotencyKey(resp *courier.Response) string {
	if resp.Request == nil {
		return ""
	}
	return resp.Request.Header.Get("Idempotency-Key")
}

// run connects, reads, and reconnects after drops until the stream ends.
func (st *stream) run(yield func(Event, error) bool) {
	failures := 0
	delivered := false
	for reconnect := false; ; reconnect = true {
		// A reconnect after a connection that delivered nothing is a
		// retry, paid for from the session's retry budget; one after a
		// stream that worked is a fresh start.
		var cause error
		var done bool
		delivered, cause, done = st.connection(reconnect, reconnect && !delivered, yield)
		if done {
			return
		}
		switch {
		case delivered:
			failures = 0
		case reconnect:
			failures++
		}
		if !st.resend || failures >= st.cfg.maxReconnects || errors.Is(cause, courier.ErrRetryBudget) {
			yield(Event{}, &DropError{Method: st.method, Err: cause, LastEventID: st.p.lastID, Reconnects: failures})
			return
		}
		if err := st.wait(); err != nil {
			yield(Event{}, err)
			return
		}
	}
}

// connection sends the request once and yields its events. It reports
// whether it delivered any, why the connection dropped, and done when the
// stream is over (cleanly, by the caller, or with an error it yielded).
func (st *stream) connection(reconnect, resend bool, yield func(Event, error) bool) (delivered bool, cause error, done bool) {
	// The connection's own context, ended before the body is closed: a
	// stream has no end worth draining for, so closing it aborts the read
	// at once instead of draining.
	ctx, cancel := context.WithCancel(st.ctx)
	defer cancel()
	resp, err := st.connect(ctx, resend)
	switch {
	case err != nil && reconnect && (lost(err) || errors.Is(err, courier.ErrRetryBudget)) && st.ctx.Err() == nil:
		return false, err, false
	case err != nil:
		yield(Event{}, err)
		return false, nil, true
	case resp == nil:
		return false, nil, true // 204 No Content
	}
	defer func() {
		cancel()
		resp.Close()
	}()
	if key := idempotencyKey(resp); key != "" && st.key == "" {
		st.key, st.resend = key, true
	}
	st.p.reset(resp.Body())
	for {
		ev, err := st.p.next()
		if err != nil {
			if errors.Is(err, ErrEventTooLarge) || st.ctx.Err() != nil {
				yield(Event{}, err)
				return delivered, nil, true
			}
			return delivered, err, false
		}
		delivered = true
		if !yield(ev, nil) {
			return true, nil, true
		}
	}
}

// connect sends the request. It returns a nil Response for a 204, which
// ends the stream.
func (st *stream) connect(ctx context.Context, resend bool) (*courier.Response, error) {
	opts := make([]courier.RequestOption, 0, len(st.cfg.request)+5)
	opts = append(opts, st.cfg.request...)
	opts = append(opts, courier.Stream(),
		courier.Header("Accept", "text/event-stream"),
		courier.Header("Cache-Control", "no-cache"))
	if st.key != "" {
		opts = append(opts, courier.Header("Idempotency-Key", st.key))
	}
	if resend {
		opts = append(opts, courier.Resend())
	}
	// An ID with control characters cannot be a header value: it is not
	// sent, rather than failing the request.
	if id := st.p.lastID; id != "" && httpguts.ValidHeaderFieldValue(id) {
		opts = append(opts, courier.Header("Last-Event-ID", id))
	}
	resp, err := st.s.Do(ctx, st.method, st.path, opts...)
	if err != nil {
		if resp != nil {
			resp.Close()
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent {
		resp.Close()
		return nil, nil
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/event-stream" {
		resp.Close()
		return nil, fmt.Errorf("%w: Content-Type is %q", ErrNotEventStream, ct)
	}
	return resp, nil
}

// wait sleeps the reconnection delay, with jitter, or until the context
// ends.
func (st *stream) wait() error {
	d := st.p.retry
	if d == 0 {
		d = defaultRetry
	}
	d = max(jitter(d), minRetry)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-st.ctx.Done():
		return st.ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter returns d give or take 20%, so that clients that lost the same
// server do not all come back at once.
func jitter(d time.Duration) time.Duration {
	f := 0.8 + 0.4*rand.Float64()
	if j := time.Duration(float64(d) * f); j > 0 {
		return j
	}
	return d // overflow: a delay near the largest Duration
}

// idempotent reports whether a request with this method may be sent again
// after a drop without an Idempotency-Key (RFC 9110, section 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// lost reports whether a failed reconnect may be tried again: the
// connection could not be made or was lost, or timed out.
func lost(err error) bool {
	for _, k := range []courier.Kind{courier.ErrConnect, courier.ErrConnectTimeout, courier.ErrDNS,
		courier.ErrConnLost, courier.ErrTimeout, courier.ErrRefused} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
