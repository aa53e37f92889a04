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

// RefreshToken returns a Source for the refresh token grant (RFC 6749,
// section 6), starting from tok's refresh token: each call redeems the
// newest refresh token it has for a new token at cfg's token endpoint, even
// when the last access token looks valid, which the layer needs after a
// 401. When the server rotates refresh tokens (returns a new one with each
// token), the source keeps the newest; when it returns none, the source
// keeps the one it has. Calls are serialized, so that a rotated refresh
// token is never redeemed twice.
//
// Only tok.RefreshToken is used: the layer fetches its first access token
// on the first request. The newest refresh token is kept in memory only; to
// store it, wrap the source in a [SourceFunc] that saves the RefreshToken of
// each token it returns (always the one to use next). Do not change cfg
// afterwards.
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

func (s *refreshSource) Token(ctx context.Context) (*xoauth2.Token, error) {
	if s.cfg == nil {
		return nil, errors.New("oauth2: RefreshToken: nil Config")
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.sem }()
	if s.refresh == "" {
		return nil, errors.New("oauth2: RefreshToken: no refresh token")
	}
	// A token with no access token is never valid, so this TokenSource
	// redeems the refresh token at once, under ctx.
	tok, err := s.cfg.TokenSource(ctx, &xoauth2.Token{RefreshToken: s.refresh}).Token()
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" {
		s.refresh = tok.RefreshToken
	}
	return tok, nil
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
