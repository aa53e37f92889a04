package auth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// startServer starts h on loopback and stops it at cleanup.
func startServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// startHTTPBin starts go-httpbin and returns it with a count of the
// requests it served.
func startHTTPBin(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	h := httpbin.New().Handler()
	return startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})), &n
}

// newSession returns a session closed at cleanup.
func newSession(t testing.TB, opts ...courier.Option) *courier.Session {
	t.Helper()
	s, err := courier.New(opts...)
	if err != nil {
		t.Fatalf("courier.New: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// newTransport returns a transport of the test's own, whose idle
// connections are closed at cleanup. A nil pool means the system roots.
func newTransport(t testing.TB, pool *x509.CertPool) *http.Transport {
	tr := &http.Transport{TLSClientConfig: tlsConfig(pool)}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// tlsConfig trusts the certificates in pool; nil means the system roots.
func tlsConfig(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }

// certPool trusts srv's certificate; nil for a server without TLS.
func certPool(srv *httptest.Server) *x509.CertPool {
	if srv.Certificate() == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

// get sends GET url through rt and returns the status and the body.
func get(t testing.TB, rt http.RoundTripper, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Transport: rt}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// A hit is what a recording server saw of one request.
type hit struct {
	Path, Authorization, Signature string
}

// recorder records the requests it serves, in order.
type recorder struct {
	mu   sync.Mutex
	hits []hit
}

func (rec *recorder) record(r *http.Request) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.hits = append(rec.hits, hit{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Signature")})
}

func (rec *recorder) all() []hit {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]hit(nil), rec.hits...)
}

// closeTracker is a request body that records whether it was closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error {
	c.closed.Store(true)
	return nil
}

func newBody(s string) *closeTracker { return &closeTracker{Reader: strings.NewReader(s)} }

// hasStatus reports whether err is, or wraps, a *courier.StatusError with
// the given status.
func hasStatus(err error, code int) bool {
	var se *courier.StatusError
	return errors.As(err, &se) && se.StatusCode == code
}
