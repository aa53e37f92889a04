package oauth2_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier/auth/oauth2"
	"github.com/courierhttp/courier/internal/testenv"
	xoauth2 "golang.org/x/oauth2"
)

// errAny stands for any error in a table's want column.
var errAny = errors.New("any error")

// errStoreDown is the cause a failing store returns.
var errStoreDown = errors.New("store: connection refused")

// isErr reports whether err matches want: errors.Is, or any error for
// errAny.
func isErr(err, want error) bool {
	if want == errAny {
		return err != nil
	}
	return errors.Is(err, want)
}

// desc describes a token for a failure message, with no secret in it
// beyond the fake ones the tests make.
func desc(tok *xoauth2.Token) string {
	if tok == nil {
		return "nil"
	}
	return tok.AccessToken + "/" + tok.RefreshToken
}

func TestMemoryStoreRefresh(t *testing.T) {
	t.Parallel()
	errFetch := errors.New("fetch failed")
	t0 := &xoauth2.Token{AccessToken: "at-0", RefreshToken: "rt-0"}
	t1 := &xoauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1"}
	seed := &xoauth2.Token{RefreshToken: "rt-seed"}
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
		{"empty store", nil, nil, t1, nil, "nil", "at-1/rt-1", nil, "at-1/rt-1"},
		{"stale is stored", t0, t0, t1, nil, "at-0/rt-0", "at-1/rt-1", nil, "at-1/rt-1"},
		{"same access token, another copy", t0, &xoauth2.Token{AccessToken: "at-0"}, t1, nil, "at-0/rt-0", "at-1/rt-1", nil, "at-1/rt-1"},
		{"replaced meanwhile", t1, t0, nil, nil, "-", "at-1/rt-1", nil, "at-1/rt-1"},
		{"nil stale, token stored", t1, nil, nil, nil, "-", "at-1/rt-1", nil, "at-1/rt-1"},
		{"stale, store empty", nil, t0, nil, nil, "-", "nil", nil, "nil"},
		{"seeded with a refresh token", seed, nil, t1, nil, "/rt-seed", "at-1/rt-1", nil, "at-1/rt-1"},
		{"fetch fails", t0, t0, nil, errFetch, "at-0/rt-0", "nil", errFetch, "at-0/rt-0"},
		{"fetch returns no access token", t0, t0, &xoauth2.Token{RefreshToken: "rt-1"}, nil, "at-0/rt-0", "nil", errAny, "at-0/rt-0"},
		{"fetch returns nil", t0, t0, nil, nil, "at-0/rt-0", "nil", errAny, "at-0/rt-0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := oauth2.NewMemoryStore(tt.stored)
			current := "-"
			tok, err := s.Refresh(t.Context(), tt.stale, func(_ context.Context, c *xoauth2.Token) (*xoauth2.Token, error) {
				current = desc(c)
				return tt.fetched, tt.fetchErr
			})
			stored, _ := s.Load(t.Context())
			if current != tt.wantCurrent || desc(tok) != tt.want || !isErr(err, tt.wantErr) || desc(stored) != tt.wantStored {
				t.Errorf("Refresh(stored %s, stale %s) = %s, %v after fetch(%s), then stores %s; want %s, %v after fetch(%s), then %s",
					desc(tt.stored), desc(tt.stale), desc(tok), err, current, desc(stored),
					tt.want, tt.wantErr, tt.wantCurrent, tt.wantStored)
			}
		})
	}
}

// A MemoryStore keeps copies: changing a token it was given or returned
// does not change the stored one.
func TestMemoryStoreCopies(t *testing.T) {
	t.Parallel()
	tok := &xoauth2.Token{AccessToken: "at-0"}
	s := oauth2.NewMemoryStore(tok)
	tok.AccessToken = "changed"
	got, _ := s.Load(t.Context())
	got.AccessToken = "changed"
	if got, _ := s.Load(t.Context()); desc(got) != "at-0/" {
		t.Errorf("Load after changes to tokens given and returned = %s, want at-0/", desc(got))
	}
	var zero oauth2.MemoryStore
	if got, err := zero.Load(t.Context()); got != nil || err != nil {
		t.Errorf("zero MemoryStore: Load = %s, %v; want nil, nil", desc(got), err)
	}
}

