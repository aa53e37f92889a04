package couriertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Faults is an [http.RoundTripper] that wraps another one and injects
// failures into the calls that go through it, as [Fault] values made by
// [Reset], [Refused], [Timeout], [DNSFailure], [TLSFailure], [Latency],
// [TruncatedBody], [CorruptBody] and [Status] describe. Put it under a
// session with courier.WithTransport, around a [Mock], an httptest server's
// transport, or [HTTPBin]'s:
//
//	f := couriertest.NewFaults(srv.Client().Transport,
//		couriertest.Reset().OnCalls(1),
//		couriertest.Status(503).Rate(0.2, 42),
//	)
//
// The errors it injects are shaped like those of net/http's own transport,
// so that courier (and other code) classifies them as it would the real
// ones: a reset is courier.ErrConnLost, a refusal courier.ErrConnect, a
// timeout courier.ErrTimeout, a DNS failure courier.ErrDNS and a TLS failure
// courier.ErrTLS.
//
// A Faults is safe for concurrent use. Its faults are deterministic: by
// schedule, or by probability drawn from a generator seeded per fault. Under
// concurrent calls the schedule counts calls in the order they reach the
// Faults.
type Faults struct {
	next   http.RoundTripper
	mu     sync.Mutex
	faults []*armedFault
	calls  int
	fired  int
}

var _ http.RoundTripper = (*Faults)(nil)

type armedFault struct {
	Fault
	rng *rand.Rand
}

// NewFaults returns a Faults that sends calls to next unless one of the
// faults, checked in the order given, fires. A nil next means
// [http.DefaultTransport]. A fault that is not valid (a negative latency,
// a rate outside [0, 1], a schedule with a call number below 1, a status
// outside 100-999) makes NewFaults panic.
//
// On each call, every fault's schedule is checked (so that each seeded
// generator draws once per call, whatever the others do). Then the
// latencies of those that fire are waited in turn, and the first other
// fault that fires is applied; the others are skipped for that call.
func NewFaults(next http.RoundTripper, faults ...Fault) *Faults {
	if next == nil {
		next = http.DefaultTransport
	}
	f := &Faults{next: next}
	for i, ft := range faults {
		if err := ft.validate(); err != nil {
			panic(fmt.Sprintf("couriertest: NewFaults: fault %d (%s): %v", i, ft, err))
		}
		a := &armedFault{Fault: ft}
		if ft.sched.kind == byRate {
			a.rng = rand.New(rand.NewPCG(ft.sched.seed, ft.sched.seed^0x9e3779b97f4a7c15))
		}
		f.faults = append(f.faults, a)
	}
	return f
}

