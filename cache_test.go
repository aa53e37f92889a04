package courier_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// origin is a loopback server for the cache tests: each request to path p
// is answered by the handler set for p, and the server counts what it
// got.
type origin struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	got      map[string][]*http.Request
}

func newOrigin(t *testing.T) *origin {
	o := &origin{handlers: map[string]http.HandlerFunc{}, got: map[string][]*http.Request{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.got[r.URL.Path] = append(o.got[r.URL.Path], r.Clone(context.Background()))
		h := o.handlers[r.URL.Path]
		o.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) handle(path string, h http.HandlerFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handlers[path] = h
}

func (o *origin) requests(path string) []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.got[path]
}

// reply answers with the headers given as "Name: value" pairs, then body.
func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			w.Header().Add(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func cachedSession(t *testing.T, opts ...courier.Option) *courier.Session {
	t.Helper()
	return testenv.NewSession(t, append([]courier.Option{courier.WithCache(courier.Cache{}),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff})}, opts...)...)
}

// get fetches path and returns the body and the cache's status.
func get(t *testing.T, s *courier.Session, url string, opts ...courier.RequestOption) (*courier.Response, string) {
	t.Helper()
	resp, err := s.Get(t.Context(), url, opts...)
	if err != nil {
		t.Fatalf("Get %s = %v", url, err)
	}
	return resp, string(resp.Bytes())
}

