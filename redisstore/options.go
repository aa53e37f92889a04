package redisstore

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// DefaultPrefix is the prefix of every key a [Pacer] writes, unless
// [Prefix] gives another.
const DefaultPrefix = "courier:"

// DefaultTimeout bounds each Redis call of a [Pacer], unless [Timeout]
// gives another bound.
const DefaultTimeout = 100 * time.Millisecond

// An Option configures a [Pacer]; pass options to [NewPacer]. They apply in
// order, and the last of a kind wins.
type Option interface {
	apply(*options) error
}

// options is what the options configure.
type options struct {
	prefix   string
	upstream func(host string) string
	timeout  time.Duration
	// instances, when positive, makes the pacer fail open with a local
	// limiter sized for that many instances; 0 fails closed.
	instances int
	logger    *slog.Logger
}

func defaults() options {
	return options{prefix: DefaultPrefix, timeout: DefaultTimeout}
}

// Prefix puts every key the pacer writes under prefix (default
// [DefaultPrefix]), so that several fleets, or a fleet and other users of
// the same Redis, keep apart. It must not be empty nor contain '{' or '}',
// which would change the hash tag that keeps an upstream's keys together
// in a Redis Cluster.
func Prefix(prefix string) Option { return prefixOption(prefix) }

type prefixOption string

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

// Upstream names the quota that requests to host draw from, for hosts that
// share one: an API served as api.example.com and api-eu.example.com with
// one rate limit maps both to a name such as "example". An empty name
// means the host's own quota. The host is the request URL's host, with the
// port when the URL names one. By default every host has its own quota.
//
// name is called on every Reserve and Pause, from many goroutines at once;
// it must be quick and safe for concurrent use.
func Upstream(name func(host string) string) Option { return upstreamOption(name) }

type upstreamOption func(host string) string

func (u upstreamOption) apply(o *options) error {
	if u == nil {
		return &ConfigError{"Upstream", errors.New("nil func")}
	}
	o.upstream = u
	return nil
}

func (u upstreamOption) String() string { return "Upstream(func)" }

// Timeout bounds each Redis call the pacer makes (default
// [DefaultTimeout]), on top of the request's own context: a call that
// takes longer counts as Redis being unavailable. Keep it well under the
// requests' timeouts, as it is paid before the request is sent.
func Timeout(d time.Duration) Option { return timeoutOption(d) }

type timeoutOption time.Duration

func (t timeoutOption) apply(o *options) error {
	if t <= 0 {
		return &ConfigError{"Timeout", fmt.Errorf("must be positive, got %v", time.Duration(t))}
	}
	o.timeout = time.Duration(t)
	return nil
}

func (t timeoutOption) String() string { return fmt.Sprintf("Timeout(%v)", time.Duration(t)) }

// FailOpen says what the pacer does while Redis is unavailable: with
// instances > 0, it paces each process on its own with a local limiter
// sized for instances processes (the rate divided by instances, the burst
// too, at least 1), so that the fleet as a whole stays near the shared
// limit; pauses are then kept in the process. Give the number of
// processes that share the limit. With FailOpen(0), the default, the
// pacer fails closed: Reserve returns at once an error that matches
// [ErrUnavailable], and the attempt fails unsent.
func FailOpen(instances int) Option { return failOpenOption(instances) }

type failOpenOption int

func (f failOpenOption) apply(o *options) error {
	if f < 0 {
		return &ConfigError{"FailOpen", fmt.Errorf("instances must not be negative, got %d", int(f))}
	}
	o.instances = int(f)
	return nil
}

func (f failOpenOption) String() string { return fmt.Sprintf("FailOpen(%d)", int(f)) }

// Logger makes the pacer log when it loses Redis (Warn, once per outage)
// and when Redis is back (Info). Nil, the default, discards. The records
// carry the error Redis calls returned, never the client's options or
// credentials.
func Logger(l *slog.Logger) Option { return loggerOption{l} }

type loggerOption struct{ l *slog.Logger }

func (l loggerOption) apply(o *options) error {
	o.logger = l.l
	return nil
}

func (l loggerOption) String() string { return "Logger(…)" }

// A ConfigError reports an argument of [NewPacer] or an [Option] that is
// not valid. Field names it: "client", "RateLimit.PerSecond",
// "RateLimit.Burst", "Prefix", "Upstream", "Timeout", "FailOpen", or
// "Option" for a nil Option.
type ConfigError struct {
	Field string
	Err   error
}

// Error returns "redisstore: <field>: <cause>".
func (e *ConfigError) Error() string { return "redisstore: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }
