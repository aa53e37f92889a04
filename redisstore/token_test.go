package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier/auth/oauth2"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
	xoauth2 "golang.org/x/oauth2"
)

// Every secret the token tests make contains "SECRET", so that a test can
// check that none reached an error message.

// The keys of the tests' AES-256 keys.
var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
)

// newTokenStore returns a TokenStore over c for name. Its Redis timeout is
// long, unless opts give another: a Redis slowed down by a busy machine is
// not what most tests are about.
func newTokenStore(t testing.TB, c redis.UniversalClient, name string, opts ...redisstore.Option) *redisstore.TokenStore {
	t.Helper()
	opts = append([]redisstore.Option{redisstore.Timeout(2 * time.Second)}, opts...)
	s, err := redisstore.NewTokenStore(c, name, opts...)
	if err != nil {
		t.Fatalf("NewTokenStore: %v", err)
	}
	return s
}

// tokenKeys returns the keys of the token name under prefix: the token,
// the lease and the fence.
func tokenKeys(prefix, name string) (tok, lease, fence string) {
	tag := "{" + name + "}"
	return prefix + "token:" + tag, prefix + "token-lease:" + tag, prefix + "token-fence:" + tag
}

// desc describes a token for a failure message, with no secret in it
// beyond the fake ones the tests make.
func desc(tok *xoauth2.Token) string {
	if tok == nil {
		return "nil"
	}
	return tok.AccessToken + "/" + tok.RefreshToken
}

// errAny stands for any error in a table's want column.
var errAny = errors.New("any error")

func isErr(err, want error) bool {
	if want == errAny {
		return err != nil
	}
	return errors.Is(err, want)
}

// noSecret fails the test when err's message holds a secret.
func noSecret(t testing.TB, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q holds a secret", err)
	}
}

// leaseHeld reports whether the lease of name is held.
func leaseHeld(t testing.TB, c redis.UniversalClient, name string) bool {
	t.Helper()
	_, lease, _ := tokenKeys(redisstore.DefaultPrefix, name)
	n, err := c.Exists(context.Background(), lease).Result()
	if err != nil {
		t.Fatalf("EXISTS %s: %v", lease, err)
	}
	return n == 1
}

