package redisstore_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

// newPacer returns a pacer over c, failing the test on an error. Its
// Redis timeout is long, unless opts give another: a Redis slowed down by
// a busy machine is not what most tests are about.
func newPacer(t testing.TB, c redis.UniversalClient, limit courier.RateLimit, opts ...redisstore.Option) *redisstore.Pacer {
	t.Helper()
	opts = append([]redisstore.Option{redisstore.Timeout(2 * time.Second)}, opts...)
	p, err := redisstore.NewPacer(c, limit, opts...)
	if err != nil {
		t.Fatalf("NewPacer: %v", err)
	}
	return p
}

// reserve calls Reserve, failing the test on an error.
func reserve(t testing.TB, p *redisstore.Pacer, upstream string, within time.Duration) courier.Reservation {
	t.Helper()
	r, err := p.Reserve(context.Background(), upstream, within)
	if err != nil {
		t.Fatalf("Reserve(%q, %v): %v", upstream, within, err)
	}
	return r
}

// near says whether d, a time left of want set at since or later, is
// what it should be: want less the time since then, which is at most
// time.Since(since). A millisecond covers the rounding.
func near(d, want time.Duration, since time.Time) bool {
	return want-time.Since(since)-time.Millisecond <= d && d <= want+time.Millisecond
}

