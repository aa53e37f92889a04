package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is matched, with errors.Is, by the error a [Pacer] that
// fails closed returns while Redis is unavailable. The error Redis calls
// returned (a refused connection, a timeout, an error reply) is in its
// chain too.
var ErrUnavailable = errors.New("redisstore: Redis unavailable")

// probeInterval is how long a pacer serves from its fallback after a Redis
// call failed, before one call asks Redis again: an outage costs the
// Timeout once per interval, not on every request.
const probeInterval = time.Second

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
	client    redis.UniversalClient
	interval  any // µs between turns, as the scripts read it
	burst     any
	prefix    string
	upstream  func(host string) string
	timeout   time.Duration
	local     *local // nil: fail closed
	log       *slog.Logger
	failWords string // what the pacer does while Redis is unavailable

	// downUntil is 0 while Redis is taken to be up; after a failed call,
	// the Unix nanoseconds before which no call asks it, and at which one
	// call (the probe) does.
	downUntil atomic.Int64
	downSince atomic.Int64
	lastErr   atomic.Pointer[error]

	stats counters
}

var _ courier.Pacer = (*Pacer)(nil)

// NewPacer returns a Pacer that paces every upstream to limit, shared
// through client by every process that uses the same Redis and [Prefix]:
// limit.PerSecond turns a second, up to limit.Burst at once after a quiet
// spell (0: PerSecond rounded up, at least 1, as [courier.WithRateLimit]
// has it). PerSecond must be at least one a day.
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
	o := defaults()
	for i, opt := range opts {
		if opt == nil {
			return nil, &ConfigError{"Option", fmt.Errorf("nil Option at %d", i)}
		}
		if err := opt.apply(&o); err != nil {
			return nil, err
		}
	}
	p := &Pacer{
		client: client,
		// Boxed once, not on every call.
		interval:  any(strconv.FormatFloat(1e6/limit.PerSecond, 'g', -1, 64)),
		burst:     any(strconv.Itoa(burst)),
		prefix:    o.prefix,
		upstream:  o.upstream,
		timeout:   o.timeout,
		log:       o.logger,
		failWords: "refusing attempts",
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if o.instances > 0 {
		p.local = newLocal(limit.PerSecond, burst, o.instances)
		p.failWords = "pacing each process on its own"
	}
	return p, nil
}

// checkClient refuses a nil client, and one that would ignore the
// deadlines of contexts.
func checkClient(client redis.UniversalClient) error {
	var enabled bool
	switch c := client.(type) {
	case nil:
		return &ConfigError{"client", errors.New("nil")}
	case *redis.Client:
		if c == nil {
			return &ConfigError{"client", errors.New("nil")}
		}
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		if c == nil {
			return &ConfigError{"client", errors.New("nil")}
		}
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		if c == nil {
			return &ConfigError{"client", errors.New("nil")}
		}
		enabled = c.Options().ContextTimeoutEnabled
	default:
		return nil
	}
	if !enabled {
		return &ConfigError{"client", errors.New("ContextTimeoutEnabled is false: Redis calls would outlast the pacer's Timeout and the requests' deadlines; set it in the client's options")}
	}
	return nil
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
	ask, probe := p.ask()
	var cause error
	if ask {
		start := time.Now()
		r, err := p.reserve(ctx, name, within)
		if err == nil {
			if probe {
				p.recovered(ctx)
			}
			p.stats.count(r)
			return r, nil
		}
		if ctx.Err() != nil {
			return courier.Reservation{}, ctx.Err()
		}
		cause = p.failed(ctx, err)
		if within >= 0 {
			// The failed call took some of the time there was.
			within = max(within-time.Since(start), 0)
		}
	}
	p.stats.fallbacks.Add(1)
	if p.local == nil {
		return courier.Reservation{}, p.unavailable(cause)
	}
	r := p.local.reserve(name, time.Now(), within)
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
	ask, probe := p.ask()
	var cause error
	if ask {
		err := p.pause(ctx, name, d)
		if err == nil {
			if probe {
				p.recovered(ctx)
			}
			p.stats.pauses.Add(1)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cause = p.failed(ctx, err)
	}
	p.stats.fallbacks.Add(1)
	if p.local == nil {
		return p.unavailable(cause)
	}
	p.local.pause(name, time.Now().Add(d))
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
func (p *Pacer) quota(host string) string {
	if p.upstream == nil {
		return host
	}
	if name := p.upstream(host); name != "" {
		return name
	}
	return host
}

// key returns the key of kind ("rate:" or "pause:") for quota name. The
// name is the hash tag: a quota's keys live on one node of a cluster, as
// a script's keys must.
func (p *Pacer) key(kind, name string) string {
	return p.prefix + kind + "{" + name + "}"
}

// ask says whether this call may ask Redis: always while Redis is up;
// while it is down, only the one call that comes first after the probe
// interval, the probe.
func (p *Pacer) ask() (ask, probe bool) {
	until := p.downUntil.Load()
	if until == 0 {
		return true, false
	}
	now := time.Now().UnixNano()
	if now < until || !p.downUntil.CompareAndSwap(until, now+int64(probeInterval)) {
		return false, false
	}
	return true, true
}

// failed notes that a Redis call failed with err, and returns err. The
// first failure after Redis was up is logged.
func (p *Pacer) failed(ctx context.Context, err error) error {
	p.stats.redisErrors.Add(1)
	p.lastErr.Store(&err)
	now := time.Now()
	if p.downUntil.Swap(now.Add(probeInterval).UnixNano()) == 0 {
		p.downSince.Store(now.UnixNano())
		p.log.LogAttrs(ctx, slog.LevelWarn, "redisstore: Redis unavailable, "+p.failWords,
			slog.String("error", err.Error()), slog.Duration("retry_in", probeInterval))
	}
	return err
}

// recovered notes that a probe found Redis back, and logs it.
func (p *Pacer) recovered(ctx context.Context) {
	if p.downUntil.Swap(0) == 0 {
		return
	}
	down := time.Duration(time.Now().UnixNano() - p.downSince.Load())
	p.log.LogAttrs(ctx, slog.LevelInfo, "redisstore: Redis is back, pacing shared again",
		slog.Duration("down_for", down.Round(time.Millisecond)))
}

// unavailable returns the error of a pacer that fails closed: cause, or
// the last failure while no call asks Redis.
func (p *Pacer) unavailable(cause error) error {
	if cause == nil {
		if last := p.lastErr.Load(); last != nil {
			cause = *last
		}
	}
	if cause == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
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
		Fallbacks:     p.stats.fallbacks.Load(),
		RedisErrors:   p.stats.redisErrors.Load(),
	}
}

type counters struct {
	reservations, waits, refused atomic.Int64
	pauses, cooldownWaits        atomic.Int64
	fallbacks, redisErrors       atomic.Int64
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
