package couriertest_test

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
)

func TestHTTPBin(t *testing.T) {
	t.Parallel()
	srv := couriertest.HTTPBin(t)
	s := mockSession(t, srv.Client().Transport, courier.WithBaseURL(srv.URL))
	tests := []struct {
		path   string
		status int
	}{
		{"/get", 200},
		{"/status/201", 201},
		{"/status/418", 418},
		{"/bytes/16", 200},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			resp, err := s.Get(t.Context(), tt.path, courier.AnyStatus())
			if err != nil || resp.StatusCode != tt.status {
				t.Errorf("Get(%q) = %v, %v, want status %d", tt.path, resp, err, tt.status)
			}
		})
	}
}

// The server listens on loopback and is closed by the test's cleanup.
func TestHTTPBinLoopbackAndClosed(t *testing.T) {
	t.Parallel()
	tb := &spyTB{}
	srv := couriertest.HTTPBin(tb)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Errorf("HTTPBin URL %s, want a loopback address", srv.URL)
	}
	tb.finish()
	s := mockSession(t, &http.Transport{}, courier.WithBaseURL(srv.URL), courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	if _, err := s.Get(t.Context(), "/get"); !errors.Is(err, courier.ErrConnect) {
		t.Errorf("Get after cleanup = %v, want ErrConnect", err)
	}
}

// Faults wrap a real transport too: a reset on the first call, then the
// real answer.
func TestFaultsOverHTTPBin(t *testing.T) {
	t.Parallel()
	srv := couriertest.HTTPBin(t)
	f := couriertest.NewFaults(srv.Client().Transport, couriertest.Reset().OnCalls(1), couriertest.TruncatedBody(10).OnCalls(2))
	s := mockSession(t, f, courier.WithBaseURL(srv.URL))
	var out struct{ URL string }
	resp, err := s.Get(t.Context(), "/get", courier.Into(&out))
	if err != nil || resp.Attempts != 3 || out.URL != srv.URL+"/get" {
		t.Errorf("Get = %v, %v (URL %q), want success after 3 attempts", resp, err, out.URL)
	}
}
