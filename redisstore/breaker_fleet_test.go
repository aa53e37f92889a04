package redisstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

// The breaker fleet test runs the test binary again as worker processes,
// each with its own session, Breakers and Redis client, sending to one
// upstream in the test's process. A worker sends Failures requests when
// told "go" on its standard input and says "breaker:sent"; then, told
// "check", it sends Checks more and writes what it saw as JSON.

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
	raw := os.Getenv(breakerWorkerEnv)
	if raw == "" {
		return
	}
	var cfg breakerWorkerConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: cfg.Redis, ContextTimeoutEnabled: true})
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
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(cfg.URL, "http://")
	in := bufio.NewReader(os.Stdin)
	res := breakerWorkerResult{ID: cfg.ID}
	for phase, n := range []int{cfg.Failures, cfg.Checks} {
		fmt.Println("breaker:ready")
		if _, err := in.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
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
	out, _ := json.Marshal(res)
	fmt.Printf("breaker:result %s\n", out)
}

// breakerWorker is a running worker process.
type breakerWorker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	ready  chan struct{} // a value for each "breaker:ready"
	result chan breakerWorkerResult
	done   chan struct{} // stdout read to its end
}

func startBreakerWorker(t *testing.T, cfg breakerWorkerConfig) *breakerWorker {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBreakerWorker$", "-test.count=1")
	cmd.Env = append(os.Environ(), breakerWorkerEnv+"="+string(raw))
	w := &breakerWorker{cmd: cmd, stderr: &syncBuffer{}, ready: make(chan struct{}, 2),
		result: make(chan breakerWorkerResult, 1), done: make(chan struct{})}
	cmd.Stderr = w.stderr
	if w.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.done
		cmd.Wait()
	})
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "breaker:ready":
				w.ready <- struct{}{}
			case strings.HasPrefix(line, "breaker:result "):
				var res breakerWorkerResult
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "breaker:result ")), &res); err == nil {
					w.result <- res
				}
			default:
				w.stderr.Write([]byte(line + "\n"))
			}
		}
	}()
	return w
}

// await waits for the worker's next "breaker:ready".
func (w *breakerWorker) await(t *testing.T, id int) {
	t.Helper()
	select {
	case <-w.ready:
	case <-w.done:
		t.Fatalf("worker %d exited:\n%s", id, w.stderr)
	case <-time.After(time.Minute):
		t.Fatalf("worker %d not ready within a minute:\n%s", id, w.stderr)
	}
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
	ws := make([]*breakerWorker, workers)
	for i := range ws {
		ws[i] = startBreakerWorker(t, breakerWorkerConfig{ID: i, Redis: srv.Addr(), URL: up.URL,
			ConsecutiveFailures: consecutive, MinAttempts: 1000, OpenFor: time.Minute,
			Failures: failures, Checks: checks})
	}
	for i, w := range ws {
		w.await(t, i)
	}
	for _, w := range ws {
		io.WriteString(w.stdin, "go\n")
	}
	for i, w := range ws {
		w.await(t, i)
	}
	if n := up.served.Load(); n != consecutive {
		t.Errorf("the upstream got %d requests from the fleet, want %d", n, consecutive)
	}
	c := srv.Client(t)
	key := "courier:breaker:{" + strings.TrimPrefix(up.URL, "http://") + "}"
	if st := c.HGet(context.Background(), key, "state").Val(); st != "1" {
		t.Errorf("HGET %s state = %q, want 1 (open)", key, st)
	}
	for _, w := range ws {
		io.WriteString(w.stdin, "check\n")
	}
	var opened int64
	for i, w := range ws {
		var r breakerWorkerResult
		select {
		case r = <-w.result:
		case <-time.After(time.Minute):
			t.Fatalf("worker %d gave no result:\n%s", i, w.stderr)
		}
		<-w.done
		if err := w.cmd.Wait(); err != nil {
			t.Errorf("worker %d: %v:\n%s", i, err, w.stderr)
		}
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
