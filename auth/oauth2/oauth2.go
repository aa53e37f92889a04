package oauth2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/courierhttp/courier"
	xoauth2 "golang.org/x/oauth2"
)

// A Source fetches a new token each time Token is called; the layer made by
// [New] does the caching. It must use ctx for the request to the token
// endpoint (x/oauth2 takes the *http.Client from the context key
// [xoauth2.HTTPClient], which [WithHTTPClient] sets) and be safe for
// concurrent use.
//
// *clientcredentials.Config is a Source as it is. [ClientCredentials],
// [RefreshToken] and [FromTokenSource] make the others.
type Source interface {
	Token(ctx context.Context) (*xoauth2.Token, error)
}

// SourceFunc adapts a function to [Source].
type SourceFunc func(ctx context.Context) (*xoauth2.Token, error)

// Token returns f(ctx).
func (f SourceFunc) Token(ctx context.Context) (*xoauth2.Token, error) { return f(ctx) }

// ErrTokenFetch is in the chain of every error the layer returns because it
// has no token to send: the source failed (the cause, such as an
// *xoauth2.RetrieveError, stays in the chain for [errors.As]), returned no
// access token, timed out, or the request's context ended while it waited.
// The message reads "oauth2: fetch token: <cause>".
var ErrTokenFetch = errors.New("oauth2: fetch token")

// The defaults of the options.
const (
	defaultEarlyExpiry    = 10 * time.Second
	defaultRefreshTimeout = 30 * time.Second
)

// An Option configures the layer made by [New].
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	early     time.Duration
	timeout   time.Duration
	client    *http.Client
	store     Store            // nil: the token is the layer's own
	fallback  bool             // call the Source when the store fails
	now       func() time.Time // the clock; tests set it
	onRefresh func(RefreshInfo)
}

// WithEarlyExpiry sets how long before its expiry a token counts as expired
// and is refreshed (default 10s; 0 means the default, as everywhere in
// courier). It must not be negative. It absorbs clock skew and the time a
// request takes to reach the server; to use a token to its last moment,
// give time.Nanosecond.
func WithEarlyExpiry(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		switch {
		case d < 0:
			return fmt.Errorf("oauth2: WithEarlyExpiry: negative duration %v", d)
		case d == 0:
			d = defaultEarlyExpiry
		}
		c.early = d
		return nil
	})
}

// WithRefreshTimeout bounds each call of the Source (default 30s; 0 means
// the default, [courier.NoTimeout] none). A refresh is shared by every
// request waiting for it, so it does not run under any one request's
// context: it keeps that context's values but not its cancellation, and
// this timeout is what stops it.
func WithRefreshTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		switch {
		case d == courier.NoTimeout:
		case d < 0:
			return fmt.Errorf("oauth2: WithRefreshTimeout: negative duration %v (use courier.NoTimeout for none)", d)
		case d == 0:
			d = defaultRefreshTimeout
		}
		c.timeout = d
		return nil
	})
}

// WithHTTPClient makes the Source call the token endpoint through client,
// such as a courier session's [courier.Session.Client], for its retries,
// timeouts and logging. The default (nil) is x/oauth2's: the client in the
// request's context under [xoauth2.HTTPClient], else http.DefaultClient.
// It works for every Source that uses x/oauth2 to fetch tokens; a source
// made by [FromTokenSource] has its own client.
//
// Use a session other than the one the layer authenticates: its token
// requests must not need a token.
func WithHTTPClient(client *http.Client) Option {
	return optionFunc(func(c *config) error {
		c.client = client
		return nil
	})
}

// New returns a layer that sends each request with an access token from
// src, as "Authorization: <type> <token>" (the token's type, Bearer by
// default). Use it in a session, courier.WithAuth(oauth2.New(src)), or on
// its own, &http.Client{Transport: oauth2.New(src)(nil)}; a nil next round
// tripper is http.DefaultTransport.
//
// The round trippers the layer makes share one token: it is fetched on the
// first request, reused until it is about to expire ([WithEarlyExpiry]),
// then fetched again, once for all the requests that need it. A request
// answered 401 Unauthorized is sent once more with a new token when its
// body can be replayed. [WithStore] shares the token with other layers, in
// this process or in others, which then refresh it once between them. See
// the package documentation for the details.
//
// The layer leaves alone a request that already has an Authorization
// header, and a redirect hop that [courier.CredentialsAllowed] refuses. An
// option that is not valid, or a nil src, makes every request fail with an
// error that says so. The round trippers are safe for concurrent use.
func New(src Source, opts ...Option) courier.Middleware {
	return newCache(src, opts).middleware
}

