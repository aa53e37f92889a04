package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"github.com/redis/go-redis/v9"
)

// A Pacer is a [courier.Pacer] that keeps its state in Redis: every
// process that paces an upstream through the same Redis (and [Prefix])
// draws from one rate limit and honours one pause. Give it to sessions
// with [courier.WithPacer].
//
// The processes that share a quota should give it the same limit: each
// paces by its own against the state they share.
//
// A Pacer is safe for concurrent use. It starts no goroutine and holds no
// resource: the Redis client stays the caller's, to close after the
// sessions that use the pacer.
type Pacer struct {
	client   redis.UniversalClient
	interval any // µs between turns, as the scripts read it
	burst    any
	prefix   string
	upstream func(host string) string
	timeout  time.Duration
	local    *local // nil: fail closed
	out      *redisOutage

	stats counters
}

var _ courier.Pacer = (*Pacer)(nil)

// NewPacer returns a Pacer that paces every upstream to limit, shared
// through client by every process that uses the same Redis and [Prefix]:
// limit.PerSecond turns a second, up to limit.Burst at once after a quiet
// spell (0: PerSecond rounded up, at least 1, as [courier.WithRateLimit]
// has it). PerSecond must be at least one a day. Its options are
// [Prefix], [Timeout], [Logger], [Upstream] (to make hosts share a quota)
// and [FailOpen].
//
// The client must honour context deadlines, so that [Timeout] and the
// requests' deadlines bound Redis calls: NewPacer refuses a *redis.Client,
// *redis.ClusterClient or *redis.Ring whose options leave
// ContextTimeoutEnabled false. A client of another type is taken as it is.
//
// The error, for an argument or option that is not valid, is a
// *[ConfigError] that names it. NewPacer does not call Redis.
func NewPacer(client redis.UniversalClient, limit courier.RateLimit, opts ...Option) (*Pacer, error) {
	if err := checkClient(client); err != nil {
		return nil, err
	}
	switch {
	case math.IsNaN(limit.PerSecond) || math.IsInf(limit.PerSecond, 0) || limit.PerSecond <= 0:
		return nil, &ConfigError{"RateLimit.PerSecond", fmt.Errorf("must be a positive number, got %v", limit.PerSecond)}
	case limit.PerSecond < 1.0/86400:
		return nil, &ConfigError{"RateLimit.PerSecond", fmt.Errorf("must be at least one a day (%.3g), got %v", 1.0/86400, limit.PerSecond)}
	case limit.Burst < 0:
		return nil, &ConfigError{"RateLimit.Burst", fmt.Errorf("must not be negative, got %d", limit.Burst)}
	}
	burst := limit.Burst
	if burst == 0 {
		burst = max(1, int(math.Ceil(limit.PerSecond)))
	}
	o, err := newOptions(forPacer, opts)
	if err != nil {
		return nil, err
	}
	p := &Pacer{
		client: client,
		// Boxed once, not on every call.
		interval: any(strconv.FormatFloat(1e6/limit.PerSecond, 'g', -1, 64)),
		burst:    any(strconv.Itoa(burst)),
		prefix:   o.prefix,
		upstream: o.upstream,
		timeout:  o.timeout,
	}
	failWords := "refusing attempts"
	if o.instances > 0 {
		p.local = newLocal(limit.PerSecond, burst, o.instances)
		failWords = "pacing each process on its own"
	}
	p.out = newRedisOutage(o.logger, "redisstore: Redis unavailable, "+failWords,
		"redisstore: Redis is back, pacing shared again")
	return p, nil
}

// Reserve takes the next turn of upstream's rate limit within the bound
// (within < 0: none), as [courier.Pacer] says, in one Redis round trip
// bounded by [Timeout] and ctx. While a pause runs it takes no turn and
// returns the time left of the pause.
//
// When ctx ends first, Reserve returns ctx's error. While Redis is
// unavailable, a pacer that fails open answers from its local limiter,
// and one that fails closed returns an error that matches
// [ErrUnavailable].
func (p *Pacer) Reserve(ctx context.Context, upstream string, within time.Duration) (courier.Reservation, error) {
	if err := ctx.Err(); err != nil {
		return courier.Reservation{}, err
	}
	name := p.quota(upstream)
	if p.local != nil {
		if left, ok := p.local.paused(name, time.Now()); ok {
			p.stats.cooldownWaits.Add(1)
			return courier.Reservation{Pause: left}, nil
		}
	}
	start := time.Now()
	var r courier.Reservation
	err := p.out.do(ctx, func() (err error) {
		r, err = p.reserve(ctx, name, within)
		return err
	})
	switch {
	case err == nil:
		p.stats.count(r)
		return r, nil
	case p.local == nil || !errors.Is(err, ErrUnavailable):
		// Failing closed, or ctx's error.
		return courier.Reservation{}, err
	}
	if within >= 0 {
		// A failed call took some of the time there was.
		within = max(within-time.Since(start), 0)
	}
	r = p.local.reserve(name, time.Now(), within)
	p.stats.count(r)
	return r, nil
}