// The semantics of oauth2.Store, as the reference MemoryStore has them
// (auth/oauth2's TestMemoryStoreRefresh), hold for a TokenStore, storing
// in plaintext and encrypted; the lease is released on every path.
func TestTokenStoreRefresh(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	errFetch := errors.New("fetch failed")
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0"}
	t1 := &xoauth2.Token{AccessToken: "at-SECRET-1", RefreshToken: "rt-SECRET-1"}
	seed := &xoauth2.Token{RefreshToken: "rt-SECRET-seed"}
	for _, mode := range []struct {
		name string
		opts []redisstore.Option
	}{
		{"plaintext", nil},
		{"encrypted", []redisstore.Option{redisstore.EncryptionKey(key1)}},
	} {
		for _, tt := range []struct {
			name     string
			stored   *xoauth2.Token
			stale    *xoauth2.Token
			fetched  *xoauth2.Token // what fetch returns
			fetchErr error
			// wantCurrent is what fetch is given, "-" when it is not called.
			wantCurrent string
			want        string // the token Refresh returns
			wantErr     error
			wantStored  string
		}{
			{"empty store", nil, nil, t1, nil, "nil", "at-SECRET-1/rt-SECRET-1", nil, "at-SECRET-1/rt-SECRET-1"},
			{"stale is stored", t0, t0, t1, nil, "at-SECRET-0/rt-SECRET-0", "at-SECRET-1/rt-SECRET-1", nil, "at-SECRET-1/rt-SECRET-1"},
			{"same access token, another copy", t0, &xoauth2.Token{AccessToken: "at-SECRET-0"}, t1, nil, "at-SECRET-0/rt-SECRET-0", "at-SECRET-1/rt-SECRET-1", nil, "at-SECRET-1/rt-SECRET-1"},
			{"replaced meanwhile", t1, t0, nil, nil, "-", "at-SECRET-1/rt-SECRET-1", nil, "at-SECRET-1/rt-SECRET-1"},
			{"nil stale, token stored", t1, nil, nil, nil, "-", "at-SECRET-1/rt-SECRET-1", nil, "at-SECRET-1/rt-SECRET-1"},
			{"stale, store empty", nil, t0, nil, nil, "-", "nil", nil, "nil"},
			{"seeded with a refresh token", seed, nil, t1, nil, "/rt-SECRET-seed", "at-SECRET-1/rt-SECRET-1", nil, "at-SECRET-1/rt-SECRET-1"},
			{"fetch fails", t0, t0, nil, errFetch, "at-SECRET-0/rt-SECRET-0", "nil", errFetch, "at-SECRET-0/rt-SECRET-0"},
			{"fetch returns no access token", t0, t0, &xoauth2.Token{RefreshToken: "rt-SECRET-1"}, nil, "at-SECRET-0/rt-SECRET-0", "nil", errAny, "at-SECRET-0/rt-SECRET-0"},
			{"fetch returns nil", t0, t0, nil, nil, "at-SECRET-0/rt-SECRET-0", "nil", errAny, "at-SECRET-0/rt-SECRET-0"},
		} {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				name := t.Name()
				s := newTokenStore(t, c, name, mode.opts...)
				if tt.stored != nil {
					if err := s.Save(t.Context(), tt.stored); err != nil {
						t.Fatalf("Save: %v", err)
					}
				}
				current := "-"
				tok, err := s.Refresh(t.Context(), tt.stale, func(_ context.Context, c *xoauth2.Token) (*xoauth2.Token, error) {
					current = desc(c)
					return tt.fetched, tt.fetchErr
				})
				stored, lerr := s.Load(t.Context())
				if lerr != nil {
					t.Fatalf("Load: %v", lerr)
				}
				if current != tt.wantCurrent || desc(tok) != tt.want || !isErr(err, tt.wantErr) || desc(stored) != tt.wantStored {
					t.Errorf("Refresh(stored %s, stale %s) = %s, %v after fetch(%s), then stores %s; want %s, %v after fetch(%s), then %s",
						desc(tt.stored), desc(tt.stale), desc(tok), err, current, desc(stored),
						tt.want, tt.wantErr, tt.wantCurrent, tt.wantStored)
				}
				noSecret(t, err)
				if leaseHeld(t, c, name) {
					t.Errorf("Refresh(stored %s, stale %s) left the lease held", desc(tt.stored), desc(tt.stale))
				}
			})
		}
	}
}

// A token goes in and out whole: access token, type, refresh token and
// expiry (Extra is lost, as Store allows); Load returns a new copy each
// time, and an empty store loads nil.
func TestTokenStoreRoundTrip(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	s := newTokenStore(t, c, "round-trip", redisstore.EncryptionKey(key1))
	if tok, err := s.Load(t.Context()); tok != nil || err != nil {
		t.Errorf("Load of an empty store = %s, %v; want nil, nil", desc(tok), err)
	}
	expiry := time.Date(2031, 2, 3, 4, 5, 6, 789, time.UTC)
	in := &xoauth2.Token{AccessToken: "at-SECRET", TokenType: "DPoP", RefreshToken: "rt-SECRET", Expiry: expiry}
	if err := s.Save(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	a, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessToken != in.AccessToken || a.TokenType != in.TokenType || a.RefreshToken != in.RefreshToken || !a.Expiry.Equal(expiry) {
		t.Errorf("Load = %+v, want %+v", a, in)
	}
	a.AccessToken = "changed"
	if b, _ := s.Load(t.Context()); b.AccessToken != in.AccessToken {
		t.Errorf("Load after a change to the token it returned = %s, want %s", desc(b), desc(in))
	}
}

// However many callers, in several processes (a store and a client each),
// refresh the same stale token at once, fetch runs once and all get its
// token.
func TestTokenStoreOneFetch(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const processes, callers = 5, 10
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0"}
	stores := make([]*redisstore.TokenStore, processes)
	for i := range stores {
		stores[i] = newTokenStore(t, srv.Client(t), "one-fetch")
	}
	if err := stores[0].Save(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	fetch := func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		n := calls.Add(1)
		time.Sleep(50 * time.Millisecond) // let the others queue for the lease
		return &xoauth2.Token{AccessToken: fmt.Sprintf("at-SECRET-%d", n)}, nil
	}
	got := make([]string, processes*callers)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			tok, err := stores[i%processes].Refresh(t.Context(), &xoauth2.Token{AccessToken: "at-SECRET-0"}, fetch)
			got[i] = fmt.Sprint(desc(tok), err)
		})
	}
	wg.Wait()
	for i, g := range got {
		if g != "at-SECRET-1/<nil>" {
			t.Errorf("caller %d: Refresh = %s, want at-SECRET-1/ <nil>", i, g)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("%d concurrent Refresh calls: fetch ran %d times, want 1", len(got), c)
	}
}

