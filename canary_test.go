package courier_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/auth/oauth2"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
	"github.com/courierhttp/courier/sessionfile"
	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// canaries holds one unique secret per place a secret can be, so that a
// leak says where it came from.
type canaries map[string]string

func newCanaries(places ...string) canaries {
	c := canaries{}
	for i, p := range places {
		c[p] = fmt.Sprintf("CANARY%02dx%s", i, strings.ReplaceAll(p, " ", ""))
	}
	return c
}

// leaks returns the places whose canary appears in text.
func (c canaries) leaks(text string) []string {
	var found []string
	for place, v := range c {
		if strings.Contains(text, v) {
			found = append(found, place)
		}
	}
	return found
}

// transcript collects everything courier shows: logs, errors, curl lines,
// saved debug output.
type transcript struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *transcript) add(what string, v any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(&t.b, "--- %s\n%v\n%+v\n", what, v, v)
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.Write(p)
}

// The canary test: every feature runs with a unique secret in each
// secret-bearing place, and no secret appears in a log line, an error
// string, a curl line, a recorded cassette or a panic.
func TestCanarySecretsNeverShow(t *testing.T) {
	t.Parallel()
	c := newCanaries(
		"userinfo password", "basic password", "bearer token", "digest password",
		"netrc password", "signature key", "api key header", "session query",
		"request query", "explicit cookie", "server cookie", "json body",
		"response body", "location query", "proxy password", "form body",
		"oauth client secret", "oauth access token", "oauth refresh token",
		"session file password",
	)
	var out transcript

	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: c["server cookie"], Path: "/"})
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error":"bad","access_token":%q,"password":%q}`, c["response body"], c["response body"])
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop?sig="+c["location query"], http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/digest", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Digest realm="r", nonce="n1", qop="auth", algorithm=SHA-256`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("grant_type") == "refresh_token" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, c["oauth access token"])
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	netrc := filepath.Join(t.TempDir(), "netrc")
	host := strings.TrimPrefix(srv.URL, "http://")
	host = host[:strings.LastIndexByte(host, ':')]
	if err := os.WriteFile(netrc, []byte("machine "+host+" login u password "+c["netrc password"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	netrcLayer, err := auth.Netrc(netrc)
	if err != nil {
		t.Fatal(err)
	}
	signer := auth.SignerFunc(func(req *http.Request) error {
		mac := hmac.New(sha256.New, []byte(c["signature key"]))
		mac.Write([]byte(req.Method + " " + req.URL.Path))
		req.Header.Set("X-Signature", hex.EncodeToString(mac.Sum(nil)))
		return nil
	})

	cassettePath := filepath.Join(t.TempDir(), "cassette.json")
	func() {
		defer func() {
			if p := recover(); p != nil {
				out.add("panic", p)
				t.Errorf("panic: %v", p)
			}
		}()
		t.Run("session", func(t *testing.T) {
			rec := couriertest.NewRecorder(t, cassettePath, couriertest.ModeRecord)
			logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			base := strings.Replace(srv.URL, "http://", "http://ada:"+c["userinfo password"]+"@", 1)
			for _, layer := range []courier.Middleware{
				auth.Basic("ada", c["basic password"]),
				auth.Bearer(c["bearer token"]),
				auth.Digest("ada", c["digest password"]),
				netrcLayer,
				auth.Sign(signer),
				oauth2.New(oauth2.ClientCredentials(&clientcredentials.Config{
					ClientID: "app", ClientSecret: c["oauth client secret"], TokenURL: srv.URL + "/token",
				})),
				oauth2.New(oauth2.RefreshToken(&xoauth2.Config{
					ClientID: "app", ClientSecret: c["oauth client secret"],
					Endpoint: xoauth2.Endpoint{TokenURL: srv.URL + "/token"},
				}, &xoauth2.Token{RefreshToken: c["oauth refresh token"]})),
			} {
				s, err := courier.New(
					courier.WithBaseURL(base),
					courier.WithTransport(rec),
					courier.WithLogger(logger),
					courier.WithAuth(layer),
					courier.Header("X-Api-Key", c["api key header"]),
					courier.Query("api_key", c["session query"]),
					courier.Cookie("pref", c["explicit cookie"]),
					courier.WithTimeout(200*time.Millisecond),
					courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}),
					courier.WithHooks(courier.Hooks{
						OnRetry: func(i courier.AttemptInfo) { out.add("retry reason", i.Kind.String()) },
						OnError: func(i courier.AttemptInfo) { out.add("hook error", i.Err) },
					}),
				)
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				try := func(what string, resp *courier.Response, err error) {
					out.add(what+" error", err)
					if resp != nil {
						out.add(what+" curl", s.Curl(resp.Request))
						out.add(what+" redirects", resp.Redirects)
					}
					// StatusError.Body is the caller's data, as sent; what
					// courier shows of it is the error text.
					var se *courier.StatusError
					if errors.As(err, &se) {
						out.add(what+" status error", se.Error())
					}
				}
				resp, err := s.Get(ctx, "/login")
				try("login", resp, err)
				resp, err = s.Get(ctx, "/fail", courier.Query("token", c["request query"]))
				try("fail", resp, err)
				resp, err = s.Post(ctx, "/fail", courier.JSON(map[string]string{"password": c["json body"]}))
				try("post json", resp, err)
				resp, err = s.Post(ctx, "/fail", courier.Form(map[string][]string{"client_secret": {c["form body"]}}))
				try("post form", resp, err)
				resp, err = s.Get(ctx, "/loop")
				try("loop", resp, err)
				resp, err = s.Get(ctx, "/slow")
				try("slow", resp, err)
				resp, err = s.Get(ctx, "/digest")
				try("digest", resp, err)
				resp, err = s.Get(ctx, "http://ada:"+c["userinfo password"]+"@"+testenv.ClosedPort(t)+"/x?token="+c["request query"])
				try("refused", resp, err)
				out.add("close", s.Close(ctx))
			}
			// A proxy URL with a password that refuses connections.
			proxied, err := courier.New(courier.WithBaseURL(srv.URL), courier.WithTimeout(time.Second),
				courier.WithProxy(http.ProxyURL(mustURL(t, "http://p:"+c["proxy password"]+"@"+testenv.ClosedPort(t)))))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := proxied.Get(context.Background(), "/")
			out.add("proxy error", err)
			if resp != nil {
				out.add("proxy curl", proxied.Curl(resp.Request))
			}
			proxied.Close(context.Background())
		})
	}()
	// Session files hold secrets by design; their errors must not.
	dir := t.TempDir()
	sf := sessionfile.New(filepath.Join(dir, "s.json"))
	sf.Auth = &sessionfile.Auth{Type: sessionfile.AuthBasic, Username: "ada", Password: c["session file password"]}
	sf.UpdateHeaders(http.Header{"X-Api-Key": {c["api key header"]}})
	if err := sf.Save(); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(sf.Path())
	out.add("session file printed", sf)
	out.add("session file auth printed", *sf.Auth)
	for name, data := range map[string][]byte{
		"torn": saved[:len(saved)/2],
		"bad":  bytes.Replace(saved, []byte(`"courier_session"`), []byte(`"courier_session":"x","y"`), 1),
	} {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, data, 0o600)
		_, err := sessionfile.Load(p)
		if err == nil {
			t.Errorf("Load(%s session file) = nil error, want one", name)
		}
		out.add("session file "+name, err)
	}
	os.Chmod(sf.Path(), 0o644)
	if _, err = sessionfile.Load(sf.Path()); err == nil {
		t.Error("Load(0644 session file) = nil error, want one")
	}
	out.add("session file mode", err)

	// The recorder wrote its cassette when the subtest ended.
	cassette, err := os.ReadFile(cassettePath)
	if err != nil || len(cassette) < 100 {
		t.Fatalf("cassette: %d bytes, %v", len(cassette), err)
	}
	out.add("cassette", string(cassette))
	if leaked := c.leaks(out.b.String()); len(leaked) > 0 {
		t.Errorf("secrets shown: %v", leaked)
		for _, line := range strings.Split(out.b.String(), "\n") {
			if len(c.leaks(line)) > 0 {
				t.Logf("  %s", line)
			}
		}
	}
	if !strings.Contains(out.b.String(), "REDACTED") {
		t.Error("the transcript shows no redaction at all: the test saw nothing")
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest("GET", "https://user:pw@api.test/x?access_token=CANARY&page=2", nil)
	if got := courier.RedactURL(req.URL); strings.Contains(got, "CANARY") || strings.Contains(got, "pw") || !strings.Contains(got, "page=2") {
		t.Errorf("RedactURL = %q", got)
	}
}

// A decode error quotes the start of the body, redacted as the logs are: a
// server that echoes the request's headers (as httpbin does) does not get
// its caller's token, cookie or Basic credentials into the error.
func TestDecodeErrorHidesEchoedCredentials(t *testing.T) {
	t.Parallel()
	bin := testenv.HTTPBin(t, testenv.HTTP1)
	s := bin.Session(t, courier.Header("Authorization", "Bearer "+secretCanary), courier.Cookie("sid", secretCanary+"c"))
	var wrong struct{ Headers []int }
	_, err := s.Get(t.Context(), "/headers", courier.Into(&wrong))
	requireIs(t, err, courier.ErrDecode)
	if msg := err.Error(); strings.Contains(msg, secretCanary) || !strings.Contains(msg, "body starts") {
		t.Errorf("decode error = %s\nwant an excerpt without the token or cookie", msg)
	}
	_, err = s.Get(t.Context(), "/headers", courier.BasicAuth("ada", secretCanary), courier.Into(&wrong))
	basic := base64.StdEncoding.EncodeToString([]byte("ada:" + secretCanary))
	if msg := err.Error(); strings.Contains(msg, basic) || strings.Contains(msg, secretCanary) {
		t.Errorf("decode error = %s\nquotes the Basic credentials", msg)
	}
}

// Headers whose names say they carry a secret (Api-Key, X-Goog-Api-Key,
// Private-Token, X-Auth-Token, X-Session-Id...) are credentials by rule: they
// stay with the base URL's origin, for a full URL and a redirect alike.
func TestSecretHeadersByName(t *testing.T) {
	t.Parallel()
	other, otherSaw := headerEcho(t)
	home := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/landed", http.StatusFound)
	}))
	names := []string{"Api-Key", "X-Goog-Api-Key", "Private-Token", "X-Auth-Token", "X-Session-Id", "X-Client-Secret"}
	var opts []courier.Option
	for _, k := range names {
		opts = append(opts, courier.Header(k, secretCanary))
	}
	s := home.Session(t, append(opts, courier.Header("X-Plain", "kept"))...)
	for _, how := range []string{"redirect", "full URL"} {
		path := "/go"
		if how == "full URL" {
			path = other.URL + "/direct"
		}
		if _, err := s.Get(t.Context(), path); err != nil {
			t.Fatal(err)
		}
		h := otherSaw()
		for _, k := range names {
			if v := h.Get(k); v != "" {
				t.Errorf("%s: another origin got %s: %q", how, k, v)
			}
		}
		if h.Get("X-Plain") != "kept" {
			t.Errorf("%s: another origin lost the plain default header", how)
		}
	}
}
