package couriertest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
)

// okMock returns a mock that answers GET /data with 200 "0123456789abcdef".
func okMock(t *testing.T) (*couriertest.Mock, *couriertest.Route) {
	m := couriertest.NewMock(t)
	return m, m.On("GET", "/data").Respond(200, "0123456789abcdef")
}

// Each injected error gets its courier kind, keeps its standard cause, and
// is retried or not as courier's policy says.
func TestFaultsErrorKinds(t *testing.T) {
	t.Parallel()
	var (
		dnsErr *net.DNSError
		opErr  *net.OpError
		uaErr  x509.UnknownAuthorityError
		cvErr  *tls.CertificateVerificationError
	)
	tests := []struct {
		name  string
		fault couriertest.Fault
		kind  error
		// cause is an errno checked with errors.Is, or a pointer to a
		// target for errors.As.
		cause any
		calls int
	}{
		{"reset", couriertest.Reset(), courier.ErrConnLost, syscall.ECONNRESET, 3},
		{"refused", couriertest.Refused(), courier.ErrConnect, syscall.ECONNREFUSED, 3},
		{"timeout", couriertest.Timeout(), courier.ErrTimeout, &opErr, 3},
		{"dns", couriertest.DNSFailure(), courier.ErrDNS, &dnsErr, 3},
		{"tls unknown authority", couriertest.TLSFailure(), courier.ErrTLS, &uaErr, 1},
		{"tls verification", couriertest.TLSFailure(), courier.ErrTLS, &cvErr, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, route := okMock(t)
			f := couriertest.NewFaults(m, tt.fault)
			s := mockSession(t, f)
			_, err := s.Get(t.Context(), "/data")
			if !errors.Is(err, tt.kind) || !hasCause(err, tt.cause) {
				t.Errorf("Get = %v, want kind %v and cause %T", err, tt.kind, tt.cause)
			}
			if f.Calls() != tt.calls || f.Injected() != tt.calls || route.Calls() != 0 {
				t.Errorf("%d calls, %d injected, %d reached the mock; want %d, %d, 0", f.Calls(), f.Injected(), route.Calls(), tt.calls, tt.calls)
			}
		})
	}
}

func hasCause(err error, cause any) bool {
	if errno, ok := cause.(syscall.Errno); ok {
		return errors.Is(err, errno)
	}
	return errors.As(err, cause)
}

// A fault on the first calls only: courier retries past it.
func TestFaultsRetriedPast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault couriertest.Fault
	}{
		{"reset", couriertest.Reset().OnCalls(1, 2)},
		{"refused", couriertest.Refused().OnCalls(1, 2)},
		{"timeout", couriertest.Timeout().OnCalls(1, 2)},
		{"dns", couriertest.DNSFailure().OnCalls(1, 2)},
		{"truncated body", couriertest.TruncatedBody(4).OnCalls(1, 2)},
		{"status 503", couriertest.Status(503).OnCalls(1, 2)},
		{"status 429 with Retry-After", couriertest.Status(429, "Retry-After", "0").OnCalls(1, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, _ := okMock(t)
			f := couriertest.NewFaults(m, tt.fault)
			s := mockSession(t, f)
			resp, err := s.Get(t.Context(), "/data")
			if err != nil || string(resp.Bytes()) != "0123456789abcdef" || resp.Attempts != 3 {
				t.Fatalf("Get = %v, %v, want the body after 3 attempts", resp, err)
			}
			if f.Calls() != 3 || f.Injected() != 2 {
				t.Errorf("%d calls, %d injected, want 3 and 2", f.Calls(), f.Injected())
			}
		})
	}
}

// A status sequence: 503, then 429, then the wrapped transport.
func TestFaultsStatusSequence(t *testing.T) {
	t.Parallel()
	m, route := okMock(t)
	var statuses []int
	f := couriertest.NewFaults(m,
		couriertest.Status(503).OnCalls(1),
		couriertest.Status(429, "Retry-After", "0").OnCalls(2),
	)
	s := mockSession(t, f, courier.WithHooks(courier.Hooks{AfterAttempt: func(info courier.AttemptInfo) {
		statuses = append(statuses, info.Response.StatusCode)
	}}))
	resp, err := s.Get(t.Context(), "/data")
	if err != nil || fmt.Sprint(statuses) != "[503 429 200]" || route.Calls() != 1 {
		t.Errorf("Get = %v, %v with statuses %v and %d calls to the mock, want [503 429 200] and 1", resp, err, statuses, route.Calls())
	}
}

// A Status fault's response is complete, with its headers.
func TestFaultsStatusResponse(t *testing.T) {
	t.Parallel()
	f := couriertest.NewFaults(nil, couriertest.Status(503, "Retry-After", "7", "X-A", "b"))
	req := newRequest(t, "GET", "http://h/x", "")
	resp, err := f.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Status != "503 Service Unavailable" || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("X-A") != "b" ||
		len(b) != 0 || resp.ContentLength != 0 || resp.Request != req || resp.Proto != "HTTP/1.1" {
		t.Errorf("response %+v, want a complete empty 503 with its headers", resp)
	}
}

func TestFaultsTruncatedBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keep     int
		body     string
		want     string
		announce int64
	}{
		{"cut", 4, "0123456789", "0123", 10},
		{"keep beyond the end", 50, "0123456789", "012345678", 10},
		{"empty body", 0, "", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := couriertest.NewMock(t)
			m.On("GET", "/").Respond(200, tt.body)
			f := couriertest.NewFaults(m, couriertest.TruncatedBody(tt.keep))
			resp, err := f.RoundTrip(newRequest(t, "GET", "http://h/", ""))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if string(b) != tt.want || !errors.Is(err, io.ErrUnexpectedEOF) || resp.ContentLength != tt.announce ||
				resp.Header.Get("Content-Length") != fmt.Sprint(tt.announce) {
				t.Errorf("read %q, %v (Content-Length %d, %q), want %q, io.ErrUnexpectedEOF (%d)",
					b, err, resp.ContentLength, resp.Header.Get("Content-Length"), tt.want, tt.announce)
			}
		})
	}
}

// Through a session without retries, a cut body is a lost connection.
func TestFaultsTruncatedBodySession(t *testing.T) {
	t.Parallel()
	m, _ := okMock(t)
	f := couriertest.NewFaults(m, couriertest.TruncatedBody(3))
	s := mockSession(t, f, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	_, err := s.Get(t.Context(), "/data")
	if !errors.Is(err, courier.ErrConnLost) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Get = %v, want ErrConnLost and io.ErrUnexpectedEOF", err)
	}
}

func TestFaultsCorruptBody(t *testing.T) {
	t.Parallel()
	m := couriertest.NewMock(t)
	m.On("GET", "/user").RespondJSON(200, map[string]string{"name": "ann"})
	f := couriertest.NewFaults(m, couriertest.CorruptBody())
	req := newRequest(t, "GET", "http://h/user", "")
	resp, err := f.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := []byte(`{"name":"ann"}`)
	for i := 0; i < len(want); i += 8 {
		want[i] ^= 0xff
	}
	if err != nil || !bytes.Equal(b, want) || resp.ContentLength != int64(len(want)) {
		t.Errorf("body %q (length %d), %v, want %q", b, resp.ContentLength, err, want)
	}

	s := mockSession(t, f)
	var user struct{ Name string }
	_, err = s.Get(t.Context(), "/user", courier.Into(&user))
	if !errors.Is(err, courier.ErrDecode) {
		t.Errorf("Get with Into = %v, want ErrDecode", err)
	}
}

// Latencies add up on the calls they are scheduled for, and leave the others
// alone. The clock is synctest's, so that a loaded machine cannot add time
// of its own.
func TestFaultsLatency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m, _ := okMock(t)
		f := couriertest.NewFaults(m, couriertest.Latency(30*time.Millisecond).OnCalls(1), couriertest.Latency(20*time.Millisecond).OnCalls(1))
		s := mockSession(t, f)
		start := time.Now()
		if _, err := s.Get(t.Context(), "/data"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("first Get took %v, want at least the 50ms of latency", d)
		}
		start = time.Now()
		if _, err := s.Get(t.Context(), "/data"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 40*time.Millisecond {
			t.Errorf("second Get took %v, want no latency", d)
		}
	})
}

// A latency longer than the request's time fails it when the context ends,
// not when the latency does.
func TestFaultsLatencyHonorsContext(t *testing.T) {
	t.Parallel()
	m, route := okMock(t)
	f := couriertest.NewFaults(m, couriertest.Latency(time.Minute))
	s := mockSession(t, f, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	start := time.Now()
	_, err := s.Get(t.Context(), "/data", courier.Timeout(20*time.Millisecond))
	if !errors.Is(err, courier.ErrTimeout) || time.Since(start) > 5*time.Second || route.Calls() != 0 {
		t.Errorf("Get = %v after %v (%d calls to the mock), want ErrTimeout after about 20ms", err, time.Since(start), route.Calls())
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = f.RoundTrip(newRequest(t, "GET", "http://h/data", "").WithContext(ctx))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip with a canceled context = %v, want context.Canceled", err)
	}
}

// pattern returns which of the first n calls through f were answered by a
// fault (status 500) rather than the mock, as "x" and ".".
func pattern(t *testing.T, n int, faults ...couriertest.Fault) string {
	t.Helper()
	m := couriertest.NewMock(t)
	m.On("GET", "/")
	f := couriertest.NewFaults(m, faults...)
	var b strings.Builder
	for range n {
		resp, err := f.RoundTrip(newRequest(t, "GET", "http://h/", ""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		b.WriteString(map[bool]string{true: "x", false: "."}[resp.StatusCode == 500])
	}
	return b.String()
}

func TestFaultsSchedules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault couriertest.Fault
		want  string
	}{
		{"always", couriertest.Status(500), "xxxxxxxxxxxx"},
		{"on calls", couriertest.Status(500).OnCalls(1, 3, 12, 40), "x.x........x"},
		{"every", couriertest.Status(500).Every(3), "..x..x..x..x"},
		{"every call", couriertest.Status(500).Every(1), "xxxxxxxxxxxx"},
		{"rate 0", couriertest.Status(500).Rate(0, 1), "............"},
		{"rate 1", couriertest.Status(500).Rate(1, 1), "xxxxxxxxxxxx"},
		{"last schedule wins", couriertest.Status(500).Every(2).OnCalls(1), "x..........."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pattern(t, 12, tt.fault); got != tt.want {
				t.Errorf("%v fired on %q, want %q", tt.fault, got, tt.want)
			}
		})
	}
}

