package courier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/courierhttp/courier/internal/redact"
)

// Response is the result of a request made with [Session.Do] or one of the
// methods named after HTTP methods.
//
// By default the body has been read (up to the session's size limit),
// decoded from gzip or deflate, and closed, so the connection is back in the
// pool: use [Response.Bytes], [Response.Text] or [Response.Decode]. With the
// [Stream] option the body is the caller's to read through [Response.Body]
// and to close with [Response.Close].
type Response struct {
	// StatusCode and Status ("200 OK") of the final response.
	StatusCode int
	Status     string
	// Proto is the protocol, such as "HTTP/1.1" or "HTTP/2.0".
	Proto string
	// Header holds the response headers. Content-Encoding and
	// Content-Length are removed when courier decoded the body.
	Header http.Header
	// URL is the URL of the final request, after redirects.
	URL *url.URL
	// Redirects lists the URLs redirected from, in order (redacted).
	Redirects []string
	// Attempts is how many times the final request was sent.
	Attempts int
	// Request is the final request sent.
	Request *http.Request
	// Timings says where the time went; see [Timings].
	Timings Timings

	body    []byte
	stream  io.ReadCloser
	maxBody int64
}

// Bytes returns the buffered body. It is nil for a streamed response.
func (r *Response) Bytes() []byte { return r.body }

// Text returns the buffered body as a string ("" for a streamed response).
func (r *Response) Text() string { return string(r.body) }

// Body returns the body as a reader: the live body for a streamed response
// (read it once, then Close), a reader over the buffered bytes otherwise.
func (r *Response) Body() io.ReadCloser {
	if r.stream != nil {
		return r.stream
	}
	return io.NopCloser(bytes.NewReader(r.body))
}

// Close closes a streamed body, draining a bounded remainder so the
// connection can be reused. It does nothing for a buffered response. It is
// safe to call more than once.
func (r *Response) Close() error {
	if r.stream == nil {
		return nil
	}
	return r.stream.Close()
}

// Decode decodes the JSON body into v. The response's Content-Type must be
// JSON (application/json or a +json type) when it is given. A streamed body
// is decoded as it is read, within the session's size limit, and then
// closed. Errors are an [*Error] of kind [ErrDecode], quoting a short,
// redacted excerpt of the body, or of kind [ErrBodyTooLarge].
func (r *Response) Decode(v any) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		r.Close()
		return r.decodeError(err, nil)
	}
	if r.stream != nil {
		defer r.stream.Close()
		lr := &limitedReader{r: r.stream, n: r.maxBody}
		dec := json.NewDecoder(lr)
		if err := dec.Decode(v); err != nil {
			if lr.over {
				return r.fail("decode", ErrBodyTooLarge, fmt.Errorf("body exceeds %d bytes", r.maxBody))
			}
			var re *readError
			if errors.As(err, &re) {
				return re.err
			}
			return r.decodeError(err, nil)
		}
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return r.decodeError(err, r.body)
	}
	return nil
}

func checkJSONContentType(ct string) error {
	if ct == "" || isPlainJSON(ct) {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("bad Content-Type %q: %w", ct, err)
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json" {
		return nil
	}
	return fmt.Errorf("Content-Type is %q, not JSON", mt)
}

// isPlainJSON reports, without allocating, whether ct is application/json
// alone or with a charset parameter, which is what most APIs send.
// mime.ParseMediaType allocates a map for the parameters of every response.
func isPlainJSON(ct string) bool {
	const j = "application/json"
	if len(ct) < len(j) || !strings.EqualFold(ct[:len(j)], j) {
		return false
	}
	rest := strings.TrimLeft(ct[len(j):], " ")
	return rest == "" || strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rest, ";")), "charset=utf-8")
}

func (r *Response) decodeError(err error, body []byte) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if len(body) > 0 && (errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF)) {
		err = fmt.Errorf("%w; body starts %q", err, redact.Excerpt(body, 120))
	}
	return r.fail("decode", ErrDecode, err)
}