// While one caller holds the lease, Load answers at once, and a Refresh
// whose context ends gives up without calling fetch. Once the holder has
// written, a Refresh of the old token returns the new one without fetch.
func TestTokenStoreLease(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0"}
	holderStore, s := newTokenStore(t, srv.Client(t), "lease"), newTokenStore(t, srv.Client(t), "lease")
	if err := s.Save(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	holder := make(chan string, 1)
	go func() {
		tok, err := holderStore.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
			close(entered)
			<-release
			return &xoauth2.Token{AccessToken: "at-SECRET-1"}, nil
		})
		holder <- fmt.Sprint(desc(tok), err)
	}()
	<-entered

	start := time.Now()
	if tok, err := s.Load(t.Context()); desc(tok) != "at-SECRET-0/" || err != nil {
		t.Errorf("Load while a refresh runs = %s, %v; want at-SECRET-0/, nil", desc(tok), err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Load while a refresh runs took %v, want it at once (well under 1s)", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	called := false
	tok, err := s.Refresh(ctx, t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, context.DeadlineExceeded) || tok != nil || called {
		t.Errorf("Refresh whose context ends while the lease is held = %s, %v (fetch called: %v); want nil, DeadlineExceeded, not called",
			desc(tok), err, called)
	}

	close(release)
	if got := <-holder; got != "at-SECRET-1/<nil>" {
		t.Errorf("holder: Refresh = %s, want at-SECRET-1/ <nil>", got)
	}
	tok, err = s.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		called = true
		return nil, nil
	})
	if desc(tok) != "at-SECRET-1/" || err != nil || called {
		t.Errorf("Refresh of the replaced token = %s, %v (fetch called: %v); want at-SECRET-1/, nil, not called", desc(tok), err, called)
	}
}

// A caller waiting for the lease returns the token the holder wrote as
// soon as it is written, without waiting out a later holder's refresh.
func TestTokenStoreWaiterTakesWrittenToken(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a, b, d := newTokenStore(t, srv.Client(t), "waiter"), newTokenStore(t, srv.Client(t), "waiter"), newTokenStore(t, srv.Client(t), "waiter")
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0"}
	t1 := &xoauth2.Token{AccessToken: "at-SECRET-1"}
	if err := a.Save(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	enteredA, releaseA := make(chan struct{}), make(chan struct{})
	doneA := make(chan error, 1)
	go func() {
		_, err := a.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
			close(enteredA)
			<-releaseA
			return t1, nil
		})
		doneA <- err
	}()
	<-enteredA
	doneB := make(chan string, 1)
	go func() {
		tok, err := b.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
			t.Error("B's fetch called")
			return nil, nil
		})
		doneB <- fmt.Sprint(desc(tok), err)
	}()
	time.Sleep(50 * time.Millisecond) // B waits for A's lease
	close(releaseA)
	if err := <-doneA; err != nil {
		t.Fatalf("A: Refresh = %v", err)
	}
	// D refreshes t1 at once, and holds the lease until B is done.
	enteredD, releaseD := make(chan struct{}), make(chan struct{})
	doneD := make(chan struct{})
	go func() {
		defer close(doneD)
		d.Refresh(t.Context(), t1, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
			close(enteredD)
			<-releaseD
			return &xoauth2.Token{AccessToken: "at-SECRET-2"}, nil
		})
	}()
	select {
	case got := <-doneB:
		if got != "at-SECRET-1/<nil>" {
			t.Errorf("B: Refresh = %s, want A's token, at-SECRET-1/ <nil>", got)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("B still waits 5s after A wrote its token, while D holds the lease")
	}
	close(releaseD)
	<-doneD
}

