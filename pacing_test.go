package courier_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// A response that says the host has no requests left holds back the next
// request to it until the reset, in each form servers send it, without any
// client-side rate limit configured.
func TestPacingByRateLimitHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header func() []string
		wait   time.Duration
	}{
		{"RateLimit draft", func() []string { return []string{"RateLimit", `"default";r=0;t=5`} }, 5 * time.Second},
		{"RateLimit several policies", func() []string { return []string{"RateLimit", `"burst";r=3;t=1, "daily";r=0;t=7`} }, 7 * time.Second},
		{"RateLimit-Remaining and Reset", func() []string { return []string{"RateLimit-Remaining", "0", "RateLimit-Reset", "4"} }, 4 * time.Second},
		{"X-RateLimit epoch reset", func() []string {
			return []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(6*time.Second).Unix(), 10)}
		}, 6 * time.Second},
		{"X-RateLimit delta reset", func() []string { return []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "3"} }, 3 * time.Second},
		{"requests left", func() []string { return []string{"X-RateLimit-Remaining", "12", "X-RateLimit-Reset", "30"} }, 0},
		{"malformed", func() []string { return []string{"X-RateLimit-Remaining", "none", "RateLimit", "r=zero;t=x"} }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tr := &scripted{script: []func() (*http.Response, error){status(200, tt.header()...), status(200)}}
				s := scriptedSession(t, tr)
				start := time.Now()
				s.Get(t.Context(), "/")
				if _, err := s.Get(t.Context(), "/next"); err != nil {
					t.Fatal(err)
				}
				if got := time.Since(start); got != tt.wait {
					t.Errorf("the next request went after %v, want %v", got, tt.wait)
				}
				if want := int64(min(tt.wait, 1)); s.Stats().Paced != want {
					t.Errorf("Stats().Paced = %d, want %d", s.Stats().Paced, want)
				}
			})
		})
	}
}

// A reset past the request's deadline fails at once with ErrRateLimited,
// without sleeping and without sending.
func TestPacingPastTheDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(200, "RateLimit", `"default";r=0;t=60`), status(200)}}
		s := scriptedSession(t, tr)
		s.Get(t.Context(), "/")
		start := time.Now()
		_, err := s.Get(t.Context(), "/next", courier.Timeout(5*time.Second))
		if !errors.Is(err, courier.ErrRateLimited) || time.Since(start) != 0 || len(tr.arrived) != 1 {
			t.Errorf("Get = %v after %v, %d sent; want ErrRateLimited at once, nothing sent", err, time.Since(start), len(tr.arrived)-1)
		}
	})
}

// Against a real server that sends GitHub's headers: the server sees no
// request before its reset, and no 429 is provoked.
func TestPacingAgainstAServer(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reset time.Time
	var early, tooMany int
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if now.Before(reset) {
			early++
			tooMany++
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		// One request per window: the window resets at the next second.
		reset = now.Truncate(time.Second).Add(time.Second)
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	}))
	s := ts.Session(t)
	for range 3 {
		if _, err := s.Get(context.Background(), "/"); err != nil {
			t.Fatal(err)
		}
	}
	if early != 0 || tooMany != 0 || s.Stats().Paced != 2 {
		t.Errorf("server saw %d requests before the reset (%d answered 429), Paced %d; want 0, 0 and 2", early, tooMany, s.Stats().Paced)
	}
}

func FuzzRateLimitHeaders(f *testing.F) {
	for _, s := range []string{`"default";r=0;t=5`, `"a";r=3;t=1, "b";r=0;t=7`, `r=0;t=-1`, `r=0;t=99999999999999999999`, `;;,=`, ""} {
		f.Add(s, "0", "1700000000")
	}
	f.Add("", "0", "3")
	f.Add("", "x", "")
	f.Fuzz(func(t *testing.T, structured, remaining, reset string) {
		h := http.Header{}
		h.Set("RateLimit", structured)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", reset)
		d, ok := courier.ExhaustedFor(h, time.Unix(1_700_000_000, 0))
		if d < 0 || d > 24*time.Hour || ok && d == 0 {
			t.Errorf("ExhaustedFor(%q, %q, %q) = %v, %v; want 0 < d <= 24h when ok", structured, remaining, reset, d, ok)
		}
	})
}

// A request held back for the server's pause says so in the log, at Info,
// and to the hooks, in AttemptInfo.Paced.
func TestPacingIsLoggedAndHooked(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		var before, after []time.Duration
		hooks := courier.Hooks{
			BeforeAttempt: func(i courier.AttemptInfo) { before = append(before, i.Paced) },
			AfterAttempt:  func(i courier.AttemptInfo) { after = append(after, i.Paced) },
		}
		tr := &scripted{script: []func() (*http.Response, error){status(200, "RateLimit", `"default";r=0;t=2`), status(200)}}
		s := scriptedSession(t, tr, courier.WithLogger(logger), courier.WithHooks(hooks))
		s.Get(t.Context(), "/")
		s.Get(t.Context(), "/next")
		if got := buf.String(); !strings.Contains(got, `msg="courier: paced"`) || !strings.Contains(got, "waited=2s") {
			t.Errorf("log = %q, want a paced line with waited=2s", got)
		}
		want := []time.Duration{0, 2 * time.Second}
		if !slices.Equal(before, want) || !slices.Equal(after, want) {
			t.Errorf("Paced in BeforeAttempt %v, AfterAttempt %v; want %v in both", before, after, want)
		}
	})
}
