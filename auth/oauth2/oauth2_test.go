package oauth2_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth/oauth2"
	"github.com/courierhttp/courier/internal/testenv"
	xoauth2 "golang.org/x/oauth2"
)

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		style xoauth2.AuthStyle
	}{
		{"basic auth", xoauth2.AuthStyleInHeader},
		{"body auth", xoauth2.AuthStyleInParams},
		{"auto-detect", xoauth2.AuthStyleAutoDetect},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.clientCredentials()
			cfg.AuthStyle = tt.style
			rt := oauth2.New(oauth2.ClientCredentials(cfg))(nil)
			for range 3 {
				if status, body, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
					t.Fatalf("GET = %d %q, %v; want 200", status, body, err)
				}
			}
			if tokens, api := e.counts(); tokens != 1 || api != 3 {
				t.Errorf("3 GETs: %d token requests, %d API requests; want 1, 3", tokens, api)
			}
		})
	}
}

func TestTokenType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tokenType, want string
	}{
		{"", "Bearer at-SECRET-1"},
		{"bearer", "Bearer at-SECRET-1"},
		{"Bearer", "Bearer at-SECRET-1"},
		{"mac", "MAC at-SECRET-1"},
		{"DPoP", "DPoP at-SECRET-1"},
	} {
		t.Run(tt.tokenType, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.set(func(e *env) { e.tokenType = tt.tokenType })
			rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))(nil)
			status, _, err := get(t.Context(), rt, e.api.URL)
			if got := e.lastAuthorization(); err != nil || status != http.StatusOK || got != tt.want {
				t.Errorf("token_type %q: Authorization = %q (%d, %v), want %q", tt.tokenType, got, status, err, tt.want)
			}
		})
	}
}

func TestSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tokens := testenv.NewSession(t, courier.WithTimeout(5*time.Second))
	src := oauth2.ClientCredentials(e.clientCredentials())
	s := e.api.Session(t, courier.WithAuth(oauth2.New(src, oauth2.WithHTTPClient(tokens.Client()))))
	for range 2 {
		resp, err := s.Post(t.Context(), "/", courier.Body([]byte("hi")))
		if err != nil || string(resp.Bytes()) != "ok hi" {
			t.Fatalf("Post = %v; want ok hi", err)
		}
	}
	if got := tokens.Stats().Requests; got != 1 {
		t.Errorf("token session: %d requests, want 1", got)
	}
	if tokens, api := e.counts(); tokens != 1 || api != 2 {
		t.Errorf("2 requests: %d token requests, %d API requests; want 1, 2", tokens, api)
	}
}

// A client whose transport is the layer can fetch the layer's tokens: the
// token request passes through the layer untouched instead of waiting for
// itself.
func TestTokenRequestThroughLayer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.clientCredentials()
	cfg.AuthStyle = xoauth2.AuthStyleInParams // no Authorization header of its own
	var c http.Client
	c.Transport = oauth2.New(oauth2.ClientCredentials(cfg), oauth2.WithHTTPClient(&c), oauth2.WithRefreshTimeout(5*time.Second))(nil)
	if status, _, err := get(t.Context(), c.Transport, e.api.URL); err != nil || status != http.StatusOK {
		t.Errorf("GET = %d, %v; want 200", status, err)
	}
}

func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	clk := newClock()
	mw, waiters := oauth2.NewProbed(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithClock(clk.Now))
	rt := mw(nil)
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
		t.Fatalf("GET = %d, %v; want 200", status, err)
	}
	clk.Set(clk.Now().Add(2 * time.Hour)) // the token has expired

	const n = 100
	arrived, release := e.holdTokens(t)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, _, err := get(t.Context(), rt, e.api.URL)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			errs[i] = err
		})
	}
	<-arrived
	waitFor(t, fmt.Sprintf("%d requests to wait for the refresh", n), func() bool { return waiters() == n })
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if tokens, api := e.counts(); tokens != 2 || api != n+1 {
		t.Errorf("%d callers after expiry: %d token requests, %d API requests; want 2, %d", n, tokens, api, n+1)
	}
}

