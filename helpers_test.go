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

// slack is what a test allows beyond a deadline, or for a call that must
// end at once: seconds, which a loaded 2-core machine running the tests
// with -race keeps, and still well short of what a hang would take (the 10s
// a stalled handler waits, the default timeouts of 10s and more). Timing
// claims belong in benchmarks.
const slack = 3 * time.Second

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

// waitUntil polls cond until it holds, for a state a test can count but is
// not told about (a server's connections gone idle, or closed). It fails
// the test after 10s: a state that never comes about is a failure, not a
// hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// servedInFull is attempt middleware that hands each response up only once
// ts has written it in full (its connection went idle), so that the rest of
// a body that courier drains, to reuse the connection, is already there: a
// drain gives up after a moment, and a loaded machine can take longer than
// that to send the rest. Tests that count connections use it so that the
// count does not hang on the server's speed.
func servedInFull(ts *testenv.Server) courier.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			idle := ts.Idle.Load()
			resp, err := next.RoundTrip(req)
			if err == nil {
				// Not waitUntil: this may run outside the test's goroutine.
				// A count that never comes shows in the test's assertions.
				deadline := time.Now().Add(10 * time.Second)
				for ts.Idle.Load() == idle && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			return resp, err
		})
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
