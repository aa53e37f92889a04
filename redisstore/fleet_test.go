package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
)

// The rate limit fleet tests' workers (see fleetharness_test.go) each
// have their own session, pacer and Redis client, all sending to one
// upstream in the test's process, which counts what arrives by its own
// clock. A worker sends for a while with several goroutines after "go".

// workerEnv holds a worker's configuration; TestHelperWorker is a worker
// only when it is set.
const workerEnv = "REDISSTORE_FLEET_WORKER"

// workerConfig is what a worker is told.
type workerConfig struct {
	ID         int
	Redis      string // host:port
	URL        string // the upstream
	Limit      courier.RateLimit
	FailOpen   int           // the instances of FailOpen; 0 fails closed
	Timeout    time.Duration // the pacer's Redis timeout
	Goroutines int           // requests in flight at once
	Deadline   time.Duration // each request's
	Duration   time.Duration // how long to send after "go"
}

// workerResult is what a worker saw.
type workerResult struct {
	ID int
	// Sent counts the requests that got a response; RateLimited those
	// refused with courier.ErrRateLimited, Unavailable those refused with
	// redisstore.ErrUnavailable, TimedOut those whose deadline passed
	// (a turn or the end of a pause can come just before it), Other the
	// rest (FirstOther is the first).
	Sent, RateLimited, Unavailable, TimedOut, Other int
	FirstOther                                      string
	// MaxOvershoot is the longest a request took beyond its deadline
	// (negative: none reached it); MaxUnavailable the longest a request
	// took to fail with ErrUnavailable.
	MaxOvershoot, MaxUnavailable time.Duration
	// LastFallback is when the pacer last answered without Redis, in Unix
	// nanoseconds (0: never).
	LastFallback int64
	// MaxStall is the longest the worker process was stalled.
	MaxStall time.Duration
	Stats    redisstore.Stats
}