func TestRefreshFailureReachesEveryWaiter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.clientCredentials()
	cfg.ClientSecret = "cs-SECRET-wrong"
	mw, waiters := oauth2.NewProbed(oauth2.ClientCredentials(cfg))
	rt := mw(nil)

	const n = 20
	arrived, release := e.holdTokens(t)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, errs[i] = get(t.Context(), rt, e.api.URL) })
	}
	<-arrived
	waitFor(t, fmt.Sprintf("%d requests to wait for the refresh", n), func() bool { return waiters() == n })
	release()
	wg.Wait()
	for i, err := range errs {
		var re *xoauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || !errors.Is(err, oauth2.ErrTokenFetch) {
			t.Errorf("caller %d: GET error = %v, want an ErrTokenFetch with an invalid_client *RetrieveError", i, err)
		}
		noSecret(t, err)
	}
	if tokens, api := e.counts(); tokens != 1 || api != 0 {
		t.Errorf("%d callers, failed refresh: %d token requests, %d API requests; want 1, 0", n, tokens, api)
	}
}

func TestCancelledCallerDoesNotFailRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mw, waiters := oauth2.NewProbed(oauth2.ClientCredentials(e.clientCredentials()))
	rt := mw(nil)
	arrived, release := e.holdTokens(t)

	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, _, err := get(ctx, rt, e.api.URL)
		first <- err
	}()
	<-arrived // the first caller's refresh is at the token endpoint
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) || !errors.Is(err, oauth2.ErrTokenFetch) {
		t.Errorf("cancelled caller: GET error = %v, want ErrTokenFetch and context.Canceled", err)
	}

	second := make(chan error, 1)
	go func() {
		status, _, err := get(t.Context(), rt, e.api.URL)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		second <- err
	}()
	waitFor(t, "the second request to join the refresh", func() bool { return waiters() == 2 })
	release()
	if err := <-second; err != nil {
		t.Errorf("second caller: GET = %v, want 200", err)
	}
	if tokens, _ := e.counts(); tokens != 1 {
		t.Errorf("token requests = %d, want 1", tokens)
	}
}

func TestUnauthorizedRefreshesAndRetriesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))(nil)
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
		t.Fatalf("GET = %d, %v; want 200", status, err)
	}
	e.revoke()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api.URL, bytes.NewReader([]byte("payload")))
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := send(rt, req); err != nil || status != http.StatusOK || body != "ok payload" {
		t.Errorf("POST after revocation = %d %q, %v; want 200 \"ok payload\"", status, body, err)
	}
	if tokens, api := e.counts(); tokens != 2 || api != 3 {
		t.Errorf("after one rejected token: %d token requests, %d API requests; want 2, 3", tokens, api)
	}
}

func TestConcurrentUnauthorizedRefreshOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))(nil)
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
		t.Fatalf("GET = %d, %v; want 200", status, err)
	}
	e.revoke()
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, _, err := get(t.Context(), rt, e.api.URL)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if tokens, _ := e.counts(); tokens != 2 {
		t.Errorf("%d callers with a revoked token: %d token requests, want 2", n, tokens)
	}
}

func TestAlwaysUnauthorized(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		method, body string
	}{
		{http.MethodGet, ""},
		{http.MethodPost, "payload"},
	} {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.set(func(e *env) { e.always401 = true })
			rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))(nil)
			for call := 1; call <= 2; call++ {
				req, err := http.NewRequestWithContext(t.Context(), tt.method, e.api.URL, strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				status, _, err := send(rt, req)
				tokens, api := e.counts()
				if err != nil || status != http.StatusUnauthorized || api != 2*call || tokens != 1+call {
					t.Errorf("call %d = %d, %v after %d token requests, %d API requests; want 401 after %d, %d",
						call, status, err, tokens, api, 1+call, 2*call)
				}
			}
		})
	}
}

func TestAlwaysUnauthorizedSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.set(func(e *env) { e.always401 = true })
	s := e.api.Session(t, courier.WithAuth(oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))))
	_, err := s.Get(t.Context(), "/")
	var se *courier.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Errorf("Get = %v, want a 401 *StatusError", err)
	}
	if tokens, api := e.counts(); tokens != 2 || api != 2 {
		t.Errorf("one Get: %d token requests, %d API requests; want 2, 2", tokens, api)
	}
}

