package redisstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/courierhttp/courier/auth/oauth2"
	"github.com/redis/go-redis/v9"
	xoauth2 "golang.org/x/oauth2"
)

// Lease polling: a caller that finds the lease held asks again after a
// wait that starts at minPoll and doubles up to maxPoll (each with jitter),
// and never lasts past the lease's expiry.
const (
	minPoll = 5 * time.Millisecond
	maxPoll = 100 * time.Millisecond
)

// writeAttempts is how many times Refresh tries to write a token it
// fetched when Redis fails (within ctx): a token whose refresh token was
// just redeemed is lost if it is not written.
const writeAttempts = 3

// A TokenStore is an [oauth2.Store] in Redis: it shares one OAuth 2.0
// token between the layers of every process that uses the same Redis,
// [Prefix] and name, so that a fleet refreshes the token once per expiry
// and redeems a rotating refresh token once. Give it to each layer with
// [oauth2.WithStore].
//
// The token lives in one key; a lease (SET NX PX, owned by a random ID per
// Refresh call) lets one caller at a time refresh it, and a fencing number
// (HINCRBY) names the owner of the lease taken last, so that a caller whose
// lease expired and was taken over cannot overwrite the newer token. See
// the package documentation, "Shared OAuth 2.0 tokens", for the keys,
// TTLs, lease and encryption.
//
// Without [EncryptionKey] the token, its refresh token included, is stored
// in plaintext: anyone who can read the Redis can use it.
//
// A TokenStore is safe for concurrent use. It starts no goroutine and holds
// no resource: the Redis client stays the caller's, to close after the
// layers that use the store.
type TokenStore struct {
	client   redis.UniversalClient
	name     string
	keys     []string // token, lease, fence
	timeout  time.Duration
	leaseTTL time.Duration
	tokenTTL time.Duration
	codec    codec
	log      *slog.Logger
}

var _ oauth2.Store = (*TokenStore)(nil)

// NewTokenStore returns a TokenStore for the token called name, shared
// through client by every process that uses the same Redis and [Prefix].
// Give each token its own name: one per client ID and tenant, say. name
// must not be empty nor contain '{' or '}': it is the hash tag of the
// token's keys.
//
// Its options are [Prefix], [Timeout], [Logger], [LeaseTTL], [TokenTTL],
// [EncryptionKey] and [DecryptionKeys].
//
// The client must honour context deadlines, so that [Timeout] bounds
// Redis calls: NewTokenStore refuses a *redis.Client,
// *redis.ClusterClient or *redis.Ring whose options leave
// ContextTimeoutEnabled false.
//
// The error, for an argument or option that is not valid, is a
// *[ConfigError] that names it. NewTokenStore does not call Redis.
func NewTokenStore(client redis.UniversalClient, name string, opts ...Option) (*TokenStore, error) {
	if err := checkClient(client); err != nil {
		return nil, err
	}
	switch {
	case name == "":
		return nil, &ConfigError{"name", errors.New("must not be empty")}
	case strings.ContainsAny(name, "{}"):
		return nil, &ConfigError{"name", fmt.Errorf("must not contain '{' or '}', got %q", name)}
	}
	o, err := newOptions(forTokenStore, opts)
	if err != nil {
		return nil, err
	}
	if o.tokenTTL < o.leaseTTL {
		return nil, &ConfigError{"TokenTTL", fmt.Errorf("must not be shorter than the LeaseTTL (%v), got %v", o.leaseTTL, o.tokenTTL)}
	}
	tag := "{" + name + "}"
	keys := []string{o.prefix + "token:" + tag, o.prefix + "token-lease:" + tag, o.prefix + "token-fence:" + tag}
	return &TokenStore{
		client:   client,
		name:     name,
		keys:     keys,
		timeout:  o.timeout,
		leaseTTL: o.leaseTTL,
		tokenTTL: o.tokenTTL,
		codec:    newCodec(keys[0], o.encrypt, o.decrypt),
		log:      o.logger,
	}, nil
}

// Load returns the stored token, or nil when there is none, in one Redis
// call bounded by [Timeout] and ctx. It does not wait for the lease.
//
// When ctx ends first, Load returns ctx's error; when Redis fails, an
// error that matches [ErrUnavailable]; when the stored token cannot be
// decrypted or decoded, one that matches [ErrTokenUnreadable].
func (s *TokenStore) Load(ctx context.Context) (*xoauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.client.Get(cctx, s.keys[0]).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, s.redisError(ctx, "load", err)
	}
	return s.codec.decode(raw)
}

