package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

func newBreakers(t testing.TB, c redis.UniversalClient, opts ...redisstore.Option) *redisstore.Breakers {
	t.Helper()
	b, err := redisstore.NewBreakers(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A breakerStep is one call of a transition test, and what it must
// answer.
type breakerStep struct {
	name string
	do   func(ctx context.Context, b *redisstore.Breakers, upstream string, p courier.BreakerPolicy) (string, error)
	want string
}

// stepAllow asks Allow, whose answer reads "go", "probe" or "refused".
func stepAllow(want string) breakerStep { return stepAllowWithin(0, want) }

// stepAllowWithin asks Allow under a context with a deadline d from
// now (0: none).
func stepAllowWithin(d time.Duration, want string) breakerStep {
	return breakerStep{
		name: fmt.Sprintf("Allow(deadline in %v)", d),
		do: func(ctx context.Context, b *redisstore.Breakers, up string, p courier.BreakerPolicy) (string, error) {
			if d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			ok, probe, err := b.Allow(ctx, up, p)
			return map[[2]bool]string{{true, false}: "go", {true, true}: "probe", {false, false}: "refused"}[[2]bool{ok, probe}], err
		},
		want: want,
	}
}

// stepRecord records an outcome, and reads the state Record returns.
func stepRecord(failed, probe bool, want courier.BreakerState) breakerStep {
	return breakerStep{
		name: fmt.Sprintf("Record(failed %t, probe %t)", failed, probe),
		do: func(ctx context.Context, b *redisstore.Breakers, up string, p courier.BreakerPolicy) (string, error) {
			st, err := b.Record(ctx, up, p, failed, probe)
			return st.String(), err
		},
		want: want.String(),
	}
}

func stepFail(want courier.BreakerState) breakerStep      { return stepRecord(true, false, want) }
func stepSucceed(want courier.BreakerState) breakerStep   { return stepRecord(false, false, want) }
func stepProbeFail(want courier.BreakerState) breakerStep { return stepRecord(true, true, want) }
func stepProbePass(want courier.BreakerState) breakerStep { return stepRecord(false, true, want) }

// stepSleep waits d on the test's clock; the breaker reads Redis's.
func stepSleep(d time.Duration) breakerStep {
	return breakerStep{
		name: "sleep " + d.String(),
		do: func(context.Context, *redisstore.Breakers, string, courier.BreakerPolicy) (string, error) {
			time.Sleep(d)
			return "", nil
		},
	}
}

const (
	bClosed   = courier.BreakerClosed
	bOpen     = courier.BreakerOpen
	bHalfOpen = courier.BreakerHalfOpen
)

// The breakers in Redis go through the transitions of courier's breaker
// in a session (breaker.go), step by step. OpenFor is a second where a
// row waits for it: a step that must come before OpenFor ends comes right
// after the one before.
func TestBreakerTransitions(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	const openFor = time.Second
	pastOpenFor := stepSleep(openFor + 300*time.Millisecond)
	tests := []struct {
		name           string
		policy         courier.BreakerPolicy
		steps          []breakerStep
		opened, closed int64
	}{{
		name:   "consecutive failures open it",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 3, MinAttempts: 100, OpenFor: time.Minute},
		steps: []breakerStep{
			stepAllow("go"), stepFail(bClosed), stepAllow("go"), stepFail(bClosed), stepAllow("go"), stepFail(bOpen),
			stepAllow("refused"), stepAllow("refused"),
		},
		opened: 1,
	}, {
		name:   "a success starts the count again",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 3, MinAttempts: 100, OpenFor: time.Minute},
		steps: []breakerStep{
			stepFail(bClosed), stepFail(bClosed), stepSucceed(bClosed), stepFail(bClosed), stepFail(bClosed), stepAllow("go"), stepFail(bOpen),
		},
		opened: 1,
	}, {
		// The ratio is checked on a failure, once the window holds
		// MinAttempts: 2 of 3 fail before there are 4; 3 of 5 then.
		name:   "failure ratio within the window once MinAttempts",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 100, FailureRatio: 0.5, MinAttempts: 4, Window: 10 * time.Second, OpenFor: time.Minute},
		steps: []breakerStep{
			stepFail(bClosed), stepSucceed(bClosed), stepFail(bClosed), stepSucceed(bClosed), stepFail(bOpen), stepAllow("refused"),
		},
		opened: 1,
	}, {
		name:   "a ratio under FailureRatio stays closed, one at it opens",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 100, FailureRatio: 0.5, MinAttempts: 4, Window: 10 * time.Second, OpenFor: time.Minute},
		steps: []breakerStep{
			stepSucceed(bClosed), stepFail(bClosed), stepSucceed(bClosed), stepSucceed(bClosed), stepFail(bClosed), // 2 of 5
			stepSucceed(bClosed), stepFail(bClosed), // 3 of 7
			stepFail(bOpen), // 4 of 8
		},
		opened: 1,
	}, {
		name:   "attempts older than the window no longer count",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 100, FailureRatio: 0.5, MinAttempts: 3, Window: time.Second, OpenFor: time.Minute},
		steps: []breakerStep{
			stepFail(bClosed), stepSucceed(bClosed), stepSucceed(bClosed),
			stepSleep(1300 * time.Millisecond),
			stepFail(bClosed), stepFail(bClosed), // 2 in the window, under MinAttempts
			stepFail(bOpen), // 3 of 3
		},
		opened: 1,
	}, {
		name:   "the same attempts within the window open it",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 100, FailureRatio: 0.5, MinAttempts: 3, Window: 10 * time.Second, OpenFor: time.Minute},
		steps:  []breakerStep{stepFail(bClosed), stepSucceed(bClosed), stepSucceed(bClosed), stepFail(bOpen)},
		opened: 1,
	}, {
		name:   "half-open after OpenFor: one probe, which closes it",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: openFor},
		steps: []breakerStep{
			stepFail(bOpen), stepAllow("refused"), pastOpenFor,
			stepAllow("probe"), stepAllow("refused"), // the probe is in flight
			stepProbePass(bClosed), stepAllow("go"), stepAllow("go"),
		},
		opened: 1, closed: 1,
	}, {
		// Each probe recorded frees its slot for another, as in a
		// session; a probe recorded once closed counts as an attempt.
		name:   "Probes successes close it",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: openFor, Probes: 2},
		steps: []breakerStep{
			stepFail(bOpen), pastOpenFor,
			stepAllow("probe"), stepAllow("probe"), stepAllow("refused"),
			stepProbePass(bHalfOpen), stepAllow("probe"),
			stepProbePass(bClosed), stepProbePass(bClosed), stepAllow("go"),
		},
		opened: 1, closed: 1,
	}, {
		name:   "a failed probe opens it again, and the next half-open counts afresh",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: openFor, Probes: 2},
		steps: []breakerStep{
			stepFail(bOpen), pastOpenFor,
			stepAllow("probe"), stepAllow("probe"),
			stepProbePass(bHalfOpen), stepProbeFail(bOpen),
			stepProbePass(bOpen), // the other probe, late: ignored
			stepAllow("refused"), pastOpenFor,
			stepAllow("probe"), stepProbePass(bHalfOpen), // one success is not two
			stepAllow("probe"), stepProbePass(bClosed),
		},
		opened: 2, closed: 1,
	}, {
		name:   "stragglers change nothing",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 2, OpenFor: openFor},
		steps: []breakerStep{
			stepFail(bClosed), stepFail(bOpen),
			stepFail(bOpen), stepSucceed(bOpen), stepFail(bOpen), // sent before it opened
			pastOpenFor,
			stepSucceed(bHalfOpen), stepFail(bHalfOpen), // not probes
			stepAllow("probe"), stepProbePass(bClosed),
		},
		opened: 1, closed: 1,
	}, {
		name:   "a probe never recorded frees its slot when its lease ends",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: openFor},
		steps: []breakerStep{
			stepFail(bOpen), pastOpenFor,
			stepAllow("probe"), stepAllow("refused"),
			pastOpenFor, // the lease is OpenFor without a deadline
			stepAllow("probe"), stepProbePass(bClosed),
		},
		opened: 1, closed: 1,
	}, {
		// The lease of a probe whose request has a deadline ends with
		// the deadline and twice the Timeout (100ms): 1s, well before
		// OpenFor.
		name:   "a probe's lease ends with its deadline",
		policy: courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: 3 * time.Second},
		steps: []breakerStep{
			stepFail(bOpen), stepSleep(3300 * time.Millisecond),
			stepAllowWithin(800*time.Millisecond, "probe"), stepAllow("refused"),
			stepSleep(1800 * time.Millisecond),
			stepAllow("probe"),
		},
		opened: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBreakers(t, c)
			ctx := t.Context()
			for i, s := range tt.steps {
				got, err := s.do(ctx, b, tt.name, tt.policy)
				if err != nil || got != s.want {
					t.Fatalf("step %d, %s = %q, %v; want %q", i+1, s.name, got, err, s.want)
				}
			}
			if st := b.Stats(); st.Opened != tt.opened || st.Closed != tt.closed || st.RedisErrors != 0 {
				t.Errorf("Stats = %+v, want %d opened, %d closed, no Redis errors", st, tt.opened, tt.closed)
			}
		})
	}
}