// Each row fetches a path twice (changing the answer between the two when
// second is set) and checks what the second fetch got and sent.
func TestCacheDirectives(t *testing.T) {
	t.Parallel()
	old := time.Now().Add(-10 * 24 * time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name    string
		first   http.HandlerFunc
		second  http.HandlerFunc        // nil: the same
		reqOpts []courier.RequestOption // for the second fetch
		// want: the second response's cache status and body; upstream:
		// requests at the server in all; cond: the second request sent
		// If-None-Match or If-Modified-Since
		want     courier.CacheStatus
		body     string
		upstream int
		cond     bool
	}{
		{name: "max-age", first: reply(200, "v1", "Cache-Control: max-age=60"), second: reply(200, "v2"),
			want: courier.CacheHit, body: "v1", upstream: 1},
		{name: "Expires", first: reply(200, "v1", "Expires: "+time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), second: reply(200, "v2"),
			want: courier.CacheHit, body: "v1", upstream: 1},
		{name: "directive names in any case", first: reply(200, "v1", "Cache-Control: No-Store, MAX-AGE=60"), second: reply(200, "v2"),
			want: courier.CacheMiss, body: "v2", upstream: 2},
		{name: "no-store on a second field line", first: reply(200, "v1", "Cache-Control: max-age=60", "Cache-Control: no-store"), second: reply(200, "v2"),
			want: courier.CacheMiss, body: "v2", upstream: 2},
		{name: "max-age=0 beats a heuristic", first: reply(200, "v1", "Cache-Control: max-age=0", "Last-Modified: "+old), second: reply(200, "v2"),
			want: courier.CacheMiss, body: "v2", upstream: 2, cond: true},
		{name: "heuristic freshness from Last-Modified", first: reply(200, "v1", "Last-Modified: "+old), second: reply(200, "v2"),
			want: courier.CacheHit, body: "v1", upstream: 1},
		{name: "no heuristic for a 302", first: reply(302, "", "Location: /elsewhere", "Last-Modified: "+old), second: reply(200, "v2"),
			want: courier.CacheMiss, body: "v2", upstream: 2},
		{name: "an Expires that does not parse is stale", first: reply(200, "v1", "Expires: 0"), second: reply(200, "v2"),
			want: courier.CacheMiss, body: "v2", upstream: 2},
		{name: "two different max-age values are stale", first: reply(200, "v1", "Cache-Control: max-age=60, max-age=120"), second: reply(200, "v2"),
			want: courier.CacheMiss, body: "v2", upstream: 2},
		{name: "no-cache revalidates, 304 keeps the body", first: reply(200, "v1", "Cache-Control: no-cache", `ETag: "a"`),
			second: reply(304, "", `ETag: "a"`), want: courier.CacheRevalidated, body: "v1", upstream: 2, cond: true},
		{name: "a 304 for another ETag refetches", first: reply(200, "v1", "Cache-Control: max-age=0", `ETag: "a"`),
			second: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("If-None-Match") != "" {
					reply(304, "", `ETag: "b"`)(w, r)
					return
				}
				reply(200, "v2", `ETag: "b"`)(w, r)
			}, want: courier.CacheMiss, body: "v2", upstream: 3, cond: true},
		{name: "the request's no-cache revalidates", first: reply(200, "v1", "Cache-Control: max-age=60", `ETag: "a"`), second: reply(304, "", `ETag: "a"`),
			reqOpts: []courier.RequestOption{courier.Header("Cache-Control", "no-cache")}, want: courier.CacheRevalidated, body: "v1", upstream: 2, cond: true},
		{name: "the request's max-age=0 revalidates", first: reply(200, "v1", "Cache-Control: max-age=60", "Last-Modified: "+old), second: reply(304, ""),
			reqOpts: []courier.RequestOption{courier.Header("Cache-Control", "max-age=0")}, want: courier.CacheRevalidated, body: "v1", upstream: 2, cond: true},
		{name: "Pragma: no-cache", first: reply(200, "v1", "Cache-Control: max-age=60", `ETag: "a"`), second: reply(304, "", `ETag: "a"`),
			reqOpts: []courier.RequestOption{courier.Header("Pragma", "no-cache")}, want: courier.CacheRevalidated, body: "v1", upstream: 2, cond: true},
		{name: "the request's max-stale takes a stale one", first: reply(200, "v1", "Cache-Control: max-age=0"), second: reply(200, "v2"),
			reqOpts: []courier.RequestOption{courier.Header("Cache-Control", "max-stale")}, want: courier.CacheHit, body: "v1", upstream: 1},
		{name: "must-revalidate refuses max-stale", first: reply(200, "v1", "Cache-Control: max-age=0, must-revalidate"), second: reply(200, "v2"),
			reqOpts: []courier.RequestOption{courier.Header("Cache-Control", "max-stale")}, want: courier.CacheMiss, body: "v2", upstream: 2},
		{name: "the request's no-store", first: reply(200, "v1", "Cache-Control: max-age=60"), second: reply(200, "v2"),
			reqOpts: []courier.RequestOption{courier.Header("Cache-Control", "no-store")}, want: courier.CacheHit, body: "v1", upstream: 1},
		{name: "private is stored (a private cache)", first: reply(200, "v1", "Cache-Control: private, max-age=60"), second: reply(200, "v2"),
			want: courier.CacheHit, body: "v1", upstream: 1},
		{name: "Vary: * is not stored", first: reply(200, "v1", "Cache-Control: max-age=60", "Vary: *"), second: reply(200, "v2"),
			want: courier.CacheMiss, body: "v2", upstream: 2},
		{name: "a 404 with max-age", first: reply(404, "gone", "Cache-Control: max-age=60"), second: reply(200, "v2"),
			reqOpts: []courier.RequestOption{courier.AnyStatus()}, want: courier.CacheHit, body: "gone", upstream: 1},
		{name: "a 500 is not stored by default", first: reply(500, "oops"), second: reply(200, "v2"),
			reqOpts: []courier.RequestOption{courier.AnyStatus()}, want: courier.CacheMiss, body: "v2", upstream: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t)
			s := cachedSession(t)
			o.handle("/r", tt.first)
			s.Get(t.Context(), o.URL+"/r")
			if tt.second != nil {
				o.handle("/r", tt.second)
			}
			resp, body := get(t, s, o.URL+"/r", tt.reqOpts...)
			if resp.Cache != tt.want || body != tt.body {
				t.Errorf("second fetch: %v %q, want %v %q", resp.Cache, body, tt.want, tt.body)
			}
			reqs := o.requests("/r")
			if len(reqs) != tt.upstream {
				t.Errorf("%d requests at the server, want %d", len(reqs), tt.upstream)
			}
			last := reqs[len(reqs)-1]
			if tt.upstream > 1 && (last.Header.Get("If-None-Match") != "" || last.Header.Get("If-Modified-Since") != "") != tt.cond &&
				!(tt.name == "a 304 for another ETag refetches") {
				t.Errorf("conditional request sent: %v, want %v (%v)", !tt.cond, tt.cond, last.Header)
			}
			if resp.Cache == courier.CacheHit && (resp.Attempts != 0 || resp.Header.Get("Age") == "") {
				t.Errorf("a hit: %d attempts, Age %q; want 0 and an Age", resp.Attempts, resp.Header.Get("Age"))
			}
		})
	}
}

