package auth_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// The examples of RFC 7616, section 3.9.1, answered exactly.
func TestDigestRFC7616Vectors(t *testing.T) {
	t.Parallel()
	const (
		nonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
		cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	)
	tests := []struct {
		algorithm, response string
	}{
		{"MD5", "8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, tt := range tests {
		t.Run(tt.algorithm, func(t *testing.T) {
			t.Parallel()
			var got atomic.Value
			srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if h := r.Header.Get("Authorization"); h != "" {
					got.Store(h)
					return
				}
				w.Header().Set("WWW-Authenticate", `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=`+
					tt.algorithm+`, nonce="`+nonce+`", opaque="`+opaque+`"`)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			rt := auth.DigestWithCnonce("Mufasa", "Circle of Life", func() string { return cnonce })(newTransport(t, nil))
			if code, _ := get(t, rt, srv.URL+"/dir/index.html"); code != http.StatusOK {
				t.Fatalf("GET /dir/index.html = %d, want 200", code)
			}
			want := `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=` + tt.algorithm +
				`, nonce="` + nonce + `", nc=00000001, cnonce="` + cnonce + `", qop=auth, response="` + tt.response +
				`", opaque="` + opaque + `"`
			if h, _ := got.Load().(string); h != want {
				t.Errorf("Authorization =\n%s\nwant\n%s", h, want)
			}
		})
	}
}

// The challenge of RFC 7616, section 3.9.2 (SHA-512-256, userhash,
// charset=UTF-8). The response and user hash printed in the RFC do not
// follow from its own algorithm; these were computed apart, with OpenSSL's
// SHA-512/256.
func TestDigestUserhashVector(t *testing.T) {
	t.Parallel()
	const (
		nonce  = "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK"
		opaque = "HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"
		cnonce = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"
	)
	var got atomic.Value
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			got.Store(h)
			return
		}
		w.Header().Set("WWW-Authenticate", `Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="`+
			nonce+`", opaque="`+opaque+`", charset=UTF-8, userhash=true`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	rt := auth.DigestWithCnonce("J\u00e4s\u00f8n Doe", "Secret, or not?", func() string { return cnonce })(newTransport(t, nil))
	if code, _ := get(t, rt, srv.URL+"/doe.json"); code != http.StatusOK {
		t.Fatalf("GET /doe.json = %d, want 200", code)
	}
	want := `Digest username="793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b", realm="api@example.org", ` +
		`uri="/doe.json", algorithm=SHA-512-256, nonce="` + nonce + `", nc=00000001, cnonce="` + cnonce + `", qop=auth, ` +
		`response="3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5", opaque="` + opaque + `", userhash=true`
	if h, _ := got.Load().(string); h != want {
		t.Errorf("Authorization =\n%s\nwant\n%s", h, want)
	}
}

// go-httpbin's /digest-auth, through a session and through http.Client:
// the first request takes two round trips, later ones one.
func TestDigestHTTPBin(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			srv := testenv.HTTPBin(t, testenv.HTTP1)
			n := &srv.Requests
			path := "/digest-auth/auth/ada/lovelace/" + alg
			s := srv.Session(t, courier.WithAuth(auth.Digest("ada", "lovelace")))
			for i, want := range []int64{2, 3, 4} {
				var body struct{ Authenticated bool }
				resp, err := s.Get(t.Context(), path, courier.Into(&body))
				if err != nil || !body.Authenticated {
					t.Fatalf("session request %d: Get(%s) = %v, authenticated %v; want success", i, path, err, body.Authenticated)
				}
				if resp.Attempts != 1 {
					t.Errorf("session request %d: Attempts = %d, want 1 (a challenge answered is not a retry)", i, resp.Attempts)
				}
				if got := n.Load(); got != want {
					t.Errorf("after session request %d: server saw %d requests, want %d", i, got, want)
				}
			}

			rt := auth.Digest("ada", "lovelace")(newTransport(t, nil))
			for i, want := range []int64{6, 7} {
				if code, body := get(t, rt, srv.URL+path); code != http.StatusOK {
					t.Fatalf("client request %d: GET %s = %d %s, want 200", i, path, code, body)
				}
				if got := n.Load(); got != want {
					t.Errorf("after client request %d: server saw %d requests, want %d", i, got, want)
				}
			}
		})
	}
}

