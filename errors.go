package courier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Error kinds. A request that fails returns an [*Error], and one that got a
// status it did not expect returns a [*StatusError]; these sentinels name
// what went wrong and are matched with [errors.Is]. The standard cause stays
// in the chain too, so errors.Is(err, context.DeadlineExceeded) holds for a
// timeout.
var (
	// ErrInvalidRequest: the request was refused before anything was sent:
	// a bad URL, method, header name or value, or an option that does not fit.
	ErrInvalidRequest = errors.New("courier: invalid request")
	// ErrClosed: the session was closed before the request started.
	ErrClosed = errors.New("courier: session closed")
	// ErrCanceled: the caller's context was canceled.
	ErrCanceled = errors.New("courier: canceled")
	// ErrTimeout: a deadline passed: the caller's, the session's request
	// timeout, the response header timeout, the body idle timeout, or a dial
	// or TLS handshake timeout.
	ErrTimeout = errors.New("courier: timeout")
	// ErrDNS: the host name could not be resolved.
	ErrDNS = errors.New("courier: DNS lookup failed")
	// ErrConnect: no connection could be made (refused, unreachable, dial
	// timeout). Nothing was sent, so any request may be tried again.
	ErrConnect = errors.New("courier: connect failed")
	// ErrTLS: the TLS handshake failed (certificate, version, alert).
	ErrTLS = errors.New("courier: TLS handshake failed")
	// ErrConnLost: the connection broke after it was made: reset, closed by
	// the server before or in the middle of the response, or the response
	// was cut or malformed (a client cannot tell a header line cut short
	// from a bad one).
	ErrConnLost = errors.New("courier: connection lost")
	// ErrBodyTooLarge: a response body was larger than the session's limit
	// (counted after decoding), or carried too many content encodings.
	ErrBodyTooLarge = errors.New("courier: response body too large")
	// ErrDecode: a response body could not be decoded: bad JSON, a JSON
	// decode of a non-JSON content type, or a corrupt compressed stream.
	ErrDecode = errors.New("courier: cannot decode response")
	// ErrTooManyRedirects: the redirect limit was reached. The *Error's
	// Redirects field holds the chain.
	ErrTooManyRedirects = errors.New("courier: too many redirects")
	// ErrBodyNotReplayable: the request body had to be sent again (a 307 or
	// 308 redirect, a retry) but it was a one-shot reader.
	ErrBodyNotReplayable = errors.New("courier: request body cannot be replayed")
)

// A connect timeout is both a failure to connect and a timeout.
var errConnectTimeout = errors.Join(ErrConnect, ErrTimeout)

// Error is the error returned for every failed request: it says what was
// attempted, what kind of failure it was, and wraps the cause.
//
// errors.Is matches both the kind (ErrTimeout, ...) and anything in the cause's
// chain (context.DeadlineExceeded, syscall.ECONNREFUSED, ...). A non-2xx
// response is not an Error: it is a [*StatusError].
type Error struct {
	// Op is what failed: "request" (sending and receiving), "read" (reading
	// the body), or "decode" (decoding the body).
	Op string
	// Method and URL of the request. URL has its password and secret query
	// values redacted.
	Method string
	URL    string
	// Attempts is how many times the request was sent (0 when it never left).
	Attempts int
	// Redirects lists the URLs (redacted) that were followed, in order.
	Redirects []string
	// Kind is one of the Err* sentinels, or nil when the failure has no kind.
	Kind error
	// Err is the underlying cause.
	Err error
}

// Error returns "courier: GET https://host/path: kind: cause (N attempts)":
// the operation when it is not the request itself ("read", "decode"), the
// kind unless the cause already says it ("request timeout exceeded" says
// "timeout"), and the attempts when there were more than one.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("courier: ")
	// What was attempted, as far as it is known: the RoundTripper path
	// leaves the method and URL to *url.Error.
	var head []string
	if e.Op != "" && e.Op != "request" {
		head = append(head, e.Op)
	}
	for _, s := range []string{e.Method, e.URL} {
		if s != "" {
			head = append(head, s)
		}
	}
	if len(head) > 0 {
		b.WriteString(strings.Join(head, " ") + ": ")
	}
	cause := ""
	if e.Err != nil && e.Err != e.Kind {
		cause = strings.TrimPrefix(e.Err.Error(), "courier: ")
	}
	if e.Kind != nil && !strings.Contains(cause, kindText(e.Kind)) {
		b.WriteString(kindText(e.Kind))
		if cause != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(cause)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.Attempts)
	}
	return b.String()
}

