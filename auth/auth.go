package auth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/courierhttp/courier"
)

// orDefault returns next, or http.DefaultTransport when next is nil.
func orDefault(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		return http.DefaultTransport
	}
	return next
}

// hasAuthorization reports whether the request carries its own
// Authorization header, which every layer leaves alone.
func hasAuthorization(req *http.Request) bool {
	return len(req.Header.Values("Authorization")) > 0
}

// fail ends a RoundTrip that sends nothing: the RoundTripper contract
// requires the request body to be closed even then.
func fail(req *http.Request, err error) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, err
}

// discard drains a little of a response body, so that the connection can be
// reused for the request that follows, and closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// withHeader sends a clone of req with Authorization set to value.
func withHeader(next http.RoundTripper, req *http.Request, value string) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", value)
	return next.RoundTrip(r)
}

// staticTransport adds a fixed Authorization header: Basic and Bearer.
type staticTransport struct {
	next  http.RoundTripper
	value string
	err   error // bad constructor input, returned by every RoundTrip
}

var _ http.RoundTripper = (*staticTransport)(nil)

func (t *staticTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		return fail(req, t.err)
	}
	if hasAuthorization(req) || !courier.CredentialsAllowed(req) {
		return t.next.RoundTrip(req)
	}
	return withHeader(t.next, req, t.value)
}

// Basic authenticates with a user name and password (RFC 7617), sent on
// every request in an Authorization header, UTF-8 encoded. A user name that
// contains ':', or a user name or password with a control character, makes
// every RoundTrip fail with an error that says so (and quotes neither).
func Basic(user, password string) courier.Middleware {
	value, err := basicHeader(user, password)
	if err != nil {
		err = fmt.Errorf("auth: basic: %w", err)
	}
	return func(next http.RoundTripper) http.RoundTripper {
		return &staticTransport{next: orDefault(next), value: value, err: err}
	}
}

// basicHeader returns the Authorization value for user and password.
func basicHeader(user, password string) (string, error) {
	switch {
	case strings.Contains(user, ":"):
		return "", errors.New("user name contains ':'")
	case hasControl(user):
		return "", errors.New("user name contains a control character")
	case hasControl(password):
		return "", errors.New("password contains a control character")
	}
	r := http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization"), nil
}

// hasControl reports whether s holds an ASCII control character, which RFC
// 7617 forbids in a user name or password.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