// However many callers refresh the same stale token at once, fetch runs
// once and all get its token.
func TestMemoryStoreOneFetch(t *testing.T) {
	t.Parallel()
	t0 := &xoauth2.Token{AccessToken: "at-0"}
	s := oauth2.NewMemoryStore(t0)
	var calls atomic.Int64
	fetch := func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		n := calls.Add(1)
		time.Sleep(10 * time.Millisecond) // let the others queue for the lease
		return &xoauth2.Token{AccessToken: fmt.Sprintf("at-%d", n)}, nil
	}
	const n = 50
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tok, err := s.Refresh(t.Context(), &xoauth2.Token{AccessToken: "at-0"}, fetch)
			got[i] = fmt.Sprint(desc(tok), err)
		})
	}
	wg.Wait()
	for i, g := range got {
		if g != "at-1/<nil>" {
			t.Errorf("caller %d: Refresh = %s, want at-1/ <nil>", i, g)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("%d concurrent Refresh calls: fetch ran %d times, want 1", n, c)
	}
}

// While one caller holds the lease, Load answers at once, and a Refresh
// whose context ends gives up without calling fetch.
func TestMemoryStoreLease(t *testing.T) {
	t.Parallel()
	t0 := &xoauth2.Token{AccessToken: "at-0"}
	s := oauth2.NewMemoryStore(t0)
	entered, release := make(chan struct{}), make(chan struct{})
	holder := make(chan string, 1)
	go func() {
		tok, err := s.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
			close(entered)
			<-release
			return &xoauth2.Token{AccessToken: "at-1"}, nil
		})
		holder <- fmt.Sprint(desc(tok), err)
	}()
	<-entered

	if tok, err := s.Load(t.Context()); desc(tok) != "at-0/" || err != nil {
		t.Errorf("Load while a refresh runs = %s, %v; want at-0/, nil", desc(tok), err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
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
	if got := <-holder; got != "at-1/<nil>" {
		t.Errorf("holder: Refresh = %s, want at-1/ <nil>", got)
	}
	tok, err = s.Refresh(t.Context(), t0, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
		called = true
		return nil, nil
	})
	if desc(tok) != "at-1/" || err != nil || called {
		t.Errorf("Refresh of the replaced token = %s, %v (fetch called: %v); want at-1/, nil, not called", desc(tok), err, called)
	}
}

func TestRefreshFrom(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		own      string         // the refresh token the source starts with
		given    *xoauth2.Token // RefreshFrom's argument
		accepted string         // the refresh token the server accepts
		noRotate bool
		wantNext string // the refresh token of the token returned
	}{
		{"given token wins", "rt-SECRET-own", &xoauth2.Token{AccessToken: "x", RefreshToken: "rt-SECRET-given"}, "rt-SECRET-given", false, "rt-SECRET-1"},
		{"nil token: own", "rt-SECRET-own", nil, "rt-SECRET-own", false, "rt-SECRET-1"},
		{"token without refresh token: own", "rt-SECRET-own", &xoauth2.Token{AccessToken: "x"}, "rt-SECRET-own", false, "rt-SECRET-1"},
		{"not rotating: keeps the redeemed one", "", &xoauth2.Token{RefreshToken: "rt-SECRET-given"}, "rt-SECRET-given", true, "rt-SECRET-given"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.set(func(e *env) { e.refresh, e.noRotate = tt.accepted, tt.noRotate })
			src := oauth2.RefreshToken(e.refreshConfig(), &xoauth2.Token{RefreshToken: tt.own})
			tok, err := src.(oauth2.Refresher).RefreshFrom(t.Context(), tt.given)
			if err != nil || tok.AccessToken != "at-SECRET-1" || tok.RefreshToken != tt.wantNext {
				t.Fatalf("RefreshFrom(%s) = %s, %v; want at-SECRET-1/%s", desc(tt.given), desc(tok), err, tt.wantNext)
			}
			// The source redeems the newest refresh token next.
			if tok, err := src.Token(t.Context()); err != nil {
				t.Errorf("Token after RefreshFrom = %s, %v; want a token", desc(tok), err)
			}
		})
	}
}

