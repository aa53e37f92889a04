// Package testenv holds the test servers and helpers that courier's tests in
// several packages share: a loopback server that counts the requests and
// connections it sees, sessions that are closed, and checked, when the test
// ends, go-httpbin, trust in a test server's certificate, and an address
// where nothing listens.
//
// It is for courier's own tests and only _test.go files import it. Code
// that uses courier has the public test kit, couriertest.
package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// Mode is how a [Server] serves: the HTTP version, and whether over TLS.
// Its value names a subtest well ("h1", "h2").
type Mode string

// The modes of a Server.
const (
	HTTP1    Mode = "h1"     // HTTP/1.1 in the clear
	HTTP1TLS Mode = "h1-tls" // HTTP/1.1 over TLS
	HTTP2    Mode = "h2"     // HTTP/2 over TLS
)

// Server is an httptest server on loopback that counts what it sees. The
// counters may be read while it serves; a test may also reset them.
type Server struct {
	*httptest.Server

	// Requests counts the requests that reached the handler.
	Requests atomic.Int64
	// NewConns counts the connections the server accepted (ConnState
	// StateNew): "the connection was reused" means it stayed at one.
	NewConns atomic.Int64
	// Open is the number of connections open now: accepted, less those
	// closed or hijacked.
	Open atomic.Int64
	// Idle counts the times a connection went idle after serving (ConnState
	// StateIdle). Under HTTP/1 that is once per response, after it was
	// written in full.
	Idle atomic.Int64
}

// NewServer starts h on loopback in mode m, counting requests and
// connections, and closes it when the test ends. Each config function may
// change the http.Server before it starts (its IdleTimeout, its ErrorLog); a
// ConnState hook one of them sets still runs, after the counters.
func NewServer(t testing.TB, m Mode, h http.Handler, config ...func(*http.Server)) *Server {
	t.Helper()
	s := &Server{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	for _, f := range config {
		f(srv.Config)
	}
	next := srv.Config.ConnState
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.NewConns.Add(1)
			s.Open.Add(1)
		case http.StateIdle:
			s.Idle.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.Open.Add(-1)
		}
		if next != nil {
			next(c, st)
		}
	}
	s.Server = srv
	switch m {
	case HTTP1:
		srv.Start()
	case HTTP1TLS:
		srv.StartTLS()
	case HTTP2:
		srv.EnableHTTP2 = true
		srv.StartTLS()
	default:
		srv.Close()
		t.Fatalf("testenv.NewServer: unknown mode %q", m)
	}
	t.Cleanup(srv.Close)
	return s
}

// HTTPBin starts go-httpbin (github.com/mccutchen/go-httpbin) in mode m, as
// NewServer starts a server: /status/503, /delay/1, /redirect/3,
// /basic-auth/u/p, /anything and the rest of httpbin's endpoints.
func HTTPBin(t testing.TB, m Mode) *Server {
	t.Helper()
	return NewServer(t, m, httpbin.New().Handler())
}

// Session returns a session for the server, made and closed as
// [NewSession] makes and closes one: its base URL is the server's and,
// under TLS, it trusts the server's certificate. The options in opts come
// after those two.
func (s *Server) Session(t testing.TB, opts ...courier.Option) *courier.Session {
	t.Helper()
	all := []courier.Option{courier.WithBaseURL(s.URL)}
	if s.TLS != nil {
		all = append(all, courier.WithTLSConfig(TLSConfig(s.Server)))
	}
	return NewSession(t, append(all, opts...)...)
}

// NewSession returns a session made with opts, and closes it when the test
// ends. It fails the test if courier.New fails, or if Close reports an
// error: a *courier.CloseError means that a request was still in flight or
// that a streamed body was never closed. Closing the session earlier, in
// the test, is harmless.
func NewSession(t testing.TB, opts ...courier.Option) *courier.Session {
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

// CertPool returns a pool that holds srv's certificate, or nil, which
// means the system's roots, for a server without TLS.
func CertPool(srv *httptest.Server) *x509.CertPool {
	cert := srv.Certificate()
	if cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// TLSConfig returns a TLS configuration that trusts srv's certificate.
func TLSConfig(srv *httptest.Server) *tls.Config {
	return &tls.Config{RootCAs: CertPool(srv)}
}

// ClosedPort returns a loopback address, "127.0.0.1:port", where nothing
// listens, so that a connection to it is refused. The port was bound a
// moment before and then released.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv.ClosedPort: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// HasStatus reports whether err is, or wraps, a *courier.StatusError with
// the status code.
func HasStatus(err error, code int) bool {
	var se *courier.StatusError
	return errors.As(err, &se) && se.StatusCode == code
}
