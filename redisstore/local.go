package redisstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"golang.org/x/time/rate"
)

// local paces one process on its own while Redis is unavailable, for a
// pacer that fails open: a rate limiter per quota, sized for one instance
// of the fleet, and the pauses asked for meanwhile.
type local struct {
	limit rate.Limit
	burst int

	mu     sync.Mutex
	quotas map[string]*localQuota

	// pausedUntil is the latest end of any local pause, in Unix
	// nanoseconds: before it, Reserve looks for one, even once Redis is
	// back (Redis knows nothing of it).
	pausedUntil atomic.Int64
}

type localQuota struct {
	lim   *rate.Limiter
	pause time.Time // when the quota's local pause ends
}

// maxLocalQuotas is how many quotas local keeps before it forgets those at
// rest: a pacer that meets many hosts during an outage keeps the state of
// the busy ones, not of every host it met.
const maxLocalQuotas = 1024

func newLocal(perSecond float64, burst, instances int) *local {
	return &local{
		limit:  rate.Limit(perSecond / float64(instances)),
		burst:  max(1, burst/instances),
		quotas: make(map[string]*localQuota),
	}
}

// quota returns name's state; l.mu is held.
func (l *local) quota(name string, now time.Time) *localQuota {
	if q, ok := l.quotas[name]; ok {
		return q
	}
	if len(l.quotas) >= maxLocalQuotas {
		for k, q := range l.quotas {
			if !q.pause.After(now) && q.lim.TokensAt(now) >= float64(l.burst) {
				delete(l.quotas, k)
			}
		}
	}
	q := &localQuota{lim: rate.NewLimiter(l.limit, l.burst)}
	l.quotas[name] = q
	return q
}

// reserve is Reserve on the local limiter.
func (l *local) reserve(name string, now time.Time, within time.Duration) courier.Reservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.quota(name, now)
	if q.pause.After(now) {
		return courier.Reservation{Pause: q.pause.Sub(now)}
	}
	r := q.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if within >= 0 && wait > within {
		r.CancelAt(now)
		return courier.Reservation{Turn: wait}
	}
	return courier.Reservation{Turn: wait, OK: true}
}

// pause holds name back until end, unless a local pause ends later.
func (l *local) pause(name string, end time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.quota(name, time.Now())
	if end.After(q.pause) {
		q.pause = end
	}
	if end.UnixNano() > l.pausedUntil.Load() {
		l.pausedUntil.Store(end.UnixNano()) // written under l.mu only
	}
}

// paused returns the time left of name's local pause, if one runs.
func (l *local) paused(name string, now time.Time) (time.Duration, bool) {
	if now.UnixNano() >= l.pausedUntil.Load() {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	q, ok := l.quotas[name]
	if !ok || !q.pause.After(now) {
		return 0, false
	}
	return q.pause.Sub(now), true
}
