package courier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// pool: use [Response.Bytes] or [Response.Decode]. With the
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
	// Cache says whether the response came from the session's cache
	// (WithCache), and Age how old the stored response was then.
	Cache CacheStatus
	Age   time.Duration

	body    []byte
	stream  io.ReadCloser
	maxBody int64
	// raw is the final http.Response, whose Trailer net/http fills (or
	// sets) at the body's end.
	raw *http.Response
}

// Trailer returns the HTTP trailers the server sent after the body (gRPC
// status, checksums), once the body has been read to its end: at once for
// a buffered response, after the last read of a streamed one. It is nil or
// empty before that, and when the server sent none. Do not call it while
// another goroutine reads a streamed body.
func (r *Response) Trailer() http.Header {
	if r.raw == nil {
		return nil
	}
	return r.raw.Trailer
}

// Bytes returns the buffered body. It is nil for a streamed response.
func (r *Response) Bytes() []byte { return r.body }

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
// is read within the session's size limit, decoded, and closed. Errors are an [*Error] of kind [ErrDecode], quoting a short,
// redacted excerpt of the body, or of kind [ErrBodyTooLarge].
func (r *Response) Decode(v any) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		r.Close()
		return r.decodeError(err, nil)
	}
	if r.stream != nil {
		// Read in pieces within the limit, then decode: json.Decoder would
		// hold the whole value too, in a buffer that doubles as it grows,
		// so a gzip bomb of one endless string cost it two to three times
		// the limit.
		defer r.stream.Close()
		length := int64(-1)
		if cl := r.Header.Get("Content-Length"); cl != "" {
			length, _ = strconv.ParseInt(cl, 10, 64)
		}
		body, err := readCapped(r.stream, length, r.maxBody)
		switch {
		case err == errOverLimit:
			return r.fail("decode", ErrBodyTooLarge, fmt.Errorf("body exceeds %d bytes", r.maxBody))
		case err != nil:
			return err // the body's own *Error, of its kind
		}
		data := body.join()
		if err := json.Unmarshal(data, v); err != nil {
			return r.decodeError(err, data)
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
	return r.fail("decode", ErrDecode, jsonErrorWithExcerpt(err, body))
}

// jsonErrorWithExcerpt adds to a JSON syntax or type error a short, redacted
// excerpt of the body it came from.
func jsonErrorWithExcerpt(err error, body []byte) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if len(body) > 0 && (errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return fmt.Errorf("%w; body starts %q", err, redact.Excerpt(body, 120))
	}
	return err
}

func (r *Response) fail(op string, kind Kind, err error) error {
	e := &Error{Op: op, Kind: kind, Err: err, Attempts: r.Attempts, Redirects: r.Redirects}
	if r.Request != nil {
		e.Method, e.URL = r.Request.Method, redact.URL(r.Request.URL)
	}
	return e
}

// respond is layer 5: it turns the final response into a Response, reading
// its body (or handing it over for Stream), and a status the request did not
// expect into a *StatusError.
func (s *Session) respond(c *call, req *http.Request, resp *http.Response, rc *requestConfig) (*Response, error) {
	r := &Response{
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Proto:      resp.Proto,
		Header:     resp.Header,
		Request:    resp.Request,
		URL:        req.URL,
		Attempts:   c.attemptsSent(),
		Cache:      c.cache,
		Age:        c.cacheAge,
		Redirects:  c.out.redirects,
		maxBody:    s.cfg.maxBodySize,
		raw:        resp,
	}
	if resp.Request != nil {
		r.URL = resp.Request.URL
	} else {
		r.Request = req
	}
	ok := rc.anyStatus || resp.StatusCode/100 == 2 || slices.Contains(rc.expect, resp.StatusCode)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if ok && rc.stream {
			// The body is the connection, the caller's now: no timeout
			// of the session's bounds it, and it stays the
			// io.ReadWriteCloser net/http made it.
			r.Timings = c.timings()
			r.stream = resp.Body
			s.stats.status(resp.StatusCode)
			c.finish()
			return r, nil
		}
		// Nobody is to use the connection: a 101 has no body to read.
		resp.Body.Close()
		resp.Body = http.NoBody
	}
	if ok && rc.stream {
		r.Timings = c.timings() // up to the headers: the body is the caller's
		r.stream = s.track(c, r.Request, resp)
		if rc.into != nil {
			// courier reads this body itself, so the request timeout
			// still bounds it; Decode closes it.
			return r, r.Decode(rc.into)
		}
		c.streaming()
		return r, nil
	}
	body, err := c.body(resp, ok)
	r.body = body.join() // one copy, and only of a body that came in pieces
	r.Timings = c.timings()
	c.finish()
	if err != nil {
		// A call that fails is a failure, whatever status came first.
		kind := ErrBodyTooLarge
		if !errors.Is(err, ErrBodyTooLarge) {
			err = c.wrapErr(err)
			kind = classify(err, c.failure(), true)
		}
		s.stats.failure(kind)
		return nil, r.fail("read", kind, err)
	}
	s.stats.status(resp.StatusCode)
	if !ok {
		se := &StatusError{Method: req.Method, URL: redact.URL(r.URL), StatusCode: r.StatusCode, Status: r.Status,
			Header: r.Header, Body: r.body, RequestID: requestID(r.Header), Attempts: r.Attempts, Stop: c.out.stop,
			received: time.Now()}
		named := rc.errorBody
		if named.decode == nil {
			named = s.cfg.errorBody
		}
		decodeErrorBody(se, named)
		return r, se
	}
	if rc.into != nil && hasContent(r) {
		return r, r.Decode(rc.into)
	}
	return r, nil
}

// body returns the final response's body: what the retry loop read, when
// it did and the response is still the one it read it for (an interceptor
// may have replaced it), else the body read now, capped at the session's
// limit for a success, or cut at the error body's cap for a status error.
func (c *call) body(resp *http.Response, ok bool) (pieces, error) {
	if b := c.out.body; b != nil && resp.Body == io.ReadCloser(b) {
		return b.data, nil
	}
	limit := c.s.cfg.maxBodySize
	if !ok {
		limit = min(limit, maxErrorBody)
	}
	return readBody(resp, limit, ok, c.drainClose)
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

// attemptsSent is how many times the final request was sent: none for a
// response the cache served without asking, else at least one.
func (c *call) attemptsSent() int {
	if c.cache == CacheHit || c.cache == CacheStaleWhileRevalidate {
		return c.out.attempts
	}
	return max(c.out.attempts, 1)
}
