package courier_test

import (
	"errors"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// go-httpbin's /unstable fails with 500 at a given rate: with 500 opted in,
// retries turn most failures into successes, within the budget.
func TestHTTPBinUnstableRetried(t *testing.T) {
	t.Parallel()
	ts := testenv.HTTPBin(t, testenv.HTTP1)
	s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, ShouldRetry: retryStatuses(500)}))
	const requests = 200
	failed := 0
	for range requests {
		// No seed: with one, every attempt of a request would draw the
		// same outcome.
		_, err := s.Get(t.Context(), "/unstable", courier.Query("failure_rate", "0.3"))
		if err != nil {
			failed++
		}
	}
	attempts := ts.Requests.Load()
	t.Logf("/unstable at 30%%: %d requests, %d attempts, %d failed", requests, attempts, failed)
	if attempts <= requests || attempts > 3*requests {
		t.Errorf("%d attempts for %d requests at 30%% failure, want some retries and at most 3 each", attempts, requests)
	}
}

// /delay answers after a delay: a per-attempt timeout shorter than it
// fails every attempt, and the request after all of them.
func TestHTTPBinDelayAttemptTimeout(t *testing.T) {
	t.Parallel()
	ts := testenv.HTTPBin(t, testenv.HTTP1)
	const try = 100 * time.Millisecond
	s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, AttemptTimeout: try}))
	start := time.Now()
	_, err := s.Get(t.Context(), "/delay/2")
	var ce *courier.Error
	if !errors.As(err, &ce) || !errors.Is(err, courier.ErrTimeout) || ce.Attempts != 3 {
		t.Fatalf("Get(/delay/2) = %v, want ErrTimeout after 3 attempts", err)
	}
	requireWithin(t, start, 3*try+slack) // each attempt cut at 100ms, not at /delay's 2s
}

// /drip sends its body slowly: in buffered mode the request timeout covers
// the body, so a drip longer than it fails; a short drip succeeds.
func TestHTTPBinDrip(t *testing.T) {
	t.Parallel()
	ts := testenv.HTTPBin(t, testenv.HTTP1)
	s := ts.Session(t, noRetry, courier.WithTimeout(1500*time.Millisecond))
	if _, err := s.Get(t.Context(), "/drip", courier.Query("duration", "3"), courier.Query("numbytes", "30"), courier.Query("delay", "0")); !errors.Is(err, courier.ErrTimeout) {
		t.Errorf("3s drip under a 1.5s timeout = %v, want ErrTimeout", err)
	}
	resp, err := s.Get(t.Context(), "/drip", courier.Query("duration", "0.2"), courier.Query("numbytes", "10"), courier.Query("delay", "0"))
	if err != nil {
		t.Fatalf("200ms drip = %v, want 10 bytes", err)
	}
	if len(resp.Bytes()) != 10 {
		t.Errorf("200ms drip gave %d bytes, want 10", len(resp.Bytes()))
	}
}