// Refresh replaces stale with the token fetch returns, as [oauth2.Store]
// says: under the token's lease, unless the stored token is no longer the
// same as stale (then it returns the stored token without calling fetch).
//
// It waits for the lease while another caller holds it, asking Redis again
// after 5ms, then after twice as long each time, up to 100ms, until ctx
// ends; each Redis call is bounded by [Timeout] and ctx. A caller that sees
// the stored token replaced while it waits returns it without taking the
// lease: the token was written, and the lease released, by the caller that
// held it.
//
// fetch runs at most once, with the stored token, under a context derived
// from ctx that ends before the lease can expire: [LeaseTTL] after the
// lease was asked for, less a quarter of it (at most 5s). The token fetch
// returns is written, and the lease released, in one script that refuses
// the write when another caller has taken the lease since; Refresh then
// returns an error that matches [ErrLeaseLost]. The write is tried even
// if ctx has just ended (within [Timeout]), and tried again, twice at
// most, while ctx lasts, when Redis fails: the refresh token fetch
// redeemed is lost if it is not written. The lease is released however
// Refresh ends, even once ctx has ended (within [Timeout]).
//
// When fetch fails, Refresh keeps the stored token and returns fetch's
// error as it is. It returns ctx's error when ctx ends first, an error
// that matches [ErrUnavailable] when Redis fails, and one that matches
// [ErrTokenUnreadable] when the stored token cannot be read; it refuses
// to store a token without an access token. No error holds a token.
func (s *TokenStore) Refresh(ctx context.Context, stale *xoauth2.Token, fetch oauth2.FetchFunc) (*xoauth2.Token, error) {
	if fetch == nil {
		return nil, errors.New("redisstore: TokenStore.Refresh: nil fetch")
	}
	return s.refresh(ctx, stale, false, fetch)
}

// Save stores tok in place of the stored token, whatever that is, under
// the lease (waiting for it as Refresh does): to seed the store with a
// token obtained by an authorization code flow, which may hold only a
// refresh token, or to replace a token that can no longer be refreshed or
// read. tok must have an access token or a refresh token. The errors are
// those of Refresh.
func (s *TokenStore) Save(ctx context.Context, tok *xoauth2.Token) error {
	if tok == nil || tok.AccessToken == "" && tok.RefreshToken == "" {
		return errors.New("redisstore: TokenStore.Save: the token has neither an access token nor a refresh token")
	}
	_, err := s.refresh(ctx, nil, true, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		return tok, nil
	})
	return err
}

