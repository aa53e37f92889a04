package courier

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/courierhttp/courier/internal/redact"
)

// The top of the path for courier's own API: Do, and the methods named
// after HTTP methods.

// Do sends a request with the given method to path, resolved against the
// session's base URL (a full URL is used as given), and returns the response.
//
// Errors: an [*Error] whose Kind says what went wrong for a failure to
// build, send or receive the request; a [*StatusError] for a non-2xx status
// the request did not expect, returned together with the Response; an
// [*Error] of kind ErrDecode when the [Into] target could not be filled, also
// with the Response.
//
// The context bounds the whole request, body included, together with the
// session's request timeout; the shorter wins.
func (s *Session) Do(ctx context.Context, method, path string, opts ...RequestOption) (*Response, error) {
	rc, err := requestOptions(ctx, opts)
	if err != nil {
		return nil, s.inputError(method, path, err)
	}
	timeout := s.cfg.timeouts.Request
	if rc.timeout != 0 {
		timeout = rc.timeout
	}
	c, err := s.start(ctx, off(timeout))
	if err != nil {
		return nil, &Error{Op: "request", Method: method, URL: redact.String(path), Kind: ErrClosed, Err: err}
	}
	c.buffered = !rc.stream
	c.resend = rc.resend
	req, err := s.newRequest(c.ctx, method, path, &rc)
	if err != nil {
		c.finish()
		return nil, s.inputError(method, path, err)
	}
	resp, err := c.exchange(req)
	if err != nil {
		e := c.requestError(err)
		e.Method, e.URL = req.Method, redact.URL(c.hopURL(req))
		return nil, c.failed(req, e)
	}
	return s.respond(c, req, resp, &rc)
}

// requestOptions applies a request's options.
func requestOptions(ctx context.Context, opts []RequestOption) (requestConfig, error) {
	var rc requestConfig
	for _, o := range opts {
		if o == nil {
			return rc, errors.New("nil request option")
		}
		if err := o.applyRequest(&rc); err != nil {
			return rc, err
		}
	}
	if ctx == nil {
		return rc, errors.New("nil context")
	}
	return rc, nil
}

func (s *Session) inputError(method, path string, err error) error {
	if !validMethod(method) {
		method = strconv.Quote(method) // never echo control characters
	}
	return &Error{Op: "request", Method: method, URL: redact.String(path), Kind: ErrInvalidRequest, Err: err}
}

// Get sends a GET request; see [Session.Do].
func (s *Session) Get(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return s.Do(ctx, http.MethodGet, path, opts...)
}

// Post sends a POST request; see [Session.Do].
func (s *Session) Post(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return s.Do(ctx, http.MethodPost, path, opts...)
}

// Put sends a PUT request; see [Session.Do].
func (s *Session) Put(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return s.Do(ctx, http.MethodPut, path, opts...)
}

// Patch sends a PATCH request; see [Session.Do].
func (s *Session) Patch(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return s.Do(ctx, http.MethodPatch, path, opts...)
}

// Delete sends a DELETE request; see [Session.Do].
func (s *Session) Delete(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return s.Do(ctx, http.MethodDelete, path, opts...)
}
