package courier_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// fakeClock is a jar clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// setCookie parses a Set-Cookie line as a response would carry it.
func setCookie(t testing.TB, line string) *http.Cookie {
	t.Helper()
	c, err := http.ParseSetCookie(line)
	if err != nil {
		t.Fatalf("ParseSetCookie(%q): %v", line, err)
	}
	return c
}

// cookieNames returns "a=1; b=2" for the cookies the jar sends to raw.
func sent(t testing.TB, j *cookiejar.Jar, raw string) string {
	t.Helper()
	var parts []string
	for _, c := range j.Cookies(mustURL(t, raw)) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// The acceptance rules of RFC 6265 and the public suffix list, and the
// stricter ones of RFC 6265bis (Secure only from https, prefixes).
func TestJarAcceptance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from     string // the response's URL
		line     string // its Set-Cookie
		to       string // a URL the cookie would go to
		wantSent bool
	}{
		{"host-only", "http://www.example.com/", "a=1", "http://www.example.com/", true},
		{"host-only not to subdomain", "http://example.com/", "a=1", "http://www.example.com/", false},
		{"domain to subdomain", "http://www.example.com/", "a=1; Domain=example.com", "http://api.example.com/", true},
		{"domain with leading dot", "http://www.example.com/", "a=1; Domain=.example.com", "http://example.com/", true},
		{"domain not matching host", "http://www.example.com/", "a=1; Domain=other.com", "http://other.com/", false},
		{"public suffix co.uk refused", "http://foo.co.uk/", "a=1; Domain=co.uk", "http://bar.co.uk/", false},
		{"public suffix co.uk not even to its host", "http://foo.co.uk/", "a=1; Domain=co.uk", "http://foo.co.uk/", false},
		{"registrable domain under co.uk", "http://www.foo.co.uk/", "a=1; Domain=foo.co.uk", "http://foo.co.uk/", true},
		{"private suffix github.io refused", "http://me.github.io/", "a=1; Domain=github.io", "http://you.github.io/", false},
		{"IP address host-only", "http://127.0.0.1:8080/", "a=1", "http://127.0.0.1:9090/", true},
		{"IP address with its own Domain", "http://127.0.0.1/", "a=1; Domain=127.0.0.1", "http://127.0.0.1/", true},
		{"IP address with a parent Domain", "http://10.0.0.1/", "a=1; Domain=0.0.1", "http://10.0.0.1/", false},
		{"trailing dot domain refused", "http://www.example.com/", "a=1; Domain=example.com.", "http://www.example.com/", false},
		{"Secure from https to https", "https://example.com/", "a=1; Secure", "https://example.com/", true},
		{"Secure not sent over http", "https://example.com/", "a=1; Secure", "http://example.com/", false},
		{"Secure from http refused", "http://example.com/", "a=1; Secure", "https://example.com/", false},
		{"__Secure- needs Secure", "https://example.com/", "__Secure-a=1", "https://example.com/", false},
		{"__Secure- with Secure", "https://example.com/", "__Secure-a=1; Secure", "https://example.com/", true},
		{"__Host- with Domain refused", "https://example.com/", "__Host-a=1; Secure; Path=/; Domain=example.com", "https://example.com/", false},
		{"__Host- needs Path=/", "https://example.com/", "__Host-a=1; Secure; Path=/x", "https://example.com/x", false},
		{"__Host- right", "https://example.com/", "__Host-a=1; Secure; Path=/", "https://example.com/", true},
		{"path matches below", "http://example.com/", "a=1; Path=/docs", "http://example.com/docs/x", true},
		{"path is not a string prefix", "http://example.com/", "a=1; Path=/docs", "http://example.com/docsx", false},
		{"default path is the directory", "http://example.com/a/b", "a=1", "http://example.com/a/c", true},
		{"default path not above", "http://example.com/a/b", "a=1", "http://example.com/z", false},
		{"Max-Age=0 stores nothing", "http://example.com/", "a=1; Max-Age=0", "http://example.com/", false},
		{"expired stores nothing", "http://example.com/", "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "http://example.com/", false},
		{"too large refused", "http://example.com/", "a=" + strings.Repeat("x", 4096), "http://example.com/", false},
		{"IDN host", "http://bücher.example/", "a=1", "http://xn--bcher-kva.example/", true},
		{"host case", "http://EXAMPLE.com/", "a=1", "http://example.COM/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := cookiejar.New(cookiejar.Options{})
			j.SetCookies(mustURL(t, tt.from), []*http.Cookie{setCookie(t, tt.line)})
			got := sent(t, j, tt.to) != ""
			if got != tt.wantSent {
				t.Errorf("Set-Cookie %q from %s, then Cookies(%s): sent = %v, want %v (jar: %v)",
					tt.line, tt.from, tt.to, got, tt.wantSent, j.All())
			}
		})
	}
}

