package courier_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// mode is an HTTP version a test runs under.
type mode string

const (
	http1 mode = "h1"
	http2 mode = "h2"
)

// run runs f once per mode, in parallel subtests (the net/http run(t, mode)
// habit).
func run(t *testing.T, f func(t *testing.T, m mode)) {
	t.Helper()
	for _, m := range []mode{http1, http2} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// testServer is a loopback server that counts what it sees.
type testServer struct {
	*httptest.Server
	Requests atomic.Int64 // requests handled
	NewConns atomic.Int64 // connections opened (ConnState StateNew)
	Open     atomic.Int64 // connections open now (new, less closed or hijacked)
}

// newServer starts h on loopback under the mode (h2 means TLS with HTTP/2),
// counting requests and new connections, closed on cleanup.
func newServer(t testing.TB, m mode, h http.Handler) *testServer {
	t.Helper()
	ts := &testServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.Requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			ts.NewConns.Add(1)
			ts.Open.Add(1)
		case http.StateClosed, http.StateHijacked:
			ts.Open.Add(-1)
		}
	}
	ts.Server = srv
	if m == http2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return ts
}

// newSession creates a session for ts (base URL and, under TLS, trust in its
// certificate), closed on cleanup with a check that nothing was left open.
func newSession(t testing.TB, ts *testServer, opts ...courier.Option) *courier.Session {
	t.Helper()
	all := []courier.Option{courier.WithBaseURL(ts.URL)}
	if ts.TLS != nil {
		all = append(all, courier.WithTLSConfig(trust(ts.Server)))
	}
	return openSession(t, append(all, opts...)...)
}

// openSession creates a session without a test server (for addresses that
// refuse or never answer), closed on cleanup with a check that nothing was
// left open.
func openSession(t testing.TB, opts ...courier.Option) *courier.Session {
	t.Helper()
	s, err := courier.New(opts...)
	if err != nil {
		t.Fatalf("courier.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// trust returns a TLS config that trusts the test server's certificate.
func trust(srv *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

var (
	httpbinOnce sync.Once
	httpbinApp  *httpbin.HTTPBin
)

// httpbinHandler returns go-httpbin's handler.
func httpbinHandler() http.Handler {
	httpbinOnce.Do(func() { httpbinApp = httpbin.New() })
	return httpbinApp.Handler()
}

// rtFunc adapts a function to http.RoundTripper.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// hasStatus reports whether err is, or wraps, a *courier.StatusError with
// the given status.
func hasStatus(err error, code int) bool {
	var se *courier.StatusError
	return errors.As(err, &se) && se.StatusCode == code
}
