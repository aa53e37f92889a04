package sessionfile_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/internal/testenv"
	"github.com/courierhttp/courier/sessionfile"
)

// site serves go-httpbin, plus POST /login, over https and http for every
// host name: a session reaches it as https://www.example.com,
// http://api.example.com and so on through transport, which dials the
// right server whatever the host. So cookies see real host names, and
// domain cookies, host-only ones and Secure ones all mean something.
type site struct {
	transport *http.Transport
}

func newSite(t *testing.T) *site {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Set-Cookie", "sid=s3cr3t-sid; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=3600")
		h.Add("Set-Cookie", "team=blue; Domain=example.com; Path=/; SameSite=Lax; Expires="+
			time.Now().Add(24*time.Hour).UTC().Format(http.TimeFormat))
		h.Add("Set-Cookie", `motto="carpe diem"; Path=/`)
		h.Add("Set-Cookie", "__Host-csrf=s3cr3t-csrf; Path=/; Secure; SameSite=None")
		h.Add("Set-Cookie", "flash=hello; Path=/; Max-Age=60")
	})
	mux.Handle("/", httpbin.New().Handler())
	// Handshakes cut short when a test ends are no news.
	quiet := func(srv *http.Server) { srv.ErrorLog = log.New(io.Discard, "", 0) }
	secure := testenv.NewServer(t, testenv.HTTP1TLS, mux, quiet)
	plain := testenv.NewServer(t, testenv.HTTP1, mux, quiet)

	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			target := plain.Listener.Addr().String()
			if _, port, _ := net.SplitHostPort(addr); port == "443" {
				target = secure.Listener.Addr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, target)
		},
		// httptest's certificate is for example.com and *.example.com.
		TLSClientConfig:    testenv.TLSConfig(secure.Server),
		DisableCompression: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &site{transport: tr}
}

// session builds a session on f's identity against the site.
func (st *site) session(t *testing.T, f *sessionfile.File, opts ...courier.Option) *courier.Session {
	t.Helper()
	opts = append(f.Options(), append([]courier.Option{
		courier.WithBaseURL("https://www.example.com"),
		courier.WithTransport(st.transport),
		courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}),
	}, opts...)...)
	return testenv.NewSession(t, opts...)
}