// Every algorithm with every qop, with a body (auth-int hashes it).
func TestDigestVariants(t *testing.T) {
	t.Parallel()
	type variant struct{ algorithm, qop string }
	var variants []variant
	for _, alg := range []string{"", "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess", "sha-256"} {
		for _, qop := range []string{"auth", "auth-int", "auth,auth-int", "auth-int, auth", ""} {
			if qop == "" && strings.HasSuffix(alg, "-sess") {
				continue // -sess needs a cnonce, which only a qop carries
			}
			variants = append(variants, variant{alg, qop})
		}
	}
	for _, v := range variants {
		t.Run(fmt.Sprintf("%s/%s", v.algorithm, v.qop), func(t *testing.T) {
			t.Parallel()
			var bodies []string
			var mu sync.Mutex
			d := &digestServer{user: "ada", password: "lovelace", realm: "r", opaque: "op",
				algorithms: []string{v.algorithm}, qop: v.qop,
				handler: func(w http.ResponseWriter, r *http.Request, body []byte) {
					mu.Lock()
					bodies = append(bodies, string(body))
					mu.Unlock()
				}}
			srv := d.start(t)
			s := srv.Session(t, courier.WithAuth(auth.Digest("ada", "lovelace")))
			for i, want := range []int{2, 3, 4} {
				body := fmt.Sprintf(`{"n":%d}`, i)
				if _, err := s.Post(t.Context(), "/things?x=1", courier.Body([]byte(body))); err != nil {
					t.Fatalf("request %d: Post = %v, want success", i, err)
				}
				if got := d.count(); got != want {
					t.Errorf("after request %d: server saw %d requests, want %d", i, got, want)
				}
			}
			if want := []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}; !slicesEqual(bodies, want) {
				t.Errorf("bodies = %q, want %q", bodies, want)
			}
		})
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

// The cached challenge is answered on the first attempt, with the nonce
// count going up and a new client nonce each time.
func TestDigestReusesChallenge(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "p", realm: "r", algorithms: []string{"SHA-256"}, qop: "auth"}
	srv := d.start(t)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	for i := range 5 {
		if code, _ := get(t, rt, srv.URL+"/x"); code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i, code)
		}
	}
	if got, want := d.count(), 6; got != want {
		t.Errorf("server saw %d requests, want %d (2 for the first, 1 for each other)", got, want)
	}
	acc := d.accepted()
	cnonces := map[string]bool{}
	for i, p := range acc {
		if want := fmt.Sprintf("%08x", i+1); p["nc"] != want {
			t.Errorf("request %d: nc = %s, want %s", i, p["nc"], want)
		}
		if p["nonce"] != acc[0]["nonce"] {
			t.Errorf("request %d: nonce %q, want the first one, %q", i, p["nonce"], acc[0]["nonce"])
		}
		cnonces[p["cnonce"]] = true
	}
	if len(cnonces) != len(acc) {
		t.Errorf("%d distinct cnonces in %d requests, want one each", len(cnonces), len(acc))
	}
}