// probeStore wraps a Store, counts the calls to it, and fails when told.
type probeStore struct {
	oauth2.Store
	loads, refreshes atomic.Int64

	mu         sync.Mutex
	loadErr    error
	refreshErr error
	refreshNil bool // Refresh returns no token and no error
}

func (p *probeStore) Load(ctx context.Context) (*xoauth2.Token, error) {
	p.loads.Add(1)
	p.mu.Lock()
	err := p.loadErr
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return p.Store.Load(ctx)
}

func (p *probeStore) Refresh(ctx context.Context, stale *xoauth2.Token, fetch oauth2.FetchFunc) (*xoauth2.Token, error) {
	p.refreshes.Add(1)
	p.mu.Lock()
	err, none := p.refreshErr, p.refreshNil
	p.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case none:
		return nil, nil
	}
	return p.Store.Refresh(ctx, stale, fetch)
}

// set changes the store's faults under its lock.
func (p *probeStore) set(f func(p *probeStore)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// holdLease makes a caller hold s's lease until the returned func is
// called, or the test ends; its refresh then fails, leaving the store as
// it was.
func holdLease(t *testing.T, s oauth2.Store) (release func()) {
	stale, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	entered, hold := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Refresh(context.Background(), stale, func(context.Context, *xoauth2.Token) (*xoauth2.Token, error) {
			close(entered)
			<-hold
			return nil, errors.New("lease holder gives up")
		})
	}()
	<-entered
	release = sync.OnceFunc(func() {
		close(hold)
		<-done
	})
	t.Cleanup(release)
	return release
}

// By default, a request for which the store fails fails with ErrStore and
// the store's error, and no token is fetched; once the store works again,
// so does the next request.
func TestStoreFailureFailsRequest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		opts      []oauth2.Option
		fault     func(t *testing.T, p *probeStore) (heal func())
		wantCause error
	}{{
		name: "Load fails",
		fault: func(t *testing.T, p *probeStore) func() {
			p.set(func(p *probeStore) { p.loadErr = errStoreDown })
			return func() { p.set(func(p *probeStore) { p.loadErr = nil }) }
		},
		wantCause: errStoreDown,
	}, {
		name: "Refresh fails",
		fault: func(t *testing.T, p *probeStore) func() {
			p.set(func(p *probeStore) { p.refreshErr = errStoreDown })
			return func() { p.set(func(p *probeStore) { p.refreshErr = nil }) }
		},
		wantCause: errStoreDown,
	}, {
		name: "Refresh returns no token",
		fault: func(t *testing.T, p *probeStore) func() {
			p.set(func(p *probeStore) { p.refreshNil = true })
			return func() { p.set(func(p *probeStore) { p.refreshNil = false }) }
		},
		wantCause: oauth2.ErrStore,
	}, {
		name: "lease held past the refresh timeout",
		opts: []oauth2.Option{oauth2.WithRefreshTimeout(2 * time.Second), oauth2.WithStoreFallback(true)},
		fault: func(t *testing.T, p *probeStore) func() {
			return holdLease(t, p.Store)
		},
		wantCause: context.DeadlineExceeded,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := &probeStore{Store: new(oauth2.MemoryStore)}
			opts := append([]oauth2.Option{oauth2.WithStore(p)}, tt.opts...)
			rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), opts...)(nil)
			heal := tt.fault(t, p)

			body := &closeRecorder{Reader: strings.NewReader("payload")}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api.URL, body)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, oauth2.ErrTokenFetch) || !errors.Is(err, oauth2.ErrStore) || !errors.Is(err, tt.wantCause) {
				t.Errorf("RoundTrip with the store failing = %v, want ErrTokenFetch, ErrStore and %v", err, tt.wantCause)
			}
			noSecret(t, err)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("RoundTrip with the store failing took %v, want at most the refresh timeout, well under 5s", d)
			}
			if !body.isClosed() {
				t.Errorf("RoundTrip error %q left the request body open", err)
			}
			if tokens, api := e.counts(); tokens != 0 || api != 0 {
				t.Errorf("with the store failing: %d token requests, %d API requests; want 0, 0", tokens, api)
			}

			heal()
			if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
				t.Errorf("GET once the store works = %d, %v; want 200", status, err)
			}
			if tok, _ := p.Store.Load(t.Context()); tok == nil || tok.AccessToken != "at-SECRET-1" {
				t.Errorf("stored token = %s, want at-SECRET-1", desc(tok))
			}
		})
	}
}