// However many processes ask at once, a half-open breaker lets Probes
// attempts through.
func TestBreakerProbesFleetWide(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	p := courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: 500 * time.Millisecond, Probes: 3}
	stores := []*redisstore.Breakers{newBreakers(t, srv.Client(t)), newBreakers(t, srv.Client(t))}
	if st, err := stores[0].Record(t.Context(), "api", p, true, false); st != bOpen || err != nil {
		t.Fatalf("Record = %v, %v; want open", st, err)
	}
	time.Sleep(800 * time.Millisecond)
	var probes, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ok, probe, err := stores[i%2].Allow(t.Context(), "api", p)
			switch {
			case err != nil:
				t.Error(err)
			case ok && probe:
				probes.Add(1)
			case !ok:
				refused.Add(1)
			default:
				t.Error("Allow let an attempt through half-open that is no probe")
			}
		})
	}
	wg.Wait()
	if probes.Load() != 3 || refused.Load() != 17 {
		t.Errorf("20 Allow calls at once, half-open: %d probes, %d refused; want 3 and 17", probes.Load(), refused.Load())
	}
}

// Every key is under the prefix, one per upstream with the upstream as
// its hash tag, and has a TTL; a breaker that closes deletes its key.
func TestBreakerKeys(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	b := newBreakers(t, c, redisstore.Prefix("fleet-b/"))
	ctx := t.Context()
	p := courier.BreakerPolicy{ConsecutiveFailures: 2, Window: 10 * time.Second, OpenFor: 500 * time.Millisecond}
	b.Record(ctx, "counting.example:8443", p, true, false)
	b.Record(ctx, "open.example", p, true, false)
	b.Record(ctx, "open.example", p, true, false)
	b.Record(ctx, "probing.example", p, true, false)
	b.Record(ctx, "probing.example", p, true, false)
	b.Allow(ctx, "allowed.example", p) // a closed breaker is only read
	time.Sleep(700 * time.Millisecond)
	if ok, probe, err := b.Allow(ctx, "probing.example", p); !ok || !probe || err != nil {
		t.Fatalf("Allow half-open = %t, %t, %v; want a probe", ok, probe, err)
	}
	keys := checkKeys(t, c, "fleet-b/")
	slices.Sort(keys)
	want := []string{"fleet-b/breaker:{counting.example:8443}", "fleet-b/breaker:{open.example}", "fleet-b/breaker:{probing.example}"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	// OpenFor + Window + a minute of idleness.
	for _, k := range keys {
		if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 70500*time.Millisecond {
			t.Errorf("PTTL %s = %v, want at most OpenFor + Window + 1m", k, ttl)
		}
	}
	if st, err := b.Record(ctx, "probing.example", p, false, true); st != bClosed || err != nil {
		t.Fatalf("Record of the probe = %v, %v; want closed", st, err)
	}
	if n := c.Exists(ctx, "fleet-b/breaker:{probing.example}").Val(); n != 0 {
		t.Error("the key of a breaker that closed is still there")
	}
}

func TestBreakerUpstreamSharesBreaker(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	b := newBreakers(t, c, redisstore.Upstream(func(host string) string {
		if strings.HasSuffix(host, ".example.com") {
			return "example"
		}
		return ""
	}))
	p := courier.BreakerPolicy{ConsecutiveFailures: 2, OpenFor: time.Minute}
	ctx := t.Context()
	b.Record(ctx, "api.example.com", p, true, false)
	if st, _ := b.Record(ctx, "api-eu.example.com", p, true, false); st != bOpen {
		t.Fatalf("the second failure of two hosts of one breaker: %v, want open", st)
	}
	if ok, _, _ := b.Allow(ctx, "www.example.com", p); ok {
		t.Error("Allow(www.example.com) = ok, want refused: its breaker is open")
	}
	if ok, _, _ := b.Allow(ctx, "other.org", p); !ok {
		t.Error("Allow(other.org) = refused, want ok: it has its own breaker")
	}
	if keys := checkKeys(t, c, "courier:"); !slices.Equal(keys, []string{"courier:breaker:{example}"}) {
		t.Errorf("keys %q, want the shared breaker's only", keys)
	}
}

// A zero policy is courier's defaults: five failures in a row open it.
func TestBreakerPolicyDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, startRedis(t).Client(t))
	ctx := t.Context()
	for i := range 5 {
		st, err := b.Record(ctx, "api", courier.BreakerPolicy{}, true, false)
		if want := map[bool]courier.BreakerState{false: bClosed, true: bOpen}[i == 4]; st != want || err != nil {
			t.Errorf("failure %d with a zero policy: %v, %v; want %v", i+1, st, err, want)
		}
	}
	tests := []struct {
		policy courier.BreakerPolicy
		field  string
	}{
		{courier.BreakerPolicy{ConsecutiveFailures: -1}, "BreakerPolicy.ConsecutiveFailures"},
		{courier.BreakerPolicy{FailureRatio: 1.5}, "BreakerPolicy.FailureRatio"},
		{courier.BreakerPolicy{MinAttempts: -1}, "BreakerPolicy.MinAttempts"},
		{courier.BreakerPolicy{Window: -time.Second}, "BreakerPolicy.Window"},
		{courier.BreakerPolicy{OpenFor: -time.Second}, "BreakerPolicy.OpenFor"},
		{courier.BreakerPolicy{Probes: -1}, "BreakerPolicy.Probes"},
	}
	for _, tt := range tests {
		var ce1, ce2 *redisstore.ConfigError
		_, _, err1 := b.Allow(ctx, "api", tt.policy)
		_, err2 := b.Record(ctx, "api", tt.policy, true, false)
		if !errors.As(err1, &ce1) || ce1.Field != tt.field || !errors.As(err2, &ce2) || ce2.Field != tt.field {
			t.Errorf("Allow, Record with %+v = %v, %v; want a *ConfigError for %s", tt.policy, err1, err2, tt.field)
		}
	}
}

