package courier_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(503)}}
		s := scriptedSession(t, tr, noRetry, courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 5, OpenFor: 30 * time.Second}))
		for range 5 {
			s.Get(t.Context(), "/")
		}
		if got := s.Stats().Breakers["api.test"]; got != courier.BreakerOpen {
			t.Fatalf("after 5 failures the breaker is %v, want open", got)
		}
		start := time.Now()
		_, err := s.Get(t.Context(), "/")
		var ce *courier.Error
		if !errors.As(err, &ce) || !errors.Is(err, courier.ErrCircuitOpen) || ce.Attempts != 0 {
			t.Fatalf("Get with the breaker open = %v, want ErrCircuitOpen after 0 attempts", err)
		}
		if time.Since(start) != 0 || len(tr.arrived) != 5 {
			t.Errorf("rejection took %v and the transport saw %d attempts; want at once and 5", time.Since(start), len(tr.arrived))
		}
	})
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		probe int
		want  courier.BreakerState
	}{
		{"probe succeeds: closes", 200, courier.BreakerClosed},
		{"probe fails: opens again", 503, courier.BreakerOpen},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := &scripted{script: []func() (*http.Response, error){status(503), status(503), status(c.probe)}}
				s := scriptedSession(t, tr, noRetry, courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 2, OpenFor: 10 * time.Second}))
				s.Get(t.Context(), "/")
				s.Get(t.Context(), "/")
				time.Sleep(9 * time.Second)
				if _, err := s.Get(t.Context(), "/"); !errors.Is(err, courier.ErrCircuitOpen) {
					t.Fatalf("before OpenFor: %v, want ErrCircuitOpen", err)
				}
				time.Sleep(time.Second)
				if got := s.Stats().Breakers["api.test"]; got != courier.BreakerHalfOpen {
					t.Fatalf("after OpenFor the breaker is %v, want half-open", got)
				}
				s.Get(t.Context(), "/")
				if got := s.Stats().Breakers["api.test"]; got != c.want {
					t.Errorf("after a %d probe the breaker is %v, want %v", c.probe, got, c.want)
				}
				if len(tr.arrived) != 3 {
					t.Errorf("transport saw %d attempts, want 3 (two failures and one probe)", len(tr.arrived))
				}
			})
		})
	}
}

// Half-open lets exactly Probes attempts through; the rest fail fast.
func TestBreakerBoundsProbes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		calls := 0
		tr := rtFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				return status(503)()
			}
			<-release // the probe hangs until released
			return status(200)()
		})
		s, _ := courier.New(courier.WithBaseURL("http://api.test"), courier.WithTransport(tr), noRetry,
			courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Second, Probes: 1}))
		defer s.Close(context.Background())
		s.Get(t.Context(), "/")
		time.Sleep(time.Second)
		var wg sync.WaitGroup
		wg.Go(func() { s.Get(t.Context(), "/") }) // the probe
		synctest.Wait()
		rejected := 0
		for range 10 {
			if _, err := s.Get(t.Context(), "/"); errors.Is(err, courier.ErrCircuitOpen) {
				rejected++
			}
		}
		close(release)
		wg.Wait()
		if rejected != 10 || calls != 2 {
			t.Errorf("while one probe was out, %d of 10 requests were rejected and the transport saw %d calls; want 10 and 2", rejected, calls)
		}
		if got := s.Stats().Breakers["api.test"]; got != courier.BreakerClosed {
			t.Errorf("after the probe succeeded the breaker is %v, want closed", got)
		}
	})
}

func TestBreakerFailureRatio(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// Alternate failure and success: never 2 in a row, but half fail.
		tr := &scripted{}
		for range 20 {
			tr.script = append(tr.script, status(503), status(200))
		}
		s := scriptedSession(t, tr, noRetry, courier.WithBreaker(courier.BreakerPolicy{
			ConsecutiveFailures: 3, FailureRatio: 0.5, MinAttempts: 10, Window: 10 * time.Second}))
		n := 0
		for ; n < 40 && s.Stats().Breakers["api.test"] == courier.BreakerClosed; n++ {
			s.Get(t.Context(), "/")
			time.Sleep(100 * time.Millisecond)
		}
		// MinAttempts is reached at the 10th attempt, a success; the 11th
		// fails, bringing the ratio to 6/11: the breaker opens on it.
		if n != 11 {
			t.Errorf("breaker opened after %d attempts, want 11", n)
		}
	})
}