// The token fetch returned is written even when the caller's context ends
// as fetch returns: the refresh token it redeemed is not lost.
func TestTokenStoreWritesAfterContextEnds(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	s := newTokenStore(t, c, "late-write")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tok, err := s.Refresh(ctx, nil, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		cancel()
		return &xoauth2.Token{AccessToken: "at-SECRET-1", RefreshToken: "rt-SECRET-1"}, nil
	})
	if desc(tok) != "at-SECRET-1/rt-SECRET-1" || err != nil {
		t.Errorf("Refresh whose context ends as fetch returns = %s, %v; want at-SECRET-1/rt-SECRET-1, nil", desc(tok), err)
	}
	if got, err := s.Load(t.Context()); desc(got) != "at-SECRET-1/rt-SECRET-1" || err != nil {
		t.Errorf("stored token = %s, %v; want at-SECRET-1/rt-SECRET-1", desc(got), err)
	}
	if leaseHeld(t, c, "late-write") {
		t.Errorf("the lease is held after Refresh")
	}
}

// A holder whose lease expired and was taken over cannot overwrite the
// newer token: its write is refused with ErrLeaseLost. Its fetch's
// context ended before the lease expired.
func TestTokenStoreFencing(t *testing.T) {
	t.Parallel()
	const leaseTTL = 300 * time.Millisecond
	srv := startRedis(t)
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0"}
	a := newTokenStore(t, srv.Client(t), "fencing", redisstore.LeaseTTL(leaseTTL))
	b := newTokenStore(t, srv.Client(t), "fencing", redisstore.LeaseTTL(leaseTTL))
	if err := a.Save(t.Context(), t0); err != nil {
		t.Fatal(err)
	}

	entered, bDone := make(chan struct{}), make(chan struct{})
	type result struct {
		tok      *xoauth2.Token
		err      error
		window   time.Duration // from Refresh to fetch's deadline
		ctxEnded bool          // fetch's context had ended when B was done
	}
	aRes := make(chan result, 1)
	go func() {
		var r result
		start := time.Now()
		r.tok, r.err = a.Refresh(t.Context(), t0, func(ctx context.Context, _ *xoauth2.Token) (*xoauth2.Token, error) {
			deadline, _ := ctx.Deadline()
			r.window = deadline.Sub(start)
			close(entered)
			<-bDone // a fetch that ignores its context: stuck past the lease
			r.ctxEnded = ctx.Err() != nil
			return &xoauth2.Token{AccessToken: "at-SECRET-A", RefreshToken: "rt-SECRET-A"}, nil
		})
		aRes <- r
	}()
	<-entered
	// B waits for A's lease to expire, takes it, finds the stale token
	// still stored, and refreshes it.
	tok, err := b.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		return &xoauth2.Token{AccessToken: "at-SECRET-B", RefreshToken: "rt-SECRET-B"}, nil
	})
	close(bDone)
	if desc(tok) != "at-SECRET-B/rt-SECRET-B" || err != nil {
		t.Errorf("B: Refresh after A's lease expired = %s, %v; want at-SECRET-B/rt-SECRET-B, nil", desc(tok), err)
	}
	r := <-aRes
	if !errors.Is(r.err, redisstore.ErrLeaseLost) || r.tok != nil {
		t.Errorf("A: Refresh whose lease was taken over = %s, %v; want nil, ErrLeaseLost", desc(r.tok), r.err)
	}
	noSecret(t, r.err)
	if r.window <= 0 || r.window > leaseTTL || !r.ctxEnded {
		t.Errorf("A: fetch's context ended %v after Refresh began (ended by the time B was done: %v); want within the lease of %v",
			r.window, r.ctxEnded, leaseTTL)
	}
	if got, err := a.Load(t.Context()); desc(got) != "at-SECRET-B/rt-SECRET-B" || err != nil {
		t.Errorf("stored token = %s, %v; want B's, at-SECRET-B/rt-SECRET-B", desc(got), err)
	}
}