// refresh is Refresh, and with force Save: the stored token is replaced
// whatever it is.
func (s *TokenStore) refresh(ctx context.Context, stale *xoauth2.Token, force bool, fetch oauth2.FetchFunc) (*xoauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	owner := rand.Text()
	var (
		first []byte // the stored value when the lease was first asked for
		seen  bool
		poll  = minPoll
	)
	for {
		asked := time.Now()
		l, err := s.acquire(ctx, owner)
		if err != nil {
			// The lease may have been taken by a call whose reply was
			// lost.
			s.release(ctx, owner)
			return nil, s.redisError(ctx, "take lease", err)
		}
		if l.held {
			return s.underLease(ctx, owner, l, asked, stale, force, fetch)
		}
		if !force {
			if tok, done, err := s.replaced(l.value, first, seen, stale); done {
				return tok, err
			}
		}
		if !seen {
			first, seen = l.value, true
		}
		wait := poll/2 + mrand.N(poll/2+1)
		if l.left > 0 {
			wait = min(wait, l.left)
		}
		poll = min(2*poll, maxPoll)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// replaced reports whether a caller that waits for the lease is done: the
// stored value, raw, was written since it first looked (when seen), and
// holds a token that is not the same as stale. It then returns that token,
// or the error that it cannot be read. Only a holder of the lease writes,
// and it releases the lease in the same script: the token is the newest
// written, as under the lease.
func (s *TokenStore) replaced(raw, first []byte, seen bool, stale *xoauth2.Token) (*xoauth2.Token, bool, error) {
	if !seen || raw == nil || bytes.Equal(raw, first) {
		return nil, false, nil
	}
	tok, err := s.codec.decode(raw)
	if err != nil {
		return nil, true, err
	}
	if oauth2.SameToken(tok, stale) {
		return nil, false, nil
	}
	return tok, true, nil
}

// underLease is the part of refresh that runs once the lease l is held by
// owner, asked for at asked.
func (s *TokenStore) underLease(ctx context.Context, owner string, l lease, asked time.Time, stale *xoauth2.Token, force bool, fetch oauth2.FetchFunc) (tok *xoauth2.Token, err error) {
	released := false
	defer func() {
		if !released {
			s.release(ctx, owner)
		}
	}()
	var current *xoauth2.Token
	if l.value != nil {
		current, err = s.codec.decode(l.value)
		if err != nil && !force {
			return nil, err
		}
	}
	if !force && !oauth2.SameToken(current, stale) {
		return current, nil
	}
	fctx, cancel := context.WithDeadline(ctx, asked.Add(s.leaseTTL-leaseMargin(s.leaseTTL)))
	tok, err = fetch(fctx, current)
	cancel()
	if err != nil {
		return nil, err
	}
	if tok == nil || tok.AccessToken == "" && !force {
		return nil, errors.New("redisstore: TokenStore.Refresh: fetch returned no access token; the stored token is kept")
	}
	value, err := s.codec.encode(tok)
	if err != nil {
		return nil, err
	}
	released, err = s.writeFenced(ctx, owner, l.fence, value)
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// writeFenced writes value while the lease of owner, fenced by fence, is
// still the current one, releasing it in the same step, trying again a
// few times while ctx lasts. released says the write released the lease;
// a lease another caller took is theirs, and not to be released either.
func (s *TokenStore) writeFenced(ctx context.Context, owner, fence string, value []byte) (released bool, err error) {
	for attempt := 1; ; attempt++ {
		// The first attempt is made even if ctx has just ended: the
		// refresh token fetch redeemed would otherwise be lost.
		wctx := ctx
		if attempt == 1 {
			wctx = context.WithoutCancel(ctx)
		}
		ok, err := s.write(wctx, owner, fence, value)
		switch {
		case err == nil && ok:
			return true, nil
		case err == nil:
			// Refused: the lease is another caller's now, and release
			// leaves it alone.
			return false, fmt.Errorf("%w: another caller took the lease of token %q while fetch ran; the token fetched was not stored", ErrLeaseLost, s.name)
		case ctx.Err() != nil || attempt == writeAttempts:
			return false, s.redisError(ctx, "write token", err)
		}
		t := time.NewTimer(time.Duration(attempt) * 20 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// leaseMargin is how long before the lease expires fetch must have
// returned: a quarter of the lease, at most 5s.
func leaseMargin(ttl time.Duration) time.Duration {
	return min(ttl/4, 5*time.Second)
}

// A lease is what acquireScript replied.
type lease struct {
	held  bool
	fence string        // the fencing number, when held
	left  time.Duration // the time left of another caller's lease
	value []byte        // the stored token, nil when there is none
}

// acquire runs acquireScript for owner.
func (s *TokenStore) acquire(ctx context.Context, owner string) (lease, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := acquireScript.Run(ctx, s.client, s.keys, owner, s.leaseTTL.Milliseconds(), s.tokenTTL.Milliseconds()).Slice()
	if err != nil {
		return lease{}, err
	}
	if len(res) < 2 {
		return lease{}, fmt.Errorf("redisstore: lease script replied %d values, want 3", len(res))
	}
	held, _ := res[0].(int64)
	n, _ := res[1].(int64)
	l := lease{held: held == 1}
	if l.held {
		l.fence = strconv.FormatInt(n, 10)
	} else {
		l.left = time.Duration(n) * time.Millisecond
	}
	if len(res) > 2 {
		if v, ok := res[2].(string); ok {
			l.value = []byte(v)
		}
	}
	return l, nil
}

// write runs writeScript: it reports whether value was written.
func (s *TokenStore) write(ctx context.Context, owner, fence string, value []byte) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := writeScript.Run(ctx, s.client, s.keys, owner, fence, value, s.tokenTTL.Milliseconds()).Int64()
	return n == 1, err
}

// release releases owner's lease, if it still holds it, within the
// Timeout even when ctx has ended: others would otherwise wait until the
// lease expires. A failure is logged, not returned: the caller's result
// stands, and the lease expires by itself.
func (s *TokenStore) release(ctx context.Context, owner string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if err := releaseScript.Run(rctx, s.client, s.keys[1:2], owner).Err(); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "redisstore: token lease not released; it expires by itself",
			slog.String("token", s.name), slog.Duration("lease_ttl", s.leaseTTL), slog.String("error", err.Error()))
	}
}

// redisError returns the error of a failed Redis call, op: ctx's error if
// ctx has ended, else one that matches ErrUnavailable with err in its
// chain.
func (s *TokenStore) redisError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: token %q: %s: %w", ErrUnavailable, s.name, op, err)
}