func (r *Response) fail(op string, kind, err error) error {
	e := &Error{Op: op, Kind: kind, Err: err, Attempts: r.Attempts, Redirects: r.Redirects}
	if r.Request != nil {
		e.Method, e.URL = r.Request.Method, redact.URL(r.Request.URL)
	}
	return e
}

// readError carries a read failure that is already an *Error through
// json.Decoder.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// limitedReader reads at most n bytes and records whether there was more.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Probe for one more byte to tell "exactly n" from "more".
		var one [1]byte
		k, err := l.r.Read(one[:])
		if k > 0 {
			l.over = true
			return 0, ErrBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// Do sends a request with the given method to path, resolved against the
// session's base URL (a full URL is used as given), and returns the response.
//
// Errors: an [*Error] whose Kind is one of the Err* sentinels for a failure
// to build, send or receive the request; a [*StatusError] for a non-2xx status
// the request did not expect, returned together with the Response; an
// [*Error] of kind ErrDecode when the [Into] target could not be filled, also
// with the Response.
//
// The context bounds the whole request, body included, together with the
// session's request timeout; the shorter wins.
func (s *Session) Do(ctx context.Context, method, path string, opts ...RequestOption) (*Response, error) {
	var rc requestConfig
	for _, o := range opts {
		if o == nil {
			return nil, s.inputError(method, path, errors.New("nil request option"))
		}
		if err := o.applyRequest(&rc); err != nil {
			return nil, s.inputError(method, path, err)
		}
	}
	if ctx == nil {
		return nil, s.inputError(method, path, errors.New("nil context"))
	}
	timeout := s.cfg.timeouts.Request
	if rc.timeout != 0 {
		timeout = rc.timeout
	}
	c, err := s.startCall(ctx, off(timeout))
	if err != nil {
		return nil, &Error{Op: "request", Method: method, URL: redact.String(path), Kind: ErrClosed, Err: err}
	}
	c.buffered = !rc.stream
	req, err := s.newRequest(c.traced(), method, path, &rc)
	if err != nil {
		c.finish()
		return nil, s.inputError(method, path, err)
	}
	resp, err := c.exchange(req)
	if err != nil {
		e := s.requestError(c, req, err).(*Error)
		s.stats.failure(e.Kind)
		if len(s.cfg.hooks) > 0 {
			s.cfg.hooks.onError(AttemptInfo{Request: req, Attempt: e.Attempts, Err: e, Kind: e.Kind, Elapsed: time.Since(c.clock.start), BudgetLeft: -1})
		}
		return nil, e
	}
	s.stats.status(resp.StatusCode)
	r := &Response{
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Proto:      resp.Proto,
		Header:     resp.Header,
		Request:    resp.Request,
		Attempts:   max(c.attempts, 1),
		Redirects:  c.redirects,
		maxBody:    s.cfg.maxBodySize,
	}
	if resp.Request != nil {
		r.URL = resp.Request.URL
	} else {
		r.URL, r.Request = req.URL, req
	}
	ok := rc.anyStatus || (resp.StatusCode >= 200 && resp.StatusCode < 300) || slices.Contains(rc.expect, resp.StatusCode)
	if ok && rc.stream {
		c.streaming()
		r.Timings = c.timings() // up to the headers: the body is the caller's
		r.stream = s.track(c, r.Request, resp.Body)
		if rc.into != nil {
			return r, r.Decode(rc.into)
		}
		return r, nil
	}
	limit := s.cfg.maxBodySize
	if !ok {
		limit = min(limit, MaxErrorBodySize)
	}
	r.body, err = readBody(resp, limit, ok, c.drainClose)
	r.Timings = c.timings()
	c.finish()
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			return nil, r.fail("read", ErrBodyTooLarge, err)
		}
		err = c.wrapErr(err)
		return nil, r.fail("read", classify(c, err), err)
	}
	if !ok {
		return r, &StatusError{
			Method:     req.Method,
			URL:        redact.URL(r.URL),
			StatusCode: r.StatusCode,
			Status:     r.Status,
			Header:     r.Header,
			Body:       r.body,
			RequestID:  requestID(r.Header),
			Attempts:   r.Attempts,
			received:   time.Now(),
			stop:       c.retryStop,
		}
	}
	if rc.into != nil && hasContent(r) {
		return r, r.Decode(rc.into)
	}
	return r, nil
}