// A holder whose lease expired while no one took it over still writes its
// token: the refresh token it redeemed is not lost.
func TestTokenStoreLeaseExpiredNotTakenOver(t *testing.T) {
	t.Parallel()
	const leaseTTL = 200 * time.Millisecond
	c := startRedis(t).Client(t)
	s := newTokenStore(t, c, "expired-lease", redisstore.LeaseTTL(leaseTTL))
	tok, err := s.Refresh(t.Context(), nil, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		time.Sleep(2 * leaseTTL) // ignores its context
		return &xoauth2.Token{AccessToken: "at-SECRET-1", RefreshToken: "rt-SECRET-1"}, nil
	})
	if desc(tok) != "at-SECRET-1/rt-SECRET-1" || err != nil {
		t.Errorf("Refresh whose lease expired, not taken over = %s, %v; want at-SECRET-1/rt-SECRET-1, nil", desc(tok), err)
	}
	if got, _ := s.Load(t.Context()); desc(got) != "at-SECRET-1/rt-SECRET-1" {
		t.Errorf("stored token = %s, want at-SECRET-1/rt-SECRET-1", desc(got))
	}
}

// The lease is released however Refresh ends: the next caller takes it at
// once.
func TestTokenStoreReleasesLease(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0"}
	t1 := &xoauth2.Token{AccessToken: "at-SECRET-1", RefreshToken: "rt-SECRET-1"}
	for _, tt := range []struct {
		name   string
		stored *xoauth2.Token
		opts   []redisstore.Option // of the store that refreshes
		fetch  oauth2.FetchFunc
		// cancel makes fetch's context end, as the caller gives up.
		cancel bool
	}{
		{"fetch succeeds", t0, nil, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) { return t1, nil }, false},
		{"token replaced meanwhile", t1, nil, nil, false},
		{"fetch fails", t0, nil, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) { return nil, errors.New("refused") }, false},
		{"fetch returns no token", t0, nil, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) { return nil, nil }, false},
		{"fetch panics", t0, nil, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) { panic("fetch panics") }, false},
		{"caller gives up during fetch", t0, nil, func(ctx context.Context, _ *xoauth2.Token) (*xoauth2.Token, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, true},
		{"stored token unreadable", t0, []redisstore.Option{redisstore.EncryptionKey(key1)}, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := t.Name()
			if err := newTokenStore(t, c, name).Save(t.Context(), tt.stored); err != nil {
				t.Fatal(err)
			}
			s := newTokenStore(t, c, name, tt.opts...)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			fetch := tt.fetch
			if fetch == nil {
				fetch = func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
					t.Error("fetch called")
					return nil, nil
				}
			}
			if tt.cancel {
				inner := fetch
				fetch = func(ctx context.Context, tok *xoauth2.Token) (*xoauth2.Token, error) {
					cancel()
					return inner(ctx, tok)
				}
			}
			func() {
				defer func() { recover() }()
				s.Refresh(ctx, t0, fetch)
			}()
			if leaseHeld(t, c, name) {
				t.Errorf("the lease is held after Refresh ended (%s)", tt.name)
			}
		})
	}
}

// The keys live under the prefix, share the token's hash tag and expire:
// the token after the TokenTTL from its last write, not with its access
// token, which leaves the refresh token usable after the access token
// expired; the lease is gone once released.
func TestTokenStoreKeys(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	const prefix = "fleet-a:"
	s := newTokenStore(t, c, "tenant-1", redisstore.Prefix(prefix), redisstore.TokenTTL(48*time.Hour))
	expired := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0", Expiry: time.Now().Add(-time.Hour)}
	if err := s.Save(t.Context(), expired); err != nil {
		t.Fatal(err)
	}
	keys := checkKeys(t, c, prefix)
	tokKey, _, fenceKey := tokenKeys(prefix, "tenant-1")
	if len(keys) != 2 || !(keys[0] == tokKey && keys[1] == fenceKey || keys[1] == tokKey && keys[0] == fenceKey) {
		t.Errorf("keys = %q, want %q and %q", keys, tokKey, fenceKey)
	}
	for _, k := range []string{tokKey, fenceKey} {
		ttl, err := c.PTTL(t.Context(), k).Result()
		if err != nil || ttl < 47*time.Hour || ttl > 48*time.Hour {
			t.Errorf("PTTL %s = %v, %v; want the TokenTTL, 48h", k, ttl, err)
		}
	}
	if tok, err := s.Load(t.Context()); desc(tok) != "at-SECRET-0/rt-SECRET-0" || err != nil {
		t.Errorf("Load of a token whose access token expired = %s, %v; want it, refresh token included", desc(tok), err)
	}
}