// cookiesAt returns the names of the cookies go-httpbin's /cookies saw at
// url, sorted.
func cookiesAt(t *testing.T, s *courier.Session, url string) []string {
	t.Helper()
	var got struct{ Cookies map[string]string }
	if _, err := s.Get(t.Context(), url, courier.Into(&got)); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	var names []string
	for name := range got.Cookies {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// clock is a jar clock the test sets.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// A session logs in (the server sets Secure, host-only, domain, quoted,
// prefixed and short-lived cookies), its identity is saved; a new File and
// a new Session loaded from the file show the server the same identity:
// every cookie attribute survives, host-only stays host-only, Secure stays
// on https, the expired cookie is gone, and headers and auth are carried.
func TestRoundTripThroughASession(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	path := filepath.Join(t.TempDir(), "sessions", "www.json")

	f := sessionfile.New(path)
	// The first session's jar runs ten minutes behind: its 60-second
	// cookie has long expired by the time the file is written and read.
	f.Jar = cookiejar.New(cookiejar.Options{Now: (&clock{now: time.Now().Add(-10 * time.Minute)}).Now})
	f.UpdateHeaders(http.Header{
		"X-Client":      {"courier-test"},
		"Content-Type":  {"application/json"},
		"If-None-Match": {`"v1"`},
	})
	f.Auth = &sessionfile.Auth{Type: sessionfile.AuthBasic, Username: "u", Password: "s3cr3t-p"}
	s1 := st.session(t, f)
	if _, err := s1.Post(t.Context(), "/login"); err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	if _, err := s1.Get(t.Context(), "/basic-auth/u/s3cr3t-p"); err != nil {
		t.Fatalf("first session: GET /basic-auth: %v", err)
	}
	before := f.Jar.All()
	if len(before) != 5 {
		t.Fatalf("after login, the jar holds %v; want 5 cookies", before)
	}
	mustSave(t, f)

	g := mustLoad(t, path)
	var want []cookiejar.Cookie
	for _, c := range before {
		if c.Name != "flash" {
			want = append(want, c)
		}
	}
	if d := diffCookies(g.Jar.All(), want); d != "" {
		t.Errorf("reloaded cookies differ from the saved ones:%s", d)
	}
	for _, c := range g.Jar.All() {
		switch c.Name {
		case "motto":
			if !c.HostOnly || c.Domain != "www.example.com" || !c.Quoted || !c.Expires.IsZero() {
				t.Errorf("reloaded %+v: want host-only for www.example.com, quoted, a session cookie", c)
			}
		case "team":
			if c.HostOnly || c.Domain != "example.com" || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("reloaded %+v: want a domain cookie for example.com, SameSite=Lax", c)
			}
		case "sid":
			if !c.HostOnly || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Expires.IsZero() {
				t.Errorf("reloaded %+v: want host-only, Secure, HttpOnly, Strict, with an expiry", c)
			}
		}
	}
	if got, want := g.Header, (http.Header{"X-Client": {"courier-test"}}); len(got) != 1 || got.Get("X-Client") != "courier-test" {
		t.Errorf("reloaded Header = %v, want %v", got, want)
	}

	s2 := st.session(t, g)
	for _, tt := range []struct {
		url  string
		want []string
	}{
		{"https://www.example.com/cookies", []string{"__Host-csrf", "motto", "sid", "team"}},
		{"http://www.example.com/cookies", []string{"motto", "team"}},
		{"https://api.example.com/cookies", []string{"team"}},
		{"http://example.com/cookies", []string{"team"}},
		{"http://other.test/cookies", nil},
	} {
		if got := cookiesAt(t, s2, tt.url); !slices.Equal(got, tt.want) {
			t.Errorf("reloaded session: GET %s sent cookies %v, want %v", tt.url, got, tt.want)
		}
	}
	var who struct{ Authenticated bool }
	if _, err := s2.Get(t.Context(), "/basic-auth/u/s3cr3t-p", courier.Into(&who)); err != nil || !who.Authenticated {
		t.Errorf("reloaded session: GET /basic-auth = %v, authenticated %v; want the stored credentials", err, who.Authenticated)
	}
	// The credentials stay on the session's origin.
	resp, err := s2.Get(t.Context(), "https://api.example.com/basic-auth/u/s3cr3t-p", courier.AnyStatus())
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reloaded session: GET api.example.com/basic-auth = %v, %v; want 401 (credentials bound to www)", resp, err)
	}
	var hs struct{ Headers map[string][]string }
	if _, err := s2.Get(t.Context(), "/headers", courier.Into(&hs)); err != nil {
		t.Fatal(err)
	}
	// The cookies of one response were created at the same instant: the
	// reloaded jar sends them in the order the first one did.
	if got, want := hs.Headers["Cookie"], []string{`sid=s3cr3t-sid; team=blue; motto="carpe diem"; __Host-csrf=s3cr3t-csrf`}; !slices.Equal(got, want) {
		t.Errorf("reloaded session sent Cookie %q, want %q", got, want)
	}
	if got := hs.Headers["X-Client"]; !slices.Equal(got, []string{"courier-test"}) {
		t.Errorf("reloaded session sent X-Client %q, want courier-test", got)
	}
	for _, h := range []string{"If-None-Match"} {
		if _, ok := hs.Headers[h]; ok {
			t.Errorf("reloaded session sent %s, which is never stored", h)
		}
	}

	// The reloaded session keeps the jar up to date; the next save has it.
	if _, err := s2.Get(t.Context(), "/cookies/set", courier.Query("lang", "en")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(t.Context(), "/cookies/delete", courier.Query("team", ""), courier.Query("attr[Domain]", "example.com")); err != nil {
		t.Fatal(err)
	}
	mustSave(t, g)
	if got, want := cookieNames(mustLoad(t, path)), []string{"__Host-csrf", "lang", "motto", "sid"}; !slices.Equal(got, want) {
		t.Errorf("after the second session: cookies %v, want %v", got, want)
	}
}

// Bearer and digest auth are stored and carried into a new session.
func TestRoundTripAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth sessionfile.Auth
		url  string
	}{
		{"bearer", sessionfile.Auth{Type: sessionfile.AuthBearer, Token: "s3cr3t-token"}, "/bearer"},
		{"digest", sessionfile.Auth{Type: sessionfile.AuthDigest, Username: "u", Password: "s3cr3t-p"}, "/digest-auth/auth/u/s3cr3t-p"},
		{"basic", sessionfile.Auth{Type: sessionfile.AuthBasic, Username: "u", Password: "s3cr3t-p"}, "/basic-auth/u/s3cr3t-p"},
	}
	st := newSite(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "s.json")
			f := sessionfile.New(path)
			a := tt.auth
			f.Auth = &a
			mustSave(t, f)
			g := mustLoad(t, path)
			if g.Auth == nil || *g.Auth != tt.auth {
				t.Fatalf("reloaded Auth = %v, want %v", g.Auth, tt.auth)
			}
			s := st.session(t, g)
			var got struct {
				Authenticated bool
				Token         string
			}
			if _, err := s.Get(t.Context(), tt.url, courier.Into(&got)); err != nil || !got.Authenticated {
				t.Errorf("GET %s = %v, authenticated %v; want the stored auth", tt.url, err, got.Authenticated)
			}
			if tt.name == "bearer" && got.Token != tt.auth.Token {
				t.Errorf("GET /bearer: token %q, want the stored one", got.Token)
			}
		})
	}
	// An Auth that does not check out fails requests, saying why.
	f := sessionfile.New(filepath.Join(t.TempDir(), "s.json"))
	f.Auth = &sessionfile.Auth{Type: "ntlm", Password: "s3cr3t"}
	s := st.session(t, f)
	_, err := s.Get(t.Context(), "/get")
	if err == nil || !strings.Contains(err.Error(), `unknown type "ntlm"`) {
		t.Errorf("GET with an Auth of unknown type = %v, want an error naming the type", err)
	}
	checkNoSecret(t, "GET", err)
}

// A File with a nil Jar gives sessions no cookies, and Save then empties
// the file of them.
func TestNilJar(t *testing.T) {
	t.Parallel()
	st := newSite(t)
	path := writeSession(t, t.TempDir(), "s.json", sample(t))
	f := mustLoad(t, path)
	f.Jar = nil
	s := st.session(t, f)
	if got := cookiesAt(t, s, "https://www.example.com/cookies"); len(got) != 0 {
		t.Errorf("a session of a nil Jar sent cookies %v", got)
	}
	mustSave(t, f)
	if g := mustLoad(t, path); len(g.Jar.All()) != 0 {
		t.Errorf("after Save with a nil Jar, the file holds %v", g.Jar.All())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