// WithStoreFallback(true): a layer whose store fails fetches a token of its
// own, does not store it, and uses it while it is valid.
func TestStoreFailureFallback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		fault func(p *probeStore)
	}{
		{"Load fails", func(p *probeStore) { p.loadErr = errStoreDown }},
		{"Refresh fails", func(p *probeStore) { p.refreshErr = errStoreDown }},
		{"Refresh returns no token", func(p *probeStore) { p.refreshNil = true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := &probeStore{Store: new(oauth2.MemoryStore)}
			p.set(tt.fault)
			rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithStore(p), oauth2.WithStoreFallback(true))(nil)
			for i := 1; i <= 3; i++ {
				if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
					t.Errorf("GET %d with the store failing = %d, %v; want 200", i, status, err)
				}
			}
			if tokens, api := e.counts(); tokens != 1 || api != 3 {
				t.Errorf("3 GETs: %d token requests, %d API requests; want 1, 3", tokens, api)
			}
			if loads := p.loads.Load(); loads != 1 {
				t.Errorf("3 GETs with a local token: %d loads, want 1", loads)
			}
			if tok, _ := p.Store.Load(t.Context()); tok != nil {
				t.Errorf("stored token = %s, want none", desc(tok))
			}
		})
	}
}

// The source's failure, called through the store, is not a store failure:
// it has no ErrStore, gets no fallback, and leaves the stored token.
func TestStoreFetchFailure(t *testing.T) {
	t.Parallel()
	t.Run("client credentials", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		cfg := e.clientCredentials()
		cfg.ClientSecret = "cs-SECRET-wrong"
		store := new(oauth2.MemoryStore)
		rt := oauth2.New(oauth2.ClientCredentials(cfg), oauth2.WithStore(store), oauth2.WithStoreFallback(true))(nil)
		_, _, err := get(t.Context(), rt, e.api.URL)
		if !errors.Is(err, oauth2.ErrTokenFetch) || errors.Is(err, oauth2.ErrStore) || retrieveCode(err) != "invalid_client" {
			t.Errorf("GET = %v, want ErrTokenFetch with an invalid_client *RetrieveError and no ErrStore", err)
		}
		noSecret(t, err)
		if tokens, _ := e.counts(); tokens != 1 {
			t.Errorf("token requests = %d, want 1 (no fallback)", tokens)
		}
	})
	t.Run("revoked refresh token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		stored := &xoauth2.Token{AccessToken: "at-SECRET-old", RefreshToken: "rt-SECRET-revoked", Expiry: time.Now().Add(-time.Hour)}
		store := oauth2.NewMemoryStore(stored)
		rt := oauth2.New(oauth2.RefreshToken(e.refreshConfig(), nil), oauth2.WithStore(store))(nil)
		_, _, err := get(t.Context(), rt, e.api.URL)
		if !errors.Is(err, oauth2.ErrTokenFetch) || errors.Is(err, oauth2.ErrStore) || retrieveCode(err) != "invalid_grant" {
			t.Errorf("GET = %v, want ErrTokenFetch with an invalid_grant *RetrieveError and no ErrStore", err)
		}
		noSecret(t, err)
		if tok, _ := store.Load(t.Context()); desc(tok) != desc(stored) {
			t.Errorf("stored token after a failed refresh = %s, want %s", desc(tok), desc(stored))
		}
	})
}

func TestStoreOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cc := oauth2.ClientCredentials(e.clientCredentials())
	refresh := oauth2.RefreshToken(e.refreshConfig(), &xoauth2.Token{RefreshToken: firstRefresh})
	store := new(oauth2.MemoryStore)
	for _, tt := range []struct {
		name    string
		src     oauth2.Source
		opts    []oauth2.Option
		wantErr string
	}{
		{"nil Store", cc, []oauth2.Option{oauth2.WithStore(nil)}, "oauth2: WithStore: nil Store"},
		{"fallback without a store", cc, []oauth2.Option{oauth2.WithStoreFallback(true)}, "oauth2: WithStoreFallback: no Store (give WithStore)"},
		{"fallback for a Refresher", refresh, []oauth2.Option{oauth2.WithStoreFallback(true), oauth2.WithStore(store)},
			"oauth2: WithStoreFallback: the source refreshes the token the fleet shares; a refresh outside the store would fork its refresh token"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.api.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := oauth2.New(tt.src, tt.opts...)(nil).RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		if got := fmt.Sprint(err); got != tt.wantErr {
			t.Errorf("%s: RoundTrip error = %q, want %q", tt.name, got, tt.wantErr)
		}
	}
	// The last option wins.
	rt := oauth2.New(refresh, oauth2.WithStore(store), oauth2.WithStoreFallback(true), oauth2.WithStoreFallback(false))(nil)
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
		t.Errorf("WithStoreFallback(true), then false: GET = %d, %v; want 200", status, err)
	}
	if tokens, _ := e.counts(); tokens != 1 {
		t.Errorf("token requests = %d, want 1", tokens)
	}
}

// A store may be seeded with a refresh token alone: the first layer that
// needs a token redeems it, and stores the rotated one.
func TestStoreSeededWithRefreshToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := oauth2.NewMemoryStore(&xoauth2.Token{RefreshToken: firstRefresh})
	rt := oauth2.New(oauth2.RefreshToken(e.refreshConfig(), nil), oauth2.WithStore(store))(nil)
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
		t.Errorf("GET = %d, %v; want 200", status, err)
	}
	if tok, _ := store.Load(t.Context()); desc(tok) != "at-SECRET-1/rt-SECRET-1" {
		t.Errorf("stored token = %s, want at-SECRET-1/rt-SECRET-1", desc(tok))
	}
}

// Two layers share a store, and their sources start with the same refresh
// token. The second refresh, by the other layer, redeems the refresh token
// the first one stored, not its own, which the server rotated away.
func TestStoreRotatedRefreshToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	clk := newClock()
	store := new(oauth2.MemoryStore)
	layer := func() http.RoundTripper {
		src := oauth2.RefreshToken(e.refreshConfig(), &xoauth2.Token{RefreshToken: firstRefresh})
		return oauth2.New(src, oauth2.WithStore(store), oauth2.WithClock(clk.Now))(nil)
	}
	a, b := layer(), layer()
	for i, rt := range []http.RoundTripper{a, b, a, b} {
		if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
			t.Fatalf("GET %d = %d, %v; want 200", i, status, err)
		}
		clk.Set(clk.Now().Add(2 * time.Hour))
	}
	if tokens, _ := e.counts(); tokens != 4 {
		t.Errorf("4 GETs each after an expiry: %d token requests, want 4", tokens)
	}
	if tok, _ := store.Load(t.Context()); tok.RefreshToken != "rt-SECRET-4" {
		t.Errorf("stored refresh token = %q, want rt-SECRET-4", tok.RefreshToken)
	}
}