// A stale nonce costs one more round trip, to take the new one; then the
// count starts again.
func TestDigestStale(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth", maxUses: 2}
	srv := d.start(t)
	s := srv.Session(t, courier.WithAuth(auth.Digest("u", "p")))
	for i, want := range []int{2, 3, 5, 6, 8} {
		if _, err := s.Get(t.Context(), "/"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := d.count(); got != want {
			t.Errorf("after request %d: server saw %d requests, want %d", i, got, want)
		}
	}
	var ncs []string
	for _, p := range d.accepted() {
		ncs = append(ncs, p["nc"])
	}
	if want := []string{"00000001", "00000002", "00000001", "00000002", "00000001"}; !slicesEqual(ncs, want) {
		t.Errorf("accepted nc values = %q, want %q", ncs, want)
	}
}

// Authentication-Info: nextnonce replaces the nonce without a round trip.
func TestDigestNextNonce(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth", nextNonce: true}
	srv := d.start(t)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	for i := range 4 {
		if code, _ := get(t, rt, srv.URL+"/"); code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i, code)
		}
	}
	if got, want := d.count(), 5; got != want {
		t.Errorf("server saw %d requests, want %d", got, want)
	}
	hits := d.allHits()[1:] // the first is the challenge
	for i := 1; i < len(hits); i++ {
		announced := strings.TrimSuffix(strings.TrimPrefix(hits[i-1].info, `nextnonce="`), `", qop=auth`)
		if hits[i].params["nonce"] != announced || hits[i].params["nc"] != "00000001" {
			t.Errorf("request %d: nonce %q nc %s, want the announced %q and nc 00000001",
				i, hits[i].params["nonce"], hits[i].params["nc"], announced)
		}
	}
}

func TestDigestUserhash(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "Jäsøn Doe", password: "Secret, or not?", realm: "api@example.org",
		algorithms: []string{"SHA-512-256"}, qop: "auth", userhash: true}
	srv := d.start(t)
	rt := auth.Digest("Jäsøn Doe", "Secret, or not?")(newTransport(t, nil))
	if code, _ := get(t, rt, srv.URL+"/doe.json"); code != http.StatusOK {
		t.Fatalf("GET /doe.json = %d, want 200", code)
	}
	for _, h := range d.allHits() {
		if h.params["username"] == "Jäsøn Doe" || h.params["username*"] != "" {
			t.Errorf("user name sent in clear (%q, %q) to a server that asked for userhash", h.params["username"], h.params["username*"])
		}
	}
}

// A user name that cannot go in a quoted-string goes as username*.
func TestDigestExtendedUsername(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "Jäsøn Doe", password: "pw", realm: "r", qop: "auth"}
	srv := d.start(t)
	rt := auth.Digest("Jäsøn Doe", "pw")(newTransport(t, nil))
	if code, _ := get(t, rt, srv.URL+"/"); code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", code)
	}
	if got, want := d.accepted()[0]["username*"], "UTF-8''J%C3%A4s%C3%B8n%20Doe"; got != want {
		t.Errorf("username* = %q, want %q", got, want)
	}
}

// Wrong credentials: exactly one challenge round trip, then the 401 as is,
// on every request, never a loop.
func TestDigestWrongPassword(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "right", realm: "r", qop: "auth"}
	srv := d.start(t)
	s := srv.Session(t, courier.WithAuth(auth.Digest("u", "wrong")))
	for i, want := range []int{2, 4} {
		_, err := s.Get(t.Context(), "/")
		if !testenv.HasStatus(err, http.StatusUnauthorized) {
			t.Errorf("session request %d: Get = %v, want a 401 StatusError", i, err)
		}
		if got := d.count(); got != want {
			t.Errorf("after session request %d: server saw %d requests, want %d", i, got, want)
		}
	}
	rt := auth.Digest("u", "wrong")(newTransport(t, nil))
	for i, want := range []int{6, 8} {
		if code, _ := get(t, rt, srv.URL+"/"); code != http.StatusUnauthorized {
			t.Errorf("client request %d: status %d, want 401", i, code)
		}
		if got := d.count(); got != want {
			t.Errorf("after client request %d: server saw %d requests, want %d", i, got, want)
		}
	}
}

// A password that stopped working (changed at the server) fails at once
// with the cached challenge, which is then forgotten: the next request
// takes two round trips, and fails too.
func TestDigestPasswordChanged(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth"}
	srv := d.start(t)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	get(t, rt, srv.URL+"/")
	d.mu.Lock()
	d.password = "changed"
	d.mu.Unlock()
	for i, want := range []int{3, 5} {
		if code, _ := get(t, rt, srv.URL+"/"); code != http.StatusUnauthorized {
			t.Errorf("request %d: status %d, want 401", i, code)
		}
		if got := d.count(); got != want {
			t.Errorf("after request %d: server saw %d requests, want %d", i, got, want)
		}
	}
}