// With the breaker open mid-request, retries stop and the error says why.
func TestBreakerStopsRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(503)}}
		s := scriptedSession(t, tr, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 5, Backoff: couriertest.NoBackoff}),
			courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 2}))
		_, err := s.Get(t.Context(), "/")
		if !testenv.HasStatus(err, 503) || !errors.Is(err, courier.ErrCircuitOpen) || len(tr.arrived) != 2 {
			t.Errorf("Get = %v after %d attempts, want the 503 with ErrCircuitOpen after 2", err, len(tr.arrived))
		}
	})
}

func TestBreakerPolicyValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p      courier.BreakerPolicy
		option string
	}{
		{courier.BreakerPolicy{ConsecutiveFailures: -1}, "WithBreaker.ConsecutiveFailures"},
		{courier.BreakerPolicy{FailureRatio: 1.5}, "WithBreaker.FailureRatio"},
		{courier.BreakerPolicy{FailureRatio: math.NaN()}, "WithBreaker.FailureRatio"},
		{courier.BreakerPolicy{MinAttempts: -1}, "WithBreaker.MinAttempts"},
		{courier.BreakerPolicy{Window: -time.Second}, "WithBreaker.Window"},
		{courier.BreakerPolicy{OpenFor: -time.Second}, "WithBreaker.OpenFor"},
		{courier.BreakerPolicy{Probes: -1}, "WithBreaker.Probes"},
	} {
		_, err := courier.New(courier.WithBreaker(c.p))
		var oe *courier.OptionError
		if !errors.As(err, &oe) || oe.Option != c.option {
			t.Errorf("New(WithBreaker(%+v)) = %v, want an *OptionError for %s", c.p, err, c.option)
		}
	}
}

func TestRateLimitPacesAttempts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(200)}}
		s := scriptedSession(t, tr, courier.WithRateLimit(courier.RateLimit{PerSecond: 10, Burst: 1}))
		for range 5 {
			if _, err := s.Get(t.Context(), "/"); err != nil {
				t.Fatal(err)
			}
		}
		for i, g := range tr.gaps() {
			if g != 100*time.Millisecond {
				t.Errorf("gap %d = %v, want 100ms at 10/s", i+1, g)
			}
		}
	})
}

func TestRateLimitFailsFastPastTheDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(200)}}
		s := scriptedSession(t, tr, courier.WithRateLimit(courier.RateLimit{PerSecond: 1, Burst: 1}))
		s.Get(t.Context(), "/")
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Get(ctx, "/")
		if !errors.Is(err, courier.ErrRateLimited) || time.Since(start) != 0 || len(tr.arrived) != 1 {
			t.Errorf("Get = %v after %v, %d sent; want ErrRateLimited at once, nothing sent", err, time.Since(start), len(tr.arrived)-1)
		}
	})
}

// A 429 with Retry-After holds back every request to the host.
func TestRateLimitObeys429RetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(429, "Retry-After", "3"), status(200)}}
		s := scriptedSession(t, tr, noRetry, courier.WithRateLimit(courier.RateLimit{PerSecond: 100}))
		start := time.Now()
		s.Get(t.Context(), "/") // 429, not retried
		if _, err := s.Get(t.Context(), "/other"); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("next request went after %v, want 3s (the 429's Retry-After)", got)
		}
	})
}

func TestRateLimitValidation(t *testing.T) {
	t.Parallel()
	for _, l := range []courier.RateLimit{{PerSecond: 0}, {PerSecond: -1}, {PerSecond: 1, Burst: -1}} {
		_, err := courier.New(courier.WithRateLimit(l))
		var oe *courier.OptionError
		if !errors.As(err, &oe) {
			t.Errorf("New(WithRateLimit(%+v)) = %v, want an *OptionError", l, err)
		}
	}
}
