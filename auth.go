package courier

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/courierhttp/courier/internal/redact"
)

// WithAuth adds authentication layers (see package
// github.com/courierhttp/courier/auth): each runs on every attempt, below
// the retry loop, so that a retried request is authenticated (signed,
// counted, refreshed) anew. The first given is the outermost; several
// WithAuth options accumulate.
//
// The layers are bound to the session's credential origins, like its
// sensitive default headers: a request to another origin (a full URL to
// another host, or a redirect hop there) skips them. See
// [WithCredentialOrigins]. A layer written for WithAuth must also refuse to
// add credentials to a redirect hop for which [CredentialsAllowed] is false,
// as courier's own layers do.
func WithAuth(layers ...Middleware) Option {
	return sessionOption(func(c *config) error {
		for _, m := range layers {
			if m == nil {
				return &OptionError{"WithAuth", errors.New("nil auth layer")}
			}
		}
		c.auth = append(c.auth, layers...)
		return nil
	})
}

// WithCredentialOrigins lists the origins (scheme://host[:port]) that get
// the session's credentials: its sensitive default headers (Authorization,
// Cookie, X-Api-Key, those named by [WithSensitiveHeaders]), its query
// parameters and its [WithAuth] layers. By default that is the base URL's
// origin alone, or every origin for a session without a base URL. The list
// adds to the base URL's origin; several options accumulate.
func WithCredentialOrigins(origins ...string) Option {
	return sessionOption(func(c *config) error {
		for _, o := range origins {
			u, err := parseAbsoluteURL(o)
			if err == nil && (u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "") {
				err = errors.New("an origin is scheme://host[:port], without user, path, query or fragment")
			}
			if err != nil {
				return &OptionError{"WithCredentialOrigins", fmt.Errorf("origin %q: %w", redact.String(o), err)}
			}
			c.credentialOrigins = append(c.credentialOrigins, &url.URL{Scheme: u.Scheme, Host: u.Host})
		}
		return nil
	})
}

// CredentialsAllowed reports whether credentials meant for the first request
// of req's redirect chain may be added to req: it is that first request, or
// every redirect so far stayed on the first request's origin (scheme, host
// and port; an upgrade from http to https on the default ports counts as
// staying). Once a chain has left the origin it is false for the rest of
// the chain, even when the chain comes back, and it is false on a downgrade
// from https to http. It follows req.Response back through the chain, as
// both courier's redirect loop and http.Client's leave it; a hop whose chain
// cannot be followed (a Response without its Request) is refused.
//
// Authentication middleware calls it before adding anything; the layers of
// package auth do.
func CredentialsAllowed(req *http.Request) bool {
	first, hops := req, 0
	for ; first.Response != nil; hops++ {
		if first.Response.Request == nil || hops > 100 {
			return false
		}
		first = first.Response.Request
	}
	for r := req; r != first; r = r.Response.Request {
		if !sameOrigin(first.URL, r.URL) {
			return false
		}
	}
	return true
}

// authGate sends a request through the auth layers only when it goes to one
// of the session's credential origins.
type authGate struct {
	s             *Session
	authed, plain http.RoundTripper
}

func (g authGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.s.sendsCredentials(req.URL) {
		return g.authed.RoundTrip(req)
	}
	return g.plain.RoundTrip(req)
}