// hasContent reports whether a buffered response has a body to decode: a
// 204, 205 or 304, a HEAD, or an empty body leave an Into target as it was.
func hasContent(r *Response) bool {
	switch r.StatusCode {
	case http.StatusNoContent, http.StatusResetContent, http.StatusNotModified:
		return false
	}
	return len(r.body) > 0 && (r.Request == nil || r.Request.Method != http.MethodHead)
}

// readBody reads the body up to limit and closes it. When failOver is false
// (an error body), a longer body is cut at the limit without an error. A
// body not read to its end is closed with drain.
func readBody(resp *http.Response, limit int64, failOver bool, drain func(io.ReadCloser) error) ([]byte, error) {
	if b, ok := resp.Body.(*bufferedBody); ok && int64(len(b.data)) <= limit {
		return b.data, nil // layer 2 read it already, within the limit
	}
	if resp.ContentLength == 0 || resp.Body == nil || resp.Body == http.NoBody {
		drainClose(resp.Body)
		return nil, nil
	}
	eof := false
	defer func() {
		if eof {
			resp.Body.Close()
		} else {
			drain(resp.Body)
		}
	}()
	if failOver && resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", ErrBodyTooLarge, resp.ContentLength, limit)
	}
	// Reading stops at limit+1 bytes: one more than allowed tells "too
	// large" from "exactly the limit".
	stop := limit + 1
	if stop <= 0 {
		stop = math.MaxInt64
	}
	var buf []byte
	if resp.ContentLength > 0 && resp.ContentLength <= limit {
		buf = make([]byte, 0, resp.ContentLength+1) // +1: room to see EOF
	} else {
		buf = make([]byte, 0, min(stop, 512))
	}
	for {
		if len(buf) == cap(buf) {
			// Double, but never past stop: append's growth would
			// allocate several times the limit on the way to it (a gzip
			// bomb gets there every time).
			grown := make([]byte, len(buf), min(int64(2*cap(buf)), stop))
			copy(grown, buf)
			buf = grown
		}
		room := buf[len(buf):cap(buf)]
		if over := int64(len(buf)) + int64(len(room)) - stop; over > 0 {
			room = room[:int64(len(room))-over]
		}
		n, err := resp.Body.Read(room)
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			if failOver {
				return nil, fmt.Errorf("%w: body exceeds the limit of %d bytes", ErrBodyTooLarge, limit)
			}
			return buf[:limit], nil
		}
		if err == io.EOF {
			eof = true
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (s *Session) inputError(method, path string, err error) error {
	if !validMethod(method) {
		method = strconv.Quote(method) // never echo control characters
	}
	return &Error{Op: "request", Method: method, URL: redact.String(path), Kind: ErrInvalidRequest, Err: err}
}

func (s *Session) requestError(c *call, req *http.Request, err error) error {
	e := &Error{
		Op:        "request",
		Method:    req.Method,
		URL:       redact.URL(c.hopURL(req)),
		Attempts:  c.attempts,
		Redirects: c.redirects,
		Kind:      classify(c, err),
		Err:       err,
	}
	var inner *Error
	if errors.As(err, &inner) {
		// A layer below already built one (a redirect limit): keep its
		// details, fill what it lacked.
		if inner.Kind != nil {
			e.Kind = inner.Kind
		}
		e.Err = inner.Err
		if len(inner.Redirects) > 0 {
			e.Redirects = inner.Redirects
		}
	}

	return e
}

// Get sends a GET request; see [Session.Do].
func (s *Session) Get(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return s.Do(ctx, http.MethodGet, path, opts...)
}

// Head sends a HEAD request; see [Session.Do].
func (s *Session) Head(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return s.Do(ctx, http.MethodHead, path, opts...)
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
