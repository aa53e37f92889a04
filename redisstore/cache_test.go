package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

func newCache(t testing.TB, c redis.UniversalClient, opts ...redisstore.Option) *redisstore.Cache {
	t.Helper()
	cache, err := redisstore.NewCache(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cache
}

func TestCacheRoundTrip(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	cache := newCache(t, c)
	ctx := t.Context()
	if v, err := cache.Get(ctx, "k"); v != nil || !errors.Is(err, courier.ErrCacheMiss) {
		t.Errorf("Get of a key never set = %q, %v; want ErrCacheMiss", v, err)
	}
	value := []byte("HTTP/1.1 200 OK\r\n\r\n\x00\xff")
	if err := cache.Set(ctx, "k", value, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := cache.Get(ctx, "k"); !bytes.Equal(v, value) || err != nil {
		t.Errorf("Get = %q, %v; want %q", v, err, value)
	}
	if err := cache.Set(ctx, "k", []byte("newer"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := cache.Get(ctx, "k"); string(v) != "newer" || err != nil {
		t.Errorf("Get after a second Set = %q, %v; want %q", v, err, "newer")
	}
	if err := cache.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := cache.Delete(ctx, "never-set"); err != nil {
		t.Errorf("Delete of a key never set = %v, want nil", err)
	}
	if _, err := cache.Get(ctx, "k"); !errors.Is(err, courier.ErrCacheMiss) {
		t.Errorf("Get after Delete = %v, want ErrCacheMiss", err)
	}
	want := redisstore.CacheStats{Hits: 2, Misses: 2, Sets: 2, Deletes: 2}
	if got := cache.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// A value lives for its TTL, a day when it has none; every key is under
// the prefix.
func TestCacheTTLAndPrefix(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	cache := newCache(t, c, redisstore.Prefix("fleet-c/"))
	ctx := t.Context()
	if err := cache.Set(ctx, "minute", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := cache.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	keys := checkKeys(t, c, "fleet-c/")
	slices.Sort(keys)
	if want := []string{"fleet-c/cache:forever", "fleet-c/cache:minute"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if ttl := c.PTTL(ctx, "fleet-c/cache:minute").Val(); ttl <= 50*time.Second || ttl > time.Minute {
		t.Errorf("PTTL of a value set for 1m = %v", ttl)
	}
	if ttl := c.PTTL(ctx, "fleet-c/cache:forever").Val(); ttl <= redisstore.DefaultCacheTTL-time.Minute || ttl > redisstore.DefaultCacheTTL {
		t.Errorf("PTTL of a value set without a TTL = %v, want %v", ttl, redisstore.DefaultCacheTTL)
	}
	if err := cache.Set(ctx, "brief", []byte("v"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := cache.Get(ctx, "brief")
		if errors.Is(err, courier.ErrCacheMiss) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get of a value set for 50ms, 5s later = %v, want ErrCacheMiss", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A value over MaxValueBytes is not stored, and the older one is gone.
func TestCacheMaxValueBytes(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	cache := newCache(t, c, redisstore.MaxValueBytes(16))
	ctx := t.Context()
	if err := cache.Set(ctx, "k", bytes.Repeat([]byte("a"), 16), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Get(ctx, "k"); err != nil {
		t.Fatalf("Get of a value of 16 bytes, the bound = %v", err)
	}
	if err := cache.Set(ctx, "k", bytes.Repeat([]byte("a"), 17), time.Minute); err != nil {
		t.Fatalf("Set of a value over the bound = %v, want nil", err)
	}
	if _, err := cache.Get(ctx, "k"); !errors.Is(err, courier.ErrCacheMiss) {
		t.Errorf("Get after a Set over the bound = %v, want ErrCacheMiss", err)
	}
	if st := cache.Stats(); st.TooLarge != 1 || st.Sets != 1 {
		t.Errorf("Stats = %+v, want 1 set, 1 too large", st)
	}
}

// Without Redis, each call fails at once with ErrUnavailable (a session
// takes it as a miss), and Redis is asked once a second.
func TestCacheRedisDown(t *testing.T) {
	t.Parallel()
	log, buf := logged()
	const timeout = 100 * time.Millisecond
	cache := newCache(t, downClient(t), redisstore.Timeout(timeout), redisstore.Logger(log))
	ctx := t.Context()
	calls := []func() error{
		func() error { _, err := cache.Get(ctx, "k"); return err },
		func() error { _, err := cache.Get(ctx, "k"); return err },
		func() error { return cache.Set(ctx, "k", []byte("v"), time.Minute) },
		func() error { return cache.Delete(ctx, "k") },
	}
	for i, call := range calls {
		start := time.Now()
		err := call()
		if took := time.Since(start); !errors.Is(err, redisstore.ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) ||
			errors.Is(err, courier.ErrCacheMiss) || took > timeout+slack {
			t.Errorf("call %d, Redis down = %v after %v; want ErrUnavailable with the refused connection, within the timeout", i+1, err, took)
		}
	}
	if got, want := cache.Stats(), (redisstore.CacheStats{Fallbacks: 4, RedisErrors: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	checkOutageLogged(t, buf, 0)
}

// A frozen Redis costs a call the Timeout, once a second; the others
// fail at once.
func TestCacheTimeoutBoundsFrozenRedis(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const timeout = 100 * time.Millisecond
	cache := newCache(t, srv.Client(t), redisstore.Timeout(timeout))
	cache.Get(t.Context(), "k") // a pooled connection
	srv.Freeze()
	t.Cleanup(srv.Thaw)
	start := time.Now()
	for range 20 {
		if _, err := cache.Get(t.Context(), "k"); !errors.Is(err, redisstore.ErrUnavailable) {
			t.Fatalf("Get, Redis frozen = %v, want ErrUnavailable", err)
		}
	}
	if took := time.Since(start); took > timeout+slack {
		t.Errorf("20 Gets, Redis frozen, took %v; want the timeout once, at most %v", took, timeout)
	}
	if got := cache.Stats().RedisErrors; got != 1 {
		t.Errorf("Stats.RedisErrors = %d, want 1", got)
	}
}

func TestCacheContextEnds(t *testing.T) {
	t.Parallel()
	cache := newCache(t, startRedis(t).Client(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := cache.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get(canceled) = %v, want context.Canceled", err)
	}
	if err := cache.Set(ctx, "k", nil, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Set(canceled) = %v, want context.Canceled", err)
	}
	if got := cache.Stats(); got != (redisstore.CacheStats{}) {
		t.Errorf("Stats = %+v, want nothing counted", got)
	}
}

// Redis refuses the client's password: the errors and the logs do not
// carry it; once Redis is back, the cache is shared again.
func TestCacheErrorsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	srv := startRedis(t, "--requirepass", "the-right-one")
	log, buf := logged()
	wrong := srv.Client(t, func(o *redis.Options) { o.Password = "hunter2-wrong" })
	cache := newCache(t, wrong, redisstore.Logger(log))
	_, err := cache.Get(t.Context(), "k")
	if !errors.Is(err, redisstore.ErrUnavailable) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Get with a wrong password = %v, want ErrUnavailable without the password", err)
	}
	if strings.Contains(buf.String(), "hunter2") {
		t.Errorf("the logs carry the password:\n%s", buf)
	}

	right := srv.Client(t, func(o *redis.Options) { o.Password = "the-right-one" })
	log, buf = logged()
	cache = newCache(t, right, redisstore.Logger(log))
	srv.Kill()
	if _, err := cache.Get(t.Context(), "k"); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Get, Redis killed = %v, want ErrUnavailable", err)
	}
	srv.Restart()
	back := time.Now()
	for {
		_, err := cache.Get(t.Context(), "k")
		if errors.Is(err, courier.ErrCacheMiss) {
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatalf("Get = %v 5s after Redis came back, want a miss", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs := checkOutageLogged(t, buf, 1); strings.Contains(logs, "the-right-one") {
		t.Errorf("the logs carry the Redis password:\n%s", logs)
	}
}

// cacheOrigin serves cacheable responses that name the request's
// Authorization, and counts the requests per path.
type cacheOrigin struct {
	*httptest.Server
	served map[string]*atomic.Int32
}

func newCacheOrigin(t testing.TB, paths ...string) *cacheOrigin {
	o := &cacheOrigin{served: map[string]*atomic.Int32{}}
	for _, p := range paths {
		o.served[p] = &atomic.Int32{}
	}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.served[r.URL.Path].Add(1)
		w.Header().Set("Cache-Control", "private, max-age=60")
		fmt.Fprintf(w, "for %q", r.Header.Get("Authorization"))
	}))
	t.Cleanup(o.Close)
	return o
}

// cacheSession returns a session caching in cache, shared by the
// identity "tenant", closed in cleanup.
func cacheSession(t testing.TB, cache *redisstore.Cache) *courier.Session {
	t.Helper()
	s, err := courier.New(courier.WithCache(courier.Cache{Store: cache, Identity: func(*http.Request) string { return "tenant" }}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// Two sessions with a Cache and a client each, as two processes would
// have, share what they fetch for one identity, and only that: requests
// with different credentials never share a response.
func TestSessionsShareCache(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	up := newCacheOrigin(t, "/shared", "/private")
	a := cacheSession(t, newCache(t, srv.Client(t)))
	b := cacheSession(t, newCache(t, srv.Client(t)))
	ctx := t.Context()

	get := func(s *courier.Session, path, auth string) *courier.Response {
		t.Helper()
		var opts []courier.RequestOption
		if auth != "" {
			opts = append(opts, courier.Header("Authorization", auth))
		}
		resp, err := s.Get(ctx, up.URL+path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := get(a, "/shared", ""); r.Cache != courier.CacheMiss {
		t.Errorf("session a's GET: %v, want a miss", r.Cache)
	}
	if r := get(b, "/shared", ""); r.Cache != courier.CacheHit {
		t.Errorf("session b's GET of what a fetched: %v, want a hit", r.Cache)
	}
	if n := up.served["/shared"].Load(); n != 1 {
		t.Errorf("the origin got %d requests for /shared, want 1", n)
	}

	if r := get(a, "/private", "Bearer secret-a"); r.Cache != courier.CacheMiss || string(r.Bytes()) != `for "Bearer secret-a"` {
		t.Errorf("session a's GET with its credentials: %v %q, want a miss", r.Cache, r.Bytes())
	}
	if r := get(b, "/private", "Bearer secret-b"); r.Cache != courier.CacheMiss || string(r.Bytes()) != `for "Bearer secret-b"` {
		t.Errorf("session b's GET with other credentials: %v %q, want a miss and its own response", r.Cache, r.Bytes())
	}
	if r := get(b, "/private", ""); r.Cache != courier.CacheMiss || string(r.Bytes()) != `for ""` {
		t.Errorf("session b's GET without credentials: %v %q, want a miss and its own response", r.Cache, r.Bytes())
	}
	if r := get(b, "/private", "Bearer secret-b"); r.Cache != courier.CacheHit || string(r.Bytes()) != `for "Bearer secret-b"` {
		t.Errorf("session b's GET with its credentials again: %v %q, want a hit", r.Cache, r.Bytes())
	}
	if n := up.served["/private"].Load(); n != 3 {
		t.Errorf("the origin got %d requests for /private, want 3: one per identity", n)
	}
	for _, k := range checkKeys(t, srv.Client(t), "courier:cache:") {
		if strings.Contains(k, "secret") || strings.Contains(k, "/private") {
			t.Errorf("key %q names the request", k)
		}
	}
}

// BenchmarkCacheHit compares a hit from a Cache in Redis with one from
// courier's memory cache, through a session, for a response of 4 KiB.
func BenchmarkCacheHit(b *testing.B) {
	body := strings.Repeat("x", 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, body)
	}))
	b.Cleanup(srv.Close)
	hit := func(b *testing.B, store courier.CacheStore) {
		s, err := courier.New(courier.WithCache(courier.Cache{Store: store}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close(context.Background()) })
		ctx := context.Background()
		if _, err := s.Get(ctx, srv.URL); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := s.Get(ctx, srv.URL)
			if err != nil || resp.Cache != courier.CacheHit {
				b.Fatal(resp, err)
			}
		}
	}
	b.Run("redis", func(b *testing.B) { hit(b, newCache(b, startRedis(b).Client(b))) })
	b.Run("memory", func(b *testing.B) { hit(b, courier.NewMemoryCache(1<<20)) })
}
