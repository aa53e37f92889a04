// Package couriertest is courier's public test kit: it makes the failure
// paths of code that uses courier easy to test, from parallel tests, with no
// global state.
//
//   - [Mock] is a transport with routes (method, path pattern, query,
//     headers, JSON body) that answer with canned responses or sequences,
//     count their calls, check on cleanup that every expected route was
//     called, and explain a request that matched nothing.
//   - [Faults] wraps any transport and injects failures (resets, refusals,
//     timeouts, DNS and TLS errors, latency, truncated or corrupt bodies,
//     status sequences) by seeded probability or by schedule.
//   - [Recorder] records real exchanges to readable files under testdata/
//     and replays them offline, with secrets redacted before anything is
//     written.
//   - [HTTPBin] starts go-httpbin on loopback for one test.
//
// Every helper is per test and per session: give it to a session with
// courier.WithTransport, and run your tests with t.Parallel.
package couriertest

import (
	"time"

	"github.com/courierhttp/courier"
)

// TB is the part of testing.TB the kit uses, so that it works with
// *testing.T, *testing.B and other frameworks.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// NoBackoff is a RetryPolicy.Backoff that retries at once, for tests that
// exercise retries without waiting:
//
//	courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff})
func NoBackoff(courier.AttemptInfo) time.Duration { return 0 }
