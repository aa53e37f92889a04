package courier_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

func TestStatsCountWhatHappened(t *testing.T) {
	t.Parallel()
	seq := &statusSequence{statuses: []int{503, 200, 200, 404}}
	ts := testenv.NewServer(t, testenv.HTTP1, seq)
	s := ts.Session(t, fast)
	s.Get(t.Context(), "/") // 503, then 200: one retry
	s.Get(t.Context(), "/") // 200
	s.Get(t.Context(), "/") // 404
	dead := testenv.NewSession(t, courier.WithBaseURL("http://"+testenv.ClosedPort(t)), noRetry)
	dead.Get(t.Context(), "/")

	st := s.Stats()
	host := strings.TrimPrefix(ts.URL, "http://")
	want := courier.Stats{Requests: 3, Attempts: 4, ConnsOpened: 1, ConnsReused: 3}
	if st.Requests != want.Requests || st.Attempts != want.Attempts || st.InFlight != 0 ||
		st.ConnsOpened != want.ConnsOpened || st.ConnsReused != want.ConnsReused {
		t.Errorf("Stats = %+v, want requests 3, attempts 4, in flight 0, 1 connection opened and 3 reused", st)
	}
	if st.RetriesByStatus[503] != 1 || len(st.RetriesByStatus) != 1 || len(st.RetriesByKind) != 0 {
		t.Errorf("RetriesByStatus = %v, RetriesByKind = %v, want 503: 1 and none", st.RetriesByStatus, st.RetriesByKind)
	}
	if st.Statuses["2xx"] != 2 || st.Statuses["4xx"] != 1 {
		t.Errorf("Statuses = %v, want 2xx: 2, 4xx: 1", st.Statuses)
	}
	// One retry (-5); two first-try answers, the 200 and the 404, show a
	// healthy host (+1 each).
	if st.BudgetLeft[host] != 500-5+2 {
		t.Errorf("BudgetLeft[%s] = %d, want 497", host, st.BudgetLeft[host])
	}
	if f := dead.Stats().Failures; f[courier.ErrConnect] != 1 {
		t.Errorf("Failures = %v, want connect failed: 1", f)
	}
}

// Counting is safe from many goroutines (run with -race).
func TestStatsConcurrent(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s := ts.Session(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				s.Get(t.Context(), "/")
				s.Stats()
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Requests != 800 || st.Statuses["2xx"] != 800 {
		t.Errorf("Stats = %+v, want 800 requests, all 2xx", st)
	}
}

// logLines returns a logger writing JSON lines at level and a function that
// parses what it wrote.
func logLines(level slog.Level) (*slog.Logger, func() []map[string]any) {
	var mu sync.Mutex
	var buf bytes.Buffer
	h := slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: level})
	return slog.New(h), func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			json.Unmarshal([]byte(line), &m)
			out = append(out, m)
		}
		return out
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestLoggerOneLinePerAttempt(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{503, 503, 503}})
	logger, lines := logLines(slog.LevelDebug)
	s := ts.Session(t, fast, courier.WithLogger(logger))
	_, err := s.Get(t.Context(), "/items", courier.Query("token", secretCanary))
	if !testenv.HasStatus(err, 503) {
		t.Fatal(err)
	}
	got := lines()
	if len(got) != 3 {
		t.Fatalf("%d log lines, want 3 (one per attempt): %v", len(got), got)
	}
	for i, want := range []struct{ level, msg string }{
		{"INFO", "courier: retrying"}, {"INFO", "courier: retrying"}, {"WARN", "courier: attempt failed"},
	} {
		if got[i]["level"] != want.level || got[i]["msg"] != want.msg || got[i]["attempt"] != float64(i+1) || got[i]["status"] != float64(503) {
			t.Errorf("line %d = %v, want %s %q attempt %d status 503", i+1, got[i], want.level, want.msg, i+1)
		}
	}
	if got[0]["reason"] != "503" || got[0]["method"] != "GET" || got[0]["reused"] != false {
		t.Errorf("retry line = %v, want reason 503, method GET, reused false", got[0])
	}
	if got[1]["reused"] != true {
		t.Errorf("second attempt's line says reused %v, want true", got[1]["reused"])
	}
	for _, l := range got {
		if u, _ := l["url"].(string); strings.Contains(u, secretCanary) || !strings.Contains(u, "token=REDACTED") {
			t.Errorf("logged url %q, want the token redacted", u)
		}
	}
}