func TestJarOrderReplaceDelete(t *testing.T) {
	t.Parallel()
	clock := newClock()
	j := cookiejar.New(cookiejar.Options{Now: clock.Now})
	u := mustURL(t, "http://example.com/a/b")
	j.SetCookies(u, []*http.Cookie{setCookie(t, "short=1; Path=/"), setCookie(t, "long=2; Path=/a")})
	clock.Advance(time.Second)
	j.SetCookies(u, []*http.Cookie{setCookie(t, "later=3; Path=/")})
	if got, want := sent(t, j, "http://example.com/a/b"), "long=2; short=1; later=3"; got != want {
		t.Errorf("Cookies = %q, want %q (longest path first, then oldest)", got, want)
	}
	// Replacing keeps the creation time, so the order holds.
	j.SetCookies(u, []*http.Cookie{setCookie(t, "short=new; Path=/")})
	if got, want := sent(t, j, "http://example.com/a/b"), "long=2; short=new; later=3"; got != want {
		t.Errorf("after replace: Cookies = %q, want %q", got, want)
	}
	j.SetCookies(u, []*http.Cookie{setCookie(t, "long=; Path=/a; Max-Age=0")})
	if got, want := sent(t, j, "http://example.com/a/b"), "short=new; later=3"; got != want {
		t.Errorf("after Max-Age=0: Cookies = %q, want %q", got, want)
	}
	if !j.Delete("later", "example.com", "/") || j.Delete("later", "example.com", "/") {
		t.Error("Delete: want true, then false")
	}
	j.Clear()
	if got := j.All(); len(got) != 0 {
		t.Errorf("after Clear: All = %v, want none", got)
	}
}

func TestJarExpiry(t *testing.T) {
	t.Parallel()
	clock := newClock()
	j := cookiejar.New(cookiejar.Options{Now: clock.Now})
	u := mustURL(t, "http://example.com/")
	j.SetCookies(u, []*http.Cookie{
		setCookie(t, "minute=1; Max-Age=60"),
		setCookie(t, "hour=2; Expires="+clock.Now().Add(time.Hour).Format(http.TimeFormat)),
		setCookie(t, "session=3"),
	})
	if got, want := len(j.All()), 3; got != want {
		t.Fatalf("All = %d cookies, want %d", got, want)
	}
	clock.Advance(2 * time.Minute)
	if got, want := sent(t, j, "http://example.com/"), "hour=2; session=3"; got != want {
		t.Errorf("after 2m: Cookies = %q, want %q", got, want)
	}
	// Lifetimes are capped at 400 days (RFC 6265bis), and a huge Max-Age
	// does not overflow into a deletion.
	j.SetCookies(u, []*http.Cookie{setCookie(t, "forever=1; Max-Age=99999999999"),
		setCookie(t, "far=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT")})
	for _, c := range j.All() {
		if (c.Name == "forever" || c.Name == "far") && !c.Expires.Equal(clock.Now().Add(400*24*time.Hour)) {
			t.Errorf("%s expires %v, want 400 days from now", c.Name, c.Expires)
		}
	}
	j.Delete("forever", "example.com", "/")
	j.Delete("far", "example.com", "/")
	clock.Advance(2 * time.Hour)
	all := j.All()
	if len(all) != 1 || all[0].Name != "session" || !all[0].Expires.IsZero() {
		t.Errorf("after 2h: All = %v, want the session cookie alone", all)
	}
}

// A plain cookie from http may not replace a Secure one (RFC 6265bis).
func TestJarHTTPCannotOverwriteSecure(t *testing.T) {
	t.Parallel()
	j := cookiejar.New(cookiejar.Options{})
	j.SetCookies(mustURL(t, "https://example.com/"), []*http.Cookie{setCookie(t, "sid=good; Secure")})
	j.SetCookies(mustURL(t, "http://example.com/"), []*http.Cookie{setCookie(t, "sid=evil")})
	j.SetCookies(mustURL(t, "http://example.com/"), []*http.Cookie{setCookie(t, "sid=; Max-Age=0")})
	if got, want := sent(t, j, "https://example.com/"), "sid=good"; got != want {
		t.Errorf("Cookies = %q, want %q", got, want)
	}
}

