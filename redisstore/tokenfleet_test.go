package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth/oauth2"
	"github.com/courierhttp/courier/redisstore"
	xoauth2 "golang.org/x/oauth2"
)

// The token fleet test's workers (see fleetharness_test.go) each have
// their own courier session whose oauth2 layer shares one token through a
// TokenStore. They send requests to a resource server in the test's
// process, which checks the bearer token, and refresh the token at a
// token endpoint there that rotates refresh tokens. A worker sends for a
// while with several goroutines after "go".

// tokenWorkerEnv holds a token worker's configuration;
// TestHelperTokenWorker is a worker only when it is set.
const tokenWorkerEnv = "REDISSTORE_TOKEN_WORKER"

// The client the token endpoint knows.
const (
	tokenClientID     = "svc"
	tokenClientSecret = "cs-SECRET"
)

// tokenWorkerConfig is what a token worker is told.
type tokenWorkerConfig struct {
	ID          int
	Redis       string // host:port
	Name        string // the token's
	Key         []byte // the EncryptionKey
	TokenURL    string
	API         string        // the resource server's URL
	EarlyExpiry time.Duration // the layer's
	Goroutines  int           // requests in flight at once
	Pause       time.Duration // between a goroutine's requests
	Duration    time.Duration // how long to send after "go"
}

// tokenWorkerResult is what a token worker saw.
type tokenWorkerResult struct {
	ID int
	// OK counts the requests answered 200; Failed the others (the first
	// failure is FirstFailure).
	OK, Failed   int
	FirstFailure string
	// Refreshes counts the layer's refreshes that got a token, by
	// oauth2.RefreshInfo's "reason/origin"; RefreshErrors those that
	// failed.
	Refreshes     map[string]int
	RefreshErrors int
	MaxStall      time.Duration
}

// TestHelperTokenWorker is a token fleet worker when tokenWorkerEnv is
// set, and does nothing otherwise.
func TestHelperTokenWorker(t *testing.T) {
	var cfg tokenWorkerConfig
	w, ok := startWorkerIO(t, tokenWorkerEnv, &cfg)
	if !ok {
		return
	}
	// Warm up the Redis connections, so that all start at once at "go".
	rdb := workerRedis(t, cfg.Redis, cfg.Goroutines)
	defer rdb.Close()
	// A long Redis timeout: twenty processes on a small machine.
	store, err := redisstore.NewTokenStore(rdb, cfg.Name, redisstore.Timeout(time.Second), redisstore.EncryptionKey(cfg.Key))
	if err != nil {
		t.Fatal(err)
	}
	tokens := http.DefaultTransport.(*http.Transport).Clone()
	defer tokens.CloseIdleConnections()
	oc := &xoauth2.Config{
		ClientID:     tokenClientID,
		ClientSecret: tokenClientSecret,
		Endpoint:     xoauth2.Endpoint{TokenURL: cfg.TokenURL, AuthStyle: xoauth2.AuthStyleInHeader},
	}
	var (
		mu            sync.Mutex
		refreshes     = map[string]int{}
		refreshErrors int
	)
	onRefresh := func(info oauth2.RefreshInfo) {
		mu.Lock()
		defer mu.Unlock()
		if info.Err != nil {
			refreshErrors++
			return
		}
		refreshes[info.Reason.String()+"/"+info.Origin.String()]++
	}
	s, err := courier.New(
		courier.WithBaseURL(cfg.API),
		courier.WithAuth(oauth2.New(oauth2.RefreshToken(oc, nil),
			oauth2.WithStore(store),
			oauth2.WithEarlyExpiry(cfg.EarlyExpiry),
			oauth2.WithHTTPClient(&http.Client{Transport: tokens}),
			oauth2.WithOnRefresh(onRefresh))),
		courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	w.ready(t)
	res := runTokenWorker(cfg, s)
	mu.Lock()
	res.Refreshes, res.RefreshErrors = refreshes, refreshErrors
	mu.Unlock()
	w.report(res)
}

// runTokenWorker sends requests for cfg.Duration.
func runTokenWorker(cfg tokenWorkerConfig, s *courier.Session) tokenWorkerResult {
	stalls := watchStalls()
	end := time.Now().Add(cfg.Duration)
	var (
		mu  sync.Mutex
		res = tokenWorkerResult{ID: cfg.ID}
		wg  sync.WaitGroup
	)
	for range cfg.Goroutines {
		wg.Go(func() {
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := s.Get(ctx, "/resource")
				cancel()
				mu.Lock()
				switch {
				case err != nil:
					if res.Failed == 0 {
						res.FirstFailure = err.Error()
					}
					res.Failed++
				case resp.StatusCode != http.StatusOK:
					if res.Failed == 0 {
						res.FirstFailure = resp.Status
					}
					res.Failed++
				default:
					res.OK++
				}
				mu.Unlock()
				time.Sleep(cfg.Pause)
			}
		})
	}
	wg.Wait()
	res.MaxStall = stalls.Stop()
	return res
}

