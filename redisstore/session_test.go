package redisstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
)

// upstream is an httptest server that notes when each request came, and
// answers the n-th (counted from 1) with a 429 and Retry-After: 1 when
// tooMany is n.
type upstream struct {
	*httptest.Server
	tooMany int

	mu      sync.Mutex
	arrived []time.Time
}

func newUpstream(t testing.TB, tooMany int) *upstream {
	u := &upstream{tooMany: tooMany}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.arrived = append(u.arrived, time.Now())
		n := len(u.arrived)
		u.mu.Unlock()
		if n == u.tooMany {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) times() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.arrived...)
}

// newSession returns a session paced by p, without retries, closed in
// cleanup.
func newSession(t testing.TB, p courier.Pacer) *courier.Session {
	t.Helper()
	s, err := courier.New(courier.WithPacer(p), courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestSessionsShareRateLimit(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	up := newUpstream(t, 0)
	limit := courier.RateLimit{PerSecond: 20, Burst: 2}
	// Two sessions with a pacer and a client each, as two processes
	// would have, send 5 requests each.
	var wg sync.WaitGroup
	for range 2 {
		s := newSession(t, newPacer(t, srv.Client(t), limit))
		wg.Go(func() {
			for range 5 {
				if _, err := s.Get(t.Context(), up.URL); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := up.times()
	if len(got) != 10 {
		t.Fatalf("the server saw %d requests, want 10", len(got))
	}
	// A burst of 2, then 8 turns 50ms apart: 400ms at least.
	if span := got[9].Sub(got[0]); span < 400*time.Millisecond-20*time.Millisecond {
		t.Errorf("10 requests at 20/s with a burst of 2 came in %v, want 400ms or more", span)
	}
}

func TestSessionsSharePause(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	up := newUpstream(t, 1)
	limit := courier.RateLimit{PerSecond: 100}
	pa := newPacer(t, srv.Client(t), limit)
	pb := newPacer(t, srv.Client(t), limit)
	a, b := newSession(t, pa), newSession(t, pb)

	var se *courier.StatusError
	if _, err := a.Get(t.Context(), up.URL); !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("first Get = %v, want a 429", err)
	}
	// The other session waits for the pause the first was asked for.
	if _, err := b.Get(t.Context(), up.URL); err != nil {
		t.Fatalf("second Get: %v", err)
	}
	got := up.times()
	if gap := got[1].Sub(got[0]); gap < time.Second-50*time.Millisecond {
		t.Errorf("the second request came %v after the 429, want the pause of 1s", gap)
	}
	if n := pa.Stats().Pauses; n != 1 {
		t.Errorf("first pacer's Stats.Pauses = %d, want 1", n)
	}
	if n := pb.Stats().CooldownWaits; n != 1 {
		t.Errorf("second pacer's Stats.CooldownWaits = %d, want 1", n)
	}
	if n := b.Stats().Paced; n != 1 {
		t.Errorf("second session's Stats.Paced = %d, want 1", n)
	}
}

func TestSessionRateLimitedBeyondDeadline(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	up := newUpstream(t, 0)
	p := newPacer(t, srv.Client(t), courier.RateLimit{PerSecond: 1, Burst: 1})
	s := newSession(t, p)
	if _, err := s.Get(t.Context(), up.URL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Get(t.Context(), up.URL, courier.Timeout(100*time.Millisecond))
	if !errors.Is(err, courier.ErrRateLimited) {
		t.Errorf("Get with the next turn past its deadline = %v, want ErrRateLimited", err)
	}
	if took := time.Since(start); took > slack {
		t.Errorf("Get took %v to refuse, want at once", took)
	}
	if n := len(up.times()); n != 1 {
		t.Errorf("the server saw %d requests, want 1", n)
	}
	if got := p.Stats(); got.Refused != 1 {
		t.Errorf("Stats = %+v, want 1 refused", got)
	}
}

func TestSessionFailsClosed(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, 0)
	s := newSession(t, newPacer(t, downClient(t), courier.RateLimit{PerSecond: 100}))
	_, err := s.Get(t.Context(), up.URL)
	var ce *courier.Error
	if !errors.Is(err, redisstore.ErrUnavailable) || !errors.As(err, &ce) || ce.Attempts != 0 {
		t.Errorf("Get with Redis down = %v, want a *courier.Error matching ErrUnavailable, nothing sent", err)
	}
	if n := len(up.times()); n != 0 {
		t.Errorf("the server saw %d requests, want none", n)
	}
}
