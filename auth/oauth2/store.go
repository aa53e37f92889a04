package oauth2

import (
	"context"
	"errors"
	"fmt"
	"sync"

	xoauth2 "golang.org/x/oauth2"
)

// A Store keeps a token that several layers share, so that they refresh it
// once between them instead of once each: the layers of one process with a
// [MemoryStore], or those of a fleet of processes with a store in Redis or a
// database. Give it to each layer with [WithStore].
//
// A layer asks its Store only when its own copy of the token has expired or
// was rejected: it loads the stored token and uses it when it is valid, and
// otherwise asks the store to refresh it. The store refreshes under a lease
// that one caller holds at a time across everyone who shares it, and calls
// back into the layer's [Source] to fetch the new token; see Refresh.
//
// Two tokens are the same when their access tokens are equal; a nil token
// is the same as one without an access token (a token that holds only a
// refresh token, which a store may be seeded with).
//
// A Store must be safe for concurrent use and should return when ctx ends.
// The token is a secret: a Store keeps it where only the layers that share
// it can read it, and puts none of it in its errors, which reach the
// layer's callers (see [ErrStore]). It keeps the whole token (AccessToken,
// TokenType, RefreshToken, Expiry; Extra may be lost), and keeps it after
// the access token expires: its refresh token is still needed. Tokens go in
// and out of a Store unmodified; neither side changes one it was given.
type Store interface {
	// Load returns the stored token, or nil when there is none. It
	// should not wait for the lease. It may return a token older than the
	// newest (one read from a replica that lags): the layer then calls
	// Refresh with it, which finds the newest.
	Load(ctx context.Context) (*xoauth2.Token, error)

	// Refresh replaces stale, a token the caller loaded and found expired
	// or rejected, with a new one. It takes the store's lease, waiting
	// while another caller holds it, until ctx ends. Under the lease it
	// reads the stored token, the newest one written:
	//
	//   - When it is no longer the same as stale, another caller has
	//     replaced it since: Refresh returns it and does not call fetch.
	//   - Otherwise it calls fetch once, with the stored token (nil when
	//     there is none) so that a source redeems the newest refresh token,
	//     writes the token fetch returns in its place, and returns it.
	//
	// It writes before it releases the lease, so that no one can read a
	// refresh token that has been redeemed, and it releases the lease
	// however Refresh ends. Refresh returns only after fetch has returned.
	//
	// fetch's context must be derived from ctx, whose values the layer
	// needs (its HTTP client for the token endpoint), and must end before
	// the lease can expire: a fetch still running when another caller
	// takes the lease would let both redeem one refresh token. A store
	// whose lease can expire fences its write: the write succeeds only
	// while the writer's lease is still the current one, so that a holder
	// that lost its lease cannot overwrite a newer token; when the write
	// is refused, Refresh returns an error.
	//
	// When fetch fails, Refresh keeps the stored token and returns fetch's
	// error, wrapped or not, so that the layer can tell it from the
	// store's own errors.
	Refresh(ctx context.Context, stale *xoauth2.Token, fetch FetchFunc) (*xoauth2.Token, error)
}

// A FetchFunc gets a new token from a layer's [Source] for [Store.Refresh],
// from current, the stored token (nil when there is none): a [Refresher]
// redeems current's refresh token, any other Source fetches a new token
// without it. The token it returns has an access token, and a refresh
// token when the source uses one: the one to redeem next.
type FetchFunc func(ctx context.Context, current *xoauth2.Token) (*xoauth2.Token, error)

// ErrStore is in the chain of the errors the layer returns when its
// [Store] fails, with [ErrTokenFetch] and the store's error: "oauth2: fetch
// token: oauth2: token store: <cause>". A Store that returns no usable
// token from Refresh has failed too. The errors of the [Source] called
// through the store are not store errors and do not have it.
var ErrStore = errors.New("oauth2: token store")

// WithStore makes the layer share its token through store with every other
// layer given the same store, in this process or in others; see [Store]
// and the package documentation. A layer keeps its own copy of the token
// and asks the store only when that copy has expired or was rejected. By
// default a request for which the store fails fails with [ErrStore] in its
// error chain; [WithStoreFallback] changes that.
func WithStore(store Store) Option {
	return optionFunc(func(c *config) error {
		if store == nil {
			return errors.New("oauth2: WithStore: nil Store")
		}
		c.store = store
		return nil
	})
}

// WithStoreFallback, when enable is true, makes the layer call its Source
// itself when its [Store] fails, and use the token it gets until it
// expires or is rejected, without storing it; the layer then tries the
// store again. Requests go on while the store is down, at the cost of one
// token request per layer. The default, false, fails the requests instead,
// with [ErrStore] in the error chain, and makes no token request.
//
// A refresh that ran out of time ([WithRefreshTimeout]), waiting for the
// store's lease say, does not fall back: the Source would have no time
// either.
//
// It needs [WithStore]. It is refused for a [Refresher] source, such as
// [RefreshToken]'s: a refresh outside the store would redeem a refresh
// token the fleet shares and, with a server that rotates them, leave the
// others with one that is no longer valid. A failure of the Source itself
// (the token endpoint refused) is not a store failure and is never retried.
func WithStoreFallback(enable bool) Option {
	return optionFunc(func(c *config) error {
		c.fallback = enable
		return nil
	})
}