// TestHelperWorker is a fleet worker when workerEnv is set, and does
// nothing otherwise.
func TestHelperWorker(t *testing.T) {
	var cfg workerConfig
	w, ok := startWorkerIO(t, workerEnv, &cfg)
	if !ok {
		return
	}
	// Warm up, so that all start at once at "go": as many connections as
	// goroutines, each way, to Redis and to the upstream; the pools would
	// otherwise open them at "go", all processes at once.
	c := workerRedis(t, cfg.Redis, cfg.Goroutines)
	defer c.Close()
	opts := []redisstore.Option{redisstore.Timeout(cfg.Timeout), redisstore.FailOpen(cfg.FailOpen)}
	p, err := redisstore.NewPacer(c, cfg.Limit, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := courier.New(courier.WithPacer(p), courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// Twenty processes starting at once on a small machine may take
	// longer than the pacer's timeout to load the script: try again past
	// the probe interval.
	ctx := context.Background()
	var warm sync.WaitGroup
	for range cfg.Goroutines {
		warm.Go(func() {
			for deadline := time.Now().Add(30 * time.Second); ; {
				_, err := s.Get(ctx, cfg.URL+"/warmup")
				if err == nil {
					return
				}
				if time.Now().After(deadline) {
					t.Error(err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	warm.Wait()
	if t.Failed() {
		return
	}
	w.ready(t)
	w.report(runWorker(cfg, s, p))
}

// runWorker sends requests for cfg.Duration.
func runWorker(cfg workerConfig, s *courier.Session, p *redisstore.Pacer) workerResult {
	stalls := watchStalls()
	end := time.Now().Add(cfg.Duration)
	var (
		mu  sync.Mutex
		res = workerResult{ID: cfg.ID, MaxOvershoot: math.MinInt64}
		wg  sync.WaitGroup
	)
	// Note when the pacer last answered without Redis.
	var lastFallback atomic.Int64
	stop := make(chan struct{})
	wg.Go(func() {
		seen := p.Stats().Fallbacks
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				if n := p.Stats().Fallbacks; n != seen {
					seen = n
					lastFallback.Store(now.UnixNano())
				}
			}
		}
	})
	id := strconv.Itoa(cfg.ID)
	var senders sync.WaitGroup
	for range cfg.Goroutines {
		senders.Go(func() {
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.Deadline)
				start := time.Now()
				_, err := s.Get(ctx, cfg.URL, courier.Header("X-Worker", id))
				took := time.Since(start)
				cancel()
				var se *courier.StatusError
				mu.Lock()
				res.MaxOvershoot = max(res.MaxOvershoot, took-cfg.Deadline)
				refused := true
				switch {
				case err == nil || errors.As(err, &se):
					res.Sent++
					refused = false
				case errors.Is(err, redisstore.ErrUnavailable):
					// Before ErrRateLimited: a pacer's error is of that
					// kind too, wrapping this one.
					res.Unavailable++
					res.MaxUnavailable = max(res.MaxUnavailable, took)
				case errors.Is(err, courier.ErrRateLimited):
					res.RateLimited++
				case errors.Is(err, courier.ErrTimeout):
					res.TimedOut++
				default:
					if res.Other == 0 {
						res.FirstOther = err.Error()
					}
					res.Other++
				}
				mu.Unlock()
				if refused {
					// Ask again soon, not in a tight loop.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	senders.Wait()
	close(stop)
	wg.Wait()
	res.LastFallback = lastFallback.Load()
	res.MaxStall = stalls.Stop()
	res.Stats = p.Stats()
	return res
}

// fleetUpstream counts the requests of a fleet by arrival, by its own
// clock. When tooManyAfter is set, the first request after it gets a 429
// with Retry-After: 2.
type fleetUpstream struct {
	*httptest.Server
	tooManyAfter time.Time

	mu       sync.Mutex
	arrivals []arrival
	tooMany  time.Time // when the 429 was sent
}

type arrival struct {
	at     time.Time
	worker int
}

func newFleetUpstream(t *testing.T) *fleetUpstream {
	u := &fleetUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		if r.URL.Path == "/warmup" {
			// Long enough that a worker's warm-up requests overlap, and
			// each opens a connection.
			time.Sleep(50 * time.Millisecond)
			return
		}
		worker, _ := strconv.Atoi(r.Header.Get("X-Worker"))
		u.mu.Lock()
		u.arrivals = append(u.arrivals, arrival{now, worker})
		tooMany := !u.tooManyAfter.IsZero() && u.tooMany.IsZero() && now.After(u.tooManyAfter)
		if tooMany {
			u.tooMany = now
		}
		u.mu.Unlock()
		if tooMany {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// windows counts the arrivals of worker (-1: any) in the 1-second windows
// from origin, up to n windows.
func (u *fleetUpstream) windows(origin time.Time, n, worker int) []int {
	u.mu.Lock()
	defer u.mu.Unlock()
	counts := make([]int, n)
	for _, a := range u.arrivals {
		i := int(a.at.Sub(origin) / time.Second)
		if a.at.Before(origin) || i >= n || worker >= 0 && a.worker != worker {
			continue
		}
		counts[i]++
	}
	return counts
}

// fleetRun is what runFleet saw.
type fleetRun struct {
	start   time.Time // when the workers were told "go"
	results []workerResult
	stall   time.Duration // the longest stall of a process, the test's included
}

// runFleet runs the workers, tells them "go" at once once they are all
// ready, calls during (in the test's goroutine) with the time of "go",
// and returns when the workers are done.
func runFleet(t *testing.T, workers []workerConfig, during func(start time.Time)) fleetRun {
	t.Helper()
	results, start, stall := runFleetOnce[workerResult](t, "TestHelperWorker", workerEnv, workers, workers[0].Duration+time.Minute, during)
	for i, r := range results {
		if r.Other > 0 {
			t.Errorf("worker %d: %d requests failed otherwise, the first: %s", i, r.Other, r.FirstOther)
		}
		stall = max(stall, r.MaxStall)
	}
	return fleetRun{start: start, results: results, stall: stall}
}

// fleet returns n worker configurations from base, numbered from 0.
func fleet(n int, base workerConfig) []workerConfig {
	ws := make([]workerConfig, n)
	for i := range ws {
		ws[i] = base
		ws[i].ID = i
	}
	return ws
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// The fleet tests are not parallel: each measures rates and times, and
// runs alone, before the parallel tests start.

func TestFleetSharesRateLimit(t *testing.T) {
	const (
		perSecond = 100
		burst     = 10
		seconds   = 15
	)
	for _, n := range []int{8, 20} {
		t.Run(fmt.Sprintf("%d processes", n), func(t *testing.T) {
			measure(t, func(f *figures) time.Duration {
				srv := startRedis(t)
				up := newFleetUpstream(t)
				// Enough requests in flight to keep a turn always taken
				// (the farthest turn stays well within each request's
				// deadline, so none is refused): the fleet saturates the
				// limit. The rate is the subject here, not Redis trouble:
				// a timeout as long as the deadlines keeps a Redis slowed
				// down by a busy machine from counting as unavailable.
				goroutines := 4
				if n > 10 {
					goroutines = 3
				}
				run := runFleet(t, fleet(n, workerConfig{
					Redis: srv.Addr(), URL: up.URL,
					Limit:      courier.RateLimit{PerSecond: perSecond, Burst: burst},
					Timeout:    time.Second,
					Goroutines: goroutines, Deadline: time.Second, Duration: seconds * time.Second,
				}), nil)

				windows := up.windows(run.start, seconds, -1)
				t.Logf("requests per 1s window: %v", windows)
				// The first window holds the burst on top of the rate;
				// the rate is measured over the others.
				rate := float64(sum(windows[1:])) / float64(seconds-1)
				t.Logf("rate over windows 2-%d: %.2f/s (limit %d/s, %+.2f%%)", seconds, rate, perSecond, 100*(rate-perSecond)/perSecond)
				if math.Abs(rate-perSecond) > 0.05*perSecond {
					f.Errorf("rate %.2f/s, want %d/s ±5%%", rate, perSecond)
				}
				for i, c := range windows {
					if c > perSecond+burst {
						f.Errorf("window %d saw %d requests, want at most %d (the limit and the burst)", i+1, c, perSecond+burst)
					}
				}
				fair := float64(sum(windows)) / float64(n)
				least, most := math.MaxInt, 0
				for i := range n {
					got := sum(up.windows(run.start, seconds, i))
					least, most = min(least, got), max(most, got)
					if float64(got) < fair/2 {
						f.Errorf("worker %d sent %d requests, want at least half its fair share of %.0f", i, got, fair)
					}
				}
				t.Logf("per worker: %d to %d requests (fair share %.0f)", least, most, fair)
				var refused, unavailable, timedOut int
				for _, r := range run.results {
					refused += r.RateLimited
					unavailable += r.Unavailable
					timedOut += r.TimedOut
				}
				t.Logf("requests refused for a turn past their deadline: %d; for Redis unavailable: %d; timed out: %d", refused, unavailable, timedOut)
				return run.stall
			})
		})
	}
}

func TestFleetSharesPause(t *testing.T) {
	const retryAfter = 2 * time.Second
	measure(t, func(f *figures) time.Duration {
		srv := startRedis(t)
		up := newFleetUpstream(t)
		// A turn taken before the pause began still goes (see the
		// package doc): with C requests in flight at R a second, turns
		// are taken up to C/R ahead, here 6/200 = 30ms, well within the
		// 100ms the pause may be late by. A long Redis timeout: a busy
		// machine must not lose the pause.
		workers := fleet(6, workerConfig{
			Redis: srv.Addr(), URL: up.URL,
			Limit:      courier.RateLimit{PerSecond: 200, Burst: 10},
			Timeout:    time.Second,
			Goroutines: 1, Deadline: 200 * time.Millisecond, Duration: 5 * time.Second,
		})
		c := srv.Client(t)
		var during []string
		run := runFleet(t, workers, func(start time.Time) {
			up.mu.Lock()
			up.tooManyAfter = start.Add(1500 * time.Millisecond)
			up.mu.Unlock()
			// Look at the keys while the pause runs.
			time.Sleep(2500 * time.Millisecond)
			during = checkKeys(t, c, redisstore.DefaultPrefix)
		})
		if !slices.Contains(during, "courier:pause:{"+strings.TrimPrefix(up.URL, "http://")+"}") {
			f.Errorf("keys during the pause %q, want its key", during)
		}

		up.mu.Lock()
		t0 := up.tooMany
		var lastIn, firstAfter time.Duration = -1, -1
		for _, a := range up.arrivals {
			d := a.at.Sub(t0)
			switch {
			case d <= 0:
			case d < retryAfter/2:
				lastIn = max(lastIn, d)
			case firstAfter < 0 || d < firstAfter:
				firstAfter = d
			}
		}
		up.mu.Unlock()
		if t0.IsZero() {
			t.Fatal("no 429 was sent")
		}
		t.Logf("after the 429 (Retry-After: 2): the last request in flight came at +%v, the next at +%v: silent for %v",
			lastIn.Round(time.Millisecond), firstAfter.Round(time.Millisecond), (firstAfter - max(lastIn, 0)).Round(time.Millisecond))
		if lastIn > 100*time.Millisecond {
			f.Errorf("a request came %v after the 429, want none after 100ms", lastIn)
		}
		if firstAfter < retryAfter-100*time.Millisecond || firstAfter > retryAfter+100*time.Millisecond {
			f.Errorf("the first request after the pause came %v after the 429, want %v ±100ms", firstAfter, retryAfter)
		}
		for _, r := range run.results {
			if r.Stats.CooldownWaits == 0 {
				f.Errorf("worker %d was never held back by the pause: %+v", r.ID, r.Stats)
			}
		}
		return run.stall
	})
}

func TestFleetSurvivesRedisRestart(t *testing.T) {
	const (
		perSecond = 100
		burst     = 10
		seconds   = 12
		openOnes  = 3 // workers 0-2 fail open; worker 3 fails closed
		// Longer than the default, so that a busy machine does not make
		// Redis look unavailable before it is killed or after it is back.
		timeout   = 250 * time.Millisecond
		deadline  = 500 * time.Millisecond
		killAt    = 2 * time.Second
		restartAt = 5 * time.Second
	)
	measure(t, func(f *figures) time.Duration {
		srv := startRedis(t)
		up := newFleetUpstream(t)
		workers := fleet(openOnes+1, workerConfig{
			Redis: srv.Addr(), URL: up.URL,
			Limit:    courier.RateLimit{PerSecond: perSecond, Burst: burst},
			FailOpen: openOnes, Timeout: timeout,
			Goroutines: 3, Deadline: deadline, Duration: seconds * time.Second,
		})
		closed := openOnes
		workers[closed].FailOpen = 0
		c := srv.Client(t)
		var restarted time.Time
		run := runFleet(t, workers, func(start time.Time) {
			time.Sleep(time.Until(start.Add(killAt)))
			srv.Kill()
			time.Sleep(time.Until(start.Add(restartAt)))
			srv.Restart()
			restarted = time.Now()
			time.Sleep(time.Until(start.Add(seconds*time.Second - time.Second)))
			keys := checkKeys(t, c, redisstore.DefaultPrefix)
			t.Logf("keys after the restart: %q", keys)
		})
		checkKeys(t, c, redisstore.DefaultPrefix)

		var overshoot, unavailable time.Duration = math.MinInt64, 0
		var recovered time.Time
		for _, r := range run.results {
			t.Logf("worker %d: %+v", r.ID, r)
			overshoot = max(overshoot, r.MaxOvershoot)
			unavailable = max(unavailable, r.MaxUnavailable)
			if r.LastFallback == 0 {
				f.Errorf("worker %d never fell back", r.ID)
			}
			recovered = maxTime(recovered, time.Unix(0, r.LastFallback))
		}
		windows := up.windows(run.start, seconds, -1)
		t.Logf("requests per 1s window (Redis killed at %v, back at %v): %v", killAt, restartAt, windows)
		for i := range openOnes + 1 {
			t.Logf("worker %d, requests per window: %v", i, up.windows(run.start, seconds, i))
		}
		t.Logf("longest past a deadline: %v; longest to ErrUnavailable: %v; shared again %v after Redis came back",
			overshoot.Round(time.Millisecond), unavailable.Round(time.Millisecond), recovered.Sub(restarted).Round(time.Millisecond))

		if overshoot > 50*time.Millisecond {
			f.Errorf("a request took %v past its deadline, want at most 50ms", overshoot)
		}
		// Fail open: each process serves on its own at its share of the
		// limit while Redis is away (windows 4 and 5).
		local := float64(perSecond) / openOnes
		for i := range openOnes {
			w := up.windows(run.start, seconds, i)
			for _, at := range []int{3, 4} {
				if got := float64(w[at]); got > local+burst/openOnes+1 || got < local/2 {
					f.Errorf("worker %d (fails open) sent %v requests in window %d, Redis away; want about %.1f, its share", i, got, at+1, local)
				}
			}
		}
		// Fail closed: refused at once, within the Redis timeout.
		if r := run.results[closed]; r.Unavailable == 0 || r.MaxUnavailable > timeout+50*time.Millisecond {
			f.Errorf("worker %d (fails closed): %d ErrUnavailable, the longest in %v; want some, within the timeout of %v",
				closed, r.Unavailable, r.MaxUnavailable, timeout)
		}
		if w := up.windows(run.start, seconds, closed); w[3]+w[4] != 0 {
			f.Errorf("worker %d (fails closed) sent %d requests while Redis was away, want none", closed, w[3]+w[4])
		}
		// Back to the shared limit within 5s, and the rate holds.
		if d := recovered.Sub(restarted); d > 5*time.Second {
			f.Errorf("a process paced on its own %v after Redis came back, want within 5s", d)
		}
		from := int(recovered.Sub(run.start)/time.Second) + 1
		if from >= seconds {
			f.Errorf("no whole window after the fleet was shared again")
			return run.stall
		}
		for i, n := range windows[from:] {
			if n > perSecond+burst {
				f.Errorf("window %d saw %d requests after Redis was back, want at most %d", from+i+1, n, perSecond+burst)
			}
		}
		if rate := float64(sum(windows[from:])) / float64(seconds-from); math.Abs(rate-perSecond) > 0.05*perSecond {
			f.Errorf("rate %.2f/s after Redis was back (windows %d-%d), want %d/s ±5%%", rate, from+1, seconds, perSecond)
		}
		if w := up.windows(run.start, seconds, closed); w[from] == 0 {
			f.Errorf("worker %d (fails closed) sent nothing once Redis was back", closed)
		}
		return run.stall
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