// The token is kept at two levels: a layer uses its own copy while it is
// valid, without calling the store, and then takes a valid stored token
// without refreshing it.
func TestStoreTwoLevels(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	clk := newClock()
	store := new(oauth2.MemoryStore)
	pa, pb := &probeStore{Store: store}, &probeStore{Store: store}
	src := oauth2.ClientCredentials(e.clientCredentials())
	a := oauth2.New(src, oauth2.WithStore(pa), oauth2.WithClock(clk.Now))(nil)
	b := oauth2.New(src, oauth2.WithStore(pb), oauth2.WithClock(clk.Now))(nil)
	for _, step := range []struct {
		name       string
		rt         http.RoundTripper
		advance    time.Duration
		expiresIn  int // of the tokens issued from now; x/oauth2 adds it to the real clock
		wantTokens int
		// wantCalls are the store calls of a and b so far: loads and
		// refreshes.
		wantCalls [4]int64
	}{
		{"a, store empty", a, 0, 3600, 1, [4]int64{1, 1, 0, 0}},
		{"b takes a's token", b, 0, 3600, 1, [4]int64{1, 1, 1, 0}},
		{"a, own copy", a, 0, 3600, 1, [4]int64{1, 1, 1, 0}},
		{"b, own copy", b, 0, 3600, 1, [4]int64{1, 1, 1, 0}},
		{"b after expiry refreshes", b, 2 * time.Hour, 4 * 3600, 2, [4]int64{1, 1, 2, 1}},
		{"a after expiry takes b's token", a, 0, 4 * 3600, 2, [4]int64{2, 1, 2, 1}},
	} {
		clk.Set(clk.Now().Add(step.advance))
		e.set(func(e *env) { e.expiresIn = step.expiresIn })
		if status, _, err := get(t.Context(), step.rt, e.api.URL); err != nil || status != http.StatusOK {
			t.Errorf("%s: GET = %d, %v; want 200", step.name, status, err)
		}
		tokens, _ := e.counts()
		calls := [4]int64{pa.loads.Load(), pa.refreshes.Load(), pb.loads.Load(), pb.refreshes.Load()}
		if tokens != step.wantTokens || calls != step.wantCalls {
			t.Errorf("%s: %d token requests, store calls %v; want %d, %v", step.name, tokens, calls, step.wantTokens, step.wantCalls)
		}
	}
}

// A layer whose token is rejected does not take it from the store again;
// another layer rejected with it later takes the new token from the store,
// without a refresh.
func TestStoreUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := new(oauth2.MemoryStore)
	src := oauth2.ClientCredentials(e.clientCredentials())
	a := oauth2.New(src, oauth2.WithStore(store))(nil)
	b := oauth2.New(src, oauth2.WithStore(store))(nil)
	for _, rt := range []http.RoundTripper{a, b} {
		if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
			t.Fatalf("GET = %d, %v; want 200", status, err)
		}
	}
	e.revoke()
	for _, step := range []struct {
		name                string
		rt                  http.RoundTripper
		wantTokens, wantAPI int
	}{
		{"a, rejected", a, 2, 4},
		{"b, rejected after a refreshed", b, 2, 6},
	} {
		if status, _, err := get(t.Context(), step.rt, e.api.URL); err != nil || status != http.StatusOK {
			t.Errorf("%s: GET = %d, %v; want 200", step.name, status, err)
		}
		if tokens, api := e.counts(); tokens != step.wantTokens || api != step.wantAPI {
			t.Errorf("%s: %d token requests, %d API requests; want %d, %d", step.name, tokens, api, step.wantTokens, step.wantAPI)
		}
	}
}

// fleet is a token endpoint whose refresh tokens rotate, each one valid for
// one use, and a resource server that accepts only the access token issued
// last. Access tokens expire an hour after the time on clk.
type fleet struct {
	token, api *testenv.Server
	clk        *clock

	mu       sync.Mutex
	gate     chan struct{} // when not nil, token requests wait for it to close
	refresh  string        // the refresh token the endpoint accepts
	access   string        // the access token the API accepts ("" none)
	redeemed []string      // the refresh tokens redeemed, in order
	reused   int           // invalid_grant answers
	ok       int           // API requests with the current token
	stale    int           // API requests with another token
	missing  int           // API requests without a token
}

func newFleet(t *testing.T, clk *clock) *fleet {
	f := &fleet{clk: clk, refresh: firstRefresh}
	f.token = testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(f.serveToken))
	f.api = testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(f.serveAPI))
	return f
}

func (f *fleet) serveToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	id, secret, _ := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if id != clientID || secret != clientSecret || r.FormValue("grant_type") != "refresh_token" {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rt := r.PostForm.Get("refresh_token")
	if rt != f.refresh {
		f.reused++
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	f.redeemed = append(f.redeemed, rt)
	n := len(f.redeemed)
	f.refresh = fmt.Sprintf("rt-SECRET-%d", n)
	f.access = fmt.Sprintf("at-SECRET-%d", n)
	// x/oauth2 adds expires_in to its own clock, the layers read clk.
	expiresIn := time.Hour + time.Until(f.clk.Now())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token":  f.access,
		"token_type":    "Bearer",
		"refresh_token": f.refresh,
		"expires_in":    int(expiresIn.Seconds()),
	})
}

