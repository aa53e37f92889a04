package courier

import (
	"context"
	"errors"
)

// Kind says what went wrong with a request, in one closed vocabulary. Every
// [*Error] has exactly one Kind, and a Kind is itself an error, so callers
// match it with errors.Is:
//
//	if errors.Is(err, courier.ErrTimeout) { ... }
//
// or read it from the error or a hook's [AttemptInfo]:
//
//	var e *courier.Error
//	if errors.As(err, &e) && e.Kind == courier.ErrConnect { ... }
//
// The standard cause stays in the error's chain beside the kind, so
// errors.Is(err, context.DeadlineExceeded) and errors.Is(err,
// syscall.ECONNREFUSED) hold too. A few kinds say why retrying stopped
// rather than what failed ([ErrRetryBudget], [ErrRetryAfterTooLong],
// [ErrRetryDeadline], [ErrMaybeApplied]); they appear in the Stop field of
// [Error], [StatusError] and [AttemptInfo], never in Kind.
//
// The zero Kind means "none": no failure, or nothing stopped the retries.
type Kind uint8

// The kinds of failure.
const (
	// ErrOther: a failure courier could not place in any other kind, such
	// as an error a middleware returned.
	ErrOther Kind = iota + 1
	// ErrInvalidRequest: the request was refused before anything was sent:
	// a bad URL, method, header name or value, or an option that does not fit.
	ErrInvalidRequest
	// ErrClosed: the session was closed before the request started.
	ErrClosed
	// ErrCanceled: the caller's context was canceled.
	ErrCanceled
	// ErrTimeout: a deadline passed: the caller's, the request timeout,
	// the response header timeout, the body idle timeout, or an attempt
	// timeout.
	ErrTimeout
	// ErrConnectTimeout: making the connection (DNS, TCP or the TLS
	// handshake's dial) took too long. Nothing was sent. It matches both
	// ErrTimeout and ErrConnect with errors.Is.
	ErrConnectTimeout
	// ErrDNS: the host name could not be resolved.
	ErrDNS
	// ErrConnect: no connection could be made (refused, unreachable).
	// Nothing was sent, so any request may be tried again.
	ErrConnect
	// ErrTLS: the TLS handshake failed (certificate, version, alert).
	ErrTLS
	// ErrConnLost: the connection broke after it was made: reset, closed
	// by the server before or in the middle of the response, or the
	// response was cut or malformed.
	ErrConnLost
	// ErrBodyTooLarge: a response body was larger than the session's limit
	// (counted after decoding), or carried too many content encodings.
	ErrBodyTooLarge
	// ErrDecode: a response body could not be decoded: bad JSON, a JSON
	// decode of a non-JSON content type, or a corrupt compressed stream.
	ErrDecode
	// ErrTooManyRedirects: the redirect limit was reached. The Error's
	// Redirects field holds the chain.
	ErrTooManyRedirects
	// ErrBodyNotReplayable: the request body had to be sent again (a 307
	// or 308 redirect, a retry) but it was a one-shot reader.
	ErrBodyNotReplayable
	// ErrCircuitOpen: the host's circuit breaker is open, so the request
	// failed at once without touching the network (see [WithBreaker]). As
	// a Stop, the breaker opened while the request was being retried.
	ErrCircuitOpen
	// ErrRateLimited: the session's rate limit ([WithRateLimit]), or a
	// server's 429 pause, would have made the request wait past its
	// deadline, so it failed at once without being sent.
	ErrRateLimited
	// ErrRefused: the server closed the connection with an HTTP/2 GOAWAY
	// whose error code is not NO_ERROR (ENHANCE_YOUR_CALM when the
	// request's headers are too large for it, PROTOCOL_ERROR...): it
	// refused this request, and would refuse it again, so it is never
	// retried. The error's text gives the code.
	ErrRefused
	// ErrNoSlot: the request waited for a concurrency slot (the limits of
	// a fan-out, package github.com/courierhttp/courier/fanout) until its
	// context ended, and was never sent. The context's error (a deadline,
	// a cancel) is in the chain too.
	ErrNoSlot
	// ErrBlocked: the session's [Guard] refused the address the request
	// would have connected to (a private, loopback, link-local... address,
	// a port not allowed, a host written as a number). Nothing was sent,
	// and it is never retried. The error names the host, the address and
	// the rule.
	ErrBlocked

	// ErrRetryBudget (a Stop): the host's retry budget was empty, so a
	// failure that could have been retried was returned at once. Retries
	// are drawn from a budget so that an outage is not multiplied by every
	// client's retries.
	ErrRetryBudget
	// ErrRetryAfterTooLong (a Stop): the server asked for a wait
	// (Retry-After) longer than RetryPolicy.MaxRetryAfter or than the time
	// left before the deadline, so courier did not wait.
	ErrRetryAfterTooLong
	// ErrRetryDeadline (a Stop): the wait before the next attempt would
	// have ended after the request's deadline, so courier stopped instead
	// of sleeping into certain failure.
	ErrRetryDeadline
	// ErrMaybeApplied (a Stop): a request that is not idempotent (a POST
	// or PATCH without an Idempotency-Key) failed after it was sent,
	// before its response came: the server may have applied it. courier
	// does not send it again; do so only if you know it is safe, or give
	// it an Idempotency-Key so that courier can.
	ErrMaybeApplied

	kindCount // the number of kinds, plus one for the zero Kind
)

var kindNames = [kindCount]string{
	0:                    "none",
	ErrOther:             "request failed",
	ErrInvalidRequest:    "invalid request",
	ErrClosed:            "session closed",
	ErrCanceled:          "canceled",
	ErrTimeout:           "timeout",
	ErrConnectTimeout:    "connect timeout",
	ErrDNS:               "DNS lookup failed",
	ErrConnect:           "connect failed",
	ErrTLS:               "TLS handshake failed",
	ErrConnLost:          "connection lost",
	ErrBodyTooLarge:      "response body too large",
	ErrDecode:            "cannot decode response",
	ErrTooManyRedirects:  "too many redirects",
	ErrBodyNotReplayable: "request body cannot be replayed",
	ErrCircuitOpen:       "circuit open",
	ErrRateLimited:       "rate limit wait exceeds the deadline",
	ErrRefused:           "refused by the server",
	ErrNoSlot:            "no slot before the deadline",
	ErrBlocked:           "blocked by the guard",
	ErrRetryBudget:       "retry budget exhausted",
	ErrRetryAfterTooLong: "Retry-After beyond the limit",
	ErrRetryDeadline:     "no time left for another attempt",
	ErrMaybeApplied:      "request may have been applied",
}

// String returns the kind's name, such as "timeout" or "connect failed".
func (k Kind) String() string {
	if k >= kindCount {
		return "unknown kind"
	}
	return kindNames[k]
}

// Error returns "courier: " and the kind's name.
func (k Kind) Error() string { return "courier: " + k.String() }

// Is reports whether a kind counts as target too: a connect timeout is
// both a timeout and a failure to connect, and a timeout is a
// context.DeadlineExceeded.
func (k Kind) Is(target error) bool {
	switch k {
	case ErrConnectTimeout:
		return target == ErrTimeout || target == ErrConnect || target == context.DeadlineExceeded
	case ErrTimeout:
		return target == context.DeadlineExceeded
	}
	return false
}

// timeout reports whether the kind is a timeout of any sort.
func (k Kind) timeout() bool { return k == ErrTimeout || k == ErrConnectTimeout }

// kindOf returns the first Kind in err's chain, or 0.
func kindOf(err error) Kind {
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return 0
}
