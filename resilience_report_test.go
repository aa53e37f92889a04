package courier_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// TestResilienceReport measures what courier holds to under failure (retry
// amplification, deadline fidelity, an open breaker's fail-fast latency,
// what is left after faulted requests), counted at the server, and prints a
// table (go test -run TestResilienceReport -v). With
// COURIER_RESILIENCE_REPORT=path it also writes the table there as markdown.
// Counts are asserted; times are only reported, since a test must not fail
// on a slow machine.
func TestResilienceReport(t *testing.T) {
	if testing.Short() {
		t.Skip("report: skipped with -short")
	}
	var rows []string
	add := func(figure, value, target string) {
		rows = append(rows, fmt.Sprintf("| %s | %s | %s |", figure, value, target))
	}

	// Amplification: attempts per logical request at several failure
	// rates, with the default policy and budget (backoff off, so that the
	// report runs fast: waits do not change what is counted).
	for _, rate := range []float64{0, 0.05, 0.5, 1} {
		const requests, workers = 4000, 16
		rng := rand.New(rand.NewPCG(1, uint64(rate*100)))
		var mu sync.Mutex
		var attempts atomic.Int64
		ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			mu.Lock()
			fail := rng.Float64() < rate
			mu.Unlock()
			if fail {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
		var done, exhausted, failed atomic.Int64
		var steadyFrom atomic.Int64 // attempts when half the requests were done
		work := make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range work {
					_, err := s.Get(context.Background(), "/")
					if err != nil {
						failed.Add(1)
					}
					if errors.Is(err, courier.ErrRetryBudget) {
						exhausted.Add(1)
					}
					if done.Add(1) == requests/2 {
						steadyFrom.Store(attempts.Load())
					}
				}
			})
		}
		for range requests {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		total := attempts.Load()
		steady := float64(total-steadyFrom.Load()) / float64(requests/2)
		add(fmt.Sprintf("attempts per request, %.0f%% failure", rate*100),
			fmt.Sprintf("%.3f overall, %.3f in the second half; %d of %d failed, %d for an empty budget",
				float64(total)/requests, steady, failed.Load(), requests, exhausted.Load()),
			map[float64]string{0: "1.00", 0.05: "≈1.05, budget never empty", 0.5: "bounded by the budget", 1: "≤ 1.10 steady"}[rate])
		switch rate {
		case 0.05:
			if exhausted.Load() != 0 {
				t.Errorf("5%% failure emptied the budget %d times, want never", exhausted.Load())
			}
		case 1:
			if steady > 1.1 {
				t.Errorf("100%% failure: %.3f attempts per request in steady state, want at most 1.1", steady)
			}
			burst := total - requests
			add("cold-start retry burst at 100% failure", fmt.Sprintf("%d extra attempts", burst), "≤ capacity ÷ cost = 100")
			if burst > 500/5 {
				t.Errorf("100%% failure: %d extra attempts, want at most 100", burst)
			}
		}
	}

	// Deadline fidelity: the server never answers; how long after the
	// caller's deadline does each call return?
	{
		hang := make(chan struct{})
		ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-hang:
			}
		}))
		defer close(hang)
		s := ts.Session(t)
		const calls, workers = 400, 40
		overshoot := make([]time.Duration, calls)
		var wg sync.WaitGroup
		var next atomic.Int64
		for range workers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < calls; i = next.Add(1) - 1 {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					deadline, _ := ctx.Deadline()
					_, err := s.Get(ctx, "/")
					overshoot[i] = time.Since(deadline)
					cancel()
					if !errors.Is(err, courier.ErrTimeout) {
						t.Errorf("Get past its deadline = %v, want ErrTimeout", err)
					}
				}
			})
		}
		wg.Wait()
		add("deadline fidelity (return − deadline), 400 calls, 40 at once", percentiles(overshoot), "p99 < 10 ms")
	}

	// Fail-fast latency of an open breaker.
	{
		ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		s := ts.Session(t, noRetry, courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 5, OpenFor: time.Minute}))
		for range 5 {
			s.Get(context.Background(), "/")
		}
		before := ts.Requests.Load()
		const calls = 10000
		lat := make([]time.Duration, calls)
		for i := range lat {
			start := time.Now()
			_, err := s.Get(context.Background(), "/")
			lat[i] = time.Since(start)
			if !errors.Is(err, courier.ErrCircuitOpen) {
				t.Fatalf("Get with the breaker open = %v, want ErrCircuitOpen", err)
			}
		}
		if sent := ts.Requests.Load() - before; sent != 0 {
			t.Errorf("open breaker let %d requests reach the server, want 0", sent)
		}
		add("breaker fail-fast latency, 10,000 rejected calls", percentiles(lat)+", 0 reached the server", "p99 < 1 ms, no network I/O")
	}

	// Leftovers after 10,000 faulted requests: 503s, resets mid-body, and
	// header timeouts, mixed; then Close.
	{
		ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/reset":
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(http.StatusOK)
				w.Write([]byte("partial"))
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.(*net.TCPConn).SetLinger(0)
					conn.Close()
				}
			case "/slow":
				select {
				case <-r.Context().Done():
				case <-time.After(time.Second):
				}
			default:
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		goroutines := runtime.NumGoroutine()
		s, err := courier.New(courier.WithBaseURL(ts.URL), courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}),
			courier.WithTimeouts(courier.Timeouts{ResponseHeader: 20 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		const requests, workers = 10000, 32
		paths := []string{"/503", "/503", "/503", "/reset", "/slow"}
		var wg sync.WaitGroup
		var next atomic.Int64
		var kinds sync.Map
		for range workers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < requests; i = next.Add(1) - 1 {
					_, err := s.Get(context.Background(), paths[i%int64(len(paths))])
					kinds.Store(reportKind(err), true)
				}
			})
		}
		wg.Wait()
		during := runtime.NumGoroutine() - goroutines
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close after the faults = %v", err)
		}
		cancel()
		left := waitFor(func() int64 { return ts.Open.Load() }, 0, 10*time.Second)
		after := int(waitFor(func() int64 { return int64(runtime.NumGoroutine() - goroutines) }, 0, 10*time.Second))
		var seen []string
		kinds.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
		slices.Sort(seen)
		add("after 10,000 faulted requests (503, reset mid-body, header timeout)",
			fmt.Sprintf("goroutines +%d before Close, +%d after; %d connections opened, %d open after Close; errors seen: %s",
				during, after, ts.NewConns.Load(), left, strings.Join(seen, ", ")),
			"0 goroutines and 0 connections after Close")
		if left != 0 || after > 0 {
			t.Errorf("after Close: %d connections still open and %d goroutines more than before, want 0 and 0", left, after)
		}
	}

	table := "| figure | measured | target |\n| --- | --- | --- |\n" + strings.Join(rows, "\n") + "\n"
	t.Logf("resilience report (%s, %d CPUs):\n%s", runtime.Version(), runtime.NumCPU(), table)
	if path := os.Getenv("COURIER_RESILIENCE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func percentiles(d []time.Duration) string {
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("p50 %v, p99 %v, max %v", at(0.5).Round(time.Microsecond), at(0.99).Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
}

func reportKind(err error) string {
	for _, k := range []error{courier.ErrTimeout, courier.ErrConnLost, courier.ErrRetryBudget, courier.ErrConnect} {
		if errors.Is(err, k) {
			return strings.TrimPrefix(k.Error(), "courier: ")
		}
	}
	var se *courier.StatusError
	if errors.As(err, &se) {
		return fmt.Sprint(se.StatusCode)
	}
	if err == nil {
		return "ok"
	}
	return "other: " + err.Error()
}

// waitFor polls f until it returns want or the time is up, and returns the
// last value.
func waitFor(f func() int64, want int64, within time.Duration) int64 {
	deadline := time.Now().Add(within)
	for {
		v := f()
		if v <= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
}