// authority is an OAuth 2.0 token endpoint whose refresh tokens rotate
// (each valid for one use; a reuse gets 400 invalid_grant) and a resource
// server that checks the bearer token: it accepts every access token it
// issued until it expires (lifetime after it was issued) or is revoked.
// Access token n is "at-SECRET-n", issued with refresh token
// "rt-SECRET-n"; the store is seeded with token 0, expired.
type authority struct {
	token, api *httptest.Server
	lifetime   time.Duration

	mu       sync.Mutex
	refresh  string      // the refresh token accepted next
	issued   []time.Time // when access token n was issued
	revoked  map[int]time.Time
	redeemed []string    // the refresh tokens redeemed, in order
	at       []time.Time // when each was redeemed
	reused   int         // invalid_grant answers
	badAuth  int         // token requests without the client's credentials
	// What the resource server saw: requests with a valid token (fresh
	// when it is the newest, superseded when a newer one was issued),
	// with an expired, revoked or unknown one, or with none.
	fresh, superseded, expired, revokedSeen, unknown, missing int
}

func newAuthority(t *testing.T, lifetime time.Duration) *authority {
	a := &authority{
		lifetime: lifetime,
		refresh:  "rt-SECRET-0",
		issued:   []time.Time{time.Now().Add(-time.Hour)},
		revoked:  map[int]time.Time{},
	}
	a.token = httptest.NewServer(http.HandlerFunc(a.serveToken))
	a.api = httptest.NewServer(http.HandlerFunc(a.serveAPI))
	t.Cleanup(a.api.Close)
	t.Cleanup(a.token.Close)
	return a
}

// seed is the token the store starts with: token 0, expired.
func (a *authority) seed() *xoauth2.Token {
	return &xoauth2.Token{AccessToken: "at-SECRET-0", TokenType: "Bearer", RefreshToken: "rt-SECRET-0", Expiry: a.issued[0].Add(a.lifetime)}
}

func (a *authority) serveToken(w http.ResponseWriter, r *http.Request) {
	// A token request takes a while, so that the fleet's other requests
	// come while it runs.
	time.Sleep(50 * time.Millisecond)
	id, secret, _ := r.BasicAuth()
	a.mu.Lock()
	defer a.mu.Unlock()
	if id != tokenClientID || secret != tokenClientSecret || r.FormValue("grant_type") != "refresh_token" {
		a.badAuth++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_request"}`)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	if rt != a.refresh {
		a.reused++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant"}`)
		return
	}
	now := time.Now()
	a.redeemed = append(a.redeemed, rt)
	a.at = append(a.at, now)
	a.issued = append(a.issued, now)
	n := len(a.issued) - 1
	a.refresh = fmt.Sprintf("rt-SECRET-%d", n)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token":  fmt.Sprintf("at-SECRET-%d", n),
		"token_type":    "Bearer",
		"refresh_token": a.refresh,
		"expires_in":    int(a.lifetime / time.Second),
	})
}

func (a *authority) serveAPI(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	auth := r.Header.Get("Authorization")
	n, err := strconv.Atoi(strings.TrimPrefix(auth, "Bearer at-SECRET-"))
	a.mu.Lock()
	ok := false
	switch revokedAt, revoked := a.revoked[n]; {
	case auth == "":
		a.missing++
	case err != nil || !strings.HasPrefix(auth, "Bearer ") || n < 0 || n >= len(a.issued):
		a.unknown++
	case revoked && !now.Before(revokedAt):
		a.revokedSeen++
	case now.Sub(a.issued[n]) >= a.lifetime:
		a.expired++
	case n < len(a.issued)-1:
		a.superseded++
		ok = true
	default:
		a.fresh++
		ok = true
	}
	a.mu.Unlock()
	if !ok {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, "ok")
}