// A 401 to a request whose body cannot be replayed is returned as it is;
// the rejected token is dropped, so the next request gets a new one.
func TestUnauthorizedBodyNotReplayable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))(nil)
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
		t.Fatalf("GET = %d, %v; want 200", status, err)
	}
	e.revoke()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api.URL, io.NopCloser(strings.NewReader("payload")))
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := send(rt, req); err != nil || status != http.StatusUnauthorized || body != "unauthorized\n" {
		t.Errorf("POST without GetBody = %d %q, %v; want the 401", status, body, err)
	}
	if tokens, api := e.counts(); tokens != 1 || api != 2 {
		t.Errorf("after the 401: %d token requests, %d API requests; want 1, 2", tokens, api)
	}
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
		t.Errorf("next GET = %d, %v; want 200", status, err)
	}
	if tokens, _ := e.counts(); tokens != 2 {
		t.Errorf("after the next GET: %d token requests, want 2", tokens)
	}
}

// A source that returns the rejected token again gets no retry.
func TestUnauthorizedSameToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	static := xoauth2.StaticTokenSource(&xoauth2.Token{AccessToken: "at-SECRET-static"})
	rt := oauth2.New(oauth2.FromTokenSource(static))(nil)
	if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusUnauthorized {
		t.Errorf("GET = %d, %v; want 401", status, err)
	}
	if _, api := e.counts(); api != 1 {
		t.Errorf("API requests = %d, want 1", api)
	}
}

func TestExistingAuthorizationLeftAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))(nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.api.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Basic dTpw")
	if status, _, err := send(rt, req); err != nil || status != http.StatusUnauthorized {
		t.Errorf("GET with Authorization = %d, %v; want the API's 401", status, err)
	}
	if got := e.lastAuthorization(); got != "Basic dTpw" {
		t.Errorf("API saw Authorization %q, want %q", got, "Basic dTpw")
	}
	if tokens, api := e.counts(); tokens != 0 || api != 1 {
		t.Errorf("%d token requests, %d API requests; want 0, 1", tokens, api)
	}
	if got := req.Header.Get("Authorization"); got != "Basic dTpw" {
		t.Errorf("caller's request Authorization = %q, changed", got)
	}
}

func TestRequestNotModified(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))(nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.api.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, err := send(rt, req); err != nil || status != http.StatusOK {
		t.Fatalf("GET = %d, %v; want 200", status, err)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("caller's request got Authorization %q", got)
	}
}

