package courier

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerPolicy configures a circuit breaker per host. A zero field means the
// default given beside it.
//
// The breaker counts attempts: transport failures and 5xx responses are
// failures (by default). It opens after ConsecutiveFailures failures in a
// row, or when at least FailureRatio of the attempts in the last Window
// failed (once there were MinAttempts of them). While open, requests to the
// host fail at once with [ErrCircuitOpen]. After OpenFor it lets Probes
// attempts through (half-open): if they all succeed it closes, if one fails
// it opens again.
//
// Sessions have no breaker unless [WithBreaker] is given. The retry budget,
// always on, already keeps a session from multiplying an outage; a breaker
// also rejects requests that would have succeeded (a host may fail on one
// endpoint only), and its thresholds depend on traffic only its user knows.
type BreakerPolicy struct {
	// ConsecutiveFailures opens the breaker after this many failed
	// attempts in a row (default 5).
	ConsecutiveFailures int
	// FailureRatio opens it when this share of the attempts in Window
	// failed (default 0.5), counted once there were MinAttempts of them
	// (default 20).
	FailureRatio float64
	MinAttempts  int
	// Window is the rolling window for FailureRatio (default 10s).
	Window time.Duration
	// OpenFor is how long the breaker stays open before probing
	// (default 30s).
	OpenFor time.Duration
	// Probes is how many attempts go through while half-open, and how many
	// successes close the breaker (default 1).
	Probes int
	// IsFailure decides whether an attempt counts as a failure (default:
	// an error, or a 5xx status).
	IsFailure func(AttemptInfo) bool
	// Store, when set, keeps the breakers' state where every process that
	// uses it shares it (package redisstore keeps it in Redis): failures
	// that any of them sees count for all, and a breaker one of them opens
	// is open for all. By default each session keeps its own.
	Store BreakerStore
}

// A BreakerStore keeps the state of circuit breakers, one per upstream (the
// request's host, host:port when the URL names a port), for the processes
// that share it. Each call carries the session's policy, defaults filled in
// (its IsFailure is the session's business): the store applies it to the
// outcomes that all processes record, atomically, on its own clock. It must
// be safe for concurrent use and should return at once when ctx ends.
type BreakerStore interface {
	// Allow says whether an attempt to upstream may go, and whether it
	// is one of the probes of a half-open breaker. An error fails the
	// attempt at once, unsent, with an error of kind ErrCircuitOpen that
	// wraps it; a store that would rather let attempts through while it
	// is unreachable returns ok instead.
	Allow(ctx context.Context, upstream string, p BreakerPolicy) (ok, probe bool, err error)
	// Record adds the outcome of an attempt that Allow let through
	// (probe as it said) and returns the breaker's state after it. Its
	// error is logged.
	Record(ctx context.Context, upstream string, p BreakerPolicy, failed, probe bool) (BreakerState, error)
}

// The defaults of BreakerPolicy.
const (
	defaultBreakerConsecutiveFailures = 5
	defaultBreakerFailureRatio        = 0.5
	defaultBreakerMinAttempts         = 20
	defaultBreakerWindow              = 10 * time.Second
	defaultBreakerOpenFor             = 30 * time.Second
)

// WithBreaker turns on a circuit breaker per host; see [BreakerPolicy].
func WithBreaker(p BreakerPolicy) Option {
	return sessionOption(func(c *config) error {
		merged, err := p.WithDefaults()
		if err != nil {
			return err
		}
		c.breaker = &merged
		return nil
	})
}

// WithDefaults returns p as a session reads it: each zero field set to its
// default, or an *[OptionError] naming the first field that is not valid
// ("WithBreaker.Window"). A [BreakerStore] called directly, not by a
// session, reads the policy it is given with it.
func (p BreakerPolicy) WithDefaults() (BreakerPolicy, error) {
	bad := func(field string, err error) (BreakerPolicy, error) {
		return p, &OptionError{"WithBreaker." + field, err}
	}
	switch {
	case p.ConsecutiveFailures < 0:
		return bad("ConsecutiveFailures", fmt.Errorf("must not be negative, got %d", p.ConsecutiveFailures))
	case math.IsNaN(p.FailureRatio) || p.FailureRatio < 0 || p.FailureRatio > 1:
		return bad("FailureRatio", fmt.Errorf("must be within [0, 1], got %v", p.FailureRatio))
	case p.MinAttempts < 0:
		return bad("MinAttempts", fmt.Errorf("must not be negative, got %d", p.MinAttempts))
	case p.Window < 0:
		return bad("Window", fmt.Errorf("negative duration %v", p.Window))
	case p.OpenFor < 0:
		return bad("OpenFor", fmt.Errorf("negative duration %v", p.OpenFor))
	case p.Probes < 0:
		return bad("Probes", fmt.Errorf("must not be negative, got %d", p.Probes))
	}
	if p.ConsecutiveFailures == 0 {
		p.ConsecutiveFailures = defaultBreakerConsecutiveFailures
	}
	if p.FailureRatio == 0 {
		p.FailureRatio = defaultBreakerFailureRatio
	}
	if p.MinAttempts == 0 {
		p.MinAttempts = defaultBreakerMinAttempts
	}
	if p.Window == 0 {
		p.Window = defaultBreakerWindow
	}
	if p.OpenFor == 0 {
		p.OpenFor = defaultBreakerOpenFor
	}
	if p.Probes == 0 {
		p.Probes = 1
	}
	if p.IsFailure == nil {
		p.IsFailure = defaultIsFailure
	}
	return p, nil
}

