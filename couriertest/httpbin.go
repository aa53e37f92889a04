package couriertest

import (
	"net/http/httptest"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// HTTPBin starts go-httpbin (github.com/mccutchen/go-httpbin) on a loopback
// address for the test t, and closes it when the test ends. Its endpoints
// answer with a given status (/status/503), after a delay (/delay/1), fail at
// a rate (/unstable), redirect (/redirect/3), stream, echo the request
// (/anything), and more: see https://httpbingo.org.
//
//	srv := couriertest.HTTPBin(t)
//	s, err := courier.New(courier.WithBaseURL(srv.URL))
//
// The server's URL is srv.URL; srv.Client() is an *http.Client for it.
// Closing it waits for the requests it is serving.
func HTTPBin(t TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpbin.New().Handler())
	t.Cleanup(srv.Close)
	return srv
}
