package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"github.com/redis/go-redis/v9"
)

// Breakers is a [courier.BreakerStore] that keeps circuit breakers in
// Redis: every process that uses the same Redis (and [Prefix]) shares one
// breaker per upstream, so that failures any of them sees count for all,
// and a breaker one of them opens is open for all. Give it to sessions in
// [courier.BreakerPolicy].Store.
//
// A Breakers is safe for concurrent use. It starts no goroutine and holds
// no resource: the Redis client stays the caller's, to close after the
// sessions that use it.
type Breakers struct {
	client     redis.UniversalClient
	prefix     string
	upstream   func(host string) string
	timeout    time.Duration
	failClosed bool
	out        *redisOutage
	// policy is the last policy encoded: a session passes the same one
	// on every call.
	policy atomic.Pointer[breakerPolicy]

	allowed, probes, refused atomic.Int64
	opened, closed           atomic.Int64
}

var _ courier.BreakerStore = (*Breakers)(nil)

// NewBreakers returns a Breakers that keeps its state in Redis through
// client. Its options are [Prefix], [Timeout], [Logger], [Upstream] (to
// make hosts share a breaker) and [FailClosed].
//
// The client must honour context deadlines, so that [Timeout] bounds
// Redis calls: NewBreakers refuses a *redis.Client, *redis.ClusterClient
// or *redis.Ring whose options leave ContextTimeoutEnabled false.
//
// The error, for an argument or option that is not valid, is a
// *[ConfigError] that names it. NewBreakers does not call Redis.
func NewBreakers(client redis.UniversalClient, opts ...Option) (*Breakers, error) {
	if err := checkClient(client); err != nil {
		return nil, err
	}
	o, err := newOptions(forBreakers, opts)
	if err != nil {
		return nil, err
	}
	words := "letting attempts through"
	if o.failClosed {
		words = "refusing attempts"
	}
	return &Breakers{
		client:     client,
		prefix:     o.prefix,
		upstream:   o.upstream,
		timeout:    o.timeout,
		failClosed: o.failClosed,
		out: newRedisOutage(o.logger, "redisstore: Redis unavailable, breakers "+words,
			"redisstore: Redis is back, breakers shared again"),
	}, nil
}

// breakerIdle is how long a breaker's hash outlives its last write
// beyond OpenFor and Window: an upstream no process sent to for that long
// starts again closed, with nothing counted.
const breakerIdle = time.Minute

// breakerPolicyKey is what the scripts read of a BreakerPolicy.
type breakerPolicyKey struct {
	consecutive, minAttempts, probes int
	ratio                            float64
	window, openFor                  time.Duration
}

// breakerPolicy is a BreakerPolicy as the scripts read it.
type breakerPolicy struct {
	key                             breakerPolicyKey
	consecutive, ratio, minAttempts any
	window, openFor, probes         any
	openForD                        time.Duration
	ttl                             any // of the breaker's hash, in ms
}

// policyOf returns p as the scripts read it: the last policy's encoding
// when p reads the same, as a session's calls all do.
func (b *Breakers) policyOf(p courier.BreakerPolicy) (*breakerPolicy, error) {
	k := breakerPolicyKey{p.ConsecutiveFailures, p.MinAttempts, p.Probes, p.FailureRatio, p.Window, p.OpenFor}
	if last := b.policy.Load(); last != nil && last.key == k {
		return last, nil
	}
	pol, err := encodeBreakerPolicy(k, p)
	if err != nil {
		return nil, err
	}
	b.policy.Store(pol)
	return pol, nil
}

// encodeBreakerPolicy checks p and fills in its zero fields with their
// defaults, as a session does (courier.BreakerPolicy.WithDefaults), for the
// scripts.
func encodeBreakerPolicy(k breakerPolicyKey, p courier.BreakerPolicy) (*breakerPolicy, error) {
	d, err := p.WithDefaults()
	if err != nil {
		var oe *courier.OptionError
		if errors.As(err, &oe) {
			return nil, &ConfigError{"BreakerPolicy." + strings.TrimPrefix(oe.Option, "WithBreaker."), oe.Err}
		}
		return nil, &ConfigError{"BreakerPolicy", err}
	}
	return &breakerPolicy{
		key:         k,
		consecutive: strconv.Itoa(d.ConsecutiveFailures),
		ratio:       strconv.FormatFloat(d.FailureRatio, 'g', -1, 64),
		minAttempts: strconv.Itoa(d.MinAttempts),
		window:      strconv.FormatInt(max(d.Window.Microseconds(), 1), 10),
		openFor:     strconv.FormatInt(d.OpenFor.Microseconds(), 10),
		probes:      strconv.Itoa(d.Probes),
		openForD:    d.OpenFor,
		ttl:         strconv.FormatInt((d.OpenFor + d.Window + breakerIdle).Milliseconds(), 10),
	}, nil
}