func newCache(src Source, opts []Option) *cache {
	c := &cache{src: src, cfg: config{
		early:   defaultEarlyExpiry,
		timeout: defaultRefreshTimeout,
		now:     time.Now,
	}}
	if src == nil {
		c.err = errors.New("oauth2: nil Source")
	}
	for _, o := range opts {
		if c.err != nil {
			break
		}
		if o == nil {
			c.err = errors.New("oauth2: nil Option")
			break
		}
		c.err = o.apply(&c.cfg)
	}
	if c.err == nil {
		c.err = checkStore(&c.cfg, src)
	}
	return c
}

func (c *cache) middleware(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{c: c, next: next}
}

// transport adds the cached token to each request it may authenticate.
type transport struct {
	c    *cache
	next http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

// RoundTrip follows the RoundTripper contract: it closes req.Body, on error
// too, and returns a 401 response as a response.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.c.err != nil {
		closeBody(req)
		return nil, t.c.err
	}
	if len(req.Header.Values("Authorization")) > 0 || !courier.CredentialsAllowed(req) ||
		req.Context().Value(fetchKey{}) == t.c {
		// The last case is the Source's own request to the token
		// endpoint coming back through this layer (a client whose
		// transport is this layer): it cannot wait for itself.
		return t.next.RoundTrip(req)
	}
	tok, err := t.c.token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.next.RoundTrip(authorize(req, tok, req.Body))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	return t.retry(req, tok, resp)
}

// retry handles a 401 to req sent with stale: it drops stale from the cache
// (unless another request already replaced it), and sends req once more with
// a new token when there is one and req's body can be replayed. Otherwise it
// returns the 401 as it came.
func (t *transport) retry(req *http.Request, stale *xoauth2.Token, resp *http.Response) (*http.Response, error) {
	t.c.invalidate(stale)
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody && req.GetBody == nil {
		return resp, nil
	}
	tok, err := t.c.token(req.Context())
	if err != nil || tok.AccessToken == stale.AccessToken {
		// A failed refresh shows on the next request, which has no
		// token to send; this one gets the server's answer.
		return resp, nil
	}
	body := req.Body
	if hasBody {
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	// Read a little of the 401 so that its connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	return t.next.RoundTrip(authorize(req, tok, body))
}

// authorize returns a copy of req with body and tok's Authorization header.
func authorize(req *http.Request, tok *xoauth2.Token, body io.ReadCloser) *http.Request {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", tok.Type()+" "+tok.AccessToken)
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// WithOnRefresh calls f after each refresh of the layer's token, on the
// refresh's goroutine, with what it did: for logs and metrics (refreshes
// per expiry, tokens found in a shared Store, fallbacks). f must not block.
func WithOnRefresh(f func(RefreshInfo)) Option {
	return optionFunc(func(c *config) error {
		c.onRefresh = f
		return nil
	})
}

// RefreshInfo describes one refresh of a layer's token.
type RefreshInfo struct {
	// Reason says why the layer needed a token.
	Reason RefreshReason
	// Origin says where the token came from, or would have.
	Origin Origin
	// Waiters is how many requests waited for it.
	Waiters int
	// Duration is how long the refresh took.
	Duration time.Duration
	// Expiry is the new token's expiry (zero: none, or no token).
	Expiry time.Time
	// Err is the refresh's error, as the waiting requests got it; nil
	// when a token was had. It holds no secret.
	Err error
}

// RefreshReason says why a layer needed a new token.
type RefreshReason int

// The refresh reasons.
const (
	// ReasonFirst: the layer had no token yet (or its last refresh
	// failed).
	ReasonFirst RefreshReason = iota + 1
	// ReasonExpired: its token reached its expiry, less the early-expiry
	// margin.
	ReasonExpired
	// ReasonRejected: a server answered 401 to its token.
	ReasonRejected
)

func (r RefreshReason) String() string {
	switch r {
	case ReasonFirst:
		return "first"
	case ReasonExpired:
		return "expired"
	case ReasonRejected:
		return "rejected"
	}
	return "unknown"
}

// Origin says where a refreshed token came from.
type Origin int

// The origins of a token.
const (
	// OriginSource: the layer called its Source (the token endpoint).
	OriginSource Origin = iota + 1
	// OriginStore: the layer found the token in its Store, refreshed by
	// another layer or process.
	OriginStore
	// OriginFallback: the Store failed and, with WithStoreFallback, the
	// layer called its Source for a token of its own.
	OriginFallback
)

func (o Origin) String() string {
	switch o {
	case OriginSource:
		return "source"
	case OriginStore:
		return "store"
	case OriginFallback:
		return "fallback"
	}
	return "unknown"
}
