package oauth2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier/internal/testenv"
	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Every secret the servers hand out contains "SECRET", so that a test can
// check that none reached an error message.
const (
	clientID     = "svc"
	clientSecret = "cs-SECRET"
	firstRefresh = "rt-SECRET-0"
)

// env is an OAuth 2.0 authorization server (a token endpoint) and a
// resource server that accepts only the access token issued last, each on
// its own loopback origin.
type env struct {
	token, api *testenv.Server

	mu            sync.Mutex
	tokenRequests int
	apiRequests   int
	issued        int
	access        string // the token the API accepts
	refresh       string // the refresh token the endpoint accepts next
	tokenType     string // token_type in responses ("" leaves it out)
	expiresIn     int    // expires_in in seconds (0 leaves it out)
	tokenStatus   int    // when set, every token request fails with it
	always401     bool   // the API rejects every token
	noRotate      bool   // the refresh grant returns no new refresh token
	lastAuth      string // the Authorization header of the last API request
	hold          chan struct{}
	arrived       chan struct{}
}

func newEnv(t testing.TB) *env {
	e := &env{tokenType: "Bearer", expiresIn: 3600, refresh: firstRefresh}
	e.token = testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(e.serveToken))
	e.api = testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(e.serveAPI))
	return e
}

// serveToken implements the client_credentials and refresh_token grants
// with basic or body client authentication and rotating refresh tokens.
func (e *env) serveToken(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.tokenRequests++
	hold, arrived := e.hold, e.arrived
	e.mu.Unlock()
	if arrived != nil {
		arrived <- struct{}{}
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != clientID || secret != clientSecret {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tokenStatus != 0 {
		w.WriteHeader(e.tokenStatus)
		io.WriteString(w, "<html>down for maintenance</html>")
		return
	}
	resp := map[string]any{}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "refresh_token":
		if rt := r.PostForm.Get("refresh_token"); rt == "" || rt != e.refresh {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		if !e.noRotate {
			e.refresh = fmt.Sprintf("rt-SECRET-%d", e.issued+1)
			resp["refresh_token"] = e.refresh
		}
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	e.issued++
	e.access = fmt.Sprintf("at-SECRET-%d", e.issued)
	resp["access_token"] = e.access
	if e.tokenType != "" {
		resp["token_type"] = e.tokenType
	}
	if e.expiresIn != 0 {
		resp["expires_in"] = e.expiresIn
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

// serveAPI answers "ok <body>" to a request with the current access token,
// and 401 to any other. Path /redirect redirects to the URL in query
// parameter "to".
func (e *env) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.apiRequests++
	e.lastAuth = r.Header.Get("Authorization")
	ok := !e.always401 && e.access != "" && r.Header.Get("Authorization") == e.wantType()+" "+e.access
	e.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/redirect" {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		return
	}
	fmt.Fprintf(w, "ok %s", body)
}

// wantType is the scheme the API expects: the token type as x/oauth2
// normalizes it. e.mu is held.
func (e *env) wantType() string {
	return (&xoauth2.Token{TokenType: e.tokenType}).Type()
}

func (e *env) counts() (tokenRequests, apiRequests int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokenRequests, e.apiRequests
}

// revoke makes the API reject the access token issued last.
func (e *env) revoke() {
	e.mu.Lock()
	e.access = "revoked"
	e.mu.Unlock()
}

// holdTokens makes token requests wait until release is called (or their
// client gives up), announcing each on the returned channel.
func (e *env) holdTokens(t testing.TB) (arrived <-chan struct{}, release func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hold = make(chan struct{})
	e.arrived = make(chan struct{}, 100)
	release = sync.OnceFunc(func() { close(e.hold) })
	t.Cleanup(release)
	return e.arrived, release
}

// clientCredentials is a client credentials config for the token endpoint.
// The auth style is fixed: probing would send two requests for a failure.
func (e *env) clientCredentials() *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		TokenURL:     e.token.URL + "/token",
		AuthStyle:    xoauth2.AuthStyleInHeader,
	}
}

// refreshConfig is an authorization code client config for the token
// endpoint, for the refresh token grant.
func (e *env) refreshConfig() *xoauth2.Config {
	return &xoauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     xoauth2.Endpoint{TokenURL: e.token.URL + "/token", AuthStyle: xoauth2.AuthStyleInHeader},
	}
}

// get sends GET rawURL through an http.Client with rt.
func get(ctx context.Context, rt http.RoundTripper, rawURL string) (status int, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, "", err
	}
	return send(rt, req)
}

func send(rt http.RoundTripper, req *http.Request) (status int, body string, err error) {
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (e *env) lastAuthorization() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastAuth
}

// clock is a settable clock for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Round(0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.Round(0)
	c.mu.Unlock()
}

// noSecret fails the test if err's message holds a secret.
func noSecret(t testing.TB, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q holds a secret", err)
	}
}

// set changes the servers' behaviour under their lock.
func (e *env) set(f func(e *env)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

// waitFor polls cond until it holds, for states the test cannot be told
// about, such as how many requests wait for a refresh. It gives up after
// 10s: a state that does not come about is a failure, not a hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// closeRecorder is a request body that records whether it was closed.
type closeRecorder struct {
	io.Reader
	mu     sync.Mutex
	closed bool
}

func (c *closeRecorder) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *closeRecorder) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
