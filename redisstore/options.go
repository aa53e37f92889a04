package redisstore

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The defaults of the options.
const (
	// DefaultPrefix is the prefix of every key written, unless [Prefix]
	// gives another.
	DefaultPrefix = "courier:"
	// DefaultTimeout bounds each Redis call, unless [Timeout] gives
	// another bound.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultMaxValueBytes is the largest value a [Cache] stores, unless
	// [MaxValueBytes] gives another bound.
	DefaultMaxValueBytes = 8 << 20
	// DefaultLeaseTTL is how long a [TokenStore]'s lease lasts, unless
	// [LeaseTTL] gives another: longer than the 30s the oauth2 layer
	// gives a refresh by default (oauth2.WithRefreshTimeout), with 10s
	// to spare.
	DefaultLeaseTTL = 40 * time.Second
	// DefaultTokenTTL is how long a [TokenStore] keeps a token after it
	// was last written, unless [TokenTTL] gives another.
	DefaultTokenTTL = 90 * 24 * time.Hour
)

// An Option configures what a constructor makes: [NewPacer],
// [NewBreakers], [NewCache] or [NewTokenStore]. Each option's
// documentation says which constructors accept it; the others refuse it
// with a *[ConfigError] that names the option and the constructor.
// Options apply in order, and the last of a kind wins. An option prints
// its setting (never a key).
type Option interface {
	// kind returns the option's name, as a ConfigError gives it, and the
	// constructors that accept it.
	kind() (name string, by constructors)
	apply(*options) error
}

// constructors is a set of the package's constructors.
type constructors uint8

const (
	forPacer constructors = 1 << iota
	forBreakers
	forCache
	forTokenStore

	forAll = forPacer | forBreakers | forCache | forTokenStore
)

