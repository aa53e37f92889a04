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
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Error is the error returned for every failed request: it says what was
// attempted, what kind of failure it was, and wraps the cause.
//
// errors.Is matches the kind (ErrTimeout, ...), the reason retrying stopped
// (ErrRetryBudget, ...) and anything in the cause's chain
// (context.DeadlineExceeded, syscall.ECONNREFUSED, ...). A non-2xx response
// is not an Error: it is a [*StatusError].
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
	// Kind is what went wrong: always one of the failure kinds.
	Kind Kind
	// Stop is why the failure was returned without another attempt, when
	// something other than the retry policy decided it (ErrRetryBudget,
	// ErrRetryAfterTooLong, ErrRetryDeadline, ErrMaybeApplied,
	// ErrBodyNotReplayable, ErrCircuitOpen), or 0.
	Stop Kind
	// Err is the underlying cause.
	Err error
}

// Error returns "courier: GET https://host/path: kind: cause (N attempts;
// stop)": the operation when it is not the request itself ("read",
// "decode"), the kind unless the cause already says it ("request timeout
// exceeded" says "timeout"), the attempts when there were more than one, and
// why retrying stopped when something stopped it.
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
	if e.Err != nil && e.Err != error(e.Kind) {
		cause = strings.TrimPrefix(e.Err.Error(), "courier: ")
	}
	if e.Kind != 0 && !strings.Contains(cause, e.Kind.String()) {
		b.WriteString(e.Kind.String())
		if cause != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(cause)
	b.WriteString(notes(e.Attempts, e.Stop))
	return b.String()
}

// notes returns " (N attempts; stop)", or what of it applies, or "".
func notes(attempts int, stop Kind) string {
	var n []string
	if attempts > 1 {
		n = append(n, strconv.Itoa(attempts)+" attempts")
	}
	if stop != 0 {
		n = append(n, stop.String())
	}
	if len(n) == 0 {
		return ""
	}
	return " (" + strings.Join(n, "; ") + ")"
}

// Timeout reports whether the failure was a timeout, as net.Error does, so
// that a *url.Error from the Client's requests answers Timeout() too.
func (e *Error) Timeout() bool { return e.Kind.timeout() }

// Unwrap returns the kind, the reason retrying stopped (if any) and the
// cause, so that errors.Is and errors.As see all three.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	if e.Kind != 0 {
		errs = append(errs, e.Kind)
	}
	if e.Stop != 0 {
		errs = append(errs, e.Stop)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

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
	// Body holds the start of the response body, at most 64 KiB,
	// decoded.
	Body []byte
	// RequestID is the server's request identifier, from the first of
	// X-Request-Id, X-Amzn-RequestId, X-Amz-Request-Id, X-GitHub-Request-Id,
	// Request-Id, X-Correlation-Id, CF-Ray found, or "".
	RequestID string
	// Attempts is how many times the request was sent.
	Attempts int
	// Stop is why the retry loop gave this response back without trying
	// again, when something other than the retry policy decided it
	// (ErrRetryBudget, ErrRetryAfterTooLong, ErrRetryDeadline,
	// ErrBodyNotReplayable, ErrCircuitOpen), or 0.
	Stop Kind
	// Decoded is the body decoded: a *E when [ErrorBody] named a type E, a
	// [*Problem] for an application/problem+json body otherwise, or nil.
	Decoded any
	// DecodeErr says why the body was not decoded into Decoded when it
	// should have been: a Content-Type that is not JSON, an empty body, or
	// JSON that does not fit the type.
	DecodeErr error

	received time.Time
}

// Unwrap returns Stop, when it is set, so that errors.Is(err,
// courier.ErrRetryBudget) holds, and Decoded when it is an error (a
// [*Problem], or a *E of [ErrorBody] whose *E implements error), so that
// errors.As finds it.
func (e *StatusError) Unwrap() []error {
	var errs []error
	if e.Stop != 0 {
		errs = append(errs, e.Stop)
	}
	if d, ok := e.Decoded.(error); ok {
		errs = append(errs, d)
	}
	return errs
}

// maxErrorBody caps StatusError.Body.
const maxErrorBody = 64 << 10

// Error returns "courier: GET https://host/path: 503 Service Unavailable",
// with the attempts and Stop when they say something. It never includes the
// body, which may hold secrets; read Body for it.
func (e *StatusError) Error() string {
	return "courier: " + e.Method + " " + e.URL + ": " + e.Status + notes(e.Attempts, e.Stop)
}