// checkStore refuses the combinations of store options that cannot work.
func checkStore(c *config, src Source) error {
	if !c.fallback {
		return nil
	}
	if c.store == nil {
		return errors.New("oauth2: WithStoreFallback: no Store (give WithStore)")
	}
	if _, ok := src.(Refresher); ok {
		return errors.New("oauth2: WithStoreFallback: the source refreshes the token the fleet shares; a refresh outside the store would fork its refresh token")
	}
	return nil
}

// shared gets the token to use next through the store: the stored token
// when it is usable, else the one Refresh returns.
func (c *cache) shared(ctx context.Context, f *flight) (*xoauth2.Token, error) {
	f.origin = OriginStore
	loaded, err := c.cfg.store.Load(ctx)
	if err != nil {
		return c.storeFailed(ctx, f, err)
	}
	if c.usable(loaded) {
		return loaded, nil
	}
	tok, err := c.cfg.store.Refresh(ctx, loaded, func(ctx context.Context, current *xoauth2.Token) (*xoauth2.Token, error) {
		f.origin = OriginSource
		tok, err := c.fetch(ctx, current)
		if err != nil {
			return nil, &fetchError{err}
		}
		return tok, nil
	})
	var fe *fetchError
	switch {
	case errors.As(err, &fe):
		return nil, fe.err
	case err != nil:
		return c.storeFailed(ctx, f, err)
	case !wellFormed(tok):
		return c.storeFailed(ctx, f, errors.New("its Refresh returned no usable access token"))
	}
	return tok, nil
}

// storeFailed handles err from the store: it is returned, or, with
// WithStoreFallback, the source is called here instead. A refresh that ran
// out of time does not fall back: the source would have none either.
func (c *cache) storeFailed(ctx context.Context, f *flight, err error) (*xoauth2.Token, error) {
	if !c.cfg.fallback || ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrTokenFetch, ErrStore, err)
	}
	f.origin = OriginFallback
	return c.fetch(ctx, nil)
}

// usable reports whether tok, loaded from the store, can be sent as it is:
// it is well formed, valid, and not the token a server rejected last.
func (c *cache) usable(tok *xoauth2.Token) bool {
	c.mu.Lock()
	rejected := c.rejected
	c.mu.Unlock()
	return wellFormed(tok) && tok.AccessToken != rejected && c.valid(tok)
}

// fetchError marks the errors of the layer's FetchFunc, so that the layer
// tells them from the store's when Refresh returns them.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// SameToken reports whether a and b are the same token as a [Store] sees
// them: their access tokens are equal, a nil token counting as one without
// an access token. A Store's Refresh compares the token it reads under its
// lease with stale this way.
func SameToken(a, b *xoauth2.Token) bool {
	return accessToken(a) == accessToken(b)
}

func accessToken(tok *xoauth2.Token) string {
	if tok == nil {
		return ""
	}
	return tok.AccessToken
}

// MemoryStore is a [Store] that keeps the token in memory, for the layers
// of one process: sessions made for several APIs that accept one client's
// token, say, or made one per job. It is also the reference for the
// semantics of Store: its lease is a lock, which its holder cannot lose,
// so it needs no fencing.
//
// The zero MemoryStore is empty and ready to use; [NewMemoryStore] makes
// one that holds a token. A MemoryStore is safe for concurrent use and
// must not be copied after first use. It keeps copies of the tokens it is
// given and returns copies.
type MemoryStore struct {
	mu    sync.Mutex
	tok   *xoauth2.Token
	lease chan struct{} // made on first use; held while it holds a value
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns a MemoryStore that holds tok, or none when tok is
// nil. tok may hold only a refresh token, obtained by an authorization code
// flow say: the first layer that needs a token then redeems it.
func NewMemoryStore(tok *xoauth2.Token) *MemoryStore {
	return &MemoryStore{tok: copyToken(tok)}
}

// Load returns a copy of the stored token, or nil when there is none. It
// does not wait for a Refresh in progress, and returns no error.
func (s *MemoryStore) Load(context.Context) (*xoauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyToken(s.tok), nil
}

// Refresh replaces stale by the token fetch returns, unless the stored
// token is no longer the same as stale: then it returns a copy of the
// stored token without calling fetch. It holds the store's lease
// throughout, so that fetch runs once however many callers refresh the
// same token at once. It returns ctx's error when ctx ends before it gets
// the lease, and fetch's error, as it is, when fetch fails, keeping the
// stored token; it refuses to store a token without an access token.
func (s *MemoryStore) Refresh(ctx context.Context, stale *xoauth2.Token, fetch FetchFunc) (*xoauth2.Token, error) {
	lease := s.leaseChan()
	select {
	case lease <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-lease }()
	s.mu.Lock()
	current := copyToken(s.tok)
	s.mu.Unlock()
	if !SameToken(current, stale) {
		return current, nil
	}
	tok, err := fetch(ctx, current)
	if err != nil {
		return nil, err
	}
	if accessToken(tok) == "" {
		return nil, errors.New("oauth2: MemoryStore: fetch returned no access token")
	}
	s.mu.Lock()
	s.tok = copyToken(tok)
	s.mu.Unlock()
	return tok, nil
}

// leaseChan returns the channel that is the lease, making it on first use.
func (s *MemoryStore) leaseChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == nil {
		s.lease = make(chan struct{}, 1)
	}
	return s.lease
}

// copyToken returns a copy of tok, or nil. Extra values are shared; they
// are read only.
func copyToken(tok *xoauth2.Token) *xoauth2.Token {
	if tok == nil {
		return nil
	}
	c := *tok
	return &c
}
