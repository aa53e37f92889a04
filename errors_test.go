package courier_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2015, time.October, 21, 7, 26, 30, 0, time.UTC)
	const maxDuration = time.Duration(math.MaxInt64)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"2", 2 * time.Second, true},
		{"0", 0, true},
		{" 3 ", 3 * time.Second, true},
		{"120", 2 * time.Minute, true},
		{"007", 7 * time.Second, true},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.5", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"3s", 0, false},
		{"garbage", 0, false},
		{"", 0, false},
		{"   ", 0, false},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", maxDuration, true},
		{"99999999999999999999", maxDuration, true},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 90 * time.Second, true},     // IMF-fixdate
		{"Wednesday, 21-Oct-15 07:28:00 GMT", 90 * time.Second, true}, // RFC 850
		{"Wed Oct 21 07:28:00 2015", 90 * time.Second, true},          // asctime
		{"Wed, 21 Oct 2015 07:00:00 GMT", 0, true},                    // in the past
		{"Wed, 21 Oct 2015 07:26:30 GMT", 0, true},                    // now
		{"Wed, 21 Oct 2015 07:28:00 +0000", 0, false},                 // not an HTTP-date
		{"2015-10-21T07:28:00Z", 0, false},
	}
	for _, tt := range tests {
		got, ok := courier.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"2", "0", "-1", "1.5", "garbage", "", "99999999999999999999",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Wednesday, 21-Oct-15 07:28:00 GMT", "Wed Oct 21 07:28:00 2015"} {
		f.Add(s, int64(1445412390))
	}
	f.Add("Fri, 31 Dec 9999 23:59:59 GMT", int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, v string, unix int64) {
		d, ok := courier.ParseRetryAfter(v, time.Unix(unix, 0))
		if d < 0 {
			t.Errorf("ParseRetryAfter(%q) = %v, want no negative duration", v, d)
		}
		if !ok && d != 0 {
			t.Errorf("ParseRetryAfter(%q) = %v, false; want 0 when not ok", v, d)
		}
	})
}

func TestStatusErrorRetryAfterWithoutReceived(t *testing.T) {
	t.Parallel()
	se := &courier.StatusError{StatusCode: 503, Header: http.Header{"Retry-After": {"7"}}}
	if d, ok := se.RetryAfter(); d != 7*time.Second || !ok {
		t.Errorf("RetryAfter() = %v, %v; want 7s, true", d, ok)
	}
	se = &courier.StatusError{StatusCode: 503, Header: http.Header{}}
	if d, ok := se.RetryAfter(); d != 0 || ok {
		t.Errorf("RetryAfter() without the header = %v, %v; want 0, false", d, ok)
	}
}