// A response fetched with one set of credentials is never served to a
// request with others, or none, though the server sends no Vary.
func TestCacheIdentityPartition(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.handle("/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		user, _, _ := r.BasicAuth()
		if c, err := r.Cookie("sid"); err == nil {
			user += "+" + c.Value
		}
		fmt.Fprintf(w, "user=%s", user)
	})
	store := courier.NewMemoryCache(1 << 20)
	cache := courier.WithCache(courier.Cache{Store: store})
	s := testenv.NewSession(t, cache)
	for _, tc := range []struct {
		who  string
		opts []courier.RequestOption
	}{
		{"alice", []courier.RequestOption{courier.BasicAuth("alice", "a")}},
		{"bob", []courier.RequestOption{courier.BasicAuth("bob", "b")}},
		{"", nil},
		{"alice", []courier.RequestOption{courier.BasicAuth("alice", "a")}},
	} {
		_, body := get(t, s, o.URL+"/me", tc.opts...)
		if body != "user="+tc.who {
			t.Errorf("%q got %q", tc.who, body)
		}
	}
	if n := len(o.requests("/me")); n != 3 {
		t.Errorf("%d requests at the server, want 3: alice, bob and nobody each once", n)
	}

	// Two sessions sharing the store, each with auth of its own: never
	// each other's.
	carol := testenv.NewSession(t, cache, courier.WithBaseURL(o.URL), courier.WithAuth(basicLayer("carol", "c")))
	dave := testenv.NewSession(t, cache, courier.WithBaseURL(o.URL), courier.WithAuth(basicLayer("dave", "d")))
	for _, x := range []struct {
		s    *courier.Session
		want string
	}{{carol, "user=carol"}, {dave, "user=dave"}, {carol, "user=carol"}} {
		if _, body := get(t, x.s, "/me"); body != x.want {
			t.Errorf("got %q, want %q", body, x.want)
		}
	}

	// Cookies from the jar partition too.
	jar := cookiejar.New(cookiejar.Options{})
	jar.SetCookies(mustURL(t, o.URL), []*http.Cookie{{Name: "sid", Value: "s1"}})
	jarred := testenv.NewSession(t, cache, courier.WithJar(jar))
	if _, body := get(t, jarred, o.URL+"/me"); body != "user=+s1" {
		t.Errorf("with a cookie: %q", body)
	}
}

// basicLayer is an auth layer that adds basic credentials.
func basicLayer(user, pass string) courier.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.SetBasicAuth(user, pass)
			return next.RoundTrip(r)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// 100 concurrent misses for one resource send one request; the others
// wait for it and are served what it stored.
func TestCacheCoalescesMisses(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	release := make(chan struct{})
	var arrived atomic.Int32
	o.handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
		reply(200, "one", "Cache-Control: max-age=60")(w, r)
	})
	s := cachedSession(t)
	const n = 100
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Go(func() {
			resp, err := s.Get(t.Context(), o.URL+"/slow")
			if err == nil {
				bodies[i] = string(resp.Bytes())
			}
		})
	}
	for arrived.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the others line up behind it
	close(release)
	wg.Wait()
	for i, b := range bodies {
		if b != "one" {
			t.Fatalf("request %d got %q", i, b)
		}
	}
	if got := len(o.requests("/slow")); got != 1 {
		t.Errorf("%d requests at the server, want 1", got)
	}
	if st := s.Stats().Cache; st.Misses != 1 || st.Hits+st.Coalesced < n-1 {
		t.Errorf("cache stats %+v, want 1 miss and the rest served from it", st)
	}
}

// stale-if-error: a stored response stands in for a 503 and for a refused
// connection within its window; must-revalidate forbids it.
func TestCacheStaleIfError(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	s := cachedSession(t)
	o.handle("/sie", reply(200, "saved", "Cache-Control: max-age=0, stale-if-error=600", `ETag: "x"`))
	o.handle("/mr", reply(200, "saved", "Cache-Control: max-age=0, must-revalidate, stale-if-error=600"))
	get(t, s, o.URL+"/sie")
	get(t, s, o.URL+"/mr")
	o.handle("/sie", reply(503, "down"))
	o.handle("/mr", reply(503, "down"))

	resp, body := get(t, s, o.URL+"/sie")
	if resp.Cache != courier.CacheStaleIfError || body != "saved" || resp.StatusCode != 200 {
		t.Errorf("through a 503: %v %d %q, want the stale response", resp.Cache, resp.StatusCode, body)
	}
	if _, err := s.Get(t.Context(), o.URL+"/mr"); !testenv.HasStatus(err, 503) {
		t.Errorf("must-revalidate: Get = %v, want the 503", err)
	}
	if st := s.Stats().Cache; st.StaleIfError != 1 {
		t.Errorf("stats %+v, want one stale-if-error", st)
	}

	// The server is gone: connections are refused.
	url := o.URL
	o.Close()
	resp, body = get(t, s, url+"/sie")
	if resp.Cache != courier.CacheStaleIfError || body != "saved" {
		t.Errorf("through a refused connection: %v %q", resp.Cache, body)
	}
}