func kindText(kind error) string {
	if kind == errConnectTimeout {
		return "connect timeout"
	}
	return strings.TrimPrefix(kind.Error(), "courier: ")
}

// Unwrap returns the kind and the cause, so that errors.Is and errors.As see
// both. For a timeout it adds context.DeadlineExceeded, which some of the
// standard library's timeouts (HTTP/2's response header timeout) lack.
func (e *Error) Unwrap() []error {
	switch {
	case e.Kind == nil:
		return []error{e.Err}
	case errors.Is(e.Kind, ErrTimeout):
		return []error{e.Kind, e.Err, context.DeadlineExceeded}
	}
	return []error{e.Kind, e.Err}
}

// Timeout reports whether the failure was a timeout, like net.Error.
func (e *Error) Timeout() bool { return errors.Is(e, ErrTimeout) }

// StatusError is returned by courier's request methods for a response whose
// status is not 2xx (unless the request expected that status). Match it with
// errors.As. The [*Response] is returned as well.
//
// The layers below the request methods never produce a StatusError: the
// *http.Client from [Session.Client] returns a 404 as a response, as the
// standard library does.
type StatusError struct {
	Method string
	// URL of the request that got the response, redacted.
	URL        string
	StatusCode int
	// Status is the status line's text, such as "503 Service Unavailable".
	Status string
	Header http.Header
	// Body holds the start of the response body, at most
	// MaxErrorBodySize bytes, decoded.
	Body []byte
	// RequestID is the server's request identifier, from the first of
	// X-Request-Id, X-Amzn-RequestId, X-Amz-Request-Id, X-GitHub-Request-Id,
	// Request-Id, X-Correlation-Id, CF-Ray found, or "".
	RequestID string
	// Attempts is how many times the request was sent.
	Attempts int

	received time.Time
	// stop is why the retry loop gave this response back without trying
	// again, when that was not simply the policy (ErrRetryBudget,
	// ErrRetryAfterTooLong, ErrRetryDeadline, ErrBodyNotReplayable).
	stop error
}

// Unwrap returns why the request was not retried, when it was stopped by
// the retry budget, a long Retry-After, the deadline or a body that could not
// be replayed, so that errors.Is(err, courier.ErrRetryBudget) holds; nil
// otherwise.
func (e *StatusError) Unwrap() error { return e.stop }

// MaxErrorBodySize caps StatusError.Body.
const MaxErrorBodySize = 64 << 10

// Error returns "courier: GET https://host/path: 503 Service Unavailable".
// It never includes the body, which may hold secrets; read Body for it.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("courier: %s %s: %s", e.Method, e.URL, e.Status)
	var notes []string
	if e.Attempts > 1 {
		notes = append(notes, fmt.Sprintf("%d attempts", e.Attempts))
	}
	if e.stop != nil {
		notes = append(notes, strings.TrimPrefix(e.stop.Error(), "courier: "))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}

// RetryAfter returns the wait the server asked for in its Retry-After header,
// counted from when the response arrived, and whether there was a valid one.
func (e *StatusError) RetryAfter() (time.Duration, bool) {
	now := e.received
	if now.IsZero() {
		now = time.Now()
	}
	return ParseRetryAfter(e.Header.Get("Retry-After"), now)
}

// Temporary reports whether the status is one a later identical request may
// not get: 408, 425, 429, 500, 502, 503, 504.
func (e *StatusError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// HasStatus reports whether err is, or wraps, a [*StatusError] with one of
// the given status codes (any status when none are given).
func HasStatus(err error, codes ...int) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	if len(codes) == 0 {
		return true
	}
	for _, c := range codes {
		if se.StatusCode == c {
			return true
		}
	}
	return false
}