// Calls returns how many calls reached the Faults, failed or not.
func (f *Faults) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Injected returns how many calls had at least one fault applied.
func (f *Faults) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// CloseIdleConnections calls the same method of the wrapped transport, if
// it has one, so that a session's Close reaches it.
func (f *Faults) CloseIdleConnections() {
	if ci, ok := f.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// RoundTrip applies the faults that fire on this call and, unless one of
// them answers in its place, calls the wrapped transport. An error fault
// returns its error without calling the wrapped transport, and closes the
// request body, as a failed transport does. A latency that the request's
// context ends returns the context's error.
func (f *Faults) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	var latency time.Duration
	var outcome *Fault
	for _, a := range f.faults {
		if !a.fires(n) {
			continue
		}
		switch {
		case a.kind == faultLatency:
			latency += a.latency
		case outcome == nil:
			outcome = &a.Fault
		}
	}
	if latency > 0 || outcome != nil {
		f.fired++
	}
	f.mu.Unlock()

	if latency > 0 {
		if err := sleep(req.Context(), latency); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	if outcome == nil {
		return f.next.RoundTrip(req)
	}
	if err := outcome.err(req); err != nil {
		closeBody(req)
		return nil, err
	}
	if outcome.kind == faultStatus {
		closeBody(req)
		return outcome.response(req), nil
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	return outcome.spoil(resp)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

type faultKind int

const (
	faultReset faultKind = iota + 1
	faultRefused
	faultTimeout
	faultDNS
	faultTLS
	faultLatency
	faultTruncate
	faultCorrupt
	faultStatus
)

type schedKind int

const (
	always schedKind = iota
	onCalls
	every
	byRate
)

type schedule struct {
	kind  schedKind
	calls []int
	every int
	rate  float64
	seed  uint64
}

// Fault is one failure for [NewFaults] to inject, and when. Make one with
// [Reset], [Refused], [Timeout], [DNSFailure], [TLSFailure], [Latency],
// [TruncatedBody], [CorruptBody] or [Status]; it fires on every call unless
// given a schedule with [Fault.OnCalls], [Fault.Every] or [Fault.Rate] (the
// last one given wins). A Fault is a value: its methods return a changed
// copy. The zero Fault is not valid.
type Fault struct {
	kind    faultKind
	latency time.Duration
	keep    int
	status  int
	header  []string
	sched   schedule
}

// Reset fails a call as a connection reset by the peer while reading the
// response: a *net.OpError with Op "read" wrapping syscall.ECONNRESET
// (courier.ErrConnLost). The wrapped transport is not called.
func Reset() Fault { return Fault{kind: faultReset} }

// Refused fails a call as a refused connection: a *net.OpError with Op
// "dial" wrapping syscall.ECONNREFUSED (courier.ErrConnect). The wrapped
// transport is not called.
func Refused() Fault { return Fault{kind: faultRefused} }

// Timeout fails a call at once with a timeout while reading the response: a
// *net.OpError with Op "read" wrapping [os.ErrDeadlineExceeded], a
// [net.Error] whose Timeout method reports true (courier.ErrTimeout). Use
// [Latency] to make a call slow instead. The wrapped transport is not
// called.
func Timeout() Fault { return Fault{kind: faultTimeout} }

// DNSFailure fails a call as a host name that does not resolve: a
// *net.DNSError with IsNotFound set, inside a *net.OpError with Op "dial"
// (courier.ErrDNS). The wrapped transport is not called.
func DNSFailure() Fault { return Fault{kind: faultDNS} }

// TLSFailure fails a call as a server certificate signed by an unknown
// authority: a *tls.CertificateVerificationError wrapping an
// [x509.UnknownAuthorityError] (courier.ErrTLS). The wrapped transport is
// not called.
func TLSFailure() Fault { return Fault{kind: faultTLS} }

// Latency delays a call by d before it goes on (to the wrapped transport or
// to another fault). If the request's context ends first, the call fails
// with the context's error. Latencies add up when several fire.
func Latency(d time.Duration) Fault { return Fault{kind: faultLatency, latency: d} }

// TruncatedBody lets the wrapped transport answer, then cuts the response
// body after keep bytes while Content-Length keeps announcing more: reading
// it fails with [io.ErrUnexpectedEOF] after those bytes (courier.ErrConnLost).
// A body of keep bytes or fewer is cut one byte short of its end (an empty
// one announces one byte it never delivers).
func TruncatedBody(keep int) Fault { return Fault{kind: faultTruncate, keep: keep} }

// CorruptBody lets the wrapped transport answer, then flips every bit of
// one byte in eight of the response body (bytes 0, 8, 16, ...), keeping its
// length, as a broken proxy might.
func CorruptBody() Fault { return Fault{kind: faultCorrupt} }

// Status answers a call with the status code, an empty body and headers
// given as key-value pairs ("Retry-After", "1", ...), without calling the
// wrapped transport. Schedule several to make a sequence:
//
//	couriertest.Status(503).OnCalls(1, 2) // 503, 503, then the real answers
//
// An odd number of headerKV makes NewFaults panic.
func Status(code int, headerKV ...string) Fault {
	return Fault{kind: faultStatus, status: code, header: slices.Clone(headerKV)}
}

// OnCalls makes the fault fire only on the given calls, counted from 1
// among all the calls that reach the Faults.
func (f Fault) OnCalls(n ...int) Fault {
	f.sched = schedule{kind: onCalls, calls: slices.Clone(n)}
	return f
}

// Every makes the fault fire on every nth call: n, 2n, 3n, ...
func (f Fault) Every(n int) Fault {
	f.sched = schedule{kind: every, every: n}
	return f
}

// Rate makes the fault fire with probability p on each call, drawn from a
// math/rand/v2 PCG generator seeded with seed: the same seed gives the same
// calls. Each fault has its own generator.
func (f Fault) Rate(p float64, seed uint64) Fault {
	f.sched = schedule{kind: byRate, rate: p, seed: seed}
	return f
}

// String describes the fault and its schedule, as "reset on calls [1 2]".
func (f Fault) String() string {
	var s string
	switch f.kind {
	case faultReset:
		s = "reset"
	case faultRefused:
		s = "refused"
	case faultTimeout:
		s = "timeout"
	case faultDNS:
		s = "dns failure"
	case faultTLS:
		s = "tls failure"
	case faultLatency:
		s = "latency " + f.latency.String()
	case faultTruncate:
		s = "truncated body after " + strconv.Itoa(f.keep) + " bytes"
	case faultCorrupt:
		s = "corrupt body"
	case faultStatus:
		s = "status " + strconv.Itoa(f.status)
	default:
		s = "invalid fault"
	}
	switch f.sched.kind {
	case onCalls:
		s += fmt.Sprintf(" on calls %v", f.sched.calls)
	case every:
		s += fmt.Sprintf(" every %d calls", f.sched.every)
	case byRate:
		s += fmt.Sprintf(" at rate %g (seed %d)", f.sched.rate, f.sched.seed)
	}
	return s
}

func (f Fault) validate() error {
	switch {
	case f.kind == 0:
		return fmt.Errorf("zero Fault")
	case f.kind == faultLatency && f.latency < 0:
		return fmt.Errorf("negative latency")
	case f.kind == faultTruncate && f.keep < 0:
		return fmt.Errorf("negative length to keep")
	case f.kind == faultStatus && (f.status < 100 || f.status > 999):
		return fmt.Errorf("status %d outside 100-999", f.status)
	case f.kind == faultStatus && len(f.header)%2 != 0:
		return fmt.Errorf("odd number of header arguments %q", f.header)
	case f.sched.kind == every && f.sched.every < 1:
		return fmt.Errorf("Every(%d): n must be positive", f.sched.every)
	case f.sched.kind == byRate && !(f.sched.rate >= 0 && f.sched.rate <= 1):
		return fmt.Errorf("rate %g outside [0, 1]", f.sched.rate)
	case f.sched.kind == onCalls && slices.ContainsFunc(f.sched.calls, func(n int) bool { return n < 1 }):
		return fmt.Errorf("call numbers start at 1, got %v", f.sched.calls)
	}
	return nil
}

// fires reports whether the fault fires on call n. The caller holds the
// Faults' lock.
func (a *armedFault) fires(n int) bool {
	switch a.sched.kind {
	case onCalls:
		return slices.Contains(a.sched.calls, n)
	case every:
		return n%a.sched.every == 0
	case byRate:
		return a.rng.Float64() < a.sched.rate
	}
	return true
}

// addr is the remote address in the injected errors: the request's host.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

func hostPort(req *http.Request) string {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(host, port)
}

// err returns the error fault f stands for, or nil for a fault that is not
// an error.
func (f *Fault) err(req *http.Request) error {
	a := addr(hostPort(req))
	switch f.kind {
	case faultReset:
		return &net.OpError{Op: "read", Net: "tcp", Addr: a, Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	case faultRefused:
		return &net.OpError{Op: "dial", Net: "tcp", Addr: a, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	case faultTimeout:
		return &net.OpError{Op: "read", Net: "tcp", Addr: a, Err: os.ErrDeadlineExceeded}
	case faultDNS:
		return &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{
			Err: "no such host", Name: req.URL.Hostname(), IsNotFound: true,
		}}
	case faultTLS:
		return &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	}
	return nil
}

// response is the answer of a Status fault.
func (f *Fault) response(req *http.Request) *http.Response {
	h := http.Header{"Content-Length": {"0"}}
	for i := 0; i+1 < len(f.header); i += 2 {
		h.Add(f.header[i], f.header[i+1])
	}
	resp := &http.Response{StatusCode: f.status, Header: h, Body: http.NoBody}
	complete(resp, req)
	return resp
}

// spoil applies a body fault to a response of the wrapped transport.
func (f *Fault) spoil(resp *http.Response) (*http.Response, error) {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	switch f.kind {
	case faultTruncate:
		keep := min(f.keep, max(len(b)-1, 0))
		announced := max(int64(len(b)), resp.ContentLength, int64(keep)+1)
		resp.Body = &truncatedBody{r: bytes.NewReader(b[:keep])}
		resp.ContentLength = announced
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		resp.Header.Set("Content-Length", strconv.FormatInt(announced, 10))
	case faultCorrupt:
		for i := 0; i < len(b); i += 8 {
			b[i] ^= 0xff
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}

// truncatedBody delivers its bytes, then fails as a connection closed
// before the announced length.
type truncatedBody struct{ r *bytes.Reader }

func (t *truncatedBody) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (t *truncatedBody) Close() error { return nil }