// stale-while-revalidate: a stale response is served at once, and one
// request in the background refreshes it.
func TestCacheStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	var version atomic.Int32
	version.Store(1)
	o.handle("/swr", func(w http.ResponseWriter, r *http.Request) {
		v := version.Load()
		if v == 1 {
			w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=600")
			w.Header().Set("Date", time.Now().Add(-2*time.Second).UTC().Format(http.TimeFormat)) // stale at once
		} else {
			w.Header().Set("Cache-Control", "max-age=600")
		}
		fmt.Fprintf(w, "v%d", v)
	})
	s := cachedSession(t)
	get(t, s, o.URL+"/swr")
	version.Store(2)
	// Served stale at once, however many ask before the background
	// request lands; then the fresh copy.
	for range 3 {
		resp, body := get(t, s, o.URL+"/swr")
		if body == "v2" {
			break // the background request has landed
		}
		if resp.Cache != courier.CacheStaleWhileRevalidate || body != "v1" {
			t.Fatalf("stale fetch: %v %q", resp.Cache, body)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, body := get(t, s, o.URL+"/swr"); body == "v2" {
			if resp.Cache != courier.CacheHit {
				t.Errorf("after the revalidation: %v, want a hit", resp.Cache)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := len(o.requests("/swr")); got != 2 {
		t.Errorf("%d requests at the server, want 2: the first and one revalidation", got)
	}
}

// Vary: each variant is stored apart.
func TestCacheVary(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.handle("/v", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Add("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang=%s", r.Header.Get("Accept-Language"))
	})
	s := cachedSession(t)
	for _, lang := range []string{"en", "fr", "en", "fr", ""} {
		var opts []courier.RequestOption
		if lang != "" {
			opts = append(opts, courier.Header("Accept-Language", lang))
		}
		if _, body := get(t, s, o.URL+"/v", opts...); body != "lang="+lang {
			t.Errorf("%q got %q", lang, body)
		}
	}
	if got := len(o.requests("/v")); got != 3 {
		t.Errorf("%d requests, want 3 (en, fr, none)", got)
	}
}

// An unsafe method that succeeds invalidates the URL, and its Location on
// the same origin; one that fails does not.
func TestCacheInvalidation(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.handle("/item", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			reply(200, "item", "Cache-Control: max-age=60")(w, r)
		case http.MethodPut:
			reply(400, "bad")(w, r)
		default:
			reply(204, "", "Location: /list")(w, r)
		}
	})
	o.handle("/list", reply(200, "list", "Cache-Control: max-age=60"))
	s := cachedSession(t)
	get(t, s, o.URL+"/item")
	get(t, s, o.URL+"/list")
	s.Put(t.Context(), o.URL+"/item")
	if resp, _ := get(t, s, o.URL+"/item"); resp.Cache != courier.CacheHit {
		t.Errorf("after a failed PUT: %v, want a hit", resp.Cache)
	}
	if _, err := s.Post(t.Context(), o.URL+"/item"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/item", "/list"} {
		if resp, _ := get(t, s, o.URL+p); resp.Cache != courier.CacheMiss {
			t.Errorf("%s after a POST: %v, want a miss", p, resp.Cache)
		}
	}
	if st := s.Stats().Cache; st.Invalidated != 2 {
		t.Errorf("stats %+v, want 2 invalidated", st)
	}
}

// PUT, DELETE, PATCH and unknown methods invalidate too when they succeed;
// a Location on another origin is left alone (§4.4).
func TestCacheInvalidationMethods(t *testing.T) {
	t.Parallel()
	other := newOrigin(t)
	other.handle("/x", reply(200, "other", "Cache-Control: max-age=60"))
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, "PURGE"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t)
			o.handle("/r", func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					reply(200, "r", "Cache-Control: max-age=60")(w, r)
					return
				}
				reply(200, "done", "Location: "+other.URL+"/x")(w, r)
			})
			s := cachedSession(t)
			get(t, s, o.URL+"/r")
			get(t, s, other.URL+"/x")
			if _, err := s.Do(t.Context(), method, o.URL+"/r"); err != nil {
				t.Fatal(err)
			}
			if resp, _ := get(t, s, o.URL+"/r"); resp.Cache != courier.CacheMiss {
				t.Errorf("after %s: %v, want a miss", method, resp.Cache)
			}
			if resp, _ := get(t, s, other.URL+"/x"); resp.Cache != courier.CacheHit {
				t.Errorf("another origin's Location after %s: %v, want it left alone", method, resp.Cache)
			}
		})
	}
}

