package redisstore

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"github.com/redis/go-redis/v9"
)

// DefaultCacheTTL is how long a [Cache] keeps a value that [Cache.Set] is
// given no TTL for.
const DefaultCacheTTL = 24 * time.Hour

// Cache is a [courier.CacheStore] in Redis: the sessions of every process
// that uses the same Redis (and [Prefix]) share the responses they cache,
// each identity's apart (see [courier.Cache]). Give it to sessions in
// [courier.Cache].Store.
//
// A Cache is safe for concurrent use. It starts no goroutine and holds no
// resource: the Redis client stays the caller's, to close after the
// sessions that use it.
type Cache struct {
	client   redis.UniversalClient
	prefix   string
	timeout  time.Duration
	maxValue int64
	out      *redisOutage

	hits, misses, sets, deletes, tooLarge atomic.Int64
}

var _ courier.CacheStore = (*Cache)(nil)

// NewCache returns a Cache that keeps its values in Redis through client.
// Its options are [Prefix], [Timeout], [Logger] and [MaxValueBytes].
//
// The client must honour context deadlines, so that [Timeout] bounds
// Redis calls: NewCache refuses a *redis.Client, *redis.ClusterClient or
// *redis.Ring whose options leave ContextTimeoutEnabled false.
//
// The error, for an argument or option that is not valid, is a
// *[ConfigError] that names it. NewCache does not call Redis.
func NewCache(client redis.UniversalClient, opts ...Option) (*Cache, error) {
	if err := checkClient(client); err != nil {
		return nil, err
	}
	o, err := newOptions(forCache, opts)
	if err != nil {
		return nil, err
	}
	return &Cache{
		client:   client,
		prefix:   o.prefix,
		timeout:  o.timeout,
		maxValue: o.maxValue,
		out: newRedisOutage(o.logger, "redisstore: Redis unavailable, cache calls fail",
			"redisstore: Redis is back, cache shared again"),
	}, nil
}

// Get returns the value stored under key, or an error that matches
// [courier.ErrCacheMiss] when there is none, in one Redis call bounded by
// [Timeout] and ctx.
//
// When ctx ends first, Get returns ctx's error. While Redis is
// unavailable it returns at once an error that matches [ErrUnavailable],
// which a session takes as a miss.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	var (
		v    []byte
		miss bool
	)
	err := c.do(ctx, func(ctx context.Context) (err error) {
		v, err = c.client.Get(ctx, c.key(key)).Bytes()
		if errors.Is(err, redis.Nil) {
			miss = true
			return nil // an answer, not a failure
		}
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case miss:
		c.misses.Add(1)
		return nil, courier.ErrCacheMiss
	}
	c.hits.Add(1)
	return v, nil
}

// Set stores value under key for ttl (0 or less: [DefaultCacheTTL]),
// in whole milliseconds (at least one), in one Redis call bounded by
// [Timeout] and ctx. A value larger than [MaxValueBytes] is not stored, and what
// key held is deleted, as a newer response replaces it.
//
// When ctx ends first, Set returns ctx's error. While Redis is
// unavailable it returns at once an error that matches [ErrUnavailable].
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if int64(len(value)) > c.maxValue {
		c.tooLarge.Add(1)
		return c.Delete(ctx, key)
	}
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	ttl = max(ttl.Truncate(time.Millisecond), time.Millisecond)
	err := c.do(ctx, func(ctx context.Context) error {
		return c.client.Set(ctx, c.key(key), value, ttl).Err()
	})
	if err == nil {
		c.sets.Add(1)
	}
	return err
}

// Delete removes key, if present, in one Redis call bounded by [Timeout]
// and ctx.
//
// When ctx ends first, Delete returns ctx's error. While Redis is
// unavailable it returns at once an error that matches [ErrUnavailable]:
// the key stays until its TTL ends.
func (c *Cache) Delete(ctx context.Context, key string) error {
	err := c.do(ctx, func(ctx context.Context) error {
		return c.client.Del(ctx, c.key(key)).Err()
	})
	if err == nil {
		c.deletes.Add(1)
	}
	return err
}

// do runs call under the Timeout, unless Redis is taken to be
// unavailable.
func (c *Cache) do(ctx context.Context, call func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.out.do(ctx, func() error {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		return call(ctx)
	})
}

// key returns the Redis key of a session's key: under the prefix, and
// apart from the keys of a Pacer and of Breakers.
func (c *Cache) key(key string) string { return c.prefix + "cache:" + key }

// CacheStats are a [Cache]'s counters since [NewCache]; see
// [Cache.Stats].
type CacheStats struct {
	// Hits and Misses count the Get calls Redis answered with a value,
	// and without one.
	Hits, Misses int64
	// Sets counts the values stored, Deletes the keys deleted (whether
	// or not they were there). TooLarge counts the values Set did not
	// store for their size.
	Sets, Deletes, TooLarge int64
	// Fallbacks counts the calls that failed because Redis was
	// unavailable, RedisErrors the Redis calls that failed (a call whose
	// context ended is not counted).
	Fallbacks, RedisErrors int64
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{
		Hits:        c.hits.Load(),
		Misses:      c.misses.Load(),
		Sets:        c.sets.Load(),
		Deletes:     c.deletes.Load(),
		TooLarge:    c.tooLarge.Load(),
		Fallbacks:   c.out.fallbacks.Load(),
		RedisErrors: c.out.redisErrors.Load(),
	}
}