// reserve runs reserveScript for quota name.
func (p *Pacer) reserve(ctx context.Context, name string, within time.Duration) (courier.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	bound := int64(-1)
	if within >= 0 {
		bound = within.Microseconds()
	}
	keys := []string{p.key("rate:", name), p.key("pause:", name)}
	res, err := reserveScript.Run(ctx, p.client, keys, p.interval, p.burst, bound).Int64Slice()
	if err != nil {
		return courier.Reservation{}, err
	}
	if len(res) != 3 {
		return courier.Reservation{}, fmt.Errorf("redisstore: reserve script replied %v", res)
	}
	if pause := time.Duration(res[2]) * time.Microsecond; pause > 0 {
		return courier.Reservation{Pause: pause}, nil
	}
	return courier.Reservation{Turn: time.Duration(res[1]) * time.Microsecond, OK: res[0] == 1}, nil
}

// Pause holds every attempt to upstream back for d from now, on Redis's
// clock, or longer if a pause already runs that ends later, in one Redis
// round trip bounded by [Timeout] and ctx. A d that is not positive does
// nothing.
//
// When ctx ends first, Pause returns ctx's error. While Redis is
// unavailable, a pacer that fails open keeps the pause in the process,
// and one that fails closed returns an error that matches
// [ErrUnavailable].
func (p *Pacer) Pause(ctx context.Context, upstream string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name := p.quota(upstream)
	err := p.out.do(ctx, func() error { return p.pause(ctx, name, d) })
	switch {
	case err == nil:
	case p.local == nil || !errors.Is(err, ErrUnavailable):
		// Failing closed, or ctx's error.
		return err
	default:
		p.local.pause(name, time.Now().Add(d))
	}
	p.stats.pauses.Add(1)
	return nil
}

// pause runs pauseScript for quota name.
func (p *Pacer) pause(ctx context.Context, name string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return pauseScript.Run(ctx, p.client, []string{p.key("pause:", name)}, max(d.Microseconds(), 1)).Err()
}

// quota returns the name of the quota that requests to host draw from.
func (p *Pacer) quota(host string) string { return upstreamName(p.upstream, host) }

// key returns the key of kind ("rate:" or "pause:") for quota name. The
// name is the hash tag: a quota's keys live on one node of a cluster, as
// a script's keys must.
func (p *Pacer) key(kind, name string) string {
	return p.prefix + kind + "{" + name + "}"
}

// Stats are a [Pacer]'s counters since [NewPacer]; see [Pacer.Stats].
type Stats struct {
	// Reservations counts the turns Reserve took, from Redis or from the
	// local limiter; Waits those among them that came later than at once
	// (the attempt had to wait). Refused counts the Reserve calls that
	// took no turn because it came later than the bound.
	Reservations int64
	Waits        int64
	Refused      int64
	// Pauses counts the pauses Pause recorded, in Redis or, failing open,
	// in the process.
	Pauses int64
	// CooldownWaits counts the Reserve calls answered with a pause that
	// runs.
	CooldownWaits int64
	// Fallbacks counts the Reserve and Pause calls answered without Redis
	// because it was unavailable: served by the local limiter, or refused
	// with ErrUnavailable.
	Fallbacks int64
	// RedisErrors counts the Redis calls that failed (a call the caller's
	// context ended is not counted).
	RedisErrors int64
}

// Stats returns a snapshot of the pacer's counters.
func (p *Pacer) Stats() Stats {
	return Stats{
		Reservations:  p.stats.reservations.Load(),
		Waits:         p.stats.waits.Load(),
		Refused:       p.stats.refused.Load(),
		Pauses:        p.stats.pauses.Load(),
		CooldownWaits: p.stats.cooldownWaits.Load(),
		Fallbacks:     p.out.fallbacks.Load(),
		RedisErrors:   p.out.redisErrors.Load(),
	}
}

type counters struct {
	reservations, waits, refused atomic.Int64
	pauses, cooldownWaits        atomic.Int64
}

// count counts a Reserve answer.
func (c *counters) count(r courier.Reservation) {
	switch {
	case r.Pause > 0:
		c.cooldownWaits.Add(1)
	case !r.OK:
		c.refused.Add(1)
	default:
		c.reservations.Add(1)
		if r.Turn > 0 {
			c.waits.Add(1)
		}
	}
}
