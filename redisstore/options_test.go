package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

// A constructor is one of the package's constructors, called with
// arguments of its own that are valid.
type constructor struct {
	name string
	new  func(redis.UniversalClient, ...redisstore.Option) error
}

var constructors = []constructor{
	{"NewPacer", func(c redis.UniversalClient, opts ...redisstore.Option) error {
		_, err := redisstore.NewPacer(c, courier.RateLimit{PerSecond: 10}, opts...)
		return err
	}},
	{"NewBreakers", func(c redis.UniversalClient, opts ...redisstore.Option) error {
		_, err := redisstore.NewBreakers(c, opts...)
		return err
	}},
	{"NewCache", func(c redis.UniversalClient, opts ...redisstore.Option) error {
		_, err := redisstore.NewCache(c, opts...)
		return err
	}},
	{"NewTokenStore", func(c redis.UniversalClient, opts ...redisstore.Option) error {
		_, err := redisstore.NewTokenStore(c, "t", opts...)
		return err
	}},
}

// configError describes err as the tests compare it: "nil", or the
// field a *ConfigError names.
func configError(err error) string {
	if err == nil {
		return "nil"
	}
	var ce *redisstore.ConfigError
	if !errors.As(err, &ce) {
		return fmt.Sprintf("%v, not a *ConfigError", err)
	}
	if !strings.HasPrefix(err.Error(), "redisstore: "+ce.Field+": ") {
		return fmt.Sprintf("*ConfigError for %s whose message %q does not start with its field", ce.Field, err)
	}
	return "*ConfigError for " + ce.Field
}

// Every option is accepted by the constructors its documentation names,
// and refused by the others with a *ConfigError that names the option and
// the constructor.
func TestOptionsByConstructor(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	all := []string{"NewPacer", "NewBreakers", "NewCache", "NewTokenStore"}
	options := []struct {
		name     string
		opt      redisstore.Option
		accepted []string
	}{
		{"Prefix", redisstore.Prefix("p:"), all},
		{"Timeout", redisstore.Timeout(time.Second), all},
		{"Logger", redisstore.Logger(nil), all},
		{"Upstream", redisstore.Upstream(func(string) string { return "" }), []string{"NewPacer", "NewBreakers"}},
		{"FailOpen", redisstore.FailOpen(2), []string{"NewPacer"}},
		{"FailClosed", redisstore.FailClosed(true), []string{"NewBreakers"}},
		{"MaxValueBytes", redisstore.MaxValueBytes(1 << 20), []string{"NewCache"}},
		{"LeaseTTL", redisstore.LeaseTTL(time.Minute), []string{"NewTokenStore"}},
		{"TokenTTL", redisstore.TokenTTL(time.Hour), []string{"NewTokenStore"}},
		{"EncryptionKey", redisstore.EncryptionKey(key1), []string{"NewTokenStore"}},
		{"DecryptionKeys", redisstore.DecryptionKeys(key2), []string{"NewTokenStore"}},
	}
	for _, o := range options {
		for _, ctor := range constructors {
			err := ctor.new(c, o.opt)
			want := "nil"
			if !slices.Contains(o.accepted, ctor.name) {
				want = "*ConfigError for " + o.name
			}
			if got := configError(err); got != want {
				t.Errorf("%s(%v) = %s, want %s", ctor.name, o.opt, got, want)
			}
			if err != nil && !strings.Contains(err.Error(), ctor.name) {
				t.Errorf("%s(%v) = %q, want the error to name %s", ctor.name, o.opt, err, ctor.name)
			}
		}
	}
}

// An option whose value is not valid is a *ConfigError that names it, for
// every constructor that accepts it.
func TestOptionsNotValid(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	for _, tt := range []struct {
		name string
		opt  redisstore.Option
	}{
		{"Prefix", redisstore.Prefix("")},
		{"Prefix", redisstore.Prefix("a{b:")},
		{"Timeout", redisstore.Timeout(0)},
		{"Timeout", redisstore.Timeout(-time.Second)},
		{"Upstream", redisstore.Upstream(nil)},
		{"FailOpen", redisstore.FailOpen(-1)},
		{"MaxValueBytes", redisstore.MaxValueBytes(0)},
		{"LeaseTTL", redisstore.LeaseTTL(50 * time.Millisecond)},
		{"TokenTTL", redisstore.TokenTTL(30 * time.Second)},
		{"EncryptionKey", redisstore.EncryptionKey(make([]byte, 16))},
		{"EncryptionKey", redisstore.EncryptionKey(nil)},
		{"DecryptionKeys", redisstore.DecryptionKeys(key1, make([]byte, 31))},
	} {
		for _, ctor := range constructors {
			if got, want := configError(ctor.new(c, tt.opt)), "*ConfigError for "+tt.name; got != want {
				t.Errorf("%s(%v) = %s, want %s", ctor.name, tt.opt, got, want)
			}
		}
	}
}

// Every constructor refuses a client that is nil or ignores deadlines,
// and a nil Option.
func TestConstructorsConfigErrors(t *testing.T) {
	t.Parallel()
	ok := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { ok.Close() })
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { noCtx.Close() })
	noCtxCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { noCtxCluster.Close() })
	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
		opts   []redisstore.Option
		field  string
	}{
		{"nil client", nil, nil, "client"},
		{"nil *redis.Client", (*redis.Client)(nil), nil, "client"},
		{"client ignoring deadlines", noCtx, nil, "client"},
		{"cluster client ignoring deadlines", noCtxCluster, nil, "client"},
		{"nil option", ok, []redisstore.Option{redisstore.Prefix("a:"), nil}, "Option"},
	} {
		for _, ctor := range constructors {
			if got, want := configError(ctor.new(tt.client, tt.opts...)), "*ConfigError for "+tt.field; got != want {
				t.Errorf("%s with %s = %s, want %s", ctor.name, tt.name, got, want)
			}
		}
	}
}

// The options print their settings, and never a key.
func TestOptionsPrint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opt  redisstore.Option
		want string
	}{
		{redisstore.Prefix("p:"), `Prefix("p:")`},
		{redisstore.Timeout(time.Second), "Timeout(1s)"},
		{redisstore.Logger(nil), "Logger(…)"},
		{redisstore.Upstream(func(string) string { return "" }), "Upstream(func)"},
		{redisstore.FailOpen(3), "FailOpen(3)"},
		{redisstore.FailClosed(true), "FailClosed(true)"},
		{redisstore.MaxValueBytes(1 << 20), "MaxValueBytes(1048576)"},
		{redisstore.LeaseTTL(time.Minute), "LeaseTTL(1m0s)"},
		{redisstore.TokenTTL(time.Hour), "TokenTTL(1h0m0s)"},
		{redisstore.EncryptionKey(make([]byte, 3)), "EncryptionKey(invalid)"},
	} {
		if got := fmt.Sprint(tt.opt); got != tt.want {
			t.Errorf("fmt.Sprint(option) = %q, want %q", got, tt.want)
		}
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, opt := range []redisstore.Option{redisstore.EncryptionKey(secret), redisstore.DecryptionKeys(secret, key1)} {
		got := fmt.Sprint(opt)
		if strings.Contains(got, "0123") || !strings.Contains(got, "id 0x") {
			t.Errorf("fmt.Sprint(key option) = %q, want its key IDs and no key", got)
		}
	}
}
