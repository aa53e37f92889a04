package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/courierhttp/courier"
)

// A TokenSource supplies bearer tokens. [BearerSource] calls Token on every
// attempt, with the request's context, so a source that fetches tokens must
// cache them itself and must be safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to [TokenSource].
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token calls f(ctx).
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Bearer authenticates with a fixed bearer token (RFC 6750), sent on every
// request in an Authorization header. An empty token, or one with a byte
// outside visible ASCII, makes every RoundTrip fail with an error that says
// so.
func Bearer(token string) courier.Middleware {
	err := checkToken(token)
	if err != nil {
		err = fmt.Errorf("auth: bearer: %w", err)
	}
	return func(next http.RoundTripper) http.RoundTripper {
		return &staticTransport{next: orDefault(next), value: "Bearer " + token, err: err}
	}
}

// BearerSource authenticates with bearer tokens from src, asked for one on
// every attempt. An error from src fails the attempt with an error that
// wraps it ("auth: bearer: token: ..."); nothing is sent.
func BearerSource(src TokenSource) courier.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return &sourceTransport{next: orDefault(next), src: src}
	}
}

type sourceTransport struct {
	next http.RoundTripper
	src  TokenSource
}

var _ http.RoundTripper = (*sourceTransport)(nil)

func (t *sourceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.src == nil {
		return fail(req, errors.New("auth: bearer: nil TokenSource"))
	}
	if hasAuthorization(req) || !courier.CredentialsAllowed(req) {
		return t.next.RoundTrip(req)
	}
	token, err := t.src.Token(req.Context())
	if err != nil {
		return fail(req, fmt.Errorf("auth: bearer: token: %w", err))
	}
	if err := checkToken(token); err != nil {
		return fail(req, fmt.Errorf("auth: bearer: token source: %w", err))
	}
	return withHeader(t.next, req, "Bearer "+token)
}

// checkToken rejects tokens that cannot travel in a header as one word.
// RFC 6750's b64token is narrower; tokens in the wild are not always.
func checkToken(token string) error {
	if token == "" {
		return errors.New("empty token")
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return errors.New("token contains a byte that is not visible ASCII")
		}
	}
	return nil
}
