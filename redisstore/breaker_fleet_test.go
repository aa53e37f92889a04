package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
)

// The breaker fleet test's workers (see fleetharness_test.go) each have
// their own session, Breakers and Redis client, sending to one upstream
// in the test's process. A worker sends Failures requests after "go" and
// says it is ready again; then, after "check", it sends Checks more and
// writes what it saw.

// breakerWorkerEnv holds a breaker worker's configuration;
// TestHelperBreakerWorker is a worker only when it is set.
const breakerWorkerEnv = "REDISSTORE_BREAKER_WORKER"

type breakerWorkerConfig struct {
	ID    int
	Redis string // host:port
	URL   string // the upstream
	// The breaker policy's (a BreakerPolicy has funcs, which JSON does
	// not carry).
	ConsecutiveFailures, MinAttempts int
	OpenFor                          time.Duration
	Failures                         int // requests sent on "go"
	Checks                           int // requests sent on "check"
}

// breakerWorkerResult counts the requests of each phase by outcome: a
// response (the upstream's 500), refused by an open breaker, or other.
type breakerWorkerResult struct {
	ID                         int
	Sent, Refused              [2]int
	Other                      int
	FirstOther                 string
	Stats                      redisstore.BreakerStats
	StateAfterGo, StateAtCheck courier.BreakerState // as the session saw it
}

// TestHelperBreakerWorker is a breaker fleet worker when breakerWorkerEnv
// is set, and does nothing otherwise.
func TestHelperBreakerWorker(t *testing.T) {
	var cfg breakerWorkerConfig
	w, ok := startWorkerIO(t, breakerWorkerEnv, &cfg)
	if !ok {
		return
	}
	c := workerRedis(t, cfg.Redis, 1)
	defer c.Close()
	// A timeout long enough that a machine busy starting six processes
	// does not make Redis look unavailable: Redis trouble is not the
	// subject here.
	b, err := redisstore.NewBreakers(c, redisstore.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	p := courier.BreakerPolicy{ConsecutiveFailures: cfg.ConsecutiveFailures, MinAttempts: cfg.MinAttempts, OpenFor: cfg.OpenFor, Store: b}
	s, err := courier.New(courier.WithBreaker(p), courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx := context.Background()
	host := strings.TrimPrefix(cfg.URL, "http://")
	res := breakerWorkerResult{ID: cfg.ID}
	for phase, n := range []int{cfg.Failures, cfg.Checks} {
		w.ready(t)
		for range n {
			_, err := s.Get(ctx, cfg.URL)
			var se *courier.StatusError
			switch {
			case errors.As(err, &se):
				res.Sent[phase]++
			case errors.Is(err, courier.ErrCircuitOpen):
				res.Refused[phase]++
			default:
				if res.Other == 0 {
					res.FirstOther = fmt.Sprint(err)
				}
				res.Other++
			}
		}
		if phase == 0 {
			res.StateAfterGo = s.Stats().Breakers[host]
		}
	}
	res.StateAtCheck = s.Stats().Breakers[host]
	res.Stats = b.Stats()
	w.report(res)
}

// Six processes each send two requests that fail: alone, none reaches
// the twelve failures in a row that open the breaker, together they do,
// and the breaker is then open for all of them: none sends anything more.
func TestFleetSharesBreaker(t *testing.T) {
	const (
		workers     = 6
		failures    = 2 // each
		consecutive = workers * failures
		checks      = 5
	)
	srv := startRedis(t)
	up := newBrokenUpstream(t)
	cfgs := make([]breakerWorkerConfig, workers)
	for i := range cfgs {
		cfgs[i] = breakerWorkerConfig{ID: i, Redis: srv.Addr(), URL: up.URL,
			ConsecutiveFailures: consecutive, MinAttempts: 1000, OpenFor: time.Minute,
			Failures: failures, Checks: checks}
	}
	ws := startFleet[breakerWorkerResult](t, "TestHelperBreakerWorker", breakerWorkerEnv, cfgs)
	ws.await(t)
	ws.tell("go")
	ws.await(t)
	if n := up.served.Load(); n != consecutive {
		t.Errorf("the upstream got %d requests from the fleet, want %d", n, consecutive)
	}
	c := srv.Client(t)
	key := "courier:breaker:{" + strings.TrimPrefix(up.URL, "http://") + "}"
	if st := c.HGet(context.Background(), key, "state").Val(); st != "1" {
		t.Errorf("HGET %s state = %q, want 1 (open)", key, st)
	}
	ws.tell("check")
	var opened int64
	for i, r := range ws.wait(t, time.Minute) {
		t.Logf("worker %d: %+v", i, r)
		if r.Sent != [2]int{failures, 0} || r.Refused != [2]int{0, checks} || r.Other != 0 {
			t.Errorf("worker %d sent %v and was refused %v (first phase, then second), other %d (%s); want %d sent then %d refused",
				i, r.Sent, r.Refused, r.Other, r.FirstOther, failures, checks)
		}
		if r.StateAtCheck != courier.BreakerOpen {
			t.Errorf("worker %d's session says its breaker is %v at the end, want open", i, r.StateAtCheck)
		}
		opened += r.Stats.Opened
	}
	if opened != 1 {
		t.Errorf("the workers opened the breaker %d times in all, want once: by the last failure", opened)
	}
	if n := up.served.Load(); n != consecutive {
		t.Errorf("the upstream got %d requests in all, want %d: the open breaker sent nothing more", n, consecutive)
	}
	checkKeys(t, c, "courier:")
}