func TestJarLimits(t *testing.T) {
	t.Parallel()
	clock := newClock()
	j := cookiejar.New(cookiejar.Options{Now: clock.Now})
	u := mustURL(t, "http://example.com/")
	// c00 on its own path, c01..c59 on another: reading /a uses c00 alone.
	for i := range 60 {
		clock.Advance(time.Second)
		path := "/b"
		if i == 0 {
			path = "/a"
		}
		j.SetCookies(u, []*http.Cookie{{Name: fmt.Sprintf("c%02d", i), Value: "v", Path: path}})
		if i == 49 {
			clock.Advance(time.Second)
			j.Cookies(mustURL(t, "http://example.com/a"))
		}
	}
	all := j.All()
	if len(all) != 50 {
		t.Fatalf("All = %d cookies, want 50 (the per-site limit)", len(all))
	}
	var names []string
	for _, c := range all {
		names = append(names, c.Name)
	}
	for _, gone := range []string{"c01", "c10"} {
		if slices.Contains(names, gone) {
			t.Errorf("%s kept; the least recently used should have gone: %v", gone, names)
		}
	}
	for _, kept := range []string{"c00", "c11", "c59"} {
		if !slices.Contains(names, kept) {
			t.Errorf("%s evicted, want it kept: %v", kept, names)
		}
	}
}

// Save and load: every attribute survives, a host-only cookie stays
// host-only (aiohttp CVE-2026-54279), and reloaded cookies meet the rules
// fresh ones do.
func TestJarExportImport(t *testing.T) {
	t.Parallel()
	clock := newClock()
	src := cookiejar.New(cookiejar.Options{Now: clock.Now})
	src.SetCookies(mustURL(t, "https://www.example.com/app/x"), []*http.Cookie{
		setCookie(t, `sid="q v"; Path=/app; Secure; HttpOnly; SameSite=Strict; Max-Age=3600`),
		setCookie(t, "pref=dark; Domain=example.com; SameSite=Lax"),
		setCookie(t, "host=1"),
	})
	saved := src.All()
	if len(saved) != 3 {
		t.Fatalf("All = %v, want 3 cookies", saved)
	}
	dst := cookiejar.New(cookiejar.Options{Now: clock.Now})
	if err := dst.Load(saved); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := dst.All(); !slices.Equal(got, saved) {
		t.Errorf("after Load:\n got %+v\nwant %+v", got, saved)
	}
	for _, c := range saved {
		if c.Name == "host" && (!c.HostOnly || c.Domain != "www.example.com") {
			t.Errorf("host cookie = %+v, want host-only for www.example.com", c)
		}
		if c.Name == "sid" && (!c.Quoted || c.SameSite != http.SameSiteStrictMode || !c.HttpOnly || c.Expires.IsZero()) {
			t.Errorf("sid = %+v, want quoted, Strict, HttpOnly, with an expiry", c)
		}
	}
	for _, to := range []string{"https://api.example.com/app/x", "https://example.com/app/x"} {
		if got := sent(t, dst, to); strings.Contains(got, "host=") {
			t.Errorf("after a reload, the host-only cookie went to %s: %q", to, got)
		}
	}
	if got, want := sent(t, dst, "https://www.example.com/app/x"), "sid=q v; pref=dark; host=1"; got != want {
		t.Errorf("reloaded jar sends %q, want %q", got, want)
	}

	bad := []struct {
		name string
		c    cookiejar.Cookie
	}{
		{"public suffix domain", cookiejar.Cookie{Name: "a", Value: "1", Domain: "co.uk", Path: "/"}},
		{"IP address not host-only", cookiejar.Cookie{Name: "a", Value: "1", Domain: "127.0.0.1", Path: "/"}},
		{"__Host- with a domain", cookiejar.Cookie{Name: "__Host-a", Value: "1", Domain: "example.com", Path: "/", Secure: true}},
		{"invalid value", cookiejar.Cookie{Name: "a", Value: "x;y", Domain: "example.com", HostOnly: true, Path: "/"}},
		{"empty domain", cookiejar.Cookie{Name: "a", Value: "1", Path: "/"}},
	}
	for _, tt := range bad {
		j := cookiejar.New(cookiejar.Options{})
		if err := j.Set(tt.c); err == nil {
			t.Errorf("Set(%s) = nil, want an error", tt.name)
		} else if strings.Contains(err.Error(), tt.c.Value) && tt.c.Value != "1" {
			t.Errorf("Set(%s) error %q shows the value", tt.name, err)
		}
		if got := j.All(); len(got) != 0 {
			t.Errorf("Set(%s) stored %v", tt.name, got)
		}
	}
	// A cookie that expired while saved is dropped, without error.
	j := cookiejar.New(cookiejar.Options{Now: clock.Now})
	old := cookiejar.Cookie{Name: "old", Value: "1", Domain: "example.com", HostOnly: true, Path: "/", Expires: clock.Now().Add(-time.Minute)}
	if err := j.Set(old); err != nil || len(j.All()) != 0 {
		t.Errorf("Set(expired) = %v, jar %v; want nil and nothing stored", err, j.All())
	}
}