// With an EncryptionKey, the value in Redis holds neither the access
// token nor the refresh token, and two writes of one token differ (a
// random nonce each); without one it is plaintext, as documented.
func TestTokenStoreEncryptsAtRest(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	tok := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0", Expiry: time.Now().Add(time.Hour)}
	raw := func(name string) []byte {
		k, _, _ := tokenKeys(redisstore.DefaultPrefix, name)
		v, err := c.Get(t.Context(), k).Bytes()
		if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		return v
	}

	enc := newTokenStore(t, c, "encrypted", redisstore.EncryptionKey(key1))
	var values [][]byte
	for range 2 {
		if err := enc.Save(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		v := raw("encrypted")
		for _, secret := range []string{"at-SECRET-0", "rt-SECRET-0", "SECRET", "access_token", "refresh_token"} {
			if bytes.Contains(v, []byte(secret)) {
				t.Errorf("encrypted value holds %q", secret)
			}
		}
		values = append(values, v)
	}
	if bytes.Equal(values[0], values[1]) {
		t.Errorf("two writes of one token stored the same value: the nonce is not random")
	}
	if got, err := enc.Load(t.Context()); desc(got) != desc(tok) || err != nil {
		t.Errorf("Load of the encrypted token = %s, %v; want %s", desc(got), err, desc(tok))
	}

	plain := newTokenStore(t, c, "plaintext")
	if err := plain.Save(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if v := raw("plaintext"); !bytes.Contains(v, []byte("rt-SECRET-0")) {
		t.Errorf("a store without EncryptionKey stored %q, want the token in plaintext", v)
	}
}

// A token the store cannot read fails Load and Refresh with
// ErrTokenUnreadable and a message that says why and holds no secret;
// Save replaces it.
func TestTokenStoreUnreadable(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	tok := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0"}
	for _, tt := range []struct {
		name   string
		writer []redisstore.Option
		reader []redisstore.Option
		// alter changes the stored value, raw, of the token called name.
		alter    func(t *testing.T, name string)
		wantWhat string // in the message
	}{
		{"wrong key", []redisstore.Option{redisstore.EncryptionKey(key1)}, []redisstore.Option{redisstore.EncryptionKey(key2)}, nil, "key ID"},
		{"no key", []redisstore.Option{redisstore.EncryptionKey(key1)}, nil, nil, "no EncryptionKey"},
		{"plaintext for a store that encrypts", nil, []redisstore.Option{redisstore.EncryptionKey(key1)}, nil, "plaintext"},
		{"altered", []redisstore.Option{redisstore.EncryptionKey(key1)}, []redisstore.Option{redisstore.EncryptionKey(key1)},
			func(t *testing.T, name string) {
				k, _, _ := tokenKeys(redisstore.DefaultPrefix, name)
				v, _ := c.Get(t.Context(), k).Bytes()
				v[len(v)-1] ^= 1
				c.Set(t.Context(), k, v, time.Hour)
			}, "altered"},
		{"copied from another token", []redisstore.Option{redisstore.EncryptionKey(key1)}, []redisstore.Option{redisstore.EncryptionKey(key1)},
			func(t *testing.T, name string) {
				k, _, _ := tokenKeys(redisstore.DefaultPrefix, name)
				other, _, _ := tokenKeys(redisstore.DefaultPrefix, name+"-other")
				v, _ := c.Get(t.Context(), other).Bytes()
				c.Set(t.Context(), k, v, time.Hour)
			}, "copied"},
		{"not a token", nil, nil,
			func(t *testing.T, name string) {
				k, _, _ := tokenKeys(redisstore.DefaultPrefix, name)
				c.Set(t.Context(), k, "\x01{at-SECRET-0", time.Hour)
			}, "not a token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := t.Name()
			// The copy test's other token, written with the same key.
			if err := newTokenStore(t, c, name+"-other", tt.writer...).Save(t.Context(), &xoauth2.Token{AccessToken: "at-SECRET-other"}); err != nil {
				t.Fatal(err)
			}
			if err := newTokenStore(t, c, name, tt.writer...).Save(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			if tt.alter != nil {
				tt.alter(t, name)
			}
			s := newTokenStore(t, c, name, tt.reader...)
			got, err := s.Load(t.Context())
			if !errors.Is(err, redisstore.ErrTokenUnreadable) || got != nil || !strings.Contains(err.Error(), tt.wantWhat) {
				t.Errorf("Load = %s, %v; want nil, ErrTokenUnreadable saying %q", desc(got), err, tt.wantWhat)
			}
			noSecret(t, err)
			got, err = s.Refresh(t.Context(), tok, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
				t.Error("fetch called with a token that cannot be read")
				return nil, nil
			})
			if !errors.Is(err, redisstore.ErrTokenUnreadable) || got != nil {
				t.Errorf("Refresh = %s, %v; want nil, ErrTokenUnreadable", desc(got), err)
			}
			noSecret(t, err)
			t.Logf("the error reads: %v", err)

			if err := s.Save(t.Context(), tok); err != nil {
				t.Errorf("Save over a token that cannot be read: %v", err)
			}
			if got, err := s.Load(t.Context()); desc(got) != desc(tok) || err != nil {
				t.Errorf("Load after Save = %s, %v; want %s", desc(got), err, desc(tok))
			}
		})
	}
}

// Keys rotate: a store whose EncryptionKey is new reads a token written
// with the old key given in DecryptionKeys, and writes with the new one,
// which a store with the old key alone cannot read.
func TestTokenStoreKeyRotation(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client(t)
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0"}
	old := newTokenStore(t, c, "rotation", redisstore.EncryptionKey(key1))
	if err := old.Save(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	// Step 1 of a rotation: every process can read the new key.
	step1 := newTokenStore(t, c, "rotation", redisstore.EncryptionKey(key1), redisstore.DecryptionKeys(key2))
	if got, err := step1.Load(t.Context()); desc(got) != desc(t0) || err != nil {
		t.Errorf("step 1: Load = %s, %v; want %s", desc(got), err, desc(t0))
	}
	// Step 2: the new key encrypts, the old one still decrypts.
	step2 := newTokenStore(t, c, "rotation", redisstore.EncryptionKey(key2), redisstore.DecryptionKeys(key1))
	if got, err := step2.Load(t.Context()); desc(got) != desc(t0) || err != nil {
		t.Errorf("step 2: Load of the token written with the old key = %s, %v; want %s", desc(got), err, desc(t0))
	}
	tok, err := step2.Refresh(t.Context(), t0, func(_ context.Context, cur *xoauth2.Token) (*xoauth2.Token, error) {
		return &xoauth2.Token{AccessToken: "at-SECRET-1", RefreshToken: "rt-SECRET-1"}, nil
	})
	if desc(tok) != "at-SECRET-1/rt-SECRET-1" || err != nil {
		t.Fatalf("step 2: Refresh = %s, %v; want at-SECRET-1/rt-SECRET-1", desc(tok), err)
	}
	if got, err := step1.Load(t.Context()); desc(got) != desc(tok) || err != nil {
		t.Errorf("step 1 store: Load of the token written with the new key = %s, %v; want %s", desc(got), err, desc(tok))
	}
	if got, err := old.Load(t.Context()); !errors.Is(err, redisstore.ErrTokenUnreadable) {
		t.Errorf("old key alone: Load of the token written with the new key = %s, %v; want ErrTokenUnreadable", desc(got), err)
	}
	// Step 3: the old key is dropped.
	step3 := newTokenStore(t, c, "rotation", redisstore.EncryptionKey(key2))
	if got, err := step3.Load(t.Context()); desc(got) != desc(tok) || err != nil {
		t.Errorf("step 3: Load = %s, %v; want %s", desc(got), err, desc(tok))
	}
}

// While Redis is down or frozen, Load and Refresh fail within the Timeout
// with ErrUnavailable, never calling fetch, and hold no secret; once it is
// back they work again.
func TestTokenStoreRedisTrouble(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for _, tt := range []struct {
		name  string
		fault func(*redisServer)
		heal  func(*redisServer)
	}{
		{"killed", (*redisServer).Kill, (*redisServer).Restart},
		{"frozen", (*redisServer).Freeze, (*redisServer).Thaw},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startRedis(t)
			s := newTokenStore(t, srv.Client(t), "trouble", redisstore.Timeout(timeout))
			t0 := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0"}
			if err := s.Save(t.Context(), t0); err != nil {
				t.Fatal(err)
			}
			tt.fault(srv)
			start := time.Now()
			tok, err := s.Load(t.Context())
			if !errors.Is(err, redisstore.ErrUnavailable) || tok != nil {
				t.Errorf("Load with Redis %s = %s, %v; want ErrUnavailable", tt.name, desc(tok), err)
			}
			noSecret(t, err)
			tok, err = s.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
				t.Error("fetch called without the lease")
				return nil, nil
			})
			if !errors.Is(err, redisstore.ErrUnavailable) || tok != nil {
				t.Errorf("Refresh with Redis %s = %s, %v; want ErrUnavailable", tt.name, desc(tok), err)
			}
			noSecret(t, err)
			// Load and Refresh's lease and release: three calls.
			if d := time.Since(start); d > 3*timeout+time.Second {
				t.Errorf("Load and Refresh with Redis %s took %v, want at most 3 timeouts of %v (+1s)", tt.name, d, timeout)
			}
			// A context shorter than the Timeout bounds the call, and its
			// error is returned.
			ctx, cancel := context.WithTimeout(t.Context(), timeout/4)
			_, err = s.Load(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Load under a context shorter than the Timeout = %v, want DeadlineExceeded", err)
			}

			tt.heal(srv)
			if err := s.Save(t.Context(), t0); err != nil {
				t.Fatalf("Save once Redis is back: %v", err)
			}
			if tok, err := s.Load(t.Context()); desc(tok) != desc(t0) || err != nil {
				t.Errorf("Load once Redis is back = %s, %v; want %s", desc(tok), err, desc(t0))
			}
		})
	}
}