// revokeWhen revokes the newest access token as soon as it is at least
// minAge old (and not older than maxAge), once more than after tokens have
// been issued since the seed. It returns the token's number, or -1 if
// none was revoked before deadline.
func (a *authority) revokeWhen(after int, minAge, maxAge time.Duration, deadline time.Time) int {
	for time.Now().Before(deadline) {
		a.mu.Lock()
		n := len(a.issued) - 1
		if age := time.Since(a.issued[n]); n >= after && age >= minAge && age <= maxAge {
			a.revoked[n] = time.Now()
			a.mu.Unlock()
			return n
		}
		a.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	return -1
}

// runTokenFleet runs the token workers, tells them "go" at once once
// they are all ready, calls during (in the test's goroutine) with the
// time of "go", and returns their results and the longest stall of a
// process.
func runTokenFleet(t *testing.T, workers []tokenWorkerConfig, during func(start time.Time)) ([]tokenWorkerResult, time.Duration) {
	t.Helper()
	results, _, stall := runFleetOnce[tokenWorkerResult](t, "TestHelperTokenWorker", tokenWorkerEnv, workers, workers[0].Duration+time.Minute, during)
	for _, r := range results {
		stall = max(stall, r.MaxStall)
	}
	return results, stall
}

// Twenty processes share a token through a TokenStore, seeded with an
// expired token, while each sends requests from two goroutines. Access
// tokens last 3s and the layers refresh them 1.5s early; once the fleet
// has refreshed twice, the resource server revokes the newest token. The
// token endpoint sees one refresh per expiry and one for the revocation,
// each redeeming the refresh token the last one rotated in; the resource
// server never sees an expired, unknown or missing token, and sees the
// revoked one at most once per goroutine (the 401 that makes the layer
// refresh); every request succeeds.
func TestTokenFleet(t *testing.T) {
	const (
		workers    = 20
		goroutines = 2
		lifetime   = 3 * time.Second
		early      = 1500 * time.Millisecond
		duration   = 6 * time.Second
	)
	key := []byte("0123456789abcdef0123456789abcdef")
	measure(t, func(f *figures) time.Duration {
		srv := startRedis(t)
		a := newAuthority(t, lifetime)
		name := "fleet-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		seeder := newTokenStore(t, srv.Client(t), name, redisstore.EncryptionKey(key))
		if err := seeder.Save(t.Context(), a.seed()); err != nil {
			t.Fatal(err)
		}
		cfgs := make([]tokenWorkerConfig, workers)
		for i := range cfgs {
			cfgs[i] = tokenWorkerConfig{
				ID: i, Redis: srv.Addr(), Name: name, Key: key,
				TokenURL: a.token.URL + "/token", API: a.api.URL,
				EarlyExpiry: early, Goroutines: goroutines, Pause: 100 * time.Millisecond, Duration: duration,
			}
		}
		revoked := -1
		results, stall := runTokenFleet(t, cfgs, func(start time.Time) {
			// Revoke the second token issued, or a later one, well
			// within its life: its early expiry is 1.5s away.
			revoked = a.revokeWhen(2, 300*time.Millisecond, 700*time.Millisecond, start.Add(duration-2*time.Second))
		})

		var ok, failed int
		refreshes := map[string]int{}
		for _, r := range results {
			ok += r.OK
			failed += r.Failed
			if r.Failed > 0 {
				f.Errorf("worker %d: %d of %d requests failed, the first: %s", r.ID, r.Failed, r.OK+r.Failed, r.FirstFailure)
			}
			if r.RefreshErrors > 0 {
				f.Errorf("worker %d: %d refreshes failed", r.ID, r.RefreshErrors)
			}
			// Each layer learns of the revocation from its own 401, and
			// refreshes once for it.
			if n := r.Refreshes["rejected/source"] + r.Refreshes["rejected/store"]; n != 1 {
				f.Errorf("worker %d refreshed %d times after a 401, want once: %v", r.ID, n, r.Refreshes)
			}
			for k, n := range r.Refreshes {
				refreshes[k] += n
			}
		}
		t.Logf("the layers' refreshes, by reason/origin: %v", refreshes)
		a.mu.Lock()
		defer a.mu.Unlock()
		t.Logf("requests: %d succeeded, %d failed; the resource server saw %d with the newest token, %d with a superseded one still valid, %d expired, %d revoked, %d unknown, %d missing",
			ok, failed, a.fresh, a.superseded, a.expired, a.revokedSeen, a.unknown, a.missing)
		if a.expired != 0 || a.unknown != 0 || a.missing != 0 {
			f.Errorf("the resource server saw %d expired, %d unknown and %d missing tokens, want none", a.expired, a.unknown, a.missing)
		}
		if revoked < 0 {
			f.Errorf("no token was revoked: the fleet refreshed %d times in the run", len(a.redeemed))
			return stall
		}
		if a.revokedSeen < 1 || a.revokedSeen > workers*goroutines {
			f.Errorf("the resource server saw the revoked token %d times, want 1 to %d (at most once per goroutine)", a.revokedSeen, workers*goroutines)
		}

		// The token endpoint: each refresh redeemed the refresh token
		// the one before rotated in, and none was reused.
		want := make([]string, len(a.redeemed))
		for i := range want {
			want[i] = fmt.Sprintf("rt-SECRET-%d", i)
		}
		if !slices.Equal(a.redeemed, want) || a.reused != 0 || a.badAuth != 0 {
			f.Errorf("refresh tokens redeemed %q, %d reused (invalid_grant), %d bad requests; want %q, none, none", a.redeemed, a.reused, a.badAuth, want)
		}
		// One refresh per expiry: refresh k replaced token k-1, and came
		// no sooner than the layers' early expiry of that token, unless
		// it was revoked; then it came before (the 401 caused it).
		var expiries, revocations int
		var ages []string
		for k := 1; k < len(a.issued); k++ {
			age := a.at[k-1].Sub(a.issued[k-1])
			switch _, wasRevoked := a.revoked[k-1]; {
			case k == 1:
				ages = append(ages, "seed")
			case wasRevoked:
				revocations++
				ages = append(ages, fmt.Sprintf("%v (revoked)", age.Round(time.Millisecond)))
				if age >= lifetime-early {
					f.Errorf("token %d, revoked, was replaced %v after it was issued, want before its early expiry (%v): the 401 should cause the refresh", k-1, age, lifetime-early)
				}
			default:
				expiries++
				ages = append(ages, age.Round(time.Millisecond).String())
				if age < lifetime-early {
					f.Errorf("token %d was replaced %v after it was issued, before its early expiry (%v): a refresh too many", k-1, age, lifetime-early)
				}
			}
		}
		t.Logf("%d refreshes: the seed's, %d at expiries, %d after the revocation of token %d; each token's age when replaced: %s",
			len(a.redeemed), expiries, revocations, revoked, strings.Join(ages, ", "))
		if expiries < 2 || revocations != 1 {
			f.Errorf("%d refreshes at expiries and %d after the revocation, want at least 2 and exactly 1", expiries, revocations)
		}
		// The layers agree: one of them called the token endpoint for
		// each refresh it saw, and one alone for the 401; the others
		// took the token from the store.
		sources := refreshes["first/source"] + refreshes["expired/source"] + refreshes["rejected/source"]
		if sources != len(a.redeemed) || refreshes["rejected/source"] != 1 {
			f.Errorf("the layers called the token endpoint %d times, %d of them after a 401; want %d (the endpoint's count) and 1",
				sources, refreshes["rejected/source"], len(a.redeemed))
		}
		// The store holds the refresh token the endpoint accepts next.
		if tok, err := seeder.Load(t.Context()); err != nil || tok.RefreshToken != a.refresh {
			f.Errorf("stored token = %s, %v; want the refresh token the endpoint accepts next, %s", desc(tok), err, a.refresh)
		}
		checkKeys(t, srv.Client(t), redisstore.DefaultPrefix)
		return stall
	})
}

// A layer whose TokenStore loses Redis fails its requests with
// oauth2.ErrStore and redisstore.ErrUnavailable in the error chain, and
// no secret in the message, without a token request; once Redis is back,
// the next request gets a token.
func TestTokenStoreLayerRedisDown(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := newAuthority(t, time.Hour)
	store := newTokenStore(t, srv.Client(t), "layer", redisstore.Timeout(200*time.Millisecond))
	if err := store.Save(t.Context(), a.seed()); err != nil {
		t.Fatal(err)
	}
	oc := &xoauth2.Config{
		ClientID:     tokenClientID,
		ClientSecret: tokenClientSecret,
		Endpoint:     xoauth2.Endpoint{TokenURL: a.token.URL + "/token", AuthStyle: xoauth2.AuthStyleInHeader},
	}
	tokens := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tokens.CloseIdleConnections)
	s, err := courier.New(
		courier.WithBaseURL(a.api.URL),
		courier.WithAuth(oauth2.New(oauth2.RefreshToken(oc, nil), oauth2.WithStore(store), oauth2.WithHTTPClient(&http.Client{Transport: tokens}))),
		courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })

	srv.Kill()
	_, err = s.Get(t.Context(), "/resource")
	if !errors.Is(err, oauth2.ErrStore) || !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("GET with Redis down = %v, want oauth2.ErrStore and redisstore.ErrUnavailable", err)
	}
	noSecret(t, err)
	a.mu.Lock()
	refreshes := len(a.redeemed) + a.reused
	a.mu.Unlock()
	if refreshes != 0 {
		t.Errorf("GET with Redis down: %d token requests, want none", refreshes)
	}

	srv.Restart()
	if err := store.Save(t.Context(), a.seed()); err != nil {
		t.Fatal(err)
	}
	if resp, err := s.Get(t.Context(), "/resource"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET once Redis is back = %v, %v; want 200", resp, err)
	}
	if tok, err := store.Load(t.Context()); err != nil || desc(tok) != "at-SECRET-1/rt-SECRET-1" {
		t.Errorf("stored token = %s, %v; want at-SECRET-1/rt-SECRET-1", desc(tok), err)
	}
}
