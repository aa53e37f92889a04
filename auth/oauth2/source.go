package oauth2

import (
	"context"
	"errors"

	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentials returns a Source for the client credentials grant (RFC
// 6749, section 4.4): each call asks cfg's token endpoint for a new token
// with cfg's client ID and secret, through cfg.Token. It is equivalent to
// cfg itself, with an error instead of a panic for a nil cfg. Do not change
// cfg afterwards.
func ClientCredentials(cfg *clientcredentials.Config) Source {
	return clientCredentials{cfg}
}

type clientCredentials struct{ cfg *clientcredentials.Config }

func (s clientCredentials) Token(ctx context.Context) (*xoauth2.Token, error) {
	if s.cfg == nil {
		return nil, errors.New("oauth2: ClientCredentials: nil Config")
	}
	return s.cfg.Token(ctx)
}

// A Refresher is a [Source] that can refresh a given token, redeeming its
// refresh token. A layer with a [Store] calls RefreshFrom with the stored
// token, so that the refresh token it redeems is the newest one the fleet
// has, whichever instance got it; it calls Token when the store holds no
// token, and always without a store. [RefreshToken]'s source is one.
//
// RefreshFrom must redeem tok's refresh token when it has one, and must
// return a token that holds the refresh token to redeem next: the one the
// server returned, or, when it returned none, the one redeemed. A Source
// that refreshes with a refresh token of its own and is not a Refresher
// cannot share a token whose refresh tokens rotate.
type Refresher interface {
	Source
	RefreshFrom(ctx context.Context, tok *xoauth2.Token) (*xoauth2.Token, error)
}

// RefreshToken returns a Source for the refresh token grant (RFC 6749,
// section 6), starting from tok's refresh token: each call redeems the
// newest refresh token it has for a new token at cfg's token endpoint, even
// when the last access token looks valid, which the layer needs after a
// 401. When the server rotates refresh tokens (returns a new one with each
// token), the source keeps the newest; when it returns none, the source
// keeps the one it has. Calls are serialized, so that a rotated refresh
// token is never redeemed twice.
//
// Only tok.RefreshToken is used (tok may be nil when a [Store] provides the
// refresh token): the layer fetches its first access token on the first
// request. The source is a [Refresher]: with [WithStore], it redeems the
// refresh token of the stored token, and each token it returns, with the
// refresh token to use next, is stored for the layers that share it.
// Without a store the newest refresh token is kept in memory only; to save
// it, wrap the source in a [SourceFunc] that saves the RefreshToken of each
// token it returns (always the one to use next), or give the layer a Store
// that saves it. Do not change cfg afterwards.
func RefreshToken(cfg *xoauth2.Config, tok *xoauth2.Token) Source {
	s := &refreshSource{cfg: cfg, sem: make(chan struct{}, 1)}
	if tok != nil {
		s.refresh = tok.RefreshToken
	}
	return s
}

type refreshSource struct {
	cfg *xoauth2.Config
	sem chan struct{} // held during a call; guards refresh

	refresh string
}

var _ Refresher = (*refreshSource)(nil)

// Token redeems the newest refresh token the source has.
func (s *refreshSource) Token(ctx context.Context) (*xoauth2.Token, error) {
	return s.RefreshFrom(ctx, nil)
}

// RefreshFrom redeems tok's refresh token, or the newest the source has
// when tok is nil or has none, and keeps the one the server returns as the
// newest.
func (s *refreshSource) RefreshFrom(ctx context.Context, tok *xoauth2.Token) (*xoauth2.Token, error) {
	if s.cfg == nil {
		return nil, errors.New("oauth2: RefreshToken: nil Config")
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.sem }()
	rt := s.refresh
	if tok != nil && tok.RefreshToken != "" {
		rt = tok.RefreshToken
	}
	if rt == "" {
		return nil, errors.New("oauth2: RefreshToken: no refresh token")
	}
	// A token with no access token is never valid, so this TokenSource
	// redeems the refresh token at once, under ctx.
	next, err := s.cfg.TokenSource(ctx, &xoauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		return nil, err
	}
	if next.RefreshToken == "" {
		// x/oauth2 does this already; a stored token depends on it.
		next = copyToken(next)
		next.RefreshToken = rt
	}
	s.refresh = next.RefreshToken
	return next, nil
}

// FromTokenSource returns a Source that calls ts.Token, for the flows
// x/oauth2 and its companions provide as a TokenSource (JWT, Google
// credentials and the like). ts uses its own context and HTTP client, so
// [WithHTTPClient] and the refresh timeout do not reach it. When ts caches
// its token (as ReuseTokenSource and Config.TokenSource do), a 401 cannot
// get a new token from it before its own expiry margin: the layer then
// returns the 401 without a retry.
func FromTokenSource(ts xoauth2.TokenSource) Source {
	return SourceFunc(func(context.Context) (*xoauth2.Token, error) {
		if ts == nil {
			return nil, errors.New("oauth2: FromTokenSource: nil TokenSource")
		}
		return ts.Token()
	})
}
