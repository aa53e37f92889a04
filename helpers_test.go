package courier_test

// Helpers the package's tests share. Servers, sessions and the like that
// other packages' tests share too are in internal/testenv.

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// run runs f once per HTTP version, HTTP/1.1 and HTTP/2 (over TLS), in
// parallel subtests (the net/http run(t, mode) habit).
func run(t *testing.T, f func(t *testing.T, m testenv.Mode)) {
	t.Helper()
	for _, m := range []testenv.Mode{testenv.HTTP1, testenv.HTTP2} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// noRetry makes one attempt per request.
var noRetry = courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1})

// fast retries at once, so tests count attempts without waiting.
var fast = courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff})

// rtFunc adapts a function to http.RoundTripper.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// slack is what the failure tests allow beyond a deadline: bounds are
// generous, timing claims belong in benchmarks.
const slack = time.Second

// requireIs reports every target that errors.Is does not find in err.
func requireIs(t *testing.T, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want errors matching %v", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false, want true", err, target)
		}
	}
}

// requireNotIs reports every target that errors.Is finds in err.
func requireNotIs(t *testing.T, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = true, want false", err, target)
		}
	}
}

// requireWithin fails when more than bound has passed since start.
func requireWithin(t *testing.T, start time.Time, bound time.Duration) {
	t.Helper()
	if d := time.Since(start); d > bound {
		t.Errorf("call took %v, want at most %v", d, bound)
	}
}

// stallUntilGone blocks a handler until the client goes away (or a cap
// passes, so that a broken test cannot hang the server's Close).
func stallUntilGone(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}
