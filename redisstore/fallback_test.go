package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

// slack is what a bound on time allows beyond its figure on a loaded
// machine.
const slack = 200 * time.Millisecond

// downClient returns a client of a port where nothing listens. It tries
// once: go-redis would retry a refused dial until the pacer's timeout,
// and report the timeout.
func downClient(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:" + strconv.Itoa(freePort(t)),
		ContextTimeoutEnabled: true,
		DialerRetries:         1,
		MaxRetries:            -1,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// logged returns a logger that writes text records to the returned buffer.
func logged() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// checkOutageLogged checks that buf, given to [logged], holds the records
// of one outage of Redis: one warning when it was lost, and backs notices
// (0 or 1) that it is back. It returns the records.
func checkOutageLogged(t *testing.T, buf *syncBuffer, backs int) string {
	t.Helper()
	logs := buf.String()
	if w, i := strings.Count(logs, "level=WARN"), strings.Count(logs, "level=INFO"); w != 1 || i != backs {
		t.Errorf("logged %d warnings and %d notices that Redis is back, want 1 and %d:\n%s", w, i, backs, logs)
	}
	return logs
}

func TestFailClosedRefusesAtOnce(t *testing.T) {
	t.Parallel()
	log, buf := logged()
	const timeout = 100 * time.Millisecond
	p := newPacer(t, downClient(t), courier.RateLimit{PerSecond: 100}, redisstore.Logger(log), redisstore.Timeout(timeout))
	ctx := context.Background()
	for i := range 3 {
		start := time.Now()
		_, err := p.Reserve(ctx, "api", -1)
		took := time.Since(start)
		if !errors.Is(err, redisstore.ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Reserve %d = %v, want ErrUnavailable with the refused connection in its chain", i+1, err)
		}
		if took > timeout+slack {
			t.Errorf("Reserve %d took %v, want at most the timeout of %v", i+1, took, timeout)
		}
	}
	if err := p.Pause(ctx, "api", time.Second); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("Pause = %v, want ErrUnavailable", err)
	}
	// The first call found Redis down; the others, within the probe
	// interval, did not ask it.
	if got, want := p.Stats(), (redisstore.Stats{Fallbacks: 4, RedisErrors: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	checkOutageLogged(t, buf, 0)
}

func TestFailOpenPacesLocally(t *testing.T) {
	t.Parallel()
	// 10/s and a burst of 4 shared by 2 instances: 5/s and 2 each.
	p := newPacer(t, downClient(t), courier.RateLimit{PerSecond: 10, Burst: 4}, redisstore.FailOpen(2))
	start := time.Now()
	for i := range 2 {
		if r := reserve(t, p, "api", -1); r != (courier.Reservation{OK: true}) {
			t.Errorf("Reserve %d = %+v, want a turn now from the local burst of 2", i+1, r)
		}
	}
	if r := reserve(t, p, "api", -1); !r.OK || !near(r.Turn, 200*time.Millisecond, start) {
		t.Errorf("Reserve 3 = %+v, want a turn in about 200ms", r)
	}
	if r := reserve(t, p, "api", 100*time.Millisecond); r.OK || !near(r.Turn, 400*time.Millisecond, start) {
		t.Errorf("Reserve 4 within 100ms = %+v, want none, the next in about 400ms", r)
	}
	if r := reserve(t, p, "other", -1); r != (courier.Reservation{OK: true}) {
		t.Errorf("Reserve for another upstream = %+v, want a turn now", r)
	}
	// Pauses are kept in the process.
	paused := time.Now()
	if err := p.Pause(context.Background(), "api", 300*time.Millisecond); err != nil {
		t.Fatalf("Pause failing open = %v, want nil", err)
	}
	if r := reserve(t, p, "api", -1); r.OK || !near(r.Pause, 300*time.Millisecond, paused) {
		t.Errorf("Reserve during a local pause = %+v, want its time left", r)
	}
	got := p.Stats()
	want := redisstore.Stats{Reservations: 4, Waits: 1, Refused: 1, Pauses: 1, CooldownWaits: 1, Fallbacks: 6, RedisErrors: 1}
	if got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestReserveReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	p := newPacer(t, srv.Client(t), courier.RateLimit{PerSecond: 100}, redisstore.Timeout(5*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Reserve(ctx, "api", -1); !errors.Is(err, context.Canceled) {
		t.Errorf("Reserve(canceled) = %v, want context.Canceled", err)
	}
	if err := p.Pause(ctx, "api", time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Pause(canceled) = %v, want context.Canceled", err)
	}
	// Redis answers nothing: the request's deadline, shorter than the
	// pacer's timeout, ends the call.
	reserve(t, p, "api", -1) // a pooled connection
	srv.Freeze()
	t.Cleanup(srv.Thaw)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Reserve(ctx, "api", -1)
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 50*time.Millisecond+slack {
		t.Errorf("Reserve with a deadline of 50ms, Redis frozen = %v after %v; want context.DeadlineExceeded at the deadline", err, took)
	}
	if got, want := p.Stats(), (redisstore.Stats{Reservations: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v: the caller's deadline is no Redis error", got, want)
	}
}

func TestTimeoutBoundsFrozenRedis(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	p := newPacer(t, srv.Client(t), courier.RateLimit{PerSecond: 100}, redisstore.Timeout(100*time.Millisecond))
	reserve(t, p, "api", -1)
	srv.Freeze()
	t.Cleanup(srv.Thaw)
	start := time.Now()
	_, err := p.Reserve(context.Background(), "api", -1)
	if took := time.Since(start); !errors.Is(err, redisstore.ErrUnavailable) || took > 100*time.Millisecond+slack {
		t.Errorf("Reserve, Redis frozen = %v after %v; want ErrUnavailable within the timeout of 100ms", err, took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Reserve = %v, want the timeout in its chain", err)
	}
}

func TestRecoversWhenRedisIsBack(t *testing.T) {
	t.Parallel()
	const password = "hunter2-correct-horse"
	srv := startRedis(t, "--requirepass", password)
	c := srv.Client(t, func(o *redis.Options) { o.Password = password })
	log, buf := logged()
	p := newPacer(t, c, courier.RateLimit{PerSecond: 100}, redisstore.Logger(log))
	ctx := context.Background()
	reserve(t, p, "api", -1)

	srv.Kill()
	if _, err := p.Reserve(ctx, "api", -1); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Reserve, Redis killed = %v, want ErrUnavailable", err)
	}
	srv.Restart()
	back := time.Now()
	for {
		_, err := p.Reserve(ctx, "api", -1)
		if err == nil {
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatalf("Reserve = %v 5s after Redis came back, want the shared limit again", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("shared again %v after Redis came back", time.Since(back).Round(time.Millisecond))
	if n := c.Exists(ctx, "courier:rate:{api}").Val(); n != 1 {
		t.Errorf("no TAT in the restarted Redis")
	}
	logs := checkOutageLogged(t, buf, 1)
	if strings.Contains(logs, "hunter2") {
		t.Errorf("the logs carry the Redis password:\n%s", logs)
	}
	t.Logf("logged:\n%s", logs)
}

func TestFailOpenPauseOutlivesOutage(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := srv.Client(t)
	// A turn a second: the TAT of a turn lives for a second.
	p := newPacer(t, c, courier.RateLimit{PerSecond: 1, Burst: 100}, redisstore.FailOpen(1))
	ctx := context.Background()
	reserve(t, p, "api", -1)
	srv.Kill()
	if err := p.Pause(ctx, "api", 3*time.Second); err != nil {
		t.Fatalf("Pause failing open = %v", err)
	}
	srv.Restart()
	// Wait until another upstream is paced through Redis again.
	deadline := time.Now().Add(5 * time.Second)
	for c.Exists(ctx, "courier:rate:{other}").Val() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Redis not asked again within 5s")
		}
		reserve(t, p, "other", -1)
		time.Sleep(20 * time.Millisecond)
	}
	// The pause Redis never saw still holds.
	if r := reserve(t, p, "api", -1); r.Pause <= 0 {
		t.Fatalf("Reserve = %+v during a local pause, want its time left", r)
	}
}