func TestReserveBurstThenSpacing(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	p := newPacer(t, c, courier.RateLimit{PerSecond: 10, Burst: 3})
	start := time.Now()
	for i := range 3 {
		if r := reserve(t, p, "api:443", -1); r != (courier.Reservation{OK: true}) {
			t.Fatalf("Reserve %d = %+v, want a turn now", i+1, r)
		}
	}
	// Then one turn every 100ms from the burst, less the time the calls
	// took.
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond} {
		r := reserve(t, p, "api:443", -1)
		if !r.OK || r.Pause != 0 || !near(r.Turn, want, start) {
			t.Errorf("Reserve %d = %+v, want a turn in about %v", i+4, r, want)
		}
	}
	if got, want := p.Stats(), (redisstore.Stats{Reservations: 6, Waits: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestReserveBeyondBoundTakesNothing(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	p := newPacer(t, c, courier.RateLimit{PerSecond: 1, Burst: 1})
	ctx := context.Background()
	start := time.Now()
	reserve(t, p, "api", -1)
	tat, err := c.Get(ctx, "courier:rate:{api}").Result()
	if err != nil {
		t.Fatalf("GET the TAT: %v", err)
	}
	for _, within := range []time.Duration{0, 100 * time.Millisecond} {
		r := reserve(t, p, "api", within)
		if r.OK || r.Pause != 0 || !near(r.Turn, time.Second, start) {
			t.Errorf("Reserve(within %v) = %+v, want no turn, the next in about 1s", within, r)
		}
	}
	if got, _ := c.Get(ctx, "courier:rate:{api}").Result(); got != tat {
		t.Errorf("TAT = %s after refused reservations, want %s as before", got, tat)
	}
	// The refused reservations took nothing: the next turn is the second.
	if r := reserve(t, p, "api", 2*time.Second); !r.OK || !near(r.Turn, time.Second, start) {
		t.Errorf("Reserve(within 2s) = %+v, want the turn in about 1s", r)
	}
	if got, want := p.Stats(), (redisstore.Stats{Reservations: 2, Waits: 1, Refused: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestPauseTakesPrecedence(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	p := newPacer(t, c, courier.RateLimit{PerSecond: 100, Burst: 10})
	ctx := context.Background()
	pause := func(d time.Duration) {
		t.Helper()
		if err := p.Pause(ctx, "api", d); err != nil {
			t.Fatalf("Pause(%v): %v", d, err)
		}
	}

	first := time.Now()
	pause(time.Second)
	if r := reserve(t, p, "api", -1); r.OK || !near(r.Pause, time.Second, first) {
		t.Errorf("Reserve during a pause of 1s = %+v, want the pause's time left, no turn", r)
	}
	if n, _ := c.Exists(ctx, "courier:rate:{api}").Result(); n != 0 {
		t.Errorf("a Reserve during a pause wrote the TAT")
	}
	// A shorter pause keeps the later end; a longer one moves it.
	pause(100 * time.Millisecond)
	if r := reserve(t, p, "api", -1); !near(r.Pause, time.Second, first) {
		t.Errorf("Reserve after a shorter pause = %+v, want the first pause's time left", r)
	}
	longer := time.Now()
	pause(2 * time.Second)
	if r := reserve(t, p, "api", -1); !near(r.Pause, 2*time.Second, longer) {
		t.Errorf("Reserve after a longer pause = %+v, want its time left", r)
	}
	// Other upstreams go on.
	if r := reserve(t, p, "other", -1); r != (courier.Reservation{OK: true}) {
		t.Errorf("Reserve for another upstream = %+v, want a turn now", r)
	}
	// Pauses that do not last nothing.
	pause(0)
	pause(-time.Second)
	if got, want := p.Stats(), (redisstore.Stats{Reservations: 1, Pauses: 3, CooldownWaits: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestPauseEnds(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	p := newPacer(t, c, courier.RateLimit{PerSecond: 100, Burst: 10})
	if err := p.Pause(context.Background(), "api", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if r := reserve(t, p, "api", -1); r != (courier.Reservation{OK: true}) {
		t.Errorf("Reserve after the pause = %+v, want a turn now", r)
	}
}

func TestKeysExpire(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	p := newPacer(t, c, courier.RateLimit{PerSecond: 10, Burst: 2}, redisstore.Prefix("fleet-a/"))
	ctx := context.Background()
	start := time.Now()
	for range 4 {
		reserve(t, p, "api.example.com:8443", -1)
	}
	paused := time.Now()
	if err := p.Pause(ctx, "api.example.com:8443", time.Second); err != nil {
		t.Fatal(err)
	}
	keys := checkKeys(t, c, "fleet-a/")
	slices.Sort(keys)
	if want := []string{"fleet-a/pause:{api.example.com:8443}", "fleet-a/rate:{api.example.com:8443}"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	// The TAT is 4 turns of 100ms ahead of the first call: it matters for
	// at most 400ms. The pause key lives as long as the pause.
	if ttl := c.PTTL(ctx, "fleet-a/rate:{api.example.com:8443}").Val(); !near(ttl, 400*time.Millisecond, start) {
		t.Errorf("PTTL of the TAT = %v, want its distance to now, at most 400ms", ttl)
	}
	if ttl := c.PTTL(ctx, "fleet-a/pause:{api.example.com:8443}").Val(); !near(ttl, time.Second, paused) {
		t.Errorf("PTTL of the pause = %v, want the pause's time left, at most 1s", ttl)
	}
	// Once past, the TAT is gone, and the limit at rest.
	deadline := time.Now().Add(5 * time.Second)
	for c.Exists(ctx, "fleet-a/rate:{api.example.com:8443}").Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the TAT did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUpstreamSharesQuota(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	example := redisstore.Upstream(func(host string) string {
		if name, _, _ := strings.Cut(host, ":"); strings.HasSuffix(name, ".example.com") {
			return "example"
		}
		return ""
	})
	p := newPacer(t, c, courier.RateLimit{PerSecond: 1, Burst: 2}, example)
	for _, host := range []string{"api.example.com", "api-eu.example.com"} {
		if r := reserve(t, p, host, 0); !r.OK {
			t.Errorf("Reserve(%q) = %+v, want a turn of the shared burst", host, r)
		}
	}
	if r := reserve(t, p, "eu.example.com:8443", 0); r.OK {
		t.Errorf("Reserve(%q) = %+v, want none: the quota's burst is spent", "eu.example.com:8443", r)
	}
	if r := reserve(t, p, "other.org", 0); !r.OK {
		t.Errorf("Reserve(%q) = %+v, want a turn of its own quota", "other.org", r)
	}
	keys := checkKeys(t, c, "courier:")
	slices.Sort(keys)
	if want := []string{"courier:rate:{example}", "courier:rate:{other.org}"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
}

func TestScriptCacheFlushed(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	p := newPacer(t, c, courier.RateLimit{PerSecond: 100})
	ctx := context.Background()
	reserve(t, p, "api", -1)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// EVALSHA fails with NOSCRIPT; the pacer sends the script again.
	reserve(t, p, "api", -1)
	if err := p.Pause(ctx, "api", time.Millisecond); err != nil {
		t.Fatalf("Pause after SCRIPT FLUSH: %v", err)
	}
	if got := p.Stats().RedisErrors; got != 0 {
		t.Errorf("Stats.RedisErrors = %d, want 0", got)
	}
}

func TestNewPacerErrors(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	for _, tt := range []struct {
		name  string
		limit courier.RateLimit
		field string
	}{
		{"zero rate", courier.RateLimit{}, "RateLimit.PerSecond"},
		{"negative rate", courier.RateLimit{PerSecond: -1}, "RateLimit.PerSecond"},
		{"NaN rate", courier.RateLimit{PerSecond: math.NaN()}, "RateLimit.PerSecond"},
		{"infinite rate", courier.RateLimit{PerSecond: math.Inf(1)}, "RateLimit.PerSecond"},
		{"rate under one a day", courier.RateLimit{PerSecond: 1e-6}, "RateLimit.PerSecond"},
		{"negative burst", courier.RateLimit{PerSecond: 1, Burst: -1}, "RateLimit.Burst"},
	} {
		_, err := redisstore.NewPacer(c, tt.limit)
		if got, want := configError(err), "*ConfigError for "+tt.field; got != want {
			t.Errorf("NewPacer with %s = %s, want %s", tt.name, got, want)
		}
	}
}