func TestEarlyRefresh(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		opts   []oauth2.Option
		margin time.Duration
	}{
		{"default", nil, 10 * time.Second},
		{"zero is the default", []oauth2.Option{oauth2.WithEarlyExpiry(0)}, 10 * time.Second},
		{"one minute", []oauth2.Option{oauth2.WithEarlyExpiry(time.Minute)}, time.Minute},
		{"to the last moment", []oauth2.Option{oauth2.WithEarlyExpiry(time.Nanosecond)}, time.Nanosecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t) // expires_in 3600
			clk := newClock()
			rt := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), append(tt.opts, oauth2.WithClock(clk.Now))...)(nil)
			// x/oauth2 sets the expiry from its own clock when the
			// response arrives: between before and after.
			before := time.Now()
			if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
				t.Fatalf("GET = %d, %v; want 200", status, err)
			}
			after := time.Now()
			for _, step := range []struct {
				now        time.Time
				wantTokens int
			}{
				{before.Add(time.Hour - tt.margin - time.Nanosecond), 1},
				{after.Add(time.Hour - tt.margin), 2},
			} {
				clk.Set(step.now)
				if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
					t.Fatalf("GET at expiry%+v = %d, %v; want 200", step.now.Sub(before.Add(time.Hour)), status, err)
				}
				if tokens, _ := e.counts(); tokens != step.wantTokens {
					t.Errorf("token requests at expiry%+v = %d, want %d", step.now.Sub(before.Add(time.Hour)), tokens, step.wantTokens)
				}
			}
		})
	}
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		noRotate bool
	}{
		{"rotating", false},
		{"not rotating", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.set(func(e *env) { e.noRotate = tt.noRotate })
			clk := newClock()
			src := oauth2.RefreshToken(e.refreshConfig(), &xoauth2.Token{AccessToken: "at-SECRET-old", RefreshToken: firstRefresh})
			rt := oauth2.New(src, oauth2.WithClock(clk.Now))(nil)
			for i := 1; i <= 3; i++ {
				if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
					t.Fatalf("GET %d = %d, %v; want 200", i, status, err)
				}
				clk.Set(clk.Now().Add(2 * time.Hour))
			}
			// The source refreshes even though its last token is valid.
			tok, err := src.Token(t.Context())
			if err != nil || tok.AccessToken != "at-SECRET-4" {
				t.Errorf("Token() = %v, %v; want a fourth token", tok, err)
			}
			if tokens, _ := e.counts(); tokens != 4 {
				t.Errorf("token requests = %d, want 4", tokens)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, "other")
	}))
	defer other.Close()
	mw := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))
	s := e.api.Session(t, courier.WithAuth(mw))
	viaSession := func(path string) (string, error) {
		resp, err := s.Get(t.Context(), path)
		if err != nil {
			return "", err
		}
		return string(resp.Bytes()), nil
	}
	viaClient := func(path string) (string, error) {
		_, body, err := get(t.Context(), mw(nil), e.api.URL+path)
		return body, err
	}
	toOther := "/redirect?to=" + other.URL + "/x"
	toSelf := "/redirect?to=" + e.api.URL + "/y"
	for _, tt := range []struct {
		name string
		do   func(path string) (string, error)
		path string
		want string
	}{
		{"session, other origin", viaSession, toOther, "other"},
		{"session, same origin", viaSession, toSelf, "ok "},
		{"session, full URL to other origin", viaSession, other.URL, "other"},
		{"http.Client, other origin", viaClient, toOther, "other"},
		{"http.Client, same origin", viaClient, toSelf, "ok "},
	} {
		body, err := tt.do(tt.path)
		if err != nil || body != tt.want {
			t.Errorf("%s: GET %s = %q, %v; want %q", tt.name, tt.path, body, err, tt.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, auth := range seen {
		if auth != "" {
			t.Errorf("other origin: request %d had Authorization %q, want none", i, auth)
		}
	}
	if len(seen) != 3 {
		t.Errorf("other origin got %d requests, want 3", len(seen))
	}
}

// retrieveCode returns the error code of the *RetrieveError in err's
// chain, "-" when there is none.
func retrieveCode(err error) string {
	var re *xoauth2.RetrieveError
	if !errors.As(err, &re) {
		return "-"
	}
	return re.ErrorCode
}

func TestFailures(t *testing.T) {
	t.Parallel()
	dead := "http://" + testenv.ClosedPort(t)
	for _, tt := range []struct {
		name      string
		layer     func(t *testing.T, e *env) courier.Middleware
		wantFetch bool   // errors.Is(err, ErrTokenFetch)
		wantCode  string // the RetrieveError's code, "-" for none
		wantIn    string
	}{{
		name: "wrong client secret",
		layer: func(t *testing.T, e *env) courier.Middleware {
			cfg := e.clientCredentials()
			cfg.ClientSecret = "cs-SECRET-wrong"
			return oauth2.New(oauth2.ClientCredentials(cfg))
		},
		wantFetch: true, wantCode: "invalid_client", wantIn: `oauth2: fetch token: oauth2: "invalid_client"`,
	}, {
		name: "revoked refresh token",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.RefreshToken(e.refreshConfig(), &xoauth2.Token{RefreshToken: "rt-SECRET-revoked"}))
		},
		wantFetch: true, wantCode: "invalid_grant", wantIn: `oauth2: fetch token: oauth2: "invalid_grant"`,
	}, {
		name: "token endpoint down",
		layer: func(t *testing.T, e *env) courier.Middleware {
			e.set(func(e *env) { e.tokenStatus = http.StatusServiceUnavailable })
			return oauth2.New(oauth2.ClientCredentials(e.clientCredentials()))
		},
		wantFetch: true, wantCode: "", wantIn: "oauth2: fetch token: oauth2: cannot fetch token: 503",
	}, {
		name: "token endpoint unreachable",
		layer: func(t *testing.T, e *env) courier.Middleware {
			cfg := e.clientCredentials()
			cfg.TokenURL = dead
			return oauth2.New(oauth2.ClientCredentials(cfg))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: fetch token: Post ",
	}, {
		name: "refresh timeout",
		layer: func(t *testing.T, e *env) courier.Middleware {
			e.holdTokens(t)
			return oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithRefreshTimeout(10*time.Millisecond))
		},
		wantFetch: true, wantCode: "-", wantIn: "context deadline exceeded",
	}, {
		name: "no access token",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.SourceFunc(func(context.Context) (*xoauth2.Token, error) { return &xoauth2.Token{}, nil }))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: fetch token: the source returned no access token",
	}, {
		name: "nil token",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.SourceFunc(func(context.Context) (*xoauth2.Token, error) { return nil, nil }))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: fetch token: the source returned no access token",
	}, {
		name: "access token with a line break",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.SourceFunc(func(context.Context) (*xoauth2.Token, error) {
				return &xoauth2.Token{AccessToken: "at-SECRET\r\nX-Injected: 1"}, nil
			}))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: fetch token: the access token or its type holds a byte that is not visible ASCII",
	}, {
		name: "token type with a space",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.SourceFunc(func(context.Context) (*xoauth2.Token, error) {
				return &xoauth2.Token{AccessToken: "at-SECRET", TokenType: "Bearer at-SECRET"}, nil
			}))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: fetch token: the access token or its type holds a byte that is not visible ASCII",
	}, {
		name: "no refresh token",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.RefreshToken(e.refreshConfig(), nil))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: fetch token: oauth2: RefreshToken: no refresh token",
	}, {
		name: "nil refresh config",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.RefreshToken(nil, &xoauth2.Token{RefreshToken: firstRefresh}))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: RefreshToken: nil Config",
	}, {
		name: "nil client credentials config",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.ClientCredentials(nil))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: ClientCredentials: nil Config",
	}, {
		name: "nil TokenSource",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.FromTokenSource(nil))
		},
		wantFetch: true, wantCode: "-", wantIn: "oauth2: FromTokenSource: nil TokenSource",
	}, {
		name: "nil Source",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(nil)
		},
		wantFetch: false, wantCode: "-", wantIn: "oauth2: nil Source",
	}, {
		name: "nil Option",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), nil)
		},
		wantFetch: false, wantCode: "-", wantIn: "oauth2: nil Option",
	}, {
		name: "negative early expiry",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithEarlyExpiry(-time.Second))
		},
		wantFetch: false, wantCode: "-", wantIn: "oauth2: WithEarlyExpiry: negative duration -1s",
	}, {
		name: "negative refresh timeout",
		layer: func(t *testing.T, e *env) courier.Middleware {
			return oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithRefreshTimeout(-time.Second))
		},
		wantFetch: false, wantCode: "-", wantIn: "oauth2: WithRefreshTimeout: negative duration -1s",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			body := &closeRecorder{Reader: strings.NewReader("payload")}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api.URL, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tt.layer(t, e)(nil).RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("RoundTrip = %d, nil; want an error containing %q", resp.StatusCode, tt.wantIn)
			}
			if got := errors.Is(err, oauth2.ErrTokenFetch); got != tt.wantFetch {
				t.Errorf("errors.Is(%q, ErrTokenFetch) = %v, want %v", err, got, tt.wantFetch)
			}
			if got := retrieveCode(err); got != tt.wantCode {
				t.Errorf("RetrieveError code of %q = %q, want %q", err, got, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("RoundTrip error = %q, want it to contain %q", err, tt.wantIn)
			}
			noSecret(t, err)
			if !body.isClosed() {
				t.Errorf("RoundTrip error %q left the request body open", err)
			}
			if _, api := e.counts(); api != 0 {
				t.Errorf("API requests = %d, want 0", api)
			}
		})
	}
}

// A fetch failure keeps its types through a session's *courier.Error.
func TestFailureThroughSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := oauth2.RefreshToken(e.refreshConfig(), &xoauth2.Token{RefreshToken: "rt-SECRET-revoked"})
	s := e.api.Session(t, courier.WithAuth(oauth2.New(src)))
	_, err := s.Get(t.Context(), "/")
	var ce *courier.Error
	if !errors.As(err, &ce) || !errors.Is(err, oauth2.ErrTokenFetch) || retrieveCode(err) != "invalid_grant" {
		t.Errorf("Get = %v, want a *courier.Error holding ErrTokenFetch and an invalid_grant *RetrieveError", err)
	}
	noSecret(t, err)
}