// Age is §4.2.3's: the Age header, the time the response took, and the
// time since; a response whose Age already exceeds its max-age is stale.
func TestCacheAge(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.handle("/aged", reply(200, "a", "Cache-Control: max-age=100", "Age: 40"))
	o.handle("/old", reply(200, "o", "Cache-Control: max-age=100", "Age: 150"))
	o.handle("/dated", reply(200, "d", "Cache-Control: max-age=100", "Date: "+time.Now().Add(-60*time.Second).UTC().Format(http.TimeFormat)))
	s := cachedSession(t)
	for _, tc := range []struct {
		path string
		want courier.CacheStatus
		min  time.Duration
	}{{"/aged", courier.CacheHit, 40 * time.Second}, {"/old", courier.CacheMiss, 0}, {"/dated", courier.CacheHit, 59 * time.Second}} {
		get(t, s, o.URL+tc.path)
		resp, _ := get(t, s, o.URL+tc.path)
		if resp.Cache != tc.want || resp.Age < tc.min || resp.Age > tc.min+30*time.Second {
			t.Errorf("%s: %v, age %v; want %v, age from %v", tc.path, resp.Cache, resp.Age, tc.want, tc.min)
		}
	}
}

// What is not stored: Range requests pass by, a 206 is not stored, nor a
// body over MaxEntryBytes; Set-Cookie is not replayed.
func TestCacheNotStored(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	big := strings.Repeat("x", 2048)
	o.handle("/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		http.ServeContent(w, r, "f", time.Time{}, strings.NewReader("0123456789"))
	})
	o.handle("/big", reply(200, big, "Cache-Control: max-age=60"))
	o.handle("/cookie", reply(200, "c", "Cache-Control: max-age=60", "Set-Cookie: sid=1"))
	// Without a jar: with one, the cookie would make the next request
	// another identity's.
	s := cachedSession(t, courier.WithCache(courier.Cache{MaxEntryBytes: 1024}), courier.WithJar(nil))
	for range 2 {
		if resp, body := get(t, s, o.URL+"/file", courier.Header("Range", "bytes=2-4")); body != "234" || resp.Cache != courier.CacheNone {
			t.Errorf("range: %v %q", resp.Cache, body)
		}
		if _, body := get(t, s, o.URL+"/big"); body != big {
			t.Error("big body changed")
		}
	}
	if got := len(o.requests("/file")); got != 2 {
		t.Errorf("%d range requests at the server, want 2", got)
	}
	if got := len(o.requests("/big")); got != 2 {
		t.Errorf("%d requests for the big body, want 2: it is not stored", got)
	}
	get(t, s, o.URL+"/cookie")
	if resp, _ := get(t, s, o.URL+"/cookie"); resp.Cache != courier.CacheHit || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a hit: %v, Set-Cookie %q; want no Set-Cookie", resp.Cache, resp.Header.Get("Set-Cookie"))
	}
}

// only-if-cached with nothing stored is a 504 (§5.2.1.7).
func TestCacheOnlyIfCached(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	s := cachedSession(t)
	_, err := s.Get(t.Context(), o.URL+"/none", courier.Header("Cache-Control", "only-if-cached"))
	if !testenv.HasStatus(err, 504) {
		t.Errorf("Get = %v, want a 504", err)
	}
	if len(o.requests("/none")) != 0 {
		t.Error("only-if-cached sent a request")
	}
}