// Allow says whether an attempt to upstream may go, and whether it is a
// half-open breaker's probe, as [courier.BreakerStore] says, in one Redis
// round trip bounded by [Timeout] and ctx. A zero field of p means its
// default, as in a session; a field that is not valid is an error, a
// *[ConfigError].
//
// A probe holds one of the Probes slots of the half-open breaker until
// its outcome is recorded, or its lease ends: OpenFor, or, when ctx has a
// deadline that comes sooner, that deadline and twice the Timeout. A
// probe that is never recorded (its process died, Redis failed) thus
// frees its slot by itself, and another attempt probes.
//
// When ctx ends first, Allow returns ctx's error. While Redis is
// unavailable, Allow lets the attempt through (ok, no probe, nil error),
// or, with [FailClosed](true), returns an error that matches
// [ErrUnavailable] with the Redis error in its chain.
func (b *Breakers) Allow(ctx context.Context, upstream string, p courier.BreakerPolicy) (ok, probe bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	pol, err := b.policyOf(p)
	if err != nil {
		return false, false, err
	}
	lease := pol.openForD
	if deadline, ok := ctx.Deadline(); ok {
		lease = min(lease, time.Until(deadline)+2*b.timeout)
	}
	key := b.key(upstream)
	err = b.out.do(ctx, func() (err error) {
		ok, probe, err = b.allow(ctx, key, pol, max(lease, time.Millisecond))
		return err
	})
	switch {
	case err == nil:
		switch {
		case !ok:
			b.refused.Add(1)
		case probe:
			b.allowed.Add(1)
			b.probes.Add(1)
		default:
			b.allowed.Add(1)
		}
		return ok, probe, nil
	case b.failClosed || !errors.Is(err, ErrUnavailable):
		// Failing closed, or ctx's error.
		return false, false, err
	}
	b.allowed.Add(1)
	return true, false, nil
}

func (b *Breakers) allow(ctx context.Context, key string, pol *breakerPolicy, lease time.Duration) (ok, probe bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := breakerAllowScript.Run(ctx, b.client, []string{key},
		pol.openFor, pol.probes, max(lease.Microseconds(), 1), pol.ttl).Int64Slice()
	if err != nil {
		return false, false, err
	}
	if len(res) != 2 {
		return false, false, fmt.Errorf("redisstore: breaker allow script replied %v", res)
	}
	return res[0] == 1, res[1] == 1, nil
}

// Record adds the outcome of an attempt to upstream that Allow let
// through (probe as Allow said) and returns the breaker's state after
// it, as [courier.BreakerStore] says, in one Redis round trip bounded by
// [Timeout].
//
// Record records the outcome even when ctx has ended, within Timeout: an
// attempt that timed out is a failure the breaker must count, and a
// probe's outcome frees its slot. While Redis is unavailable, Record
// returns an error that matches [ErrUnavailable] (the outcome is lost;
// the session logs the error). A zero field of p means its default; a
// field that is not valid is a *[ConfigError].
func (b *Breakers) Record(ctx context.Context, upstream string, p courier.BreakerPolicy, failed, probe bool) (courier.BreakerState, error) {
	pol, err := b.policyOf(p)
	if err != nil {
		return courier.BreakerClosed, err
	}
	key := b.key(upstream)
	// The outcome is recorded even once ctx has ended.
	ctx = context.WithoutCancel(ctx)
	var (
		state  courier.BreakerState
		change int64
	)
	err = b.out.do(ctx, func() (err error) {
		state, change, err = b.record(ctx, key, pol, failed, probe)
		return err
	})
	if err != nil {
		return courier.BreakerClosed, err
	}
	switch change {
	case 1:
		b.opened.Add(1)
	case 2:
		b.closed.Add(1)
	}
	return state, nil
}

func (b *Breakers) record(ctx context.Context, key string, pol *breakerPolicy, failed, probe bool) (state courier.BreakerState, change int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	res, err := breakerRecordScript.Run(ctx, b.client, []string{key},
		scriptFlag(failed), scriptFlag(probe), pol.consecutive, pol.ratio, pol.minAttempts,
		pol.window, pol.openFor, pol.probes, pol.ttl).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(res) != 2 || res[0] < 0 || res[0] > 2 {
		return 0, 0, fmt.Errorf("redisstore: breaker record script replied %v", res)
	}
	return courier.BreakerState(res[0]), res[1], nil
}

func scriptFlag(b bool) any {
	if b {
		return "1"
	}
	return "0"
}

// key returns the key of the breaker that requests to host go through:
// the breaker's name (host, or what [Upstream] maps it to) is the hash
// tag.
func (b *Breakers) key(host string) string {
	return b.prefix + "breaker:{" + upstreamName(b.upstream, host) + "}"
}

// BreakerStats are a [Breakers]' counters since [NewBreakers]; see
// [Breakers.Stats].
type BreakerStats struct {
	// Allowed counts the attempts Allow let through, Redis answering or
	// not; Probes those among them that were a half-open breaker's
	// probes. Refused counts the attempts Allow refused because their
	// breaker was open, or half-open with its probes all in flight.
	Allowed, Probes, Refused int64
	// Opened counts the outcomes that opened a breaker (or opened it
	// again, a probe failing), Closed those that closed one.
	Opened, Closed int64
	// Fallbacks counts the Allow and Record calls answered without Redis
	// because it was unavailable: let through, refused with
	// ErrUnavailable, or not recorded.
	Fallbacks int64
	// RedisErrors counts the Redis calls that failed (an Allow whose
	// context ended is not counted).
	RedisErrors int64
}

// Stats returns a snapshot of the counters.
func (b *Breakers) Stats() BreakerStats {
	return BreakerStats{
		Allowed:     b.allowed.Load(),
		Probes:      b.probes.Load(),
		Refused:     b.refused.Load(),
		Opened:      b.opened.Load(),
		Closed:      b.closed.Load(),
		Fallbacks:   b.out.fallbacks.Load(),
		RedisErrors: b.out.redisErrors.Load(),
	}
}