func TestJarConcurrent(t *testing.T) {
	t.Parallel()
	j := cookiejar.New(cookiejar.Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			u := mustURL(t, fmt.Sprintf("http://h%d.example.com/", g%3))
			for i := range 200 {
				j.SetCookies(u, []*http.Cookie{{Name: fmt.Sprintf("c%d", i%70), Value: "v", Domain: "example.com"}})
				j.Cookies(u)
				if i%50 == 0 {
					j.All()
				}
			}
		})
	}
	wg.Wait()
	if n := len(j.All()); n > 50 {
		t.Errorf("All = %d cookies, want at most 50 for one site", n)
	}
}

// A session keeps its cookies: go-httpbin's /cookies/set answers with a
// Set-Cookie and a redirect, so the cookie must be stored from the redirect
// hop and sent on the next one.
func TestSessionCookiesWithHTTPBin(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.HTTPBin(t, m)
		jar := cookiejar.New(cookiejar.Options{})
		s := ts.Session(t, courier.WithJar(jar))
		ctx := context.Background()
		var got struct{ Cookies map[string]string } // go-httpbin's /cookies
		if _, err := s.Get(ctx, "/cookies/set", courier.Query("sid", "abc"), courier.Query("lang", "en"), courier.Into(&got)); err != nil {
			t.Fatal(err)
		}
		if got.Cookies["sid"] != "abc" || got.Cookies["lang"] != "en" {
			t.Errorf("/cookies after /cookies/set = %v, want sid and lang", got.Cookies)
		}
		got.Cookies = nil // Into merges into a map it is given
		if _, err := s.Get(ctx, "/cookies/delete", courier.Query("sid", ""), courier.Into(&got)); err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Cookies["sid"]; ok || got.Cookies["lang"] != "en" {
			t.Errorf("/cookies after /cookies/delete?sid = %v, want lang alone", got.Cookies)
		}
		if all := jar.All(); len(all) != 1 || all[0].Name != "lang" {
			t.Errorf("jar = %v, want lang alone", all)
		}
	})
}

// cookieServer answers /set with a Set-Cookie line given in ?c=, /go with a
// redirect to ?to=, and records the Cookie header of each request by path.
type cookieServer struct {
	*testenv.Server
	mu  sync.Mutex
	saw map[string][]string
}

func newCookieServer(t *testing.T, m testenv.Mode) *cookieServer {
	cs := &cookieServer{saw: map[string][]string{}}
	cs.Server = testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		cs.saw[r.URL.Path] = append(cs.saw[r.URL.Path], strings.Join(r.Header["Cookie"], " | "))
		cs.mu.Unlock()
		if c := r.URL.Query().Get("c"); c != "" {
			w.Header().Add("Set-Cookie", c)
		}
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
		}
	}))
	return cs
}

func (cs *cookieServer) cookies(path string) []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return slices.Clone(cs.saw[path])
}