// String names the constructors in c: "NewPacer and NewBreakers".
func (c constructors) String() string {
	var names []string
	for i, name := range []string{"NewPacer", "NewBreakers", "NewCache", "NewTokenStore"} {
		if c&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// options is what the options configure, for every constructor; each
// reads what its options set.
type options struct {
	prefix   string
	upstream func(host string) string
	timeout  time.Duration
	logger   *slog.Logger // never nil once applied

	// instances, when positive, makes a Pacer fail open with a local
	// limiter sized for that many instances; 0 fails closed.
	instances  int
	failClosed bool  // Breakers
	maxValue   int64 // Cache

	// TokenStore
	leaseTTL time.Duration
	tokenTTL time.Duration
	encrypt  *tokenKey   // nil: plaintext
	decrypt  []*tokenKey // the other keys that decrypt
}

// newOptions applies opts, in order, to the defaults, for the constructor
// c: an option c does not accept, a nil one, or one that is not valid is
// a *ConfigError.
func newOptions(c constructors, opts []Option) (options, error) {
	o := options{
		prefix:   DefaultPrefix,
		timeout:  DefaultTimeout,
		maxValue: DefaultMaxValueBytes,
		leaseTTL: DefaultLeaseTTL,
		tokenTTL: DefaultTokenTTL,
	}
	for i, opt := range opts {
		if opt == nil {
			return options{}, &ConfigError{"Option", fmt.Errorf("nil Option at %d", i)}
		}
		if name, by := opt.kind(); by&c == 0 {
			return options{}, &ConfigError{name, fmt.Errorf("is not an option of %v, only of %v", c, by)}
		}
		if err := opt.apply(&o); err != nil {
			return options{}, err
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
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
		return &ConfigError{"client", errors.New("ContextTimeoutEnabled is false: Redis calls would outlast the Timeout and the callers' deadlines; set it in the client's options")}
	}
	return nil
}

// Prefix puts every key written under prefix (default [DefaultPrefix]),
// so that several fleets, or a fleet and other users of the same Redis,
// keep apart. It must not be empty nor contain '{' or '}', which would
// change the hash tag that keeps related keys together in a Redis
// Cluster. Every constructor accepts it.
func Prefix(prefix string) Option { return prefixOption(prefix) }

type prefixOption string

func (prefixOption) kind() (string, constructors) { return "Prefix", forAll }

func (p prefixOption) apply(o *options) error {
	switch {
	case p == "":
		return &ConfigError{"Prefix", errors.New("must not be empty")}
	case strings.ContainsAny(string(p), "{}"):
		return &ConfigError{"Prefix", fmt.Errorf("must not contain '{' or '}', got %q", string(p))}
	}
	o.prefix = string(p)
	return nil
}

func (p prefixOption) String() string { return fmt.Sprintf("Prefix(%q)", string(p)) }

// Upstream names what requests to host share with other hosts: the quota
// they draw from, for a [Pacer], and the breaker they go through, for
// [Breakers]. An API served as api.example.com and api-eu.example.com
// with one rate limit maps both to a name such as "example". An empty
// name means the host's own. The host is the request URL's host, with the
// port when the URL names one. By default every host has its own quota
// and breaker.
//
// name is called on every call of the Pacer or the Breakers (Reserve,
// Pause, Allow, Record), from many goroutines at once; it must be quick
// and safe for concurrent use. [NewPacer] and [NewBreakers] accept it.
func Upstream(name func(host string) string) Option { return upstreamOption(name) }

type upstreamOption func(host string) string

func (upstreamOption) kind() (string, constructors) { return "Upstream", forPacer | forBreakers }

func (u upstreamOption) apply(o *options) error {
	if u == nil {
		return &ConfigError{"Upstream", errors.New("nil func")}
	}
	o.upstream = u
	return nil
}

func (u upstreamOption) String() string { return "Upstream(func)" }

// upstreamName returns the name that requests to host share, by the
// func an [Upstream] option gave (nil: none): host when it gives none.
func upstreamName(upstream func(host string) string, host string) string {
	if upstream != nil {
		if name := upstream(host); name != "" {
			return name
		}
	}
	return host
}

// Timeout bounds each Redis call (default [DefaultTimeout]), on top of
// the caller's context: a call that takes longer counts as Redis being
// unavailable. Keep it well under the requests' timeouts: a Pacer's and
// Breakers' calls, and a Cache's reads, are paid before a request is
// sent. Every constructor accepts it.
func Timeout(d time.Duration) Option { return timeoutOption(d) }

type timeoutOption time.Duration

func (timeoutOption) kind() (string, constructors) { return "Timeout", forAll }

func (t timeoutOption) apply(o *options) error {
	if t <= 0 {
		return &ConfigError{"Timeout", fmt.Errorf("must be positive, got %v", time.Duration(t))}
	}
	o.timeout = time.Duration(t)
	return nil
}

func (t timeoutOption) String() string { return fmt.Sprintf("Timeout(%v)", time.Duration(t)) }

// Logger gives the logger that records Redis trouble. A [Pacer],
// [Breakers] and a [Cache] log when they lose Redis (Warn, once per
// outage) and when it is back (Info); a [TokenStore] logs a lease it
// could not release (Warn). Nil, the default, discards. The records carry
// the error Redis calls returned, never the client's options, credentials
// or tokens. Every constructor accepts it.
func Logger(l *slog.Logger) Option { return loggerOption{l} }

type loggerOption struct{ l *slog.Logger }

func (loggerOption) kind() (string, constructors) { return "Logger", forAll }

func (l loggerOption) apply(o *options) error {
	o.logger = l.l
	return nil
}

func (l loggerOption) String() string { return "Logger(…)" }

// FailOpen says what a [Pacer] does while Redis is unavailable: with
// instances > 0, it paces each process on its own with a local limiter
// sized for instances processes (the rate divided by instances, the burst
// too, at least 1), so that the fleet as a whole stays near the shared
// limit; pauses are then kept in the process. Give the number of
// processes that share the limit. With FailOpen(0), the default, the
// pacer fails closed: Reserve returns at once an error that matches
// [ErrUnavailable], and the attempt fails unsent.
//
// Only [NewPacer] accepts it. [Breakers] fail open by default (see
// [FailClosed]); a [Cache] without Redis misses; and a fleet cannot
// refresh a shared token without Redis (an oauth2 layer whose source does
// not redeem the shared refresh token can fall back with
// oauth2.WithStoreFallback).
func FailOpen(instances int) Option { return failOpenOption(instances) }

type failOpenOption int

func (failOpenOption) kind() (string, constructors) { return "FailOpen", forPacer }

func (f failOpenOption) apply(o *options) error {
	if f < 0 {
		return &ConfigError{"FailOpen", fmt.Errorf("instances must not be negative, got %d", int(f))}
	}
	o.instances = int(f)
	return nil
}

func (f failOpenOption) String() string { return fmt.Sprintf("FailOpen(%d)", int(f)) }

// FailClosed says what [Breakers.Allow] answers while Redis is
// unavailable. With FailClosed(false), the default, it lets every attempt
// through, as if the breaker were closed: a breaker that failed closed
// would turn a Redis outage into an outage of every upstream. With
// FailClosed(true) it refuses them with an error that matches
// [ErrUnavailable], and the session fails the request unsent with
// [courier.ErrCircuitOpen]. Only [NewBreakers] accepts it.
func FailClosed(enable bool) Option { return failClosedOption(enable) }

type failClosedOption bool

func (failClosedOption) kind() (string, constructors) { return "FailClosed", forBreakers }

func (f failClosedOption) apply(o *options) error {
	o.failClosed = bool(f)
	return nil
}

func (f failClosedOption) String() string { return fmt.Sprintf("FailClosed(%t)", bool(f)) }

// MaxValueBytes bounds the values a [Cache] stores (default
// [DefaultMaxValueBytes]): [Cache.Set] does not store a larger one. A
// value holds a response's headers and body, and the other variants kept
// under its key, so keep the bound above the session's
// [courier.Cache].MaxEntryBytes. It must be positive. Only [NewCache]
// accepts it.
func MaxValueBytes(n int64) Option { return maxValueBytesOption(n) }

type maxValueBytesOption int64

func (maxValueBytesOption) kind() (string, constructors) { return "MaxValueBytes", forCache }

func (m maxValueBytesOption) apply(o *options) error {
	if m <= 0 {
		return &ConfigError{"MaxValueBytes", fmt.Errorf("must be positive, got %d", int64(m))}
	}
	o.maxValue = int64(m)
	return nil
}

func (m maxValueBytesOption) String() string { return fmt.Sprintf("MaxValueBytes(%d)", int64(m)) }

// LeaseTTL sets how long a [TokenStore]'s lease lasts (default
// [DefaultLeaseTTL]): how long the others wait for a holder that died
// before they refresh the token themselves. A holder's fetch must end a
// quarter of the lease (at most 5s) before it expires, so give a lease
// longer than the oauth2 layer's refresh timeout (oauth2.WithRefreshTimeout)
// by a few seconds, or the lease, not that timeout, bounds the token
// request. It must be at least 100ms. Only [NewTokenStore] accepts it.
func LeaseTTL(d time.Duration) Option { return leaseTTLOption(d) }

type leaseTTLOption time.Duration

func (leaseTTLOption) kind() (string, constructors) { return "LeaseTTL", forTokenStore }

func (l leaseTTLOption) apply(o *options) error {
	if d := time.Duration(l); d < 100*time.Millisecond {
		return &ConfigError{"LeaseTTL", fmt.Errorf("must be at least 100ms, got %v", d)}
	}
	o.leaseTTL = time.Duration(l)
	return nil
}

func (l leaseTTLOption) String() string { return fmt.Sprintf("LeaseTTL(%v)", time.Duration(l)) }

// TokenTTL sets how long a [TokenStore] keeps the token after it was last
// written (default [DefaultTokenTTL]): every write sets the key's TTL
// again, so a token in use never expires, and one that no process has
// refreshed for that long is dropped with its refresh token, and must be
// saved again ([TokenStore.Save]). Make it longer than any quiet spell of
// the fleet, and no longer than the refresh token lasts. The TTL is not
// the access token's expiry, which would drop the refresh token with it.
// It must be at least a minute and not shorter than the [LeaseTTL]. Only
// [NewTokenStore] accepts it.
func TokenTTL(d time.Duration) Option { return tokenTTLOption(d) }

type tokenTTLOption time.Duration

func (tokenTTLOption) kind() (string, constructors) { return "TokenTTL", forTokenStore }

func (t tokenTTLOption) apply(o *options) error {
	if d := time.Duration(t); d < time.Minute {
		return &ConfigError{"TokenTTL", fmt.Errorf("must be at least a minute, got %v", d)}
	}
	o.tokenTTL = time.Duration(t)
	return nil
}

func (t tokenTTLOption) String() string { return fmt.Sprintf("TokenTTL(%v)", time.Duration(t)) }

// EncryptionKey makes a [TokenStore] encrypt the token it writes with key,
// 32 bytes, by AES-256-GCM with a random nonce per write, and read only
// tokens so encrypted: a token stored in plaintext is refused with
// [ErrTokenUnreadable]. Each value names its key by a key ID, one byte
// derived from the key, so that keys can rotate: see [DecryptionKeys].
// Every process that shares the token needs the key. The store keeps a
// copy of key; the option prints its key ID, never the key.
//
// Without it, the default, the token, its refresh token included, is
// stored in plaintext: whoever can read the Redis, or its backups and
// replicas, can use it. Only [NewTokenStore] accepts it.
func EncryptionKey(key []byte) Option {
	k, err := newTokenKey(key)
	return encryptionKeyOption{k, err}
}

type encryptionKeyOption struct {
	key *tokenKey
	err error
}

func (encryptionKeyOption) kind() (string, constructors) { return "EncryptionKey", forTokenStore }

func (e encryptionKeyOption) apply(o *options) error {
	if e.err != nil {
		return &ConfigError{"EncryptionKey", e.err}
	}
	o.encrypt = e.key
	return nil
}

func (e encryptionKeyOption) String() string {
	if e.err != nil {
		return "EncryptionKey(invalid)"
	}
	return "EncryptionKey(" + e.key.String() + ")"
}

// DecryptionKeys gives a [TokenStore] that has an [EncryptionKey] the
// keys it used before, 32 bytes each, to read a token written with one of
// them; it writes with the EncryptionKey only. To rotate keys: give every
// process the new key with DecryptionKeys, then make the new key the
// EncryptionKey and the old one a DecryptionKey, and drop the old key
// once the token has been written again (after its next refresh, or
// [TokenStore.Save]). The last DecryptionKeys given wins. The store keeps
// copies of the keys; the option prints their key IDs, never the keys.
// Only [NewTokenStore] accepts it.
func DecryptionKeys(keys ...[]byte) Option {
	d := decryptionKeysOption{keys: make([]*tokenKey, len(keys))}
	for i, key := range keys {
		k, err := newTokenKey(key)
		if err != nil && d.err == nil {
			d.err = fmt.Errorf("key %d: %w", i, err)
		}
		d.keys[i] = k
	}
	return d
}

type decryptionKeysOption struct {
	keys []*tokenKey
	err  error
}

func (decryptionKeysOption) kind() (string, constructors) { return "DecryptionKeys", forTokenStore }

func (d decryptionKeysOption) apply(o *options) error {
	if d.err != nil {
		return &ConfigError{"DecryptionKeys", d.err}
	}
	o.decrypt = d.keys
	return nil
}

func (d decryptionKeysOption) String() string {
	if d.err != nil {
		return "DecryptionKeys(invalid)"
	}
	ids := make([]string, len(d.keys))
	for i, k := range d.keys {
		ids[i] = k.String()
	}
	return "DecryptionKeys(" + strings.Join(ids, ", ") + ")"
}
