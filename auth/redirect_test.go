package auth_test

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// redirectServer records every request. /start wants credentials (a 401
// with Digest and Basic challenges without them) and then redirects to
// ?to=; /hop redirects to ?to= whatever it gets; /end wants credentials.
func redirectServer(rec *recorder) http.Handler {
	challenge := challengeOr401(&recorder{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		hasCreds := r.Header.Get("Authorization") != "" || r.Header.Get("X-Signature") != ""
		switch {
		case r.URL.Path == "/hop" || r.URL.Path == "/start" && hasCreds:
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		default:
			challenge.ServeHTTP(w, r)
		}
	})
}

// A chain of redirects that leaves the first request's origin.
type chain struct {
	name string
	// start returns the first server, the other one, and the first URL.
	start func(t *testing.T, recA, recB *recorder) (a, b *testenv.Server, first string)
}

var chains = []chain{
	{"a to b", func(t *testing.T, recA, recB *recorder) (*testenv.Server, *testenv.Server, string) {
		a, b := testenv.NewServer(t, testenv.HTTP1, redirectServer(recA)), testenv.NewServer(t, testenv.HTTP1, redirectServer(recB))
		return a, b, a.URL + "/start?to=" + url.QueryEscape(b.URL+"/end")
	}},
	{"a to b to a", func(t *testing.T, recA, recB *recorder) (*testenv.Server, *testenv.Server, string) {
		a, b := testenv.NewServer(t, testenv.HTTP1, redirectServer(recA)), testenv.NewServer(t, testenv.HTTP1, redirectServer(recB))
		back := b.URL + "/hop?to=" + url.QueryEscape(a.URL+"/end")
		return a, b, a.URL + "/start?to=" + url.QueryEscape(back)
	}},
	{"https to http", func(t *testing.T, recA, recB *recorder) (*testenv.Server, *testenv.Server, string) {
		a := testenv.NewServer(t, testenv.HTTP1TLS, redirectServer(recA))
		b := testenv.NewServer(t, testenv.HTTP1, redirectServer(recB))
		return a, b, a.URL + "/start?to=" + url.QueryEscape(b.URL+"/end")
	}},
}

// A client follows a redirect chain and authenticates with mw.
type redirectClient struct {
	name string
	get  func(t *testing.T, mw courier.Middleware, pool *x509.CertPool, a, b *testenv.Server, first string)
}

var redirectClients = []redirectClient{
	{"session", func(t *testing.T, mw courier.Middleware, pool *x509.CertPool, a, b *testenv.Server, first string) {
		// No base URL: the layers see every request, and must tell the
		// hops apart themselves.
		s := testenv.NewSession(t, courier.WithAuth(mw), tlsOption(pool))
		if _, err := s.Get(t.Context(), first, courier.AnyStatus()); err != nil {
			t.Fatalf("session Get: %v", err)
		}
	}},
	{"session with credential origins", func(t *testing.T, mw courier.Middleware, pool *x509.CertPool, a, b *testenv.Server, first string) {
		// b is a credential origin: only the layers stand in the way.
		s := a.Session(t, courier.WithCredentialOrigins(b.URL),
			courier.WithAuth(mw), tlsOption(pool))
		if _, err := s.Get(t.Context(), first, courier.AnyStatus()); err != nil {
			t.Fatalf("session Get: %v", err)
		}
	}},
	{"http.Client", func(t *testing.T, mw courier.Middleware, pool *x509.CertPool, a, b *testenv.Server, first string) {
		c := &http.Client{Transport: mw(newTransport(t, pool))}
		resp, err := c.Get(first)
		if err != nil {
			t.Fatalf("client Get: %v", err)
		}
		resp.Body.Close()
	}},
}

func tlsOption(pool *x509.CertPool) courier.Option {
	return courier.WithTLSConfig(tlsConfig(pool))
}

// Once a chain leaves the first request's origin (another port, or https
// to http), no layer adds anything: not at b, not back at a, and the
// Digest layer answers no challenge there.
func TestRedirectKeepsCredentials(t *testing.T) {
	t.Parallel()
	for _, ch := range chains {
		for _, c := range redirectClients {
			for _, l := range credentialLayers(t) {
				t.Run(ch.name+"/"+c.name+"/"+l.name, func(t *testing.T) {
					t.Parallel()
					recA, recB := &recorder{}, &recorder{}
					a, b, first := ch.start(t, recA, recB)
					c.get(t, l.mw, testenv.CertPool(a.Server), a, b, first)
					checkRedirectHits(t, recA.all(), recB.all())
				})
			}
		}
	}
}

// checkRedirectHits checks that credentials went to a's /start, and to
// nothing else, each other request sent once.
func checkRedirectHits(t *testing.T, hitsA, hitsB []hit) {
	t.Helper()
	authed := false
	for _, h := range append(hitsA, hitsB...) {
		creds := h.Authorization != "" || h.Signature != ""
		if h.Path == "/start" {
			authed = authed || creds
		} else if creds {
			t.Errorf("%s got credentials: %+v", h.Path, h)
		}
	}
	if !authed {
		t.Errorf("a's /start never got credentials: %+v", hitsA)
	}
	count := map[string]int{}
	for _, h := range hitsB {
		count["b"+h.Path]++
	}
	for _, h := range hitsA {
		if h.Path != "/start" {
			count["a"+h.Path]++
		}
	}
	for p, n := range count {
		if n != 1 {
			t.Errorf("%s requested %d times, want once (no challenge answered)", p, n)
		}
	}
}

// A session bound to its base URL skips its layers for b; the hop back to
// the base URL's origin passes the session's gate, and the layers' own
// check must refuse it.
func TestRedirectSessionBaseURL(t *testing.T) {
	t.Parallel()
	for _, l := range credentialLayers(t) {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			recA, recB := &recorder{}, &recorder{}
			a, _, first := chains[1].start(t, recA, recB)
			s := a.Session(t, courier.WithAuth(l.mw))
			if _, err := s.Get(t.Context(), first, courier.AnyStatus()); err != nil {
				t.Fatalf("Get: %v", err)
			}
			checkRedirectHits(t, recA.all(), recB.all())
		})
	}
}