func (f *fleet) serveAPI(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	f.mu.Lock()
	ok := f.access != "" && auth == "Bearer "+f.access
	switch {
	case ok:
		f.ok++
	case auth == "":
		f.missing++
	default:
		f.stale++
	}
	f.mu.Unlock()
	if !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, "ok")
}

// holdTokens makes token requests wait until release is called.
func (f *fleet) holdTokens(t *testing.T) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gate := make(chan struct{})
	f.gate = gate
	release = sync.OnceFunc(func() {
		f.mu.Lock()
		f.gate = nil
		f.mu.Unlock()
		close(gate)
	})
	t.Cleanup(release)
	return release
}

// fleetCounts is what the servers saw.
type fleetCounts struct {
	refreshes, reused, ok, stale, missing int
}

func (f *fleet) counts() fleetCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fleetCounts{len(f.redeemed), f.reused, f.ok, f.stale, f.missing}
}

func (c fleetCounts) minus(d fleetCounts) fleetCounts {
	return fleetCounts{c.refreshes - d.refreshes, c.reused - d.reused, c.ok - d.ok, c.stale - d.stale, c.missing - d.missing}
}

// instance is one process of a fleet: a layer with its own token cache,
// transports and view of the shared store.
type instance struct {
	rt         http.RoundTripper
	waiters    func() int
	store      *probeStore
	transports []*http.Transport
}

// newInstance starts an instance whose source holds the fleet's first
// refresh token, as each process's configuration would. It keeps up to
// conns idle connections to the API.
func newInstance(t *testing.T, f *fleet, store oauth2.Store, conns int) *instance {
	api := http.DefaultTransport.(*http.Transport).Clone()
	api.MaxIdleConnsPerHost = conns
	tokens := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(api.CloseIdleConnections)
	t.Cleanup(tokens.CloseIdleConnections)
	cfg := &xoauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     xoauth2.Endpoint{TokenURL: f.token.URL + "/token", AuthStyle: xoauth2.AuthStyleInHeader},
	}
	p := &probeStore{Store: store}
	mw, waiters := oauth2.NewProbed(oauth2.RefreshToken(cfg, &xoauth2.Token{RefreshToken: firstRefresh}),
		oauth2.WithStore(p),
		oauth2.WithHTTPClient(&http.Client{Transport: tokens}),
		oauth2.WithClock(f.clk.Now))
	return &instance{rt: mw(api), waiters: waiters, store: p, transports: []*http.Transport{api, tokens}}
}

