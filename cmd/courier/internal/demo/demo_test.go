package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier/paginate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Run(t.Context(), &out, Options{}); err != nil {
		t.Fatalf("Run() = %v, want nil; output:\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"POST /api/login",
		"the jar stored the sid cookie",
		"GET  /api/me",
		"authorized as ada",
		"ok on attempt 3",
		"attempt 1: 503, retry in",
		"attempt 2: 503, retry in",
		"25 items in 3 pages",
		"errors.As: *courier.StatusError 404",
		"/status/404: 404 Not Found",
		"errors.Is(err, courier.ErrTimeout)",
		"/redirect/2 → /relative-redirect/1 → /get",
		"50 ok, 8 at a time",
		"session.Stats()",
		"conns opened",
		"conns reused",
		"latency p50",
		"latency p99",
		"ok: every step behaved as the tour says",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Run() output lacks %q; output:\n%s", want, text)
		}
	}
	// The session cookie is a secret: never shown whole.
	if sid := regexp.MustCompile(`[0-9a-f]{32}`).FindString(text); sid != "" {
		t.Errorf("Run() output shows a whole session id %q", sid)
	}
	if n := strings.Count(text, "\n"); n > 40 {
		t.Errorf("Run() output has %d lines, want at most 40", n)
	}
}

func TestRunColor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		color bool
	}{
		{"plain", false},
		{"color", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := Run(t.Context(), &out, Options{Color: tt.color}); err != nil {
				t.Fatalf("Run(Color: %v) = %v, want nil", tt.color, err)
			}
			if got := bytes.Contains(out.Bytes(), []byte("\x1b[")); got != tt.color {
				t.Errorf("Run(Color: %v) output has ANSI escapes = %v, want %v", tt.color, got, tt.color)
			}
		})
	}
}

// An API that misbehaves makes Run fail, naming the step.
func TestRunFails(t *testing.T) {
	t.Parallel()
	answer := func(path string, status int) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == path {
					w.WriteHeader(status)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	for _, tt := range []struct {
		name string
		wrap func(http.Handler) http.Handler
		want string
	}{
		{
			name: "cookie lost",
			wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					r.Header.Del("Cookie")
					next.ServeHTTP(w, r)
				})
			},
			want: "step 2 (cookie sent)",
		},
		{name: "flaky never recovers", wrap: answer("/api/flaky", http.StatusServiceUnavailable), want: "step 4 (retries)"},
		{name: "404 is a 200", wrap: answer("/status/404", http.StatusOK), want: "step 6 (typed error)"},
		{name: "slow is fast", wrap: answer("/api/slow", http.StatusOK), want: "step 7 (timeout)"},
		{
			name: "no keep-alive",
			wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Connection", "close")
					next.ServeHTTP(w, r)
				})
			},
			want: "step 9 (burst)",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Run(t.Context(), io.Discard, Options{wrap: tt.wrap})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run() with %s = %v, want an error naming %q", tt.name, err, tt.want)
			}
		})
	}
}

// A canceled context stops the tour at its first step, and says why.
func TestRunCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Run(ctx, io.Discard, Options{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "step 1 (log in)") {
		t.Errorf("Run(canceled) = %v, want context.Canceled at step 1", err)
	}
}

// newAPI starts a fresh API and returns it with a client that keeps cookies.
func newAPI(t *testing.T) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(API())
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return srv, c
}

// send makes a request and returns its status, headers and body.
func send(t *testing.T, c *http.Client, method, url, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

const login = `{"user":"ada","password":"lovelace"}`

func TestAPILoginThenMe(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	code, h, body := send(t, c, "POST", srv.URL+"/api/login", login)
	if code != http.StatusOK || !strings.Contains(body, `"user":"ada"`) {
		t.Fatalf("POST /api/login = %d %s, want 200 and the user", code, body)
	}
	resp := http.Response{Header: h}
	i := slices.IndexFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.Name == SessionCookie })
	if i < 0 {
		t.Fatalf("POST /api/login set cookies %q, want %q", h.Values("Set-Cookie"), SessionCookie)
	}
	if ck := resp.Cookies()[i]; !ck.HttpOnly || ck.Path != "/" || ck.Value == "" {
		t.Errorf("session cookie = %v, want a value, HttpOnly and Path=/", ck)
	}
	code, _, body = send(t, c, "GET", srv.URL+"/api/me", "")
	if code != http.StatusOK || !strings.Contains(body, `"user":"ada"`) {
		t.Errorf("GET /api/me with the cookie = %d %s, want 200 and the user", code, body)
	}
}

func TestAPIMeNeedsCookie(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	if code, _, body := send(t, c, "GET", srv.URL+"/api/me", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me without a cookie = %d %s, want 401", code, body)
	}
	if code, _, body := send(t, c, "GET", srv.URL+"/api/me", "", "Cookie", "sid=forged"); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me with a forged cookie = %d %s, want 401", code, body)
	}
}

