package oauth2

import (
	"context"
	"fmt"
	"sync"

	"github.com/courierhttp/courier"

	xoauth2 "golang.org/x/oauth2"
)

// cache holds the token shared by the round trippers of one [New], and the
// refresh in flight, if any.
type cache struct {
	src Source
	cfg config
	err error // a bad option or a nil Source: every request fails with it

	mu       sync.Mutex
	tok      *xoauth2.Token // nil when there is none, or it was rejected
	flight   *flight        // the refresh in flight, or nil
	rejected string         // the access token a server rejected last
}

// A flight is one refresh: a call of the Source, or of the Store. Its
// result is written before done is closed and read after.
type flight struct {
	done chan struct{}
	tok  *xoauth2.Token
	err  error

	waiters int // requests that waited for it; c.mu guards it
	reason  RefreshReason
	origin  Origin // where its token came from; the refresh sets it
}

// fetchKey marks the context of a refresh with its cache.
type fetchKey struct{}

// token returns the cached token while it is valid. Otherwise it joins the
// refresh in flight, or starts one, and waits for it until ctx ends; the
// refresh itself goes on for the others.
func (c *cache) token(ctx context.Context) (*xoauth2.Token, error) {
	c.mu.Lock()
	if tok := c.tok; c.valid(tok) {
		c.mu.Unlock()
		return tok, nil
	}
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{}), reason: c.reasonLocked()}
		c.flight = f
		go c.refresh(context.WithoutCancel(ctx), f)
	}
	f.waiters++
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrTokenFetch, ctx.Err())
	}
}

// refresh gets a new token once, from the Source or through the Store,
// under its own timeout, and publishes the result to the cache and to the
// waiters of f.
func (c *cache) refresh(ctx context.Context, f *flight) {
	cancel := context.CancelFunc(func() {})
	if c.cfg.timeout != courier.NoTimeout {
		ctx, cancel = context.WithTimeout(ctx, c.cfg.timeout)
	}
	defer cancel()
	ctx = context.WithValue(ctx, fetchKey{}, c)
	if c.cfg.client != nil {
		ctx = context.WithValue(ctx, xoauth2.HTTPClient, c.cfg.client)
	}
	start := c.cfg.now()
	var tok *xoauth2.Token
	var err error
	if c.cfg.store != nil {
		tok, err = c.shared(ctx, f)
	} else {
		f.origin = OriginSource
		tok, err = c.fetch(ctx, nil)
	}
	c.mu.Lock()
	c.flight = nil
	if err == nil {
		c.tok = tok
	}
	waiters := f.waiters
	c.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
	if c.cfg.onRefresh != nil {
		info := RefreshInfo{Reason: f.reason, Origin: f.origin, Waiters: waiters, Duration: c.cfg.now().Sub(start), Err: err}
		if tok != nil {
			info.Expiry = tok.Expiry
		}
		c.cfg.onRefresh(info)
	}
}

// reasonLocked says why the layer needs a token now; c.mu is held.
func (c *cache) reasonLocked() RefreshReason {
	switch {
	case c.tok != nil:
		return ReasonExpired
	case c.rejected != "":
		return ReasonRejected
	}
	return ReasonFirst
}

// fetch calls the Source once and checks the token it returns. It
// refreshes from current, the token a Store holds, when the Source is a
// [Refresher] and current is not nil.
func (c *cache) fetch(ctx context.Context, current *xoauth2.Token) (*xoauth2.Token, error) {
	var tok *xoauth2.Token
	var err error
	if r, ok := c.src.(Refresher); ok && current != nil {
		tok, err = r.RefreshFrom(ctx, current)
	} else {
		tok, err = c.src.Token(ctx)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrTokenFetch, err)
	case tok == nil || tok.AccessToken == "":
		return nil, fmt.Errorf("%w: the source returned no access token", ErrTokenFetch)
	case !wellFormed(tok):
		// Not quoted: it is a secret, or next to one.
		return nil, fmt.Errorf("%w: the access token or its type holds a byte that is not visible ASCII", ErrTokenFetch)
	}
	return tok, nil
}

// invalidate drops tok, which the server rejected, unless a refresh has
// already replaced it: concurrent rejections of one token cause one
// refresh. The layer remembers the rejected token, so that it does not
// take it from a Store again.
func (c *cache) invalidate(tok *xoauth2.Token) {
	c.mu.Lock()
	if c.tok == tok {
		c.tok = nil
		c.rejected = tok.AccessToken
	}
	c.mu.Unlock()
}

// valid reports whether tok can be sent now: it has not reached its expiry
// less the early-expiry margin (a token without an expiry never expires).
// The expiry is compared on the wall clock, as x/oauth2 does, so that a
// machine that slept does not keep an expired token.
func (c *cache) valid(tok *xoauth2.Token) bool {
	if tok == nil {
		return false
	}
	return tok.Expiry.IsZero() || c.cfg.now().Before(tok.Expiry.Round(0).Add(-c.cfg.early))
}

// wellFormed reports whether tok has an access token that, with its type,
// can travel in an Authorization header.
func wellFormed(tok *xoauth2.Token) bool {
	return tok != nil && tok.AccessToken != "" && visibleASCII(tok.AccessToken) && visibleASCII(tok.Type())
}

// visibleASCII reports whether s can travel in an Authorization header as
// one word.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