// DefaultShouldRetry reads the one status table: 408, 425, 429, 502, 503
// and 504 are retried; other 5xx only on request; 4xx and 501 never.
func TestDefaultShouldRetryStatuses(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{
		408: true, 425: true, 429: true, 502: true, 503: true, 504: true,
		500: false, 505: false, 400: false, 401: false, 403: false, 404: false, 409: false, 422: false, 501: false,
	} {
		info := courier.AttemptInfo{Response: &http.Response{StatusCode: code, Header: http.Header{}}}
		if got := courier.DefaultShouldRetry(info); got != want {
			t.Errorf("DefaultShouldRetry(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestStatusErrorMessageHasNoBody(t *testing.T) {
	t.Parallel()
	se := &courier.StatusError{
		Method: "GET", URL: "https://api.example.com/x?token=REDACTED", StatusCode: 500,
		Status: "500 Internal Server Error", Body: []byte("secret-body-" + secretCanary), Attempts: 3,
	}
	if msg := se.Error(); strings.Contains(msg, secretCanary) || !strings.Contains(msg, "500 Internal Server Error") {
		t.Errorf("Error() = %q, want the status and no body", msg)
	}
}

func TestCloseErrorUnwrap(t *testing.T) {
	t.Parallel()
	ce := &courier.CloseError{InFlight: 1, Err: context.DeadlineExceeded}
	if !errors.Is(ce, context.DeadlineExceeded) {
		t.Errorf("errors.Is(CloseError, DeadlineExceeded) = false")
	}
	if errors.Is(&courier.CloseError{Unclosed: 1}, context.DeadlineExceeded) {
		t.Errorf("errors.Is(CloseError without Err, DeadlineExceeded) = true")
	}
}

// TestClassify runs the classifier over the errors the standard library
// produces, one by one. The failure tests reach most of them for real; this
// table covers the ones a loopback server cannot produce on demand.
func TestClassify(t *testing.T) {
	t.Parallel()
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	read := func(err error) error { return &net.OpError{Op: "read", Net: "tcp", Err: err} }
	tests := []struct {
		name string
		err  error
		want []error // every kind errors.Is must find in the result
		not  []error
	}{
		{"nil", nil, nil, nil},
		{"unknown", errors.New("something else"), nil, nil},
		{"refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), []error{courier.ErrConnect}, []error{courier.ErrTimeout}},
		{"unreachable", dial(os.NewSyscallError("connect", syscall.ENETUNREACH)), []error{courier.ErrConnect}, nil},
		{"dial timeout", dial(os.ErrDeadlineExceeded), []error{courier.ErrConnectTimeout, courier.ErrConnect, courier.ErrTimeout}, nil},
		{"proxyconnect", &net.OpError{Op: "proxyconnect", Err: syscall.ECONNREFUSED}, []error{courier.ErrConnect}, nil},
		{"DNS not found", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, []error{courier.ErrDNS}, []error{courier.ErrConnect}},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "x.example", IsTimeout: true}, []error{courier.ErrConnectTimeout, courier.ErrConnect, courier.ErrTimeout}, nil},
		{"DNS in a dial", dial(&net.DNSError{Err: "no such host", IsNotFound: true}), []error{courier.ErrDNS}, nil},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, []error{courier.ErrTLS}, nil},
		{"hostname", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}, []error{courier.ErrTLS}, nil},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, []error{courier.ErrTLS}, nil},
		{"record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, []error{courier.ErrTLS}, []error{courier.ErrConnLost}},
		{"alert", tls.AlertError(70), []error{courier.ErrTLS}, nil},
		{"unexpected EOF", io.ErrUnexpectedEOF, []error{courier.ErrConnLost}, nil},
		{"EOF", fmt.Errorf("read: %w", io.EOF), []error{courier.ErrConnLost}, nil},
		{"reset", read(os.NewSyscallError("read", syscall.ECONNRESET)), []error{courier.ErrConnLost}, nil},
		{"broken pipe", &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, []error{courier.ErrConnLost}, nil},
		{"closed", net.ErrClosed, []error{courier.ErrConnLost}, nil},
		{"read error", read(errors.New("odd")), []error{courier.ErrConnLost}, nil},
		{"read timeout", read(os.ErrDeadlineExceeded), []error{courier.ErrTimeout}, []error{courier.ErrConnLost, courier.ErrConnect}},
		{"canceled", context.Canceled, []error{courier.ErrCanceled}, nil},
		{"deadline", context.DeadlineExceeded, []error{courier.ErrTimeout}, nil},
		{"url.Error timeout", &url.Error{Op: "Get", URL: "x", Err: context.DeadlineExceeded}, []error{courier.ErrTimeout}, nil},
		{"kind already given", fmt.Errorf("limit: %w", courier.ErrBodyTooLarge), []error{courier.ErrBodyTooLarge}, nil},
		{"redirects", &courier.Error{Kind: courier.ErrTooManyRedirects, Err: errors.New("stopped")}, []error{courier.ErrTooManyRedirects}, nil},
	}
	for _, tt := range tests {
		got := courier.Classify(tt.err, nil, false)
		if len(tt.want) == 0 && tt.err == nil && got != 0 {
			t.Errorf("classify(%s: %v) = %v, want no kind", tt.name, tt.err, got)
		}
		if len(tt.want) == 0 && tt.err != nil && got != courier.ErrOther {
			t.Errorf("classify(%s: %v) = %v, want ErrOther", tt.name, tt.err, got)
		}
		for _, w := range tt.want {
			if !errors.Is(got, w) {
				t.Errorf("classify(%s: %v) = %v, want %v", tt.name, tt.err, got, w)
			}
		}
		for _, n := range tt.not {
			if errors.Is(got, n) {
				t.Errorf("classify(%s: %v) = %v, want not %v", tt.name, tt.err, got, n)
			}
		}
	}
}

