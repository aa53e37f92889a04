package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// probeInterval is how long Redis is taken to be unavailable after a
// call failed, before one call asks it again: an outage costs the Timeout
// once per interval, not on every call.
const probeInterval = time.Second

// redisOutage tracks whether Redis is taken to be unavailable, for a
// [Pacer], [Breakers] and a [Cache]: after a Redis call fails, no call
// asks Redis for probeInterval; then the first call that comes asks it
// (the probe), and if it succeeds Redis is up again. It logs an outage
// once when it begins (Warn) and once when it ends (Info), and counts the
// calls answered without Redis and the Redis errors.
type redisOutage struct {
	log *slog.Logger
	// down and back are the messages logged when Redis is lost and when
	// it is back.
	down, back string

	// downUntil is 0 while Redis is taken to be up; after a failed call,
	// the Unix nanoseconds before which no call asks it, and at which one
	// call (the probe) does.
	downUntil atomic.Int64
	downSince atomic.Int64
	lastErr   atomic.Pointer[error]

	fallbacks, redisErrors atomic.Int64
}

func newRedisOutage(log *slog.Logger, down, back string) *redisOutage {
	return &redisOutage{log: log, down: down, back: back}
}

// do runs call, a Redis call bounded by ctx, unless Redis is taken to be
// unavailable. It returns nil when call succeeds; ctx's error when call
// fails as ctx ends; otherwise an error that matches ErrUnavailable, with
// call's error in its chain (or the last failure's, when Redis was not
// asked), for the caller to fall back on. Each of these last is a
// fallback.
func (o *redisOutage) do(ctx context.Context, call func() error) error {
	ask, probe := o.ask()
	if !ask {
		o.fallbacks.Add(1)
		return o.unavailable(nil)
	}
	err := call()
	if err == nil {
		if probe {
			o.recovered(ctx)
		}
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	o.failed(ctx, err)
	o.fallbacks.Add(1)
	return o.unavailable(err)
}

// ask says whether this call may ask Redis: always while Redis is up;
// while it is down, only the one call that comes first after the probe
// interval, the probe.
func (o *redisOutage) ask() (ask, probe bool) {
	until := o.downUntil.Load()
	if until == 0 {
		return true, false
	}
	now := time.Now().UnixNano()
	if now < until || !o.downUntil.CompareAndSwap(until, now+int64(probeInterval)) {
		return false, false
	}
	return true, true
}

// failed notes that a Redis call failed with err. The first failure after
// Redis was up is logged.
func (o *redisOutage) failed(ctx context.Context, err error) {
	o.redisErrors.Add(1)
	o.lastErr.Store(&err)
	now := time.Now()
	if o.downUntil.Swap(now.Add(probeInterval).UnixNano()) == 0 {
		o.downSince.Store(now.UnixNano())
		o.log.LogAttrs(ctx, slog.LevelWarn, o.down,
			slog.String("error", err.Error()), slog.Duration("retry_in", probeInterval))
	}
}

// recovered notes that a probe found Redis back, and logs it.
func (o *redisOutage) recovered(ctx context.Context) {
	if o.downUntil.Swap(0) == 0 {
		return
	}
	down := time.Duration(time.Now().UnixNano() - o.downSince.Load())
	o.log.LogAttrs(ctx, slog.LevelInfo, o.back, slog.Duration("down_for", down.Round(time.Millisecond)))
}

// unavailable returns the error for a call Redis did not answer: one that
// matches ErrUnavailable and wraps cause, or the last failure while no
// call asks Redis.
func (o *redisOutage) unavailable(cause error) error {
	if cause == nil {
		if last := o.lastErr.Load(); last != nil {
			cause = *last
		}
	}
	if cause == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}