func defaultIsFailure(info AttemptInfo) bool {
	return info.Err != nil || info.Response != nil && statusRuleOf(info.Response.StatusCode).failure
}

// BreakerState is the state of a host's circuit breaker.
type BreakerState int

// The breaker's states.
const (
	BreakerClosed BreakerState = iota
	BreakerOpen
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// windowBuckets splits the rolling window.
const windowBuckets = 10

// breaker is one host's circuit breaker.
type breaker struct {
	p   *BreakerPolicy
	now func() time.Time

	mu          sync.Mutex
	state       BreakerState
	consecutive int
	openedAt    time.Time
	probing     int // probes in flight, half-open
	passed      int // probes that succeeded, half-open
	buckets     [windowBuckets]bucket
}

type bucket struct {
	start         time.Time
	total, failed int
}

// allowLocal reports whether an attempt may go, and whether it is a probe.
func (b *breaker) allowLocal() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen {
		if b.now().Sub(b.openedAt) < b.p.OpenFor {
			return false, false
		}
		b.state, b.probing, b.passed = BreakerHalfOpen, 0, 0
	}
	if b.state == BreakerHalfOpen {
		if b.probing >= b.p.Probes {
			return false, false
		}
		b.probing++
		return true, true
	}
	return true, false
}

// recordLocal counts an attempt's outcome.
func (b *breaker) recordLocal(failed, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.state == BreakerHalfOpen && probe {
		b.probing--
		if failed {
			b.open(now)
			return
		}
		if b.passed++; b.passed >= b.p.Probes {
			b.state, b.consecutive = BreakerClosed, 0
			b.buckets = [windowBuckets]bucket{}
		}
		return
	}
	if b.state != BreakerClosed {
		return // a straggler from before the breaker opened
	}
	width := b.p.Window / windowBuckets
	bk := &b.buckets[int(now.UnixNano()/int64(max(width, 1)))%windowBuckets]
	if now.Sub(bk.start) >= width {
		*bk = bucket{start: now.Truncate(max(width, 1))}
	}
	bk.total++
	if !failed {
		b.consecutive = 0
		return
	}
	bk.failed++
	b.consecutive++
	if b.consecutive >= b.p.ConsecutiveFailures {
		b.open(now)
		return
	}
	total, fails := 0, 0
	for _, x := range b.buckets {
		if now.Sub(x.start) < b.p.Window {
			total += x.total
			fails += x.failed
		}
	}
	if total >= b.p.MinAttempts && float64(fails) >= b.p.FailureRatio*float64(total) {
		b.open(now)
	}
}

func (b *breaker) open(now time.Time) {
	b.state, b.openedAt, b.consecutive = BreakerOpen, now, 0
	b.buckets = [windowBuckets]bucket{}
}

func (b *breaker) current() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.now().Sub(b.openedAt) >= b.p.OpenFor {
		return BreakerHalfOpen
	}
	return b.state
}

// hostBreaker is one host's breaker as the retry loop sees it: the
// session's own (breaker), or its view of one in a BreakerStore.
type hostBreaker interface {
	allow(ctx context.Context) (ok, probe bool, err error)
	record(ctx context.Context, failed, probe bool) error
	current() BreakerState
}

func (b *breaker) allow(context.Context) (ok, probe bool, err error) {
	ok, probe = b.allowLocal()
	return ok, probe, nil
}

func (b *breaker) record(_ context.Context, failed, probe bool) error {
	b.recordLocal(failed, probe)
	return nil
}

// sharedBreaker is a host's breaker kept in a BreakerStore. last is the
// state the store gave last, for Stats and for the retry loop's decision.
type sharedBreaker struct {
	store    BreakerStore
	upstream string
	p        *BreakerPolicy
	last     atomic.Int32
}

func (b *sharedBreaker) allow(ctx context.Context) (ok, probe bool, err error) {
	ok, probe, err = b.store.Allow(ctx, b.upstream, *b.p)
	if err == nil && !ok {
		b.last.Store(int32(BreakerOpen))
	}
	return ok, probe, err
}

func (b *sharedBreaker) record(ctx context.Context, failed, probe bool) error {
	st, err := b.store.Record(ctx, b.upstream, *b.p, failed, probe)
	if err != nil {
		return err
	}
	b.last.Store(int32(st))
	return nil
}

func (b *sharedBreaker) current() BreakerState { return BreakerState(b.last.Load()) }