// RetryAfter returns the wait the server asked for in its Retry-After header,
// counted from when the response arrived, and whether there was a valid one.
func (e *StatusError) RetryAfter() (time.Duration, bool) {
	now := e.received
	if now.IsZero() {
		now = time.Now()
	}
	return parseRetryAfter(e.Header.Get("Retry-After"), now)
}

// parseRetryAfter parses a Retry-After value (RFC 9110 section 10.2.3):
// delta-seconds, or an HTTP-date in any of its three forms (IMF-fixdate,
// RFC 850, asctime), taken relative to now. A date in the past gives 0.
// Negative, fractional, empty or malformed values give false.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
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

// classify returns the kind of a failure: the one courier's own layers
// gave it, else the one its cause says, else the one the standard library's
// error types say. cause is why the request's context ended early (the
// caller canceled, a deadline or one of the session's timers passed), or
// nil: when set it decides, whatever text the transport chose for the
// cancellation. connected says the attempt had a connection, so that a
// failure nothing else explains broke on the wire. A nil err has no kind.
func classify(err, cause error, connected bool) Kind {
	if err == nil {
		return 0
	}
	if k := kindOf(err); k != 0 {
		return k
	}
	if code, ok := goAwayCode(err); ok && code != 0 {
		return ErrRefused
	}
	if cause != nil {
		if errors.Is(cause, context.DeadlineExceeded) {
			return ErrTimeout
		}
		return ErrCanceled
	}
	if k := classifyConnect(err); k != 0 {
		return k
	}
	if k := classifyExchange(err); k != 0 {
		return k
	}
	if connected {
		// Anything else the transport failed with, once connected, broke
		// the exchange: a response cut inside its headers reads as
		// "malformed MIME header", an unexported error type of net/http.
		return ErrConnLost
	}
	return ErrOther
}

// classifyConnect places a failure to make a connection: DNS, TLS, dial.
func classifyConnect(err error) Kind {
	var de *decodeError
	if errors.As(err, &de) {
		return ErrDecode
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return ErrConnectTimeout
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
			return ErrConnectTimeout
		}
		return ErrConnect
	}
	return 0
}

// classifyExchange places a failure of an exchange under way: canceled,
// timed out, or the connection broken.
func classifyExchange(err error) Kind {
	switch {
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return ErrTimeout
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed):
		return ErrConnLost
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && (opErr.Op == "read" || opErr.Op == "write") {
		return ErrConnLost
	}
	var se h2StreamError
	var pe textproto.ProtocolError
	if errors.As(err, &se) || errors.As(err, &pe) {
		return ErrConnLost
	}
	return 0
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
		errors.As(err, &cie) || errors.As(err, &echE) || isRemoteAlert(err)
}

// isRemoteAlert reports whether err is an alert the TLS peer sent, which
// crypto/tls reports as a *net.OpError with Op "remote error" around an
// unexported type. Under TLS 1.3 a server that refuses the client's
// certificate says so after the client's handshake is over, at the first
// read: "remote error: tls: certificate required".
func isRemoteAlert(err error) bool {
	for _, e := range chain(err) {
		if oe, ok := e.(*net.OpError); ok && oe.Op == "remote error" {
			return true
		}
	}
	return false
}

// goAwayCode returns the error code of the HTTP/2 GOAWAY a server closed
// the connection with, from net/http's GoAwayError (or that of
// golang.org/x/net/http2), and whether err holds one. Neither exports its
// type to errors.As, so it is found by its name and its ErrCode field, on
// the types themselves and never on error text.
func goAwayCode(err error) (uint32, bool) {
	for _, e := range chain(err) {
		v := reflect.ValueOf(e)
		if v.Kind() != reflect.Struct || !strings.HasSuffix(v.Type().Name(), "GoAwayError") {
			continue
		}
		if f := v.FieldByName("ErrCode"); f.IsValid() && f.CanUint() {
			return uint32(f.Uint()), true
		}
	}
	return 0, false
}

// chain returns err and every error it wraps, depth first.
func chain(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		for e != nil {
			out = append(out, e)
			switch u := e.(type) {
			case interface{ Unwrap() []error }:
				for _, x := range u.Unwrap() {
					walk(x)
				}
				return
			case interface{ Unwrap() error }:
				e = u.Unwrap()
			default:
				return
			}
		}
	}
	walk(err)
	return out
}
