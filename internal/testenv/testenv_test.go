package testenv_test

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A server in each mode speaks its protocol, counts every request, and
// counts one connection for requests that reuse it.
func TestServerCounts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		mode          testenv.Mode
		proto, scheme string
	}{
		{testenv.HTTP1, "HTTP/1.1", "http"},
		{testenv.HTTP1TLS, "HTTP/1.1", "https"},
		{testenv.HTTP2, "HTTP/2.0", "https"},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, tt.mode, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			s := ts.Session(t)
			for range 3 {
				resp, err := s.Get(t.Context(), "/")
				if err != nil {
					t.Fatalf("Get = %v", err)
				}
				if resp.Proto != tt.proto || resp.URL.Scheme != tt.scheme {
					t.Errorf("%s: %s over %s, want %s over %s", tt.mode, resp.Proto, resp.URL.Scheme, tt.proto, tt.scheme)
				}
			}
			if r, c, o := ts.Requests.Load(), ts.NewConns.Load(), ts.Open.Load(); r != 3 || c != 1 || o != 1 {
				t.Errorf("%s: Requests %d, NewConns %d, Open %d; want 3, 1, 1", tt.mode, r, c, o)
			}
		})
	}
}

// Under HTTP/1 a connection goes idle once per response written in full.
func TestServerIdle(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s := ts.Session(t)
	for range 2 {
		if _, err := s.Get(t.Context(), "/"); err != nil {
			t.Fatalf("Get = %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for ts.Idle.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := ts.Idle.Load(); n != 2 {
		t.Errorf("Idle = %d after two responses, want 2", n)
	}
}

// A config function changes the server before it starts, and a ConnState
// hook it sets runs beside the counters.
func TestServerConfig(t *testing.T) {
	t.Parallel()
	var states atomic.Int64
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		func(srv *http.Server) {
			srv.IdleTimeout = time.Minute
			srv.ConnState = func(net.Conn, http.ConnState) { states.Add(1) }
		})
	if ts.Config.IdleTimeout != time.Minute {
		t.Errorf("IdleTimeout = %v, want the config's 1m", ts.Config.IdleTimeout)
	}
	if _, err := ts.Session(t).Get(t.Context(), "/"); err != nil {
		t.Fatalf("Get = %v", err)
	}
	if states.Load() == 0 || ts.NewConns.Load() != 1 {
		t.Errorf("the config's ConnState ran %d times and NewConns = %d; want both hooks to run", states.Load(), ts.NewConns.Load())
	}
}

func TestHTTPBin(t *testing.T) {
	t.Parallel()
	ts := testenv.HTTPBin(t, testenv.HTTP1)
	_, err := ts.Session(t).Get(t.Context(), "/status/418")
	if !testenv.HasStatus(err, http.StatusTeapot) || testenv.HasStatus(err, http.StatusOK) {
		t.Errorf("GET /status/418 = %v, want a *StatusError 418", err)
	}
	if n := ts.Requests.Load(); n != 1 {
		t.Errorf("httpbin saw %d requests, want 1", n)
	}
}

func TestClosedPort(t *testing.T) {
	t.Parallel()
	addr := testenv.ClosedPort(t)
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s = %v, want connection refused", addr, err)
	}
}

// CertPool holds a TLS server's certificate; for a server without TLS it
// is nil, the system's roots.
func TestCertPool(t *testing.T) {
	t.Parallel()
	plain := testenv.NewServer(t, testenv.HTTP1, http.NotFoundHandler())
	secure := testenv.NewServer(t, testenv.HTTP1TLS, http.NotFoundHandler())
	if testenv.CertPool(plain.Server) != nil {
		t.Errorf("CertPool of a server without TLS is not nil")
	}
	if testenv.CertPool(secure.Server) == nil || testenv.TLSConfig(secure.Server).RootCAs == nil {
		t.Errorf("CertPool of a TLS server is nil")
	}
}