// The memory store keeps within its bound, dropping the least recently
// used.
func TestMemoryCacheBound(t *testing.T) {
	t.Parallel()
	m := courier.NewMemoryCache(100)
	ctx := t.Context()
	m.Set(ctx, "a", bytes.Repeat([]byte("a"), 40), 0)
	m.Set(ctx, "b", bytes.Repeat([]byte("b"), 40), 0)
	m.Get(ctx, "a") // a is now the most recently used
	m.Set(ctx, "c", bytes.Repeat([]byte("c"), 40), 0)
	if _, err := m.Get(ctx, "b"); !errors.Is(err, courier.ErrCacheMiss) {
		t.Errorf("b: %v, want it dropped", err)
	}
	for _, k := range []string{"a", "c"} {
		if _, err := m.Get(ctx, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	m.Set(ctx, "huge", make([]byte, 200), 0)
	if _, err := m.Get(ctx, "huge"); !errors.Is(err, courier.ErrCacheMiss) {
		t.Error("a value over the bound was kept")
	}
	m.Set(ctx, "short", []byte("x"), time.Nanosecond)
	time.Sleep(time.Millisecond)
	if _, err := m.Get(ctx, "short"); !errors.Is(err, courier.ErrCacheMiss) {
		t.Error("an expired value was returned")
	}
}

// keyStore records the keys and values it is given, and can fail.
type keyStore struct {
	courier.CacheStore
	mu   sync.Mutex
	keys []string
	vals [][]byte
	fail bool
}

func (k *keyStore) Get(ctx context.Context, key string) ([]byte, error) {
	k.mu.Lock()
	fail := k.fail
	k.mu.Unlock()
	if fail {
		return nil, errors.New("store down")
	}
	return k.CacheStore.Get(ctx, key)
}

func (k *keyStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail {
		return errors.New("store down")
	}
	k.keys = append(k.keys, key)
	k.vals = append(k.vals, v)
	return k.CacheStore.Set(ctx, key, v, ttl)
}

// Keys name no URL or secret; a store that fails costs a miss, never the
// request.
func TestCacheStoreKeysAndErrors(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.handle("/secret-path", reply(200, "ok", "Cache-Control: max-age=60"))
	ks := &keyStore{CacheStore: courier.NewMemoryCache(1 << 20)}
	s := testenv.NewSession(t, courier.WithCache(courier.Cache{Store: ks}))
	get(t, s, o.URL+"/secret-path?api_key=hunter2", courier.Header("Authorization", "Bearer tok-123"))
	ks.mu.Lock()
	for _, k := range ks.keys {
		if strings.Contains(k, "secret-path") || strings.Contains(k, "hunter2") || strings.Contains(k, "tok-123") {
			t.Errorf("key %q names the URL or a secret", k)
		}
	}
	if len(ks.keys) != 1 {
		t.Errorf("%d keys stored, want 1", len(ks.keys))
	}
	ks.fail = true
	ks.mu.Unlock()
	if _, body := get(t, s, o.URL+"/secret-path"); body != "ok" {
		t.Errorf("with the store down: %q", body)
	}
	if st := s.Stats().Cache; st.StoreErrors == 0 {
		t.Errorf("stats %+v, want store errors counted", st)
	}
}

// Streams and compressed bodies are stored as they are read, and served
// back decoded, buffered or streamed; Session.Client goes through the
// cache too.
func TestCacheStreamsAndGzip(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, "hello, compressed")
	zw.Close()
	o.handle("/z", reply(200, gz.String(), "Cache-Control: max-age=60", "Content-Encoding: gzip"))
	s := cachedSession(t)

	resp, err := s.Get(t.Context(), o.URL+"/z", courier.Stream())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body())
	resp.Close()
	if string(b) != "hello, compressed" || resp.Cache != courier.CacheMiss {
		t.Fatalf("streamed miss: %v %q", resp.Cache, b)
	}
	if resp, body := get(t, s, o.URL+"/z"); body != "hello, compressed" || resp.Cache != courier.CacheHit {
		t.Errorf("buffered hit: %v %q", resp.Cache, body)
	}
	hr, err := s.Client().Get(o.URL + "/z")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(hr.Body)
	hr.Body.Close()
	if string(b) != "hello, compressed" || hr.Header.Get("Age") == "" {
		t.Errorf("Client: %q, Age %q", b, hr.Header.Get("Age"))
	}
	if got := len(o.requests("/z")); got != 1 {
		t.Errorf("%d requests at the server, want 1", got)
	}
}

// OnCache reports each hop.
func TestCacheHook(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.handle("/h", reply(200, "h", "Cache-Control: max-age=60"))
	var mu sync.Mutex
	var seen []courier.CacheStatus
	s := cachedSession(t, courier.WithHooks(courier.Hooks{OnCache: func(i courier.CacheInfo) {
		mu.Lock()
		seen = append(seen, i.Status)
		mu.Unlock()
	}}))
	get(t, s, o.URL+"/h")
	get(t, s, o.URL+"/h")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != courier.CacheMiss || seen[1] != courier.CacheHit {
		t.Errorf("OnCache saw %v, want [miss hit]", seen)
	}
}
