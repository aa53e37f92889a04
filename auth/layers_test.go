package auth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// writeNetrc writes a netrc file, mode 0600, and returns its path.
func writeNetrc(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustNetrc(t testing.TB, content string) courier.Middleware {
	t.Helper()
	m, err := auth.Netrc(writeNetrc(t, content))
	if err != nil {
		t.Fatalf("Netrc: %v", err)
	}
	return m
}

type namedLayer struct {
	name string
	mw   courier.Middleware
}

// credentialLayers returns one layer of each kind, each adding an
// Authorization header (Sign adds X-Signature).
func credentialLayers(t testing.TB) []namedLayer {
	return []namedLayer{
		{"basic", auth.Basic("u", "p")},
		{"bearer", auth.Bearer("tok")},
		{"bearer source", auth.BearerSource(auth.TokenSourceFunc(func(context.Context) (string, error) { return "tok", nil }))},
		{"digest", auth.Digest("u", "p")},
		{"netrc default", mustNetrc(t, "default login u password p\n")},
		{"sign", auth.Sign(auth.SignerFunc(func(r *http.Request) error {
			r.Header.Set("X-Signature", "sig")
			return nil
		}))},
	}
}

// challengeOr401 is a server that wants credentials: with none (no
// Authorization, no X-Signature) it answers 401 with a Digest and a Basic
// challenge.
func challengeOr401(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		if r.Header.Get("Authorization") == "" && r.Header.Get("X-Signature") == "" {
			w.Header().Add("WWW-Authenticate", `Digest realm="r", nonce="n`+r.URL.Path+`", qop="auth"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="r"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
}

func TestBasicHTTPBin(t *testing.T) {
	t.Parallel()
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	s := srv.Session(t, courier.WithAuth(auth.Basic("ada", "lovelace")))
	var body struct {
		Authenticated bool
		User          string
	}
	if _, err := s.Get(t.Context(), "/basic-auth/ada/lovelace", courier.Into(&body)); err != nil || !body.Authenticated || body.User != "ada" {
		t.Errorf("session: Get(/basic-auth/ada/lovelace) = %v, %+v; want success as ada", err, body)
	}
	_, err := s.Get(t.Context(), "/basic-auth/ada/other")
	if !testenv.HasStatus(err, http.StatusUnauthorized) {
		t.Errorf("session: Get(/basic-auth/ada/other) = %v, want a 401 StatusError", err)
	}

	rt := auth.Basic("ada", "lovelace")(newTransport(t, nil))
	if code, body := get(t, rt, srv.URL+"/basic-auth/ada/lovelace"); code != http.StatusOK {
		t.Errorf("client: GET /basic-auth/ada/lovelace = %d %s, want 200", code, body)
	}
}

func TestBearerHTTPBin(t *testing.T) {
	t.Parallel()
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	var calls atomic.Int64
	src := auth.TokenSourceFunc(func(context.Context) (string, error) {
		calls.Add(1)
		return "from-source", nil
	})
	for _, l := range []namedLayer{{"bearer", auth.Bearer("fixed")}, {"source", auth.BearerSource(src)}} {
		s := srv.Session(t, courier.WithAuth(l.mw))
		var body struct {
			Authenticated bool
			Token         string
		}
		if _, err := s.Get(t.Context(), "/bearer", courier.Into(&body)); err != nil || !body.Authenticated {
			t.Errorf("%s: session Get(/bearer) = %v, %+v; want success", l.name, err, body)
		}
		if code, text := get(t, l.mw(newTransport(t, nil)), srv.URL+"/bearer"); code != http.StatusOK {
			t.Errorf("%s: client GET /bearer = %d %s, want 200", l.name, code, text)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("token source called %d times, want 2 (once per request)", got)
	}
}

// BearerSource asks for a token on every attempt, with the request's
// context.
func TestBearerSourcePerAttempt(t *testing.T) {
	t.Parallel()
	type key struct{}
	rec := &recorder{}
	var fails atomic.Int64
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		if fails.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	var n atomic.Int64
	src := auth.TokenSourceFunc(func(ctx context.Context) (string, error) {
		if ctx.Value(key{}) != "v" {
			return "", errors.New("not the request's context")
		}
		return "t" + string(rune('0'+n.Add(1))), nil
	})
	s := srv.Session(t, courier.WithAuth(auth.BearerSource(src)),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	if _, err := s.Get(context.WithValue(t.Context(), key{}, "v"), "/"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	var tokens []string
	for _, h := range rec.all() {
		tokens = append(tokens, h.Authorization)
	}
	if want := []string{"Bearer t1", "Bearer t2"}; !slicesEqual(tokens, want) {
		t.Errorf("attempts carried %q, want %q", tokens, want)
	}
}

func TestBearerSourceError(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
	errExpired := errors.New("refresh token expired")
	rt := auth.BearerSource(auth.TokenSourceFunc(func(context.Context) (string, error) {
		return "", errExpired
	}))(newTransport(t, nil))
	body := newBody("x")
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL, body)
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, errExpired) || err.Error() != "auth: bearer: token: refresh token expired" {
		t.Errorf("RoundTrip = %v, want an error wrapping the source's", err)
	}
	if !body.closed.Load() || len(rec.all()) != 0 {
		t.Errorf("body closed %v, server saw %d requests; want true, 0", body.closed.Load(), len(rec.all()))
	}
}

// Bad input fails every RoundTrip with a clear error that quotes no secret;
// nothing is sent and the body is closed.
func TestLayerErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name   string
		mw     courier.Middleware
		want   string
		secret string
	}{
		{"basic colon", auth.Basic("a:b", "hunter2"), "auth: basic: user name contains ':'", "hunter2"},
		{"basic control user", auth.Basic("a\nb", "hunter2"), "auth: basic: user name contains a control character", "hunter2"},
		{"basic control password", auth.Basic("ab", "hun\x00ter2"), "auth: basic: password contains a control character", "hun"},
		{"bearer empty", auth.Bearer(""), "auth: bearer: empty token", "\x00"},
		{"bearer space", auth.Bearer("sec ret"), "auth: bearer: token contains a byte that is not visible ASCII", "sec"},
		{"bearer newline", auth.Bearer("sec\r\nX-Evil: 1"), "auth: bearer: token contains a byte that is not visible ASCII", "sec"},
		{"source nil", auth.BearerSource(nil), "auth: bearer: nil TokenSource", "\x00"},
		{"source error", auth.BearerSource(auth.TokenSourceFunc(func(context.Context) (string, error) { return "", boom })),
			"auth: bearer: token: boom", "\x00"},
		{"source bad token", auth.BearerSource(auth.TokenSourceFunc(func(context.Context) (string, error) { return "sec ret", nil })),
			"auth: bearer: token source: token contains a byte that is not visible ASCII", "sec"},
		{"sign nil", auth.Sign(nil), "auth: sign: nil Signer", "\x00"},
		{"sign error", auth.Sign(auth.SignerFunc(func(*http.Request) error { return boom })), "auth: sign: boom", "\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
			body := newBody("data")
			req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL, body)
			resp, err := tt.mw(newTransport(t, nil)).RoundTrip(req)
			if resp != nil || err == nil || err.Error() != tt.want {
				t.Fatalf("RoundTrip = %v, %v; want error %q", resp, err, tt.want)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q quotes the secret", err)
			}
			if !body.closed.Load() || len(rec.all()) != 0 {
				t.Errorf("body closed %v, server saw %d requests; want true, 0", body.closed.Load(), len(rec.all()))
			}
		})
	}
}

// No layer changes the caller's request: header, URL, body.
func TestLayersDoNotMutateRequest(t *testing.T) {
	t.Parallel()
	for _, l := range credentialLayers(t) {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
			req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/p?q=1", strings.NewReader("body"))
			req.Header.Set("X-Mine", "1")
			url, body := req.URL.String(), req.Body
			resp, err := l.mw(newTransport(t, nil)).RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			resp.Body.Close()
			if len(req.Header) != 1 || req.Header.Get("X-Mine") != "1" || req.URL.String() != url || req.Body != body {
				t.Errorf("caller's request changed: header %v, URL %s, body replaced %v", req.Header, req.URL, req.Body != body)
			}
			hits := rec.all()
			if last := hits[len(hits)-1]; last.Authorization == "" && last.Signature == "" {
				t.Errorf("server saw no credentials in %+v", hits)
			}
		})
	}
}

// An Authorization header on the request is sent as it is: the layers add
// nothing (Sign adds its signature beside it).
func TestLayersExplicitAuthorizationWins(t *testing.T) {
	t.Parallel()
	for _, l := range credentialLayers(t) {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
			req.Header.Set("Authorization", "Custom mine")
			resp, err := l.mw(newTransport(t, nil)).RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			resp.Body.Close()
			hits := rec.all()
			if len(hits) != 1 || hits[0].Authorization != "Custom mine" {
				t.Errorf("server saw %+v, want one request with Authorization: Custom mine", hits)
			}
		})
	}
}

// A nil next is http.DefaultTransport.
func TestLayersNilNext(t *testing.T) {
	t.Parallel()
	for _, l := range credentialLayers(t) {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
			resp, err := (&http.Client{Transport: l.mw(nil)}).Get(srv.URL)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
		})
	}
}
