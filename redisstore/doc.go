// Package redisstore keeps in Redis what the processes of a fleet must
// share to act as one client of their upstreams. A [Pacer] shares rate
// limits, and the pauses an upstream asks for; [Breakers] share circuit
// breakers, so that failures any process sees count for all; a [Cache]
// shares cached responses; and a [TokenStore] shares an OAuth 2.0 token,
// which the fleet refreshes once per expiry.
//
// Make each once per process, over a go-redis client whose options set
// ContextTimeoutEnabled, with [NewPacer], [NewBreakers], [NewCache] or
// [NewTokenStore], and give it to the process's sessions. The
// constructors take [Option] values: [Prefix], [Timeout] and [Logger]
// configure all four, and each of the others the constructors its
// documentation names. An argument or option that is not valid, or an
// option the constructor does not take, is a *[ConfigError]. Every Redis
// call is bounded by the Timeout, every key written has a TTL, and a
// call that Redis does not answer is an error that matches
// [ErrUnavailable]; the sections below say what each type does then.
//
// The sections: "Rate limits", "Keys", "TTLs", "Clocks", "When Redis is
// unavailable" and "What a Pacer cannot do" are the Pacer's (the keys,
// TTLs and clocks the others follow too); "Circuit breakers", "HTTP
// cache", "Shared OAuth 2.0 tokens" and "Encrypting tokens" the others'.
//
// # Rate limits
//
// A [Pacer] is a [courier.Pacer]: every process that sends to an upstream
// through it is one client to it, with one quota, and one pause when the
// upstream asks for one. Give it to the process's sessions:
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
// spread over the nodes. The keys of Breakers, a Cache and a TokenStore
// live under the same prefix, hash-tagged likewise; their sections name
// them.
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
// default) makes a Pacer take Redis as unavailable, and [Breakers] and a
// [Cache] likewise. For the next second, no call asks Redis; then one
// call does (a probe), and if it succeeds the fleet's shared state is
// back, without a restart. An outage thus costs one Timeout per second,
// not one per request. (A [TokenStore] asks Redis on every call: see its
// section.)
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
// go-redis client honours context deadlines: every constructor asks for
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
//
// # Circuit breakers
//
// [Breakers] is a [courier.BreakerStore]: with it, every process that
// sends to an upstream shares one circuit breaker for it, so that
// failures any process sees count for all, and a breaker one opens is
// open for all. Make one per process with [NewBreakers] and put it in
// the sessions' breaker policy:
//
//	breakers, err := redisstore.NewBreakers(rdb)
//	...
//	s, err := courier.New(courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 5, Store: breakers}))
//
// Before each attempt, the session asks [Breakers.Allow]; after it,
// [Breakers.Record] adds its outcome. Each is one Redis round trip, a
// Lua script that applies the policy the session passes (its defaults
// filled in) to the state in Redis, atomically, on Redis's clock, as a
// session's own breaker does: it opens after ConsecutiveFailures
// failures in a row, or when a failure makes FailureRatio of the
// attempts in the last Window fail, once there were MinAttempts of them;
// it refuses attempts for OpenFor; then, half-open, it lets Probes
// attempts through, fleet-wide, closes when they all succeed and opens
// again when one fails. Outcomes recorded while it is open, and those of
// attempts that were no probe while it is half-open, are stragglers and
// change nothing. The processes that share an upstream should give it
// the same policy: each call applies its own.
//
// An upstream's breaker is one hash,
//
//	<prefix>breaker:{<upstream>}
//
// whose upstream is the hash tag, as with the Pacer's keys, and which
// [Upstream] can make several hosts share. It holds the state, when the
// breaker opened, the failures in a row, and the window as ten buckets of
// Window/10, each with its attempts and failures: buckets that leave the
// window are dropped as the window moves. A closed breaker with nothing
// counted has no key: opening starts a new hash, closing deletes it.
//
// A probe takes a lease in the hash, and holds one of the Probes slots
// until its outcome is recorded or its lease ends: OpenFor, or sooner
// when the request has a deadline (the deadline and twice the
// [Timeout]). A probe whose process dies, or whose outcome Redis never
// gets, thus frees its slot, and another attempt probes: a lost probe
// cannot hold a breaker half-open for ever. Record records an outcome
// even when the request's context has ended (within the Timeout): the
// failure of an attempt that timed out counts, and frees its probe's
// slot.
//
// Each write sets the hash's TTL to OpenFor + Window + one minute: a
// breaker that no process has written to for that long is gone, closed
// with nothing counted. A session's own breaker would remember a run of
// failures however long ago it began.
//
// While Redis is unavailable (as for a Pacer, a failed or slow call,
// then one call a second asks again), Allow lets attempts through by
// default: a breaker that failed closed would turn an outage of Redis
// into an outage of every upstream, and each session's retry budget
// still bounds what a failing upstream costs. With [FailClosed](true),
// Allow refuses them with an error that matches [ErrUnavailable], and
// the session fails the request unsent, with [courier.ErrCircuitOpen].
// Record returns an error that matches ErrUnavailable (the outcome is
// lost), which the session logs. [Logger] logs the outage once.
//
// Probes are not told apart: a probe's outcome counts for the half-open
// spell in which it is recorded, and frees the lease that ends first. A
// probe that outlives its lease (a request with no deadline, slower than
// OpenFor) may thus count for a later spell. [Breakers.Stats] counts the
// attempts allowed and refused, the probes, the breakers opened and
// closed, the fallbacks and the Redis errors.
//
// # HTTP cache
//
// [Cache] is a [courier.CacheStore]: the sessions of every process that
// shares it share the responses they cache, each identity's apart (see
// [courier.Cache].Identity). Make one per process with [NewCache]:
//
//	cache, err := redisstore.NewCache(rdb)
//	...
//	s, err := courier.New(courier.WithCache(courier.Cache{Store: cache}))
//
// A value is stored under <prefix>cache:<key>, with SET and the TTL the
// session gives (how long the entry can be of use; [DefaultCacheTTL]
// when it gives none), read with GET, and deleted with DEL when an
// unsafe method to its URL succeeds. The session's keys are hashes: no
// URL or credential is written in a key, but values hold the responses,
// headers and bodies, in clear; keep such a Redis as private as the
// responses. A value larger than [MaxValueBytes] (8 MiB by default) is
// not stored, and what its key held is deleted. Every key has a TTL, so
// a Redis with maxmemory-policy volatile-lru or allkeys-lru evicts the
// least used responses when it is full.
//
// Each call is bounded by [Timeout]. While Redis is unavailable, calls
// fail at once with an error that matches [ErrUnavailable], and Redis is
// asked again once a second: a dead Redis costs the fleet misses, not
// latency, and a session counts the errors in Stats.Cache.StoreErrors.
// An invalidation lost meanwhile leaves the entry in Redis until its
// TTL; processes may serve it while it is fresh. [Cache.Stats] counts
// hits, misses, writes, values too large, fallbacks and Redis errors.
//
// # Shared OAuth 2.0 tokens
//
// A [TokenStore] is an oauth2.Store (package
// github.com/courierhttp/courier/auth/oauth2): the oauth2 layers of every
// process given a TokenStore for the same name share one token, refresh
// it once per expiry for the whole fleet, and redeem a rotating refresh
// token once. Make one per process with [NewTokenStore], seed it once
// with [TokenStore.Save], and give it to the layers with
// oauth2.WithStore. A token has three keys, hash-tagged by its name so
// that they share a slot:
//
//	<prefix>token:{<name>}        the token
//	<prefix>token-lease:{<name>}  the lease: its owner's random ID
//	<prefix>token-fence:{<name>}  the fence: the fencing number, and the owner of the last lease
//
// Refresh takes the lease in one script (SET NX PX with a random owner
// ID per call), which also increments the fencing number, names the
// owner in the fence, and reads the stored token: the read is under the
// lease. A caller that finds the lease held asks again after 5ms, then
// twice as long each time up to 100ms, never past the lease's end, until
// its context ends; it returns as soon as it sees a new token stored,
// since a holder writes and releases in one step. Under the lease, when
// the stored token is still the stale one, fetch runs once, with the
// stored token, under a context that ends a quarter of the lease (at most
// 5s) before the lease does; then one script writes the new token and
// releases the lease, provided the fence still names this caller's lease.
// That is the fencing: a caller whose lease expired and was taken over
// writes nothing (the error matches [ErrLeaseLost]), while one whose lease
// merely expired, with no one taking it, still writes, so that the
// refresh token it redeemed is not lost. On every other path (a stored
// token not stale, fetch failing, a panic, the context ending, Redis
// failing) Refresh releases the lease if it still holds it, within the
// Timeout even once its context has ended, and keeps the stored token.
//
// The lease lasts [DefaultLeaseTTL] (40s), longer than the oauth2 layer's
// default refresh timeout of 30s; [LeaseTTL] sets it. It is also how long
// the fleet waits when the process holding it dies. The token's key
// expires [DefaultTokenTTL] (90 days) after its last write, set again on
// each write ([TokenTTL]); never with the access token, since the
// refresh token outlives it. The fence expires with the token.
//
// # Encrypting tokens
//
// Without [EncryptionKey], a TokenStore stores the token IN PLAINTEXT,
// refresh token included: whoever can read the Redis, a replica of it, or
// a backup, can call the API as the client for as long as the refresh
// token lasts. Give every process an EncryptionKey (32 random bytes, kept
// in a secret manager) unless the Redis is trusted as much as the
// credentials. The token is then sealed with AES-256-GCM, a random nonce
// for each write, and bound to its key's name, so that a value copied
// from another token's key does not open. Each value carries a key ID, a
// byte derived from the key, so that keys can rotate: [DecryptionKeys]
// names the keys that still decrypt. A store with a key refuses a
// plaintext token, and one without refuses an encrypted token, both with
// an error that matches [ErrTokenUnreadable] and says which; Save
// replaces such a token.
//
// Every Redis call of a TokenStore is bounded by its context and by
// [Timeout], and a failed one returns an error that matches
// [ErrUnavailable] (the context's error when the context ended). A write
// that times out may still land when Redis answers again; it is fenced as
// above. The errors and the log records (a lease that could not be
// released, logged at Warn through [Logger]) name the token and carry the
// Redis error, never a token or a key.
package redisstore