// A healthy service logs nothing above Debug.
func TestLoggerQuietWhenHealthy(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{200, 404}})
	logger, lines := logLines(slog.LevelInfo)
	s := ts.Session(t, courier.WithLogger(logger))
	s.Get(t.Context(), "/")
	s.Get(t.Context(), "/missing")
	if got := lines(); len(got) != 0 {
		t.Errorf("Info logger got %v, want nothing: a success and a 404 are Debug", got)
	}
}

func TestLoggerGiveUpOnBudget(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{503}})
	logger, lines := logLines(slog.LevelWarn)
	s := ts.Session(t, courier.WithLogger(logger),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, Budget: courier.RetryBudget{Capacity: 5, RetryCost: 5}}))
	_, err := s.Get(t.Context(), "/")
	if !errors.Is(err, courier.ErrRetryBudget) {
		t.Fatalf("Get = %v, want ErrRetryBudget", err)
	}
	got := lines()
	if len(got) != 1 || got[0]["stopped"] != "retry budget exhausted" {
		t.Errorf("Warn lines = %v, want one saying the budget stopped it", got)
	}
}

// ConnsOpened counts the connections the session dialed, as the server
// sees them, even when requests race for the pool: a connection dialed for
// a request that got a pooled one first is parked in the pool, and its
// first use looks like a reuse to net/http's GotConn.
func TestStatsConnsOpenedMatchesTheServer(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var opened, reused, attempts int64
	for range 10 {
		// Cold starts at a concurrency well above the cores: many dials
		// race with requests that finish and free their connection.
		s := ts.Session(t)
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for range 4 {
					s.Get(t.Context(), "/")
				}
			})
		}
		wg.Wait()
		st := s.Stats()
		opened += st.ConnsOpened
		reused += st.ConnsReused
		attempts += st.Attempts
		s.Close(t.Context())
	}
	if reused+opened < attempts {
		t.Errorf("opened %d + reused %d < attempts %d", opened, reused, attempts)
	}
	// The server counts a connection when it accepts it, which may come
	// a moment after the client's dial returned.
	deadline := time.Now().Add(5 * time.Second)
	for ts.NewConns.Load() != opened && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := ts.NewConns.Load(); got != opened {
		t.Errorf("Stats.ConnsOpened = %d over the sessions, the server accepted %d", opened, got)
	}
}

// A call that fails counts as a failure in Stats, whatever status line came
// first: a 200 whose body is cut is a lost connection, not a 2xx, buffered,
// streamed, or through the Client.
func TestStatsCountACutBodyAsAFailure(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.Write(make([]byte, 100))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // cut the body
		}))
		tests := []struct {
			name string
			call func(s *courier.Session) error
		}{
			{"buffered", func(s *courier.Session) error {
				_, err := s.Get(t.Context(), "/")
				return err
			}},
			{"streamed", func(s *courier.Session) error {
				resp, err := s.Get(t.Context(), "/", courier.Stream())
				if err != nil {
					return err
				}
				defer resp.Close()
				_, err = io.ReadAll(resp.Body())
				return err
			}},
			{"client", func(s *courier.Session) error {
				resp, err := s.Client().Get(ts.URL + "/")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				_, err = io.ReadAll(resp.Body)
				return err
			}},
		}
		for _, tt := range tests {
			s := ts.Session(t, noRetry)
			err := tt.call(s)
			requireIs(t, err, courier.ErrConnLost)
			st := s.Stats()
			if len(st.Statuses) != 0 || st.Failures[courier.ErrConnLost] != 1 {
				t.Errorf("%s: Stats statuses %v, failures %v; want none and connection lost: 1", tt.name, st.Statuses, st.Failures)
			}
		}
	})
}