// When the request's context has ended, its cause decides, whatever error
// the transport chose to report; a failure nothing else explains broke on
// the wire when the attempt had a connection.
func TestClassifyByCause(t *testing.T) {
	t.Parallel()
	errUnknown := errors.New("net/http: request canceled")
	tests := []struct {
		name      string
		err       error
		cause     error
		connected bool
		want      courier.Kind
	}{
		{"canceled", errUnknown, context.Canceled, false, courier.ErrCanceled},
		{"deadline", errUnknown, context.DeadlineExceeded, false, courier.ErrTimeout},
		{"canceled beats a cut body", io.ErrUnexpectedEOF, context.Canceled, false, courier.ErrCanceled},
		{"unknown after connecting", errors.New("malformed MIME header"), nil, true, courier.ErrConnLost},
		{"unknown without a connection", errors.New("signing failed"), nil, false, courier.ErrOther},
	}
	for _, tt := range tests {
		if got := courier.Classify(tt.err, tt.cause, tt.connected); got != tt.want {
			t.Errorf("classify(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A Kind has one name, and is an error that errors.Is matches: a connect
// timeout is a timeout and a failure to connect, and every timeout is a
// context.DeadlineExceeded.
func TestKind(t *testing.T) {
	t.Parallel()
	if got := courier.ErrConnectTimeout.String(); got != "connect timeout" {
		t.Errorf("ErrConnectTimeout.String() = %q, want %q", got, "connect timeout")
	}
	if got := courier.ErrTimeout.Error(); got != "courier: timeout" {
		t.Errorf("ErrTimeout.Error() = %q, want %q", got, "courier: timeout")
	}
	for _, target := range []error{courier.ErrConnectTimeout, courier.ErrTimeout, courier.ErrConnect, context.DeadlineExceeded} {
		if !errors.Is(courier.ErrConnectTimeout, target) {
			t.Errorf("errors.Is(ErrConnectTimeout, %v) = false, want true", target)
		}
	}
	if errors.Is(courier.ErrConnect, courier.ErrTimeout) || errors.Is(courier.ErrTimeout, courier.ErrConnect) {
		t.Errorf("ErrConnect and ErrTimeout match each other")
	}
	e := &courier.Error{Kind: courier.ErrConnLost, Stop: courier.ErrRetryBudget, Err: io.ErrUnexpectedEOF, Attempts: 2}
	if !errors.Is(e, courier.ErrRetryBudget) || !errors.Is(e, courier.ErrConnLost) || !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Errorf("Error{ConnLost, Stop: RetryBudget, EOF} does not match all three")
	}
	if got, want := e.Error(), "courier: connection lost: unexpected EOF (2 attempts; retry budget exhausted)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestErrorTimeoutAndUnwrap(t *testing.T) {
	t.Parallel()
	e := &courier.Error{Op: "request", Method: "GET", URL: "http://x/", Kind: courier.ErrTimeout, Err: errors.New("http2: timeout awaiting response headers")}
	if !errors.Is(e, courier.ErrTimeout) || !errors.Is(e, context.DeadlineExceeded) || !errors.Is(e, courier.ErrTimeout) {
		t.Errorf("Error{Kind: ErrTimeout}: Timeout() %v, Is(DeadlineExceeded) %v, Is(ErrTimeout) %v; want all true",
			errors.Is(e, courier.ErrTimeout), errors.Is(e, context.DeadlineExceeded), errors.Is(e, courier.ErrTimeout))
	}
	e = &courier.Error{Kind: courier.ErrConnect, Err: syscall.ECONNREFUSED}
	if errors.Is(e, courier.ErrTimeout) || errors.Is(e, context.DeadlineExceeded) || !errors.Is(e, syscall.ECONNREFUSED) {
		t.Errorf("Error{Kind: ErrConnect}: Timeout() %v, Is(DeadlineExceeded) %v, Is(ECONNREFUSED) %v; want false, false, true",
			errors.Is(e, courier.ErrTimeout), errors.Is(e, context.DeadlineExceeded), errors.Is(e, syscall.ECONNREFUSED))
	}
	e = &courier.Error{Kind: courier.ErrOther, Err: io.EOF}
	if !errors.Is(e, io.EOF) {
		t.Errorf("Error without a kind does not unwrap to its cause")
	}
}

// GoAwayError has the shape of net/http's unexported HTTP/2 GOAWAY error
// (and of golang.org/x/net/http2's), which courier finds by its type.
type GoAwayError struct {
	LastStreamID uint32
	ErrCode      uint32
	DebugData    string
}

func (e GoAwayError) Error() string { return fmt.Sprintf("http2: GOAWAY, ErrCode=%d", e.ErrCode) }

// A GOAWAY with an error code is the server refusing the request; one with
// NO_ERROR is a connection that went away.
func TestClassifyGoAway(t *testing.T) {
	t.Parallel()
	if got := courier.Classify(fmt.Errorf("round trip: %w", GoAwayError{ErrCode: 11}), nil, true); got != courier.ErrRefused {
		t.Errorf("classify(GOAWAY ENHANCE_YOUR_CALM) = %v, want ErrRefused", got)
	}
	if got := courier.Classify(GoAwayError{ErrCode: 0}, nil, true); got != courier.ErrConnLost {
		t.Errorf("classify(GOAWAY NO_ERROR) = %v, want ErrConnLost", got)
	}
}
