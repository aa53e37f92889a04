package courier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// scriptedPacer answers Reserve from a script, one answer per call (the
// last one repeats), and records what the session asked.
type scriptedPacer struct {
	mu      sync.Mutex
	answers []courier.Reservation
	err     error
	calls   []string        // upstreams of Reserve
	within  []time.Duration // bounds of Reserve
	pauses  []time.Duration // Pause calls
	// pauseCtxErr is the error of the context of the last Pause call.
	pauseCtxErr error
}

func (p *scriptedPacer) Reserve(_ context.Context, upstream string, within time.Duration) (courier.Reservation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, upstream)
	p.within = append(p.within, within)
	if p.err != nil {
		return courier.Reservation{}, p.err
	}
	r := p.answers[0]
	if len(p.answers) > 1 {
		p.answers = p.answers[1:]
	}
	return r, nil
}

func (p *scriptedPacer) Pause(ctx context.Context, upstream string, d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pauses = append(p.pauses, d)
	p.pauseCtxErr = ctx.Err()
	return nil
}

func TestPacerGatesEveryAttempt(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		switch r.URL.Path {
		case "/429":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/503-long":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/empty":
			w.Header().Set("RateLimit", `"default";r=0;t=7`)
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ok := courier.Reservation{OK: true}
	boom := errors.New("store down")
	errStatus := errors.New("a *StatusError")
	errRateLimitedBoom := errors.New("ErrRateLimited wrapping the pacer's error")

	tests := []struct {
		name    string
		path    string
		timeout time.Duration
		answers []courier.Reservation
		err     error
		// want: the error's kind or chain (nil: success); sent: requests
		// at the server; reserves: Reserve calls; pauses: Pause calls
		want     error
		sent     int
		reserves int
		pauses   []time.Duration
		paced    int64
		// throttled: Stats.Throttled, and the AttemptInfo.Throttled of
		// the attempt
		throttled int64
	}{
		{name: "a turn now", path: "/", answers: []courier.Reservation{ok}, sent: 1, reserves: 1},
		{name: "a turn later", path: "/", answers: []courier.Reservation{{Turn: 20 * time.Millisecond, OK: true}}, sent: 1, reserves: 1, throttled: 1},
		{name: "a pause, then a turn", path: "/", answers: []courier.Reservation{{Pause: 20 * time.Millisecond}, ok},
			sent: 1, reserves: 2, paced: 1},
		{name: "no turn within the deadline", path: "/", timeout: time.Second,
			answers: []courier.Reservation{{Turn: 5 * time.Second}}, want: courier.ErrRateLimited, reserves: 1},
		{name: "a pause past the deadline", path: "/", timeout: time.Second,
			answers: []courier.Reservation{{Pause: 5 * time.Second}}, want: courier.ErrRateLimited, reserves: 1},
		{name: "the pacer fails", path: "/", err: boom, want: errRateLimitedBoom, reserves: 1},
		{name: "a 429's Retry-After pauses the upstream", path: "/429", answers: []courier.Reservation{ok},
			want: errStatus, sent: 1, reserves: 1, pauses: []time.Duration{2 * time.Second}},
		{name: "a 503's Retry-After, capped", path: "/503-long", answers: []courier.Reservation{ok},
			want: errStatus, sent: 1, reserves: 1, pauses: []time.Duration{5 * time.Second}},
		{name: "rate-limit headers with nothing left", path: "/empty", answers: []courier.Reservation{ok},
			sent: 1, reserves: 1, pauses: []time.Duration{7 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served.Store(0)
			p := &scriptedPacer{answers: tt.answers, err: tt.err}
			var throttled atomic.Int64
			opts := []courier.Option{courier.WithPacer(p),
				courier.WithHooks(courier.Hooks{BeforeAttempt: func(i courier.AttemptInfo) { throttled.Store(int64(i.Throttled)) }}),
				courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1, MaxRetryAfter: 5 * time.Second})}
			if tt.timeout > 0 {
				opts = append(opts, courier.WithTimeout(tt.timeout))
			}
			s := testenv.NewSession(t, opts...)
			_, err := s.Get(t.Context(), srv.URL+tt.path)
			var se *courier.StatusError
			switch {
			case tt.want == errStatus && errors.As(err, &se):
			case tt.want == errRateLimitedBoom && errors.Is(err, courier.ErrRateLimited) && errors.Is(err, boom):
			case tt.want == nil && err != nil, tt.want != nil && tt.want != errStatus && tt.want != errRateLimitedBoom && !errors.Is(err, tt.want):
				t.Fatalf("Get = %v, want %v", err, tt.want)
			}
			if got := int(served.Load()); got != tt.sent {
				t.Errorf("%d requests at the server, want %d", got, tt.sent)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.calls) != tt.reserves {
				t.Errorf("%d Reserve calls, want %d", len(p.calls), tt.reserves)
			}
			for i, up := range p.calls {
				if up != host {
					t.Errorf("Reserve %d for %q, want %q", i, up, host)
				}
				limit := 30 * time.Second // the session's default timeout
				if tt.timeout > 0 {
					limit = tt.timeout
				}
				if w := p.within[i]; w <= 0 || w > limit {
					t.Errorf("Reserve %d within %v, want the time left of %v", i, w, limit)
				}
			}
			if !slices.Equal(p.pauses, tt.pauses) {
				t.Errorf("Pause calls %v, want %v", p.pauses, tt.pauses)
			}
			if st := s.Stats(); st.Paced != tt.paced || st.Throttled != tt.throttled {
				t.Errorf("Stats.Paced, Throttled = %d, %d; want %d, %d", st.Paced, st.Throttled, tt.paced, tt.throttled)
			}
			if want := time.Duration(tt.throttled) * 20 * time.Millisecond; throttled.Load() != int64(want) {
				t.Errorf("AttemptInfo.Throttled = %v, want %v", time.Duration(throttled.Load()), want)
			}
		})
	}
}

func TestWithPacerErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts []courier.Option
	}{
		{"nil", []courier.Option{courier.WithPacer(nil)}},
		{"with a rate limit", []courier.Option{courier.WithPacer(&scriptedPacer{}), courier.WithRateLimit(courier.RateLimit{PerSecond: 1})}},
	} {
		_, err := courier.New(tt.opts...)
		var oe *courier.OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), "WithPacer") {
			t.Errorf("%s: New = %v, want an *OptionError naming WithPacer", tt.name, err)
		}
	}
}

// The in-process limiter counts its waits too.
func TestRateLimitThrottledCount(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	s := testenv.NewSession(t, courier.WithRateLimit(courier.RateLimit{PerSecond: 4, Burst: 1}))
	for range 2 {
		if _, err := s.Get(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Throttled != 1 || st.Paced != 0 {
		t.Errorf("Stats.Throttled, Paced = %d, %d; want 1, 0 (the second request waited for its turn)", st.Throttled, st.Paced)
	}
}

// A pause is recorded even when the request that learned of it is ending:
// the pause outlives it.
func TestPacerPauseOutlivesRequest(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	p := &scriptedPacer{answers: []courier.Reservation{{OK: true}}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The caller gives up as the response arrives, before the session
	// tells the pacer.
	giveUp := func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(r)
			cancel()
			return resp, err
		})
	}
	s := testenv.NewSession(t, courier.WithPacer(p), courier.WithMiddleware(giveUp),
		courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	s.Get(ctx, srv.URL)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Equal(p.pauses, []time.Duration{3 * time.Second}) || p.pauseCtxErr != nil {
		t.Errorf("Pause calls %v, its context's error %v; want one of 3s, with a live context", p.pauses, p.pauseCtxErr)
	}
}