func TestDigestConcurrent(t *testing.T) {
	t.Parallel()
	const goroutines, requests = 32, 20
	d := &digestServer{user: "u", password: "p", realm: "r", algorithms: []string{"SHA-256"}, qop: "auth"}
	srv := d.start(t)
	s := srv.Session(t, courier.WithAuth(auth.Digest("u", "p")))
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatalf("first request: %v", err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range goroutines {
		wg.Go(func() {
			for range requests {
				if _, err := s.Get(t.Context(), "/"); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed, want 0", n)
	}
	if got, want := d.count(), 2+goroutines*requests; got != want {
		t.Errorf("server saw %d requests, want %d (each answered on its first attempt)", got, want)
	}
	seen := map[string]bool{}
	for _, p := range d.accepted() {
		seen[p["nc"]] = true
	}
	if got, want := len(seen), 1+goroutines*requests; got != want {
		t.Errorf("%d distinct nc values, want %d", got, want)
	}
}

// Several challenges, in several fields and in one, among Basic and Bearer
// ones: the strongest algorithm wins.
func TestDigestPicksStrongest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		offered []string
		want    string
	}{
		{[]string{"MD5", "SHA-256"}, "SHA-256"},
		{[]string{"SHA-256", "MD5", "SHA-512-256"}, "SHA-512-256"},
		{[]string{"MD5-sess", "SHA-256-sess", "MD5"}, "SHA-256-sess"},
		{[]string{"UNKNOWN", "MD5"}, "MD5"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.offered, ","), func(t *testing.T) {
			t.Parallel()
			d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth", algorithms: tt.offered,
				extra: []string{`Basic realm="r"`, `Bearer realm="r", error="invalid_token", Negotiate abc==`}}
			srv := d.start(t)
			rt := auth.Digest("u", "p")(newTransport(t, nil))
			if code, _ := get(t, rt, srv.URL+"/"); code != http.StatusOK {
				t.Fatalf("status %d, want 200", code)
			}
			if got := d.accepted()[0]["algorithm"]; got != tt.want {
				t.Errorf("offered %q: answered with %s, want %s", tt.offered, got, tt.want)
			}
		})
	}
}

// A challenge per origin: two servers, each answered with its own.
func TestDigestPerOrigin(t *testing.T) {
	t.Parallel()
	d1 := &digestServer{user: "u", password: "p", realm: "one", qop: "auth"}
	d2 := &digestServer{user: "u", password: "p", realm: "two", qop: "auth"}
	srv1, srv2 := d1.start(t), d2.start(t)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	for range 3 {
		for _, url := range []string{srv1.URL, srv2.URL} {
			if code, _ := get(t, rt, url+"/"); code != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", url, code)
			}
		}
	}
	if n1, n2 := d1.count(), d2.count(); n1 != 4 || n2 != 4 {
		t.Errorf("servers saw %d and %d requests, want 4 each", n1, n2)
	}
}

// Two realms on one origin: a challenge for the other realm is answered,
// not taken for wrong credentials.
func TestDigestRealmChange(t *testing.T) {
	t.Parallel()
	da := &digestServer{user: "u", password: "p", realm: "a", qop: "auth"}
	db := &digestServer{user: "u", password: "p", realm: "b", qop: "auth"}
	mux := http.NewServeMux()
	mux.Handle("/a/", da)
	mux.Handle("/b/", db)
	srv := testenv.NewServer(t, testenv.HTTP1, mux)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	for _, p := range []string{"/a/", "/b/", "/b/", "/a/"} {
		if code, _ := get(t, rt, srv.URL+p); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, code)
		}
	}
	if na, nb := da.count(), db.count(); na != 4 || nb != 3 {
		t.Errorf("realms saw %d and %d requests, want 4 and 3", na, nb)
	}
}