func TestAPILoginRefused(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"user":"ada","password":"babbage"}`, http.StatusUnauthorized},
		{`{"user":"charles","password":"lovelace"}`, http.StatusUnauthorized},
		{`not json`, http.StatusBadRequest},
	} {
		code, h, _ := send(t, c, "POST", srv.URL+"/api/login", tt.body)
		if code != tt.want || h.Get("Set-Cookie") != "" {
			t.Errorf("POST /api/login %s = %d, Set-Cookie %q; want %d and no cookie", tt.body, code, h.Get("Set-Cookie"), tt.want)
		}
	}
}

func TestAPIFlaky(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	var got []int
	for range 2 * (FlakyFailures + 1) {
		code, h, _ := send(t, c, "GET", srv.URL+"/api/flaky", "")
		if code == http.StatusServiceUnavailable && h.Get("Retry-After") != "0" {
			t.Errorf("GET /api/flaky = 503 with Retry-After %q, want \"0\"", h.Get("Retry-After"))
		}
		got = append(got, code)
	}
	want := []int{503, 503, 200, 503, 503, 200}
	if !slices.Equal(got, want) {
		t.Errorf("GET /api/flaky six times = %v, want %v", got, want)
	}
	if code, _, _ := send(t, c, "GET", srv.URL+"/api/flaky?fail=0", ""); code != http.StatusOK {
		t.Errorf("GET /api/flaky?fail=0 = %d, want 200", code)
	}
}

// Each session cookie has its own count.
func TestAPIFlakyPerSession(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	var got []int
	for _, sid := range []string{"a", "b", "a", "b", "a", "b"} {
		code, _, _ := send(t, c, "GET", srv.URL+"/api/flaky", "", "Cookie", "sid="+sid)
		got = append(got, code)
	}
	want := []int{503, 503, 503, 503, 200, 200}
	if !slices.Equal(got, want) {
		t.Errorf("GET /api/flaky for sessions a, b, a, b, a, b = %v, want %v", got, want)
	}
}

func TestAPIItems(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	var ids []int
	pages := 0
	for next := srv.URL + "/api/items"; next != ""; pages++ {
		if pages == 10 {
			t.Fatalf("more than 10 pages: the Link headers loop")
		}
		code, h, body := send(t, c, "GET", next, "")
		if code != http.StatusOK || h.Get("X-Total-Count") != "25" {
			t.Fatalf("GET %s = %d, X-Total-Count %q; want 200 and 25", next, code, h.Get("X-Total-Count"))
		}
		var page []item
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("GET %s body %q: %v", next, body, err)
		}
		for _, it := range page {
			ids = append(ids, it.ID)
		}
		next = ""
		if l := paginate.LinkTarget(h.Values("Link"), "next"); l != "" {
			next = srv.URL + l
		}
	}
	want := make([]int, Items)
	for i := range want {
		want[i] = i + 1
	}
	if pages != 3 || !slices.Equal(ids, want) {
		t.Errorf("following Link rel=next: %d pages with ids %v, want 3 pages with ids 1 to 25", pages, ids)
	}
	for _, bad := range []string{"page=0", "page=x", "per_page=0", "per_page=101"} {
		if code, _, _ := send(t, c, "GET", srv.URL+"/api/items?"+bad, ""); code != http.StatusBadRequest {
			t.Errorf("GET /api/items?%s = %d, want 400", bad, code)
		}
	}
}

// The slow endpoint stops when its request is canceled, and writes nothing.
func TestAPISlowCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "/api/slow?delay=200ms", nil)
	rec := httptest.NewRecorder()
	API().ServeHTTP(rec, req)
	if rec.Body.Len() != 0 {
		t.Errorf("canceled GET /api/slow wrote %q, want nothing", rec.Body.String())
	}
}

func TestAPISlow(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	if code, _, body := send(t, c, "GET", srv.URL+"/api/slow?delay=1ms", ""); code != http.StatusOK || !strings.Contains(body, `"waited":"1ms"`) {
		t.Errorf("GET /api/slow?delay=1ms = %d %s, want 200 and the wait", code, body)
	}
	for _, bad := range []string{"x", "-1s", (MaxSlowDelay + time.Second).String()} {
		if code, _, _ := send(t, c, "GET", srv.URL+"/api/slow?delay="+bad, ""); code != http.StatusBadRequest {
			t.Errorf("GET /api/slow?delay=%s = %d, want 400", bad, code)
		}
	}
}

// go-httpbin answers at /, beside the demo's routes.
func TestAPIHTTPBin(t *testing.T) {
	t.Parallel()
	srv, c := newAPI(t)
	if code, _, _ := send(t, c, "GET", srv.URL+"/status/418", ""); code != http.StatusTeapot {
		t.Errorf("GET /status/418 = %d, want 418", code)
	}
	if code, _, body := send(t, c, "GET", srv.URL+"/api", ""); code != http.StatusOK || !strings.Contains(body, "/api/login") {
		t.Errorf("GET /api = %d %s, want 200 and the routes", code, body)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, v := range n {
			d = append(d, time.Duration(v)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tt := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(hundred...), 0.5, 50 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred[:60]...), 0.99, 60 * time.Millisecond},
	} {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
		}
	}
}