// Record records the outcome of an attempt whose context ended (it
// timed out, say); Allow returns the context's error.
func TestBreakerRecordOutlivesContext(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, startRedis(t).Client(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Minute}
	if st, err := b.Record(ctx, "api", p, true, false); st != bOpen || err != nil {
		t.Errorf("Record(canceled) = %v, %v; want open", st, err)
	}
	if _, _, err := b.Allow(ctx, "api", p); !errors.Is(err, context.Canceled) {
		t.Errorf("Allow(canceled) = %v, want context.Canceled", err)
	}
	if ok, _, _ := b.Allow(t.Context(), "api", p); ok {
		t.Error("Allow = ok, want refused")
	}
}

func TestBreakerScriptCacheFlushed(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	b := newBreakers(t, c)
	ctx := t.Context()
	p := courier.BreakerPolicy{ConsecutiveFailures: 2}
	b.Record(ctx, "api", p, true, false)
	b.Allow(ctx, "api", p)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Record(ctx, "api", p, true, false); st != bOpen || err != nil {
		t.Errorf("Record after SCRIPT FLUSH = %v, %v; want open", st, err)
	}
	if ok, _, err := b.Allow(ctx, "api", p); ok || err != nil {
		t.Errorf("Allow after SCRIPT FLUSH = %t, %v; want refused", ok, err)
	}
}