// A retried attempt is authenticated anew: another nc, another cnonce.
func TestDigestRetriedAttempt(t *testing.T) {
	t.Parallel()
	var failures atomic.Int64
	d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth",
		handler: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if failures.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}}
	srv := d.start(t)
	s := srv.Session(t, courier.WithAuth(auth.Digest("u", "p")),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatalf("Get = %v, want success on the second attempt", err)
	}
	// The challenge, the first attempt's answer (503), the retry.
	if got := d.count(); got != 3 {
		t.Errorf("server saw %d requests, want 3", got)
	}
	acc := d.accepted()
	if len(acc) != 2 || acc[0]["nc"] == acc[1]["nc"] || acc[0]["cnonce"] == acc[1]["cnonce"] {
		t.Fatalf("attempts sent %v, want two with different nc and cnonce", acc)
	}
}

// Other challenges than Digest, and a request with its own Authorization,
// are left alone: one round trip, the 401 returned.
func TestDigestLeavesAlone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		challenge string
		header    string
	}{
		{"basic challenge", `Basic realm="r"`, ""},
		{"digest without nonce", `Digest realm="r", qop="auth"`, ""},
		{"unknown algorithm", `Digest realm="r", nonce="n", algorithm=SHA-1`, ""},
		{"unknown qop", `Digest realm="r", nonce="n", qop="auth-conf"`, ""},
		{"other charset", `Digest realm="r", nonce="n", charset=latin1`, ""},
		{"malformed", `Digest realm="r, nonce="n"`, ""},
		{"explicit header", `Digest realm="r", nonce="n"`, "Bearer mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			var seen atomic.Value
			srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				seen.Store(r.Header.Get("Authorization"))
				w.Header().Set("WWW-Authenticate", tt.challenge)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			rt := auth.Digest("u", "p")(newTransport(t, nil))
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || n.Load() != 1 || seen.Load() != tt.header {
				t.Errorf("challenge %q: status %d after %d round trips, Authorization %q; want 401, 1, %q",
					tt.challenge, resp.StatusCode, n.Load(), seen.Load(), tt.header)
			}
		})
	}
}

// A body that cannot be read again cannot answer a challenge: an error
// wrapping ErrBodyNotReplayable, and the body closed.
func TestDigestBodyNotReplayable(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth"}
	srv := d.start(t)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	body := newBody("data")
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL, body)
	resp, err := rt.RoundTrip(req)
	if !errors.Is(err, courier.ErrBodyNotReplayable) || resp != nil {
		t.Errorf("RoundTrip(POST, body without GetBody) = %v, %v; want ErrBodyNotReplayable", resp, err)
	}
	if !body.closed.Load() {
		t.Error("request body not closed")
	}
	if got := d.count(); got != 1 {
		t.Errorf("server saw %d requests, want 1", got)
	}
}

// qop auth-int with a cached challenge hashes the body before sending: a
// body without GetBody fails before anything is sent.
func TestDigestAuthIntNeedsGetBody(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth-int"}
	srv := d.start(t)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	if code, _ := get(t, rt, srv.URL+"/"); code != http.StatusOK {
		t.Fatalf("GET = %d, want 200", code)
	}
	body := newBody("data")
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL, body)
	if _, err := rt.RoundTrip(req); !errors.Is(err, courier.ErrBodyNotReplayable) {
		t.Errorf("RoundTrip(auth-int POST, body without GetBody) = %v, want ErrBodyNotReplayable", err)
	}
	if !body.closed.Load() {
		t.Error("request body not closed")
	}
	if got := d.count(); got != 2 {
		t.Errorf("server saw %d requests, want 2 (nothing sent for the POST)", got)
	}
	req, _ = http.NewRequestWithContext(t.Context(), "POST", srv.URL, bytes.NewReader([]byte("data")))
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("RoundTrip(auth-int POST, replayable body) = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
}

// The layer never changes the caller's request.
func TestDigestDoesNotMutateRequest(t *testing.T) {
	t.Parallel()
	d := &digestServer{user: "u", password: "p", realm: "r", qop: "auth"}
	srv := d.start(t)
	rt := auth.Digest("u", "p")(newTransport(t, nil))
	for range 2 {
		req, _ := http.NewRequestWithContext(t.Context(), "PUT", srv.URL+"/x", strings.NewReader("b"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if len(req.Header) != 0 {
			t.Errorf("caller's header = %v, want it empty", req.Header)
		}
	}
}