// A token fetched while Redis does not answer the write is not returned:
// Refresh fails with ErrUnavailable. The write, sent, may still land when
// Redis answers again, as it is still fenced by the lease taken last; the
// store then holds the fetched token whole, or else the old one, and the
// lease is not left held.
func TestTokenStoreWriteFails(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := srv.Client(t)
	s := newTokenStore(t, c, "write-fails", redisstore.Timeout(200*time.Millisecond))
	t0 := &xoauth2.Token{AccessToken: "at-SECRET-0", RefreshToken: "rt-SECRET-0"}
	if err := s.Save(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		srv.Freeze()
		return &xoauth2.Token{AccessToken: "at-SECRET-1", RefreshToken: "rt-SECRET-1"}, nil
	})
	srv.Thaw()
	if !errors.Is(err, redisstore.ErrUnavailable) || tok != nil {
		t.Errorf("Refresh whose write times out = %s, %v; want nil, ErrUnavailable", desc(tok), err)
	}
	noSecret(t, err)
	got, err := s.Load(t.Context())
	if d := desc(got); err != nil || d != desc(t0) && d != "at-SECRET-1/rt-SECRET-1" {
		t.Errorf("stored token = %s, %v; want the old one or the one fetched, whole", d, err)
	}
	t.Logf("stored token once Redis answers again: %s", desc(got))
	if leaseHeld(t, c, "write-fails") {
		t.Errorf("the lease is held once Redis answers again")
	}
}

func TestNewTokenStoreConfigErrors(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	for _, tt := range []struct {
		name      string
		tokenName string
		opts      []redisstore.Option
		field     string
	}{
		{"empty name", "", nil, "name"},
		{"name with a brace", "a{b}", nil, "name"},
		{"token TTL under the lease", "t", []redisstore.Option{redisstore.LeaseTTL(2 * time.Minute), redisstore.TokenTTL(time.Minute)}, "TokenTTL"},
	} {
		s, err := redisstore.NewTokenStore(c, tt.tokenName, tt.opts...)
		if got, want := configError(err), "*ConfigError for "+tt.field; got != want || s != nil {
			t.Errorf("NewTokenStore with %s = %v, %s; want nil, %s", tt.name, s, got, want)
		}
	}
}
