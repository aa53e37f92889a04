// Package redisstore keeps a fleet's rate limits and pauses in Redis, so
// that every process that sends to an upstream is one client to it: one
// quota, and one pause when the upstream asks for one.
//
// A [Pacer] is a [courier.Pacer]. Make one per process with [NewPacer]
// over a go-redis client, and give it to the process's sessions:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	pacer, err := redisstore.NewPacer(rdb, courier.RateLimit{PerSecond: 100, Burst: 10}, redisstore.FailOpen(8))
//	...
//	s, err := courier.New(courier.WithPacer(pacer))
//
// Before each attempt, the session asks [Pacer.Reserve] for a turn: one
// Redis round trip, a Lua script, tells it how long to wait. After a 429
// or 503 with Retry-After, or rate-limit headers that say nothing is
// left, it calls [Pacer.Pause], and every process waits for that pause to
// end before it sends to the upstream again.
//
// # Rate limit
//
// The limit is GCRA (the generic cell rate algorithm): Redis keeps, per
// upstream, the theoretical arrival time (TAT), when the limit would be
// back at rest. A turn comes one interval (1/PerSecond) after the last
// turn taken, less the burst's tolerance: Burst turns may go at once
// after a quiet spell, and then one per interval. Taking a turn moves the
// TAT one interval on.
//
// Reserve is a reservation. The script computes when the attempt's turn
// comes; if that is within the bound the session gives (the time left
// before the request's deadline), it takes the turn and returns the wait,
// which the session sleeps. If not, it takes nothing, and the session
// fails the request at once with [courier.ErrRateLimited], leaving the
// turn to a request that can wait for it.
//
// # Keys
//
// An upstream is a request's host (host:port when the URL names a port),
// or the name [Upstream] maps it to, so that several hosts share a quota.
// Its two keys are
//
//	<prefix>rate:{<upstream>}   the TAT, in microseconds on Redis's clock
//	<prefix>pause:{<upstream>}  when the pause ends, likewise
//
// with the prefix "courier:" unless [Prefix] gives another. The braces
// make the upstream the keys' hash tag: in a Redis Cluster both keys of
// an upstream live on one node, as a script's keys must, and upstreams
// spread over the nodes.
//
// # TTLs
//
// Every key expires by itself, so that Redis holds only what matters now.
// The TAT expires once it is past (a past TAT means the same as none: the
// limit at rest), at least a few milliseconds after it is written; a
// pause's key expires when the pause ends. A fleet that stops sending
// leaves nothing behind, and a Redis that evicts or loses keys loses no
// more than a burst.
//
// # Clocks
//
// The scripts read the time from Redis (the TIME command), never from the
// processes: every process reads the same clock, whatever its own says,
// so a fleet whose clocks drift apart still shares one limit. The waits
// and pauses a Pacer returns are durations on that clock, which the
// session sleeps on its own; a round trip of latency is all they lose.
// Redis 5 and later replicate a script's writes rather than the script,
// which is what allows a script that reads the time to write.
//
// # When Redis is unavailable
//
// A Redis call that fails or takes longer than [Timeout] (100ms by
// default) makes the Pacer take Redis as unavailable. For the next
// second, no call asks Redis; then one call does (a probe), and if it
// succeeds the fleet's shared state is back, without a restart. An outage
// thus costs one Timeout per second, not one per request.
//
// While Redis is unavailable, a Pacer fails closed by default: Reserve
// returns at once an error that matches [ErrUnavailable], with the Redis
// error in its chain, and the session fails the request unsent. Match
// ErrUnavailable to tell this case: the session gives its [courier.Error]
// the kind of the Redis error, so a Redis timeout reads as
// [courier.ErrTimeout] and a refused connection to Redis as
// [courier.ErrConnect].
//
// With [FailOpen](n), each process paces itself instead, with a local
// limiter at 1/n of the limit (the burst likewise, at least 1), n being
// the number of processes, so that the fleet stays near its limit. Pauses
// asked for meanwhile are kept in the process, and held to even once
// Redis is back. [Logger] logs the outage once, at Warn, when it begins,
// and at Info when Redis is back.
//
// The Timeout and the requests' deadlines bound a Redis call only if the
// go-redis client honours context deadlines: NewPacer asks for
// ContextTimeoutEnabled in the client's options. The first call dials
// Redis within the Timeout too; a PING at start-up spares the first
// requests that. go-redis retries a refused connection and failed
// commands (DialerRetries, MaxRetries) within that bound: with its
// defaults, a Redis that is down shows as the Timeout passing rather than
// as the refused connection.
//
// # What a Pacer cannot do
//
// A turn taken before a pause began is not taken back: an attempt that is
// already waiting for its turn goes when it comes, pause or not. With c
// requests in flight at R a second, turns are taken up to c/R ahead, and
// that is how far into a pause the upstream may still see requests.
//
// Pause is bounded by its context like Reserve: a pause that a response
// asks for as its request's deadline passes may be lost (courier logs
// it).
//
// [Pacer.Stats] counts the turns, waits, pauses, fallbacks and Redis
// errors, for metrics.
package redisstore