// The same seed gives the same calls; the rate is roughly kept.
func TestFaultsRateSeeded(t *testing.T) {
	t.Parallel()
	const n = 400
	a := pattern(t, n, couriertest.Status(500).Rate(0.25, 42))
	b := pattern(t, n, couriertest.Status(500).Rate(0.25, 42))
	c := pattern(t, n, couriertest.Status(500).Rate(0.25, 43))
	if a != b {
		t.Errorf("seed 42 gave different calls:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("seeds 42 and 43 gave the same calls")
	}
	if k := strings.Count(a, "x"); k < n/8 || k > n*3/8 {
		t.Errorf("rate 0.25 fired on %d of %d calls", k, n)
	}
	// A fault's draws do not depend on the faults before it.
	d := pattern(t, n, couriertest.Latency(0).Rate(0.5, 7), couriertest.Status(500).Rate(0.25, 42))
	if a != d {
		t.Errorf("another fault before it changed the calls of seed 42")
	}
}

// The first fault that fires wins; later ones are skipped for that call.
func TestFaultsFirstWins(t *testing.T) {
	t.Parallel()
	m, _ := okMock(t)
	f := couriertest.NewFaults(m, couriertest.Status(502).OnCalls(1), couriertest.Reset())
	resp, err := f.RoundTrip(newRequest(t, "GET", "http://h/data", ""))
	if err != nil || resp.StatusCode != 502 {
		t.Fatalf("call 1 = %v, %v, want 502", resp, err)
	}
	resp.Body.Close()
	if _, err := f.RoundTrip(newRequest(t, "GET", "http://h/data", "")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("call 2 = %v, want a reset", err)
	}
}

// The injected errors read like the transport's own.
func TestFaultsErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault couriertest.Fault
		want  string
	}{
		{couriertest.Reset(), "read tcp api.example.com:443: read: connection reset by peer"},
		{couriertest.Refused(), "dial tcp api.example.com:443: connect: connection refused"},
		{couriertest.Timeout(), "read tcp api.example.com:443: i/o timeout"},
		{couriertest.DNSFailure(), "dial tcp: lookup api.example.com: no such host"},
		{couriertest.TLSFailure(), "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			t.Parallel()
			f := couriertest.NewFaults(nil, tt.fault)
			_, err := f.RoundTrip(newRequest(t, "GET", "https://api.example.com/x", ""))
			if err == nil || err.Error() != tt.want {
				t.Errorf("RoundTrip error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestNewFaultsPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault couriertest.Fault
		want  string
	}{
		{"zero", couriertest.Fault{}, "zero Fault"},
		{"negative latency", couriertest.Latency(-1), "negative latency"},
		{"negative keep", couriertest.TruncatedBody(-1), "negative length"},
		{"status", couriertest.Status(42), "status 42 outside 100-999"},
		{"odd headers", couriertest.Status(503, "Retry-After"), "odd number of header arguments"},
		{"every 0", couriertest.Reset().Every(0), "Every(0): n must be positive"},
		{"rate", couriertest.Reset().Rate(1.5, 1), "rate 1.5 outside [0, 1]"},
		{"call 0", couriertest.Reset().OnCalls(0, 1), "call numbers start at 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := panicText(func() { couriertest.NewFaults(nil, tt.fault) })
			if !strings.Contains(got, tt.want) {
				t.Errorf("NewFaults(%v) panicked with %q, want %q", tt.fault, got, tt.want)
			}
		})
	}
}

func panicText(f func()) (s string) {
	defer func() { s = fmt.Sprint(recover()) }()
	f()
	return ""
}

// Parallel calls: every fault is counted once per call. Run with -race.
func TestFaultsConcurrent(t *testing.T) {
	t.Parallel()
	m, route := okMock(t)
	f := couriertest.NewFaults(m, couriertest.Status(500).Every(2), couriertest.Latency(time.Millisecond).Rate(0.5, 3))
	const n = 100
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := f.RoundTrip(newRequest(t, "GET", "http://h/data", ""))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if f.Calls() != n || route.Calls() != n/2 || f.Injected() < n/2 {
		t.Errorf("%d calls, %d to the mock, %d injected; want %d, %d, at least %d", f.Calls(), route.Calls(), f.Injected(), n, n/2, n/2)
	}
}