// ParseRetryAfter parses a Retry-After value (RFC 9110 section 10.2.3):
// delta-seconds, or an HTTP-date in any of its three forms (IMF-fixdate,
// RFC 850, asctime), taken relative to now. A date in the past gives 0.
// Negative, fractional, empty or malformed values give false.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return time.Duration(1<<63 - 1), true
			}
			return 0, false
		}
		if secs > int64((1<<63-1)/time.Second) {
			return time.Duration(1<<63 - 1), true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// requestIDHeaders are searched in order for StatusError.RequestID.
var requestIDHeaders = []string{
	"X-Request-Id", "X-Amzn-Requestid", "X-Amz-Request-Id", "X-Github-Request-Id",
	"Request-Id", "X-Correlation-Id", "Cf-Ray",
}

func requestID(h http.Header) string {
	for _, k := range requestIDHeaders {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// OptionError is returned by [New] for a setting that is not valid. Option
// names the setting, such as "WithBaseURL" or "WithTimeouts.Dial".
type OptionError struct {
	Option string
	Err    error
}

// Error returns "courier: <option>: <cause>".
func (e *OptionError) Error() string { return "courier: " + e.Option + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *OptionError) Unwrap() error { return e.Err }

// CloseError is returned by [Session.Close] when its context ended before
// every request had finished, or when streamed bodies were never closed.
type CloseError struct {
	// InFlight is how many requests had not finished. A streamed body
	// keeps its request in flight until it is closed or read to its end.
	InFlight int
	// Unclosed is how many streamed response bodies the caller had not
	// closed, whether or not they were read to their end.
	Unclosed int
	// Sites lists where each unclosed body was opened, one stack per body,
	// when the session was created with WithLeakTracking(true).
	Sites []string
	// Err is the context's error, or nil when Close did not have to wait
	// past it (bodies read to the end but never closed).
	Err error
}

// Error says how many requests and bodies were left, and where unclosed
// bodies were opened when that is known.
func (e *CloseError) Error() string {
	s := fmt.Sprintf("courier: close: %d requests still in flight", e.InFlight)
	if e.Unclosed > 0 {
		s += fmt.Sprintf(", %d response bodies never closed", e.Unclosed)
		if len(e.Sites) > 0 {
			s += " (opened at " + strings.Join(e.Sites, "; ") + ")"
		}
	}
	if e.Err == nil {
		return s
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the context's error.
func (e *CloseError) Unwrap() error { return e.Err }

// timeoutCause is the cancel cause when one of the session's own timers
// fires. It matches both ErrTimeout and context.DeadlineExceeded.
type timeoutCause struct{ what string }

func (c *timeoutCause) Error() string { return c.what + " timeout exceeded" }
func (c *timeoutCause) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}
func (c *timeoutCause) Timeout() bool { return true }

var (
	errRequestTimeout = &timeoutCause{"request"}
	errBodyIdle       = &timeoutCause{"body idle"}
)

// tlsError marks a failure of a TLS handshake that courier's dialer ran.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// decodeError marks a failure of a content decoder, as opposed to a failure
// of the connection underneath it.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "content decoding: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// classify returns the kind of a failure. ctx is the request's context:
// when it ended early, its cause decides (the transport's own text for a
// cancellation varies between Go versions and HTTP/1 and HTTP/2).
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var rs *retryStop
	if errors.As(err, &rs) {
		// The failure's own kind, not why it was not retried (that stays
		// in the chain for errors.Is).
		err = rs.err
	}
	for _, k := range []error{ErrInvalidRequest, ErrClosed, ErrCircuitOpen, ErrRateLimited, ErrBodyTooLarge, ErrTooManyRedirects,
		ErrBodyNotReplayable, ErrDecode, ErrCanceled, ErrTimeout, ErrTLS, ErrDNS, ErrConnect, ErrConnLost} {
		if errors.Is(err, k) {
			if k == ErrConnect && errors.Is(err, ErrTimeout) {
				return errConnectTimeout
			}
			return k
		}
	}
	if cause := ctxFailure(ctx); cause != nil {
		if errors.Is(cause, context.DeadlineExceeded) {
			return ErrTimeout
		}
		return ErrCanceled
	}
	var de *decodeError
	if errors.As(err, &de) {
		return ErrDecode
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return errConnectTimeout
		}
		return ErrDNS
	}
	if isTLSFailure(err) {
		if isTimeout(err) {
			return ErrTimeout
		}
		return ErrTLS
	}
	// Before the generic timeout checks: a dial timeout matches
	// context.DeadlineExceeded too, and it is a failure to connect.
	var opErr *net.OpError
	if errors.As(err, &opErr) && (opErr.Op == "dial" || opErr.Op == "proxyconnect") {
		if opErr.Timeout() {
			return errConnectTimeout
		}
		return ErrConnect
	}
	if errors.Is(err, context.Canceled) {
		return ErrCanceled
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return ErrTimeout
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) {
		return ErrConnLost
	}
	if opErr != nil && (opErr.Op == "read" || opErr.Op == "write") {
		return ErrConnLost
	}
	var se h2StreamError
	if errors.As(err, &se) {
		return ErrConnLost
	}
	// Anything else the transport failed with, once connected, broke the
	// exchange: a response cut inside its headers reads as "malformed
	// MIME header", an unexported error type of net/http.
	var te *transportError
	var pe textproto.ProtocolError
	if errors.As(err, &te) || errors.As(err, &pe) {
		return ErrConnLost
	}
	return nil
}

// transportError marks an error that came out of the base transport once
// it had a connection, as opposed to one a middleware returned.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// markTransportErrors sits on the base transport and marks the errors of
// exchanges that had a connection: those broke on the wire. A request the
// transport refused before connecting (an invalid header a middleware set)
// is not marked, and keeps no kind.
type markTransportErrors struct{ rt http.RoundTripper }

func (m markTransportErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	c := callFrom(req.Context())
	var before int32
	if c != nil {
		before = c.conns.Load()
	}
	if c != nil {
		c.sends.Add(1)
		c.clock.attemptStart.Store(time.Now().UnixNano())
		c.clock.dns.Store(0)
	}
	resp, err := m.rt.RoundTrip(req)
	if c != nil && err == nil {
		c.clock.firstByte.Store(c.clock.since(c.clock.attemptStart.Load()))
	}
	if err != nil && c != nil && c.conns.Load() > before {
		return resp, &transportError{err}
	}
	return resp, err
}

// ctxFailure returns why ctx ended early, or nil. For a request's own
// context, a call that finished normally is not a failure.
func ctxFailure(ctx context.Context) error {
	if c, ok := ctx.(*call); ok {
		return c.failure()
	}
	if ctx != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// h2StreamError has the fields of net/http's HTTP/2 stream error (a
// RST_STREAM from the server, or a stream the transport reset), which
// converts itself by field names for errors.As, as it does for
// golang.org/x/net/http2.StreamError.
type h2StreamError struct {
	StreamID uint32
	Code     uint32
	Cause    error
}

func (e h2StreamError) Error() string {
	return fmt.Sprintf("http2 stream %d reset, code %d", e.StreamID, e.Code)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func isTLSFailure(err error) bool {
	var (
		te   *tlsError
		cve  *tls.CertificateVerificationError
		rhe  tls.RecordHeaderError
		ae   tls.AlertError
		uae  x509.UnknownAuthorityError
		he   x509.HostnameError
		cie  x509.CertificateInvalidError
		echE *tls.ECHRejectionError
	)
	return errors.As(err, &te) || errors.As(err, &cve) || errors.As(err, &rhe) ||
		errors.As(err, &ae) || errors.As(err, &uae) || errors.As(err, &he) ||
		errors.As(err, &cie) || errors.As(err, &echE)
}