// Twenty instances share a MemoryStore, all starting with an expired
// token. Whenever the shared token has expired or been revoked, each sends
// five requests at once, and the token endpoint holds the refresh until
// every request waits for it. The fleet refreshes once each time, the API
// sees only the current token (once per instance at most the revoked one),
// and the rotated refresh token is the one redeemed next.
func TestFleet(t *testing.T) {
	t.Parallel()
	const instances, per = 20, 5
	clk := newClock()
	f := newFleet(t, clk)
	store := oauth2.NewMemoryStore(&xoauth2.Token{
		AccessToken: "at-SECRET-0", TokenType: "Bearer", RefreshToken: firstRefresh,
		Expiry: clk.Now().Add(-time.Minute),
	})
	fl := make([]*instance, instances)
	for i := range fl {
		fl[i] = newInstance(t, f, store, per)
	}
	loads := make([]int64, instances)
	refreshes := make([]int64, instances)

	// wave sends per requests from every instance at once, checks that
	// they all succeed and that each instance called the store at most
	// once of each kind, and returns what the servers saw. With held, the
	// token endpoint holds a refresh until every request waits for it.
	wave := func(name string, held bool) (fleetCounts, int64) {
		t.Helper()
		before := f.counts()
		release := func() {}
		if held {
			release = f.holdTokens(t)
		}
		errs := make([]error, instances*per)
		var wg sync.WaitGroup
		for i, in := range fl {
			for j := range per {
				wg.Go(func() {
					status, body, err := get(t.Context(), in.rt, f.api.URL)
					if err == nil && (status != http.StatusOK || body != "ok") {
						err = fmt.Errorf("%d %q", status, body)
					}
					errs[i*per+j] = err
				})
			}
		}
		if held {
			waitFor(t, name+": every request waiting for the refresh", func() bool {
				for _, in := range fl {
					if in.waiters() != per {
						return false
					}
				}
				return true
			})
		}
		release()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: instance %d, request %d: %v; want 200 ok", name, i/per, i%per, err)
			}
		}
		var calls int64
		for i, in := range fl {
			l, r := in.store.loads.Load(), in.store.refreshes.Load()
			if l-loads[i] > 1 || r-refreshes[i] > 1 {
				t.Errorf("%s: instance %d called Load %d times, Refresh %d times; want at most once each", name, i, l-loads[i], r-refreshes[i])
			}
			calls += l - loads[i] + r - refreshes[i]
			loads[i], refreshes[i] = l, r
		}
		got := f.counts().minus(before)
		t.Logf("%s: %+v, %d store calls", name, got, calls)
		return got, calls
	}
	oneRefresh := fleetCounts{refreshes: 1, ok: instances * per}

	for round := 1; round <= 3; round++ {
		if round > 1 {
			clk.Set(clk.Now().Add(2 * time.Hour))
		}
		name := fmt.Sprintf("expiry %d", round)
		if got, _ := wave(name, true); got != oneRefresh {
			t.Errorf("%s: servers saw %+v, want %+v", name, got, oneRefresh)
		}
	}

	// A valid token costs no store call and no refresh.
	if got, calls := wave("valid token", false); got != (fleetCounts{ok: instances * per}) || calls != 0 {
		t.Errorf("valid token: servers saw %+v after %d store calls, want %+v after none", got, calls, fleetCounts{ok: instances * per})
	}

	// The API rejects the token every instance has: each instance sees at
	// least one 401, and the fleet refreshes once.
	f.mu.Lock()
	f.access = ""
	f.mu.Unlock()
	got, _ := wave("revoked", true)
	if stale := got.stale; stale < instances || stale > instances*per {
		t.Errorf("revoked: the API rejected %d requests, want one to all of each instance's (%d to %d)", stale, instances, instances*per)
	}
	if got.stale = 0; got != oneRefresh {
		t.Errorf("revoked: servers saw %+v (rejected requests aside), want %+v", got, oneRefresh)
	}

	// The refresh token rotated by the 401's refresh is redeemed next.
	clk.Set(clk.Now().Add(2 * time.Hour))
	if got, _ := wave("expiry after revocation", true); got != oneRefresh {
		t.Errorf("expiry after revocation: servers saw %+v, want %+v", got, oneRefresh)
	}

	f.mu.Lock()
	redeemed, next := slices.Clone(f.redeemed), f.refresh
	f.mu.Unlock()
	wantRedeemed := []string{"rt-SECRET-0", "rt-SECRET-1", "rt-SECRET-2", "rt-SECRET-3", "rt-SECRET-4"}
	if !slices.Equal(redeemed, wantRedeemed) {
		t.Errorf("refresh tokens redeemed = %q, want %q", redeemed, wantRedeemed)
	}
	if tok, _ := store.Load(t.Context()); tok.RefreshToken != next {
		t.Errorf("stored refresh token = %q, want the one the endpoint accepts next, %q", tok.RefreshToken, next)
	}
	if got := f.token.Requests.Load(); got != 5 {
		t.Errorf("token endpoint: %d requests, want 5", got)
	}

	// Every response body was closed, the 401s' included: once the
	// instances drop their idle connections, none is left open. The
	// connections were kept alive: fewer than two per request slot.
	for _, in := range fl {
		for _, tr := range in.transports {
			tr.CloseIdleConnections()
		}
	}
	waitFor(t, "every connection closed", func() bool { return f.api.Open.Load() == 0 && f.token.Open.Load() == 0 })
	t.Logf("connections: API %d, token endpoint %d", f.api.NewConns.Load(), f.token.NewConns.Load())
	if got, limit := f.api.NewConns.Load(), int64(2*instances*per); got > limit {
		t.Errorf("API: %d connections for %d requests, want at most %d", got, 6*instances*per, limit)
	}
}