// Jar cookies follow their domain across a redirect; explicit ones (the
// session's Cookie option, a request's) stay on their origin and are never
// stored.
func TestSessionCookieScopeAcrossRedirects(t *testing.T) {
	t.Parallel()
	a := newCookieServer(t, testenv.HTTP1)
	b := newCookieServer(t, testenv.HTTP1)
	jar := cookiejar.New(cookiejar.Options{})
	s := a.Session(t, courier.Cookie("team", "blue"), courier.WithJar(jar))
	ctx := context.Background()

	// a sets a cookie; both servers are 127.0.0.1, and cookies do not
	// tell ports apart (RFC 6265), so b gets the jar's cookie, as a
	// browser would send it. The explicit ones do not reach b.
	if _, err := s.Get(ctx, "/set", courier.Query("c", "jar=1")); err != nil {
		t.Fatal(err)
	}
	to := b.URL + "/land"
	if _, err := s.Get(ctx, "/hop", courier.Query("to", to), courier.Cookie("once", "x")); err != nil {
		t.Fatal(err)
	}
	if got, want := a.cookies("/hop"), []string{"team=blue; once=x; jar=1"}; !slices.Equal(got, want) {
		t.Errorf("a saw Cookie %q, want %q (one header line)", got, want)
	}
	if got, want := b.cookies("/land"), []string{"jar=1"}; !slices.Equal(got, want) {
		t.Errorf("b saw Cookie %q, want %q: explicit cookies stay on their origin", got, want)
	}
	for _, c := range jar.All() {
		if c.Name != "jar" {
			t.Errorf("jar holds %v: explicit cookies must not be stored", c)
		}
	}
	// A request's own cookie replaces the jar's of that name.
	if _, err := s.Get(ctx, "/own", courier.Cookie("jar", "mine")); err != nil {
		t.Fatal(err)
	}
	if got, want := a.cookies("/own"), []string{"team=blue; jar=mine"}; !slices.Equal(got, want) {
		t.Errorf("a saw Cookie %q, want %q", got, want)
	}
}

// A Secure cookie set over https is not sent to plain http on the same host.
func TestSessionSecureCookieNotSentOverHTTP(t *testing.T) {
	t.Parallel()
	secure := newCookieServer(t, testenv.HTTP2)
	plain := newCookieServer(t, testenv.HTTP1)
	s := secure.Session(t)
	ctx := context.Background()
	if _, err := s.Get(ctx, "/set", courier.Query("c", "sec=1; Secure")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "/set", courier.Query("c", "open=1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, plain.URL+"/x"); err != nil {
		t.Fatal(err)
	}
	if got, want := plain.cookies("/x"), []string{"open=1"}; !slices.Equal(got, want) {
		t.Errorf("http server saw Cookie %q, want %q", got, want)
	}
	if _, err := s.Get(ctx, "/y"); err != nil {
		t.Fatal(err)
	}
	if got, want := secure.cookies("/y"), []string{"sec=1; open=1"}; !slices.Equal(got, want) {
		t.Errorf("https server saw Cookie %q, want %q", got, want)
	}
}

// Every attempt's Set-Cookie reaches the jar, a retried 503's too, and the
// retry carries it.
func TestSessionCookieFromRetriedAttempt(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Cookie"))
		first := len(seen) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Set-Cookie", "lb=node2")
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	if _, err := s.Get(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "lb=node2"}; !slices.Equal(seen, want) {
		t.Errorf("Cookie per attempt = %q, want %q", seen, want)
	}
}

func TestSessionWithoutJar(t *testing.T) {
	t.Parallel()
	cs := newCookieServer(t, testenv.HTTP1)
	s := cs.Session(t, courier.WithJar(nil))
	ctx := context.Background()
	for range 2 {
		if _, err := s.Get(ctx, "/set", courier.Query("c", "a=1")); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := cs.cookies("/set"), []string{"", ""}; !slices.Equal(got, want) {
		t.Errorf("Cookie = %q, want none with WithJar(nil)", got)
	}
}

// Two sessions given one jar share their cookies.
func TestSessionsShareAJar(t *testing.T) {
	t.Parallel()
	cs := newCookieServer(t, testenv.HTTP1)
	jar := cookiejar.New(cookiejar.Options{})
	s1 := cs.Session(t, courier.WithJar(jar))
	s2 := cs.Session(t, courier.WithJar(jar))
	ctx := context.Background()
	if _, err := s1.Get(ctx, "/set", courier.Query("c", "shared=1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, "/read"); err != nil {
		t.Fatal(err)
	}
	if got, want := cs.cookies("/read"), []string{"shared=1"}; !slices.Equal(got, want) {
		t.Errorf("second session sent Cookie %q, want %q", got, want)
	}
}

func TestCookieOptionErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, value string }{
		{"", "x"}, {"a b", "x"}, {"a", "x;y"}, {"a", "x\r\ny"},
	} {
		_, err := courier.New(courier.Cookie(tt.name, tt.value))
		if err == nil {
			t.Errorf("New(Cookie(%q, %q)) = nil error, want one", tt.name, tt.value)
		}
	}
}
