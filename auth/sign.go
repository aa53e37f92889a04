package auth

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/courierhttp/courier"
)

// A Signer adds a signature to a request: headers such as X-Signature or
// Authorization, or query parameters. It is given a clone it may change
// freely. To sign the body, read it with [Body], which leaves the request's
// own body unread. Sign must be safe for concurrent use.
type Signer interface {
	Sign(req *http.Request) error
}

// SignerFunc adapts a function to [Signer].
type SignerFunc func(req *http.Request) error

// Sign calls f(req).
func (f SignerFunc) Sign(req *http.Request) error { return f(req) }

// Sign signs every attempt with s: a retried request is signed again, so a
// signature that holds a time or a nonce is fresh on each attempt. An error
// from s fails the attempt with an error that wraps it ("auth: sign: ...");
// nothing is sent.
//
// Unlike the other layers, Sign also signs a request that already has an
// Authorization header, which may come from a layer above it (a signature
// often goes beside a token); the Signer sees the header and decides. Like
// them, it signs nothing on a redirect hop for which
// [courier.CredentialsAllowed] is false.
func Sign(s Signer) courier.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return &signTransport{next: orDefault(next), signer: s}
	}
}

type signTransport struct {
	next   http.RoundTripper
	signer Signer
}

var _ http.RoundTripper = (*signTransport)(nil)

func (t *signTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.signer == nil {
		return fail(req, errors.New("auth: sign: nil Signer"))
	}
	if !courier.CredentialsAllowed(req) {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	if err := t.signer.Sign(r); err != nil {
		if r.Body != req.Body && r.Body != nil {
			r.Body.Close()
		}
		return fail(req, fmt.Errorf("auth: sign: %w", err))
	}
	if r.Body != req.Body && req.Body != nil {
		// The signer replaced the body: the one given to RoundTrip is still
		// ours to close.
		req.Body.Close()
	}
	return t.next.RoundTrip(r)
}

// Body returns a copy of the request body, read through req.GetBody, and
// leaves req.Body unread. A request without a body gives nil. A body that
// cannot be read again (req.GetBody is nil) gives an error wrapping
// [courier.ErrBodyNotReplayable]; requests built by courier and by
// http.NewRequest from a *bytes.Reader, *bytes.Buffer or *strings.Reader
// always can be.
func Body(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody == nil {
		return nil, fmt.Errorf("auth: body: %w", courier.ErrBodyNotReplayable)
	}
	rc, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("auth: body: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("auth: body: %w", err)
	}
	return b, nil
}
