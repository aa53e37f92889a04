package auth_test

// Helpers the package's tests share. Servers, sessions and the like that
// other packages' tests share too are in internal/testenv.

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// newTransport returns a transport of the test's own, whose idle
// connections are closed at cleanup. A nil pool means the system roots.
func newTransport(t testing.TB, pool *x509.CertPool) *http.Transport {
	tr := &http.Transport{TLSClientConfig: tlsConfig(pool)}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// tlsConfig trusts the certificates in pool; nil means the system roots.
func tlsConfig(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }

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