// Without Redis, Breakers let attempts through by default, at once, and
// ask Redis once a second; Record's error says the outcome was lost.
func TestBreakerRedisDownFailsOpen(t *testing.T) {
	t.Parallel()
	log, buf := logged()
	const timeout = 100 * time.Millisecond
	b := newBreakers(t, downClient(t), redisstore.Logger(log), redisstore.Timeout(timeout))
	ctx := t.Context()
	p := courier.BreakerPolicy{}
	for i := range 3 {
		start := time.Now()
		ok, probe, err := b.Allow(ctx, "api", p)
		if took := time.Since(start); !ok || probe || err != nil || took > timeout+slack {
			t.Errorf("Allow %d, Redis down = %t, %t, %v after %v; want ok within the timeout", i+1, ok, probe, err, took)
		}
	}
	_, err := b.Record(ctx, "api", p, true, false)
	if !errors.Is(err, redisstore.ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Record, Redis down = %v, want ErrUnavailable with the refused connection in its chain", err)
	}
	if got, want := b.Stats(), (redisstore.BreakerStats{Allowed: 3, Fallbacks: 4, RedisErrors: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if logs := checkOutageLogged(t, buf, 0); !strings.Contains(logs, "letting attempts through") {
		t.Errorf("want the warning to say attempts go through, logged:\n%s", logs)
	}
}

func TestBreakerRedisDownFailsClosed(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	b := newBreakers(t, downClient(t), redisstore.FailClosed(true), redisstore.Timeout(timeout))
	for i := range 3 {
		start := time.Now()
		ok, _, err := b.Allow(t.Context(), "api", courier.BreakerPolicy{})
		if took := time.Since(start); ok || !errors.Is(err, redisstore.ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) || took > timeout+slack {
			t.Errorf("Allow %d, Redis down, FailClosed = %t, %v after %v; want ErrUnavailable within the timeout", i+1, ok, err, took)
		}
	}
	if got, want := b.Stats(), (redisstore.BreakerStats{Fallbacks: 3, RedisErrors: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// A frozen Redis costs an Allow the Timeout, once a second.
func TestBreakerTimeoutBoundsFrozenRedis(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const timeout = 100 * time.Millisecond
	b := newBreakers(t, srv.Client(t), redisstore.Timeout(timeout))
	b.Allow(t.Context(), "api", courier.BreakerPolicy{})
	srv.Freeze()
	t.Cleanup(srv.Thaw)
	for i := range 5 {
		start := time.Now()
		ok, _, err := b.Allow(t.Context(), "api", courier.BreakerPolicy{})
		if took := time.Since(start); !ok || err != nil || took > timeout+slack {
			t.Errorf("Allow %d, Redis frozen = %t, %v after %v; want ok within the timeout", i+1, ok, err, took)
		}
	}
	if got := b.Stats().RedisErrors; got != 1 {
		t.Errorf("Stats.RedisErrors = %d, want 1: Redis is asked once a second", got)
	}
}

func TestBreakerRecoversWhenRedisIsBack(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	log, buf := logged()
	b := newBreakers(t, srv.Client(t), redisstore.Logger(log))
	other := newBreakers(t, srv.Client(t))
	ctx := t.Context()
	p := courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Minute}
	srv.Kill()
	if ok, _, err := b.Allow(ctx, "api", p); !ok || err != nil {
		t.Fatalf("Allow, Redis killed = %t, %v; want ok", ok, err)
	}
	srv.Restart()
	back := time.Now()
	for {
		if st, err := b.Record(ctx, "api", p, true, false); err == nil {
			if st != bOpen {
				t.Fatalf("Record once Redis is back = %v, want open", st)
			}
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatal("Record still fails 5s after Redis came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, _, err := other.Allow(ctx, "api", p); ok || err != nil {
		t.Errorf("another process's Allow = %t, %v; want refused: the breaker is shared again", ok, err)
	}
	checkOutageLogged(t, buf, 1)
}

// brokenUpstream answers 500 until healed, and counts the requests.
type brokenUpstream struct {
	*httptest.Server
	served atomic.Int32
	healed atomic.Bool
}

func newBrokenUpstream(t testing.TB) *brokenUpstream {
	u := &brokenUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.served.Add(1)
		if !u.healed.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// breakerSession returns a session whose breaker policy p keeps its state
// in b, without retries, closed in cleanup.
func breakerSession(t testing.TB, p courier.BreakerPolicy, b *redisstore.Breakers) *courier.Session {
	t.Helper()
	p.Store = b
	s, err := courier.New(courier.WithBreaker(p), courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// Two sessions with a Breakers and a client each, as two processes would
// have: one's failures open the breaker for the other, which sends
// nothing; after OpenFor, the other's probe closes it for both.
func TestSessionsShareBreaker(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	up := newBrokenUpstream(t)
	p := courier.BreakerPolicy{ConsecutiveFailures: 3, OpenFor: 2 * time.Second}
	a := breakerSession(t, p, newBreakers(t, srv.Client(t)))
	bs := newBreakers(t, srv.Client(t))
	b := breakerSession(t, p, bs)
	host := strings.TrimPrefix(up.URL, "http://")

	var se *courier.StatusError
	for i := range 3 {
		if _, err := a.Get(t.Context(), up.URL); !errors.As(err, &se) || se.StatusCode != 500 {
			t.Fatalf("session a's Get %d = %v, want the 500", i+1, err)
		}
	}
	if st := a.Stats().Breakers[host]; st != bOpen {
		t.Errorf("session a's Stats says its breaker is %v, want open", st)
	}
	for i := range 3 {
		if _, err := b.Get(t.Context(), up.URL); !errors.Is(err, courier.ErrCircuitOpen) {
			t.Fatalf("session b's Get %d = %v, want ErrCircuitOpen", i+1, err)
		}
	}
	if n := up.served.Load(); n != 3 {
		t.Fatalf("the upstream got %d requests, want 3: an open breaker sends nothing", n)
	}

	up.healed.Store(true)
	time.Sleep(2300 * time.Millisecond)
	if _, err := b.Get(t.Context(), up.URL); err != nil {
		t.Fatalf("session b's Get past OpenFor = %v, want the probe's 200", err)
	}
	if _, err := a.Get(t.Context(), up.URL); err != nil {
		t.Fatalf("session a's Get once the probe passed = %v, want a 200", err)
	}
	if st := bs.Stats(); st.Probes != 1 || st.Closed != 1 || st.Refused != 3 {
		t.Errorf("session b's Breakers' Stats = %+v, want 1 probe, 1 closed, 3 refused", st)
	}
	checkKeys(t, srv.Client(t), "courier:")
}

// Redis down: a session fails open by default (the request goes), or,
// with FailClosed(true), fails the request unsent with ErrCircuitOpen and
// ErrUnavailable.
func TestSessionBreakerRedisDown(t *testing.T) {
	t.Parallel()
	up := newBrokenUpstream(t)
	up.healed.Store(true)
	p := courier.BreakerPolicy{}
	failOpen := breakerSession(t, p, newBreakers(t, downClient(t)))
	if _, err := failOpen.Get(t.Context(), up.URL); err != nil {
		t.Errorf("Get, Redis down = %v, want the response", err)
	}
	failClosed := breakerSession(t, p, newBreakers(t, downClient(t), redisstore.FailClosed(true)))
	_, err := failClosed.Get(t.Context(), up.URL)
	if !errors.Is(err, courier.ErrCircuitOpen) || !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("Get, Redis down, FailClosed = %v, want ErrCircuitOpen and ErrUnavailable", err)
	}
	if n := up.served.Load(); n != 1 {
		t.Errorf("the upstream got %d requests, want 1: the one failing open", n)
	}
}

// BenchmarkBreaker compares a session whose breaker is in Redis (two
// round trips an attempt: Allow and Record) with one whose breaker is its
// own, against a loopback server that always succeeds. The store-only
// case is the Breakers' own cost, without HTTP.
func BenchmarkBreaker(b *testing.B) {
	up := newBrokenUpstream(b)
	up.healed.Store(true)
	get := func(b *testing.B, p courier.BreakerPolicy) {
		s, err := courier.New(courier.WithBreaker(p), courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close(context.Background()) })
		ctx := context.Background()
		if _, err := s.Get(ctx, up.URL); err != nil { // a connection
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, up.URL); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("session/redis", func(b *testing.B) {
		get(b, courier.BreakerPolicy{Store: newBreakers(b, startRedis(b).Client(b))})
	})
	b.Run("session/in-process", func(b *testing.B) {
		get(b, courier.BreakerPolicy{})
	})
	b.Run("allow-record/redis", func(b *testing.B) {
		bs := newBreakers(b, startRedis(b).Client(b))
		ctx := context.Background()
		p := courier.BreakerPolicy{}
		b.ReportAllocs()
		for b.Loop() {
			ok, probe, err := bs.Allow(ctx, "127.0.0.1:80", p)
			if !ok || err != nil {
				b.Fatal(ok, err)
			}
			if _, err := bs.Record(ctx, "127.0.0.1:80", p, false, probe); err != nil {
				b.Fatal(err)
			}
		}
	})
}
