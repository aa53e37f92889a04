package courier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// echoed is what echoHandler saw of a request.
type echoed struct {
	Method           string      `json:"method"`
	URI              string      `json:"uri"`
	Proto            string      `json:"proto"`
	Header           http.Header `json:"header"`
	Body             string      `json:"body"`
	ContentLength    int64       `json:"content_length"`
	TransferEncoding []string    `json:"transfer_encoding"`
}

// echoHandler answers every request with a JSON description of it.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{
			Method:           r.Method,
			URI:              r.RequestURI,
			Proto:            r.Proto,
			Header:           r.Header,
			Body:             string(body),
			ContentLength:    r.ContentLength,
			TransferEncoding: r.TransferEncoding,
		})
	})
}

// canary is a secret that must never show up in an error message.
const canary = "canary7f3a9"

func TestURLResolution(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	tests := []struct {
		name string
		base string // appended to the server's URL
		path string
		want string // request URI the server sees
	}{
		{"absolute path", "/v1", "/users/42", "/v1/users/42"},
		{"base with trailing slash", "/v1/", "/users/42", "/v1/users/42"},
		{"path without leading slash", "/v1", "users/42", "/v1/users/42"},
		{"both slashes", "/v1/", "users/42", "/v1/users/42"},
		{"empty path", "/v1", "", "/v1"},
		{"empty path, base with trailing slash", "/v1/", "", "/v1/"},
		{"empty path, no base path", "", "", "/"},
		{"no base path", "", "/users/42", "/users/42"},
		{"trailing slash kept", "/v1", "/users/", "/v1/users/"},
		{"deep base", "/api/v1/", "/users/42", "/api/v1/users/42"},
		{"dot-dot inside the path", "/v1", "/users/../teams/7", "/v1/teams/7"},
		{"dot-dot back to the base", "/v1", "/users/..", "/v1/"},
		{"dot segments", "/v1", "/./users/./42", "/v1/users/42"},
		{"encoded dot-dot inside the path", "/v1", "/users/%2e%2e/teams", "/v1/teams"},
		{"dot in a name", "/v1", "/files/.config/a.b..c", "/v1/files/.config/a.b..c"},
		{"encoded slash preserved", "/v1", "/a%2Fb", "/v1/a%2Fb"},
		{"encoded slash in base preserved", "/v1/a%2Fb", "/c", "/v1/a%2Fb/c"},
		{"encoded space preserved", "/v1", "/a%20b", "/v1/a%20b"},
		{"reserved characters", "/v1", "/a:b@c;d=e", "/v1/a:b@c;d=e"},
		{"unicode escaped", "/v1", "/café", "/v1/caf%C3%A9"},
		{"query in path", "/v1", "/search?q=go&n=1", "/v1/search?q=go&n=1"},
		{"query only", "/v1", "?q=go", "/v1?q=go"},
		{"fragment dropped", "/v1", "/users/42#section", "/v1/users/42"},
		{"base query kept", "/v1?key=k", "/users", "/v1/users?key=k"},
		{"base query then path query", "/v1?key=k", "/users?page=2", "/v1/users?key=k&page=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := ts.Session(t, courier.WithBaseURL(ts.URL+tt.base))
			var got echoed
			if _, err := s.Get(t.Context(), tt.path, courier.Into(&got)); err != nil {
				t.Fatalf("Get(%q) with base %q: %v", tt.path, tt.base, err)
			}
			if got.URI != tt.want {
				t.Errorf("Get(%q) with base %q: server saw %q, want %q", tt.path, tt.base, got.URI, tt.want)
			}
		})
	}
}

func TestURLResolutionFullURL(t *testing.T) {
	t.Parallel()
	a := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	b := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := a.Session(t, courier.WithBaseURL(a.URL+"/v1"))
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"other host", b.URL + "/elsewhere/x", "/elsewhere/x"},
		{"other host with query", b.URL + "/x?a=1", "/x?a=1"},
		{"dot segments sent as given", b.URL + "/a/../b", "/a/../b"},
		{"upper-case scheme", strings.Replace(b.URL, "http://", "HTTP://", 1) + "/x", "/x"},
		{"fragment dropped", b.URL + "/x?a=1#frag", "/x?a=1"},
		{"escaped path kept", b.URL + "/a%2Fb/c", "/a%2Fb/c"},
		{"no path", b.URL, "/"},
		{"query only", b.URL + "?q=1", "/?q=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got echoed
			if _, err := s.Get(t.Context(), tt.url, courier.Into(&got)); err != nil {
				t.Fatalf("Get(%q): %v", tt.url, err)
			}
			if got.URI != tt.want {
				t.Errorf("Get(%q): server saw %q, want %q", tt.url, got.URI, tt.want)
			}
		})
	}
	if n := a.Requests.Load(); n != 0 {
		t.Errorf("base server got %d requests, want 0 (full URLs go where they say)", n)
	}
	// Full URLs that are parsed on the way in are checked as paths are.
	for _, bad := range []string{b.URL + "/a b", b.URL + "/x\n", "http://127.0.0.1:/x", "http:///x"} {
		if _, err := s.Get(t.Context(), bad); !errors.Is(err, courier.ErrInvalidRequest) {
			t.Errorf("Get(%q) = %v, want ErrInvalidRequest", bad, err)
		}
	}
}

func TestURLResolutionNoBaseURL(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s, err := courier.New()
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	t.Cleanup(func() { s.Close(t.Context()) })

	var got echoed
	if _, err := s.Get(t.Context(), ts.URL+"/full", courier.Into(&got)); err != nil {
		t.Fatalf("Get(full URL) without a base URL: %v", err)
	}
	if got.URI != "/full" {
		t.Errorf("Get(full URL): server saw %q, want %q", got.URI, "/full")
	}
	for _, path := range []string{"/relative", "relative", ""} {
		_, err := s.Get(t.Context(), path)
		if !errors.Is(err, courier.ErrInvalidRequest) {
			t.Errorf("Get(%q) without a base URL = %v, want ErrInvalidRequest", path, err)
		}
	}
}

// With a base URL without a path, no path may resolve to a request-target
// that starts with "//", which servers and proxies read as a host.
func TestPathNeverResolvesToAnAuthority(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	for _, path := range []string{"/.//evil.com", "/./evil.com/..//evil.com", "x/..//evil.com", "/%2e//evil.com"} {
		if _, err := s.Get(t.Context(), path); !errors.Is(err, courier.ErrInvalidRequest) {
			t.Errorf("Get(%q) = %v, want ErrInvalidRequest", path, err)
		}
	}
	if n := ts.Requests.Load(); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
	// An encoded slash without a dot segment is a name (GitLab's
	// group%2Fproject), and an empty segment inside the path is kept.
	for path, want := range map[string]string{"/projects/group%2Fproject": "/projects/group%2Fproject", "/a//b": "/a//b"} {
		var got echoed
		if _, err := s.Get(t.Context(), path, courier.Into(&got)); err != nil || got.URI != want {
			t.Errorf("Get(%q) sent %q, %v; want %q", path, got.URI, err, want)
		}
	}
}

func TestURLResolutionErrors(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := ts.Session(t, courier.WithBaseURL(ts.URL+"/v1/api"))
	tests := []struct {
		name string
		path string
	}{
		{"dot-dot above the base", "/../x"},
		{"dot-dot above the base later", "/users/../../x"},
		{"dot-dot above the base without slash", "../x"},
		{"dot-dot alone", ".."},
		{"dot-dot above the root", "/../../../../etc/passwd"},
		{"encoded dot-dot", "/%2e%2e/x"},
		{"upper-case encoded dot-dot", "/%2E%2E/x"},
		{"mixed encoded dot-dot", "/.%2E/x"},
		{"encoded dot-dot at the end", "/a/%2e%2e/%2e%2e"},
		{"dot-dot behind an encoded slash", "..%2f/admin"},
		{"dot-dot behind an upper-case encoded slash", "/x/..%2F..%2F..%2Fadmin"},
		{"dot-dot behind an encoded backslash", "/..%5cadmin"},
		{"encoded dot-dot behind an encoded slash", "/a%2f%2e%2e%2fb"},
		{"scheme-relative", "//evil.com/x"},
		{"triple slash", "///evil.com/x"},
		{"space", "/a b"},
		{"tab", "/a\tb"},
		{"CR LF", "/a\r\nHost: evil"},
		{"LF", "/a\nb"},
		{"NUL", "/a\x00b"},
		{"bad escape", "/a%zzb"},
		{"unsupported scheme", "ftp://example.com/x"},
		{"javascript scheme", "javascript:alert(1)"},
		{"full URL without host", "http:///x"},
		{"full URL with bad port", "http://127.0.0.1:99999/x"},
		{"full URL with empty port", "http://127.0.0.1:/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Get(t.Context(), tt.path)
			if !errors.Is(err, courier.ErrInvalidRequest) {
				t.Errorf("Get(%q) = %v, want ErrInvalidRequest", tt.path, err)
			}
			var ce *courier.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Get(%q) = %T, want *courier.Error", tt.path, err)
			}
			if ce.Attempts != 0 {
				t.Errorf("Get(%q): Attempts = %d, want 0", tt.path, ce.Attempts)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n\x00") {
				t.Errorf("Get(%q): error text %q holds a control character", tt.path, msg)
			}
		})
	}
	t.Cleanup(func() {
		if n := ts.Requests.Load(); n != 0 {
			t.Errorf("server got %d requests, want 0", n)
		}
	})
}

// Userinfo in a URL is Basic auth for that URL's origin, on every path, and
// never appears in an error.
func TestURLUserinfoIsBasicAuth(t *testing.T) {
	t.Parallel()
	ts, saw := headerEcho(t)
	other, otherSaw := headerEcho(t)
	base := strings.Replace(ts.URL, "http://", "http://sk_live_CANARY:@", 1)
	s, err := courier.New(courier.WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	want := "Basic " + "c2tfbGl2ZV9DQU5BUlk6" // base64("sk_live_CANARY:")

	if _, err := s.Get(t.Context(), "/x"); err != nil {
		t.Fatal(err)
	}
	if got := saw().Get("Authorization"); got != want {
		t.Errorf("Do: Authorization = %q, want %q", got, want)
	}
	resp, err := s.Client().Get(ts.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := saw().Get("Authorization"); got != want {
		t.Errorf("Client: Authorization = %q, want %q", got, want)
	}
	if _, err := s.Get(t.Context(), other.URL+"/y"); err != nil {
		t.Fatal(err)
	}
	if got := otherSaw().Get("Authorization"); got != "" {
		t.Errorf("another origin got Authorization %q", got)
	}
	_, err = s.Get(t.Context(), "http://alice:CANARY@127.0.0.1:1/z", courier.Timeout(time.Second))
	if err == nil || strings.Contains(err.Error(), "CANARY") || strings.Contains(err.Error(), "alice") {
		t.Errorf("error = %v, want one without the userinfo", err)
	}
}

func TestQueryOrder(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	other := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	tests := []struct {
		name    string
		base    string
		session []courier.Option
		path    string
		request []courier.RequestOption
		want    string
	}{
		{
			name:    "base, session, path, request",
			base:    "/v1?b=1&B=2",
			session: []courier.Option{courier.Query("s", "1"), courier.Query("S", "2"), courier.Query("s", "3")},
			path:    "/x?p=1&P=2&p=3",
			request: []courier.RequestOption{courier.Query("r", "1"), courier.Query("R", "2"), courier.Query("r", "3")},
			want:    "/v1/x?b=1&B=2&s=1&S=2&s=3&p=1&P=2&p=3&r=1&R=2&r=3",
		},
		{
			name:    "session and request only",
			base:    "/v1",
			session: []courier.Option{courier.Query("apiKey", "k")},
			path:    "/x",
			request: []courier.RequestOption{courier.Query("Page", "2")},
			want:    "/v1/x?apiKey=k&Page=2",
		},
		{
			name:    "same key in every place is kept",
			base:    "/v1?k=base",
			session: []courier.Option{courier.Query("k", "session")},
			path:    "/x?k=path",
			request: []courier.RequestOption{courier.Query("k", "request")},
			want:    "/v1/x?k=base&k=session&k=path&k=request",
		},
		{
			name:    "parameters escaped, raw path query kept",
			base:    "/v1",
			session: []courier.Option{courier.Query("a b", "c&d=e")},
			path:    "/x?raw=%2F+x",
			request: []courier.RequestOption{courier.Query("q", "ü/?#")},
			want:    "/v1/x?a+b=c%26d%3De&raw=%2F+x&q=%C3%BC%2F%3F%23",
		},
		{
			name:    "empty value",
			base:    "/v1",
			request: []courier.RequestOption{courier.Query("flag", "")},
			want:    "/v1?flag=",
		},
		{
			name:    "full URL, same origin: session, then the URL's own, then request",
			base:    "/v1?b=1",
			session: []courier.Option{courier.Query("s", "1")},
			path:    ts.URL + "/y?p=1",
			request: []courier.RequestOption{courier.Query("r", "1")},
			want:    "/y?s=1&p=1&r=1",
		},
		{
			// Session parameters (an API key) are bound to the base
			// origin like credentials: another origin gets none.
			name:    "full URL, other origin: no session parameters",
			base:    "/v1?b=1",
			session: []courier.Option{courier.Query("access_token", "CANARY")},
			path:    other.URL + "/y?p=1",
			request: []courier.RequestOption{courier.Query("r", "1")},
			want:    "/y?p=1&r=1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := ts.Session(t, append([]courier.Option{courier.WithBaseURL(ts.URL + tt.base)}, tt.session...)...)
			var got echoed
			if _, err := s.Get(t.Context(), tt.path, append(tt.request, courier.Into(&got))...); err != nil {
				t.Fatalf("Get(%q): %v", tt.path, err)
			}
			if got.URI != tt.want {
				t.Errorf("Get(%q): server saw %q, want %q", tt.path, got.URI, tt.want)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, echoHandler())
		tests := []struct {
			name    string
			session []courier.Option
			request []courier.RequestOption
			key     string
			want    []string // nil: the header must be absent
		}{
			{"default User-Agent", nil, nil, "User-Agent", []string{"courier/" + courier.Version}},
			{"WithUserAgent", []courier.Option{courier.Header("User-Agent", "app/2.0")}, nil, "User-Agent", []string{"app/2.0"}},
			{"default Accept-Encoding", nil, nil, "Accept-Encoding", []string{"gzip, deflate"}},
			{"session Header", []courier.Option{courier.Header("X-Default", "d")}, nil, "X-Default", []string{"d"}},
			{"session Header replaces", []courier.Option{courier.Header("X-Default", "a"), courier.Header("x-default", "b")}, nil, "X-Default", []string{"b"}},
			{
				"session AddHeader keeps field lines",
				[]courier.Option{courier.AddHeader("X-Multi", "1"), courier.AddHeader("X-Multi", "2")},
				nil, "X-Multi", []string{"1", "2"},
			},
			{
				"value with a comma is one field line",
				[]courier.Option{courier.AddHeader("X-Multi", "a, b")},
				nil, "X-Multi", []string{"a, b"},
			},
			{
				"request Header replaces the default",
				[]courier.Option{courier.AddHeader("X-Multi", "1"), courier.AddHeader("X-Multi", "2")},
				[]courier.RequestOption{courier.Header("X-Multi", "r")},
				"X-Multi", []string{"r"},
			},
			{
				"request AddHeader appends to the default",
				[]courier.Option{courier.Header("X-Multi", "1")},
				[]courier.RequestOption{courier.AddHeader("x-multi", "2")},
				"X-Multi", []string{"1", "2"},
			},
			{
				"request AddHeader twice",
				nil,
				[]courier.RequestOption{courier.AddHeader("X-Multi", "1"), courier.AddHeader("X-Multi", "2")},
				"X-Multi", []string{"1", "2"},
			},
			{
				"request Header replaces User-Agent",
				nil,
				[]courier.RequestOption{courier.Header("user-agent", "other/1")},
				"User-Agent", []string{"other/1"},
			},
			{
				"RemoveHeader removes a default",
				[]courier.Option{courier.Header("X-Default", "d")},
				[]courier.RequestOption{courier.RemoveHeader("X-Default")},
				"X-Default", nil,
			},
			{
				"RemoveHeader User-Agent",
				nil,
				[]courier.RequestOption{courier.RemoveHeader("User-Agent")},
				"User-Agent", nil,
			},
			{
				"RemoveHeader User-Agent set by WithUserAgent",
				[]courier.Option{courier.Header("User-Agent", "app/2.0")},
				[]courier.RequestOption{courier.RemoveHeader("user-agent")},
				"User-Agent", nil,
			},
			{
				"session RemoveHeader User-Agent",
				[]courier.Option{courier.RemoveHeader("User-Agent")},
				nil, "User-Agent", nil,
			},
			{
				"RemoveHeader Accept-Encoding",
				nil,
				[]courier.RequestOption{courier.RemoveHeader("Accept-Encoding")},
				"Accept-Encoding", nil,
			},
			{
				"session RemoveHeader Accept-Encoding",
				[]courier.Option{courier.RemoveHeader("Accept-Encoding")},
				nil, "Accept-Encoding", nil,
			},
			{
				"request Accept-Encoding is sent as given",
				nil,
				[]courier.RequestOption{courier.Header("Accept-Encoding", "br")},
				"Accept-Encoding", []string{"br"},
			},
			{
				"RemoveHeader then AddHeader",
				[]courier.Option{courier.Header("X-Default", "d")},
				[]courier.RequestOption{courier.RemoveHeader("X-Default"), courier.AddHeader("X-Default", "new")},
				"X-Default", []string{"new"},
			},
			{
				"RemoveHeader User-Agent then AddHeader",
				nil,
				[]courier.RequestOption{courier.RemoveHeader("User-Agent"), courier.AddHeader("User-Agent", "mine/1")},
				"User-Agent", []string{"mine/1"},
			},
			{
				"session RemoveHeader then Header",
				[]courier.Option{courier.RemoveHeader("User-Agent"), courier.Header("User-Agent", "back/1")},
				nil, "User-Agent", []string{"back/1"},
			},
			{
				"RemoveHeader of an unknown header",
				nil,
				[]courier.RequestOption{courier.RemoveHeader("X-Nothing")},
				"X-Nothing", nil,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				s := ts.Session(t, tt.session...)
				var got echoed
				if _, err := s.Get(t.Context(), "/", append(tt.request, courier.Into(&got))...); err != nil {
					t.Fatalf("Get: %v", err)
				}
				v, ok := got.Header[tt.key]
				if ok != (tt.want != nil) || !slices.Equal(v, tt.want) {
					t.Errorf("server saw %s = %q (present %v), want %q (present %v)", tt.key, v, ok, tt.want, tt.want != nil)
				}
			})
		}
	})
}

// TestRemoveHeaderIsPerRequest checks that removing a default for one request
// leaves the session, and later requests, unchanged.
func TestRemoveHeaderIsPerRequest(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := ts.Session(t, courier.Header("X-Default", "d"))
	steps := []struct {
		name string
		opts []courier.RequestOption
		want []string
	}{
		{"removed", []courier.RequestOption{courier.RemoveHeader("X-Default"), courier.RemoveHeader("User-Agent")}, nil},
		{"back", nil, []string{"d"}},
		{"appended", []courier.RequestOption{courier.AddHeader("X-Default", "e")}, []string{"d", "e"}},
		{"default not changed by the append", nil, []string{"d"}},
	}
	for _, st := range steps {
		var got echoed
		if _, err := s.Get(t.Context(), "/", append(st.opts, courier.Into(&got))...); err != nil {
			t.Fatalf("%s: Get: %v", st.name, err)
		}
		if v := got.Header["X-Default"]; !slices.Equal(v, st.want) {
			t.Errorf("%s: server saw X-Default = %q, want %q", st.name, v, st.want)
		}
	}
	var got echoed
	if _, err := s.Get(t.Context(), "/", courier.Into(&got)); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if v := got.Header.Get("User-Agent"); v != "courier/"+courier.Version {
		t.Errorf("User-Agent after a request that removed it = %q, want %q", v, "courier/"+courier.Version)
	}
}

// A request's header values are its own: changing them through
// Response.Request never reaches the session's defaults.
func TestRequestHeaderIsACopy(t *testing.T) {
	t.Parallel()
	ts, saw := headerEcho(t)
	s := ts.Session(t, courier.Header("X-Tenant", "acme"))
	resp, err := s.Get(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	saw()
	resp.Request.Header["X-Tenant"][0] = "evil"
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatal(err)
	}
	if got := saw().Get("X-Tenant"); got != "acme" {
		t.Errorf("next request's X-Tenant = %q, want the session default acme", got)
	}
}

func TestRequestInvalidInput(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := ts.Session(t)
	tests := []struct {
		name   string
		method string
		opts   []courier.RequestOption
	}{
		{"CR LF in a header value", "GET", []courier.RequestOption{courier.Header("X-Token", canary+"\r\nX-Injected: 1")}},
		{"LF in a header value", "GET", []courier.RequestOption{courier.Header("X-Token", canary+"\nx")}},
		{"CR in an added value", "GET", []courier.RequestOption{courier.AddHeader("X-Token", canary+"\r")}},
		{"NUL in a header value", "GET", []courier.RequestOption{courier.Header("X-Token", canary+"\x00")}},
		{"DEL in a header value", "GET", []courier.RequestOption{courier.Header("X-Token", canary+"\x7f")}},
		{"space in a header name", "GET", []courier.RequestOption{courier.Header("X Token", canary)}},
		{"colon in a header name", "GET", []courier.RequestOption{courier.Header("X-Token:", canary)}},
		{"empty header name", "GET", []courier.RequestOption{courier.Header("", canary)}},
		{"bad name in RemoveHeader", "GET", []courier.RequestOption{courier.RemoveHeader("X\r\nY")}},
		{"method with a space", "GE T", nil},
		{"empty method", "", nil},
		{"method with CR LF", "GET\r\n", nil},
		{"method with a slash", "GET/", nil},
		{"non-ASCII method", "GÉT", nil},
		{"two bodies", "POST", []courier.RequestOption{courier.Body([]byte("a")), courier.JSON(1)}},
		{"JSON that cannot be encoded", "POST", []courier.RequestOption{courier.JSON(make(chan int))}},
		{"JSON with a NaN", "POST", []courier.RequestOption{courier.JSON(map[string]float64{canary: nan()})}},
		{"nil BodyReader", "POST", []courier.RequestOption{courier.BodyReader(nil)}},
		{"negative Timeout", "GET", []courier.RequestOption{courier.Timeout(-5 * time.Second)}},
		{"negative Timeout", "GET", []courier.RequestOption{courier.Timeout(-5)}},
		{"ExpectStatus out of range", "GET", []courier.RequestOption{courier.ExpectStatus(42)}},
		{"Into nil", "GET", []courier.RequestOption{courier.Into(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Do(t.Context(), tt.method, "/", tt.opts...)
			if !errors.Is(err, courier.ErrInvalidRequest) {
				t.Errorf("Do(%q) = %v, want ErrInvalidRequest", tt.method, err)
			}
			if err != nil && strings.Contains(err.Error(), canary) {
				t.Errorf("Do(%q): error text %q holds the header value", tt.method, err)
			}
		})
	}
	t.Cleanup(func() {
		if n := ts.Requests.Load(); n != 0 {
			t.Errorf("server got %d requests, want 0: invalid requests must not be sent", n)
		}
	})
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestMethods(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := ts.Session(t)
	ctx := t.Context()
	tests := []struct {
		name string
		do   func() (*courier.Response, error)
		want string
	}{
		{"Get", func() (*courier.Response, error) { return s.Get(ctx, "/") }, "GET"},
		{"Post", func() (*courier.Response, error) { return s.Post(ctx, "/") }, "POST"},
		{"Put", func() (*courier.Response, error) { return s.Put(ctx, "/") }, "PUT"},
		{"Patch", func() (*courier.Response, error) { return s.Patch(ctx, "/") }, "PATCH"},
		{"Delete", func() (*courier.Response, error) { return s.Delete(ctx, "/") }, "DELETE"},
		{"Do with an extension method", func() (*courier.Response, error) { return s.Do(ctx, "PROPFIND", "/") }, "PROPFIND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.do()
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var got echoed
			if err := resp.Decode(&got); err != nil {
				t.Fatalf("%s: Decode: %v", tt.name, err)
			}
			if got.Method != tt.want {
				t.Errorf("%s: server saw method %q, want %q", tt.name, got.Method, tt.want)
			}
		})
	}
	resp, err := s.Do(ctx, http.MethodHead, "/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("Head = %v, %v; want 200", resp, err)
	}
}

// bodyCheck records what the stack below courier's request builder saw of
// each request body: whether it can be replayed, and what a replay yields.
type bodyCheck struct {
	mu        sync.Mutex
	replay    bool
	replayed  string
	replayErr error
}

func (b *bodyCheck) middleware(next http.RoundTripper) http.RoundTripper {
	return rtFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		// Replay only once the body has been sent: a replay may rewind the
		// reader the first body shares.
		b.mu.Lock()
		defer b.mu.Unlock()
		b.replay = req.GetBody != nil
		if b.replay {
			var rc io.ReadCloser
			if rc, b.replayErr = req.GetBody(); b.replayErr == nil {
				data, _ := io.ReadAll(rc)
				rc.Close()
				b.replayed = string(data)
			}
		}
		return resp, err
	})
}

func TestBodies(t *testing.T) {
	dir := t.TempDir()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, echoHandler())
		tests := []struct {
			name        string
			session     []courier.Option
			opts        func(t *testing.T) []courier.RequestOption
			wantBody    string
			wantType    string
			wantLength  int64 // -1: unknown length, sent chunked under HTTP/1.1
			wantReplay  bool
			wantReplays string
		}{
			{
				name:     "JSON",
				opts:     constOpts(courier.JSON(map[string]string{"html": "<b>&</b>"})),
				wantBody: `{"html":"<b>&</b>"}`, wantType: "application/json", wantLength: 19,
				wantReplay: true, wantReplays: `{"html":"<b>&</b>"}`,
			},
			{
				name:     "JSON keeps an explicit Content-Type",
				opts:     constOpts(courier.Header("Content-Type", "application/vnd.api+json"), courier.JSON([]int{1, 2})),
				wantBody: `[1,2]`, wantType: "application/vnd.api+json", wantLength: 5,
				wantReplay: true, wantReplays: `[1,2]`,
			},
			{
				name:     "JSON replaces a session default Content-Type",
				session:  []courier.Option{courier.Header("Content-Type", "text/plain")},
				opts:     constOpts(courier.JSON(1)),
				wantBody: `1`, wantType: "application/json", wantLength: 1,
				wantReplay: true, wantReplays: `1`,
			},
			{
				name:     "RemoveHeader Content-Type with JSON",
				opts:     constOpts(courier.RemoveHeader("Content-Type"), courier.JSON(1)),
				wantBody: `1`, wantType: "", wantLength: 1,
				wantReplay: true, wantReplays: `1`,
			},
			{
				name:     "Body keeps a session default Content-Type",
				session:  []courier.Option{courier.Header("Content-Type", "text/plain")},
				opts:     constOpts(courier.Body([]byte("t"))),
				wantBody: `t`, wantType: "text/plain", wantLength: 1,
				wantReplay: true, wantReplays: `t`,
			},
			{
				name:     "JSON null",
				opts:     constOpts(courier.JSON(nil)),
				wantBody: `null`, wantType: "application/json", wantLength: 4,
				wantReplay: true, wantReplays: `null`,
			},
			{
				name:     "Form",
				opts:     constOpts(courier.Form(url.Values{"b": {"x y"}, "a": {"1", "2"}})),
				wantBody: "a=1&a=2&b=x+y", wantType: "application/x-www-form-urlencoded", wantLength: 13,
				wantReplay: true, wantReplays: "a=1&a=2&b=x+y",
			},
			{
				name:     "Body",
				opts:     constOpts(courier.Body([]byte("raw\x00bytes"))),
				wantBody: "raw\x00bytes", wantLength: 9,
				wantReplay: true, wantReplays: "raw\x00bytes",
			},
			{
				name:     "empty Body",
				opts:     constOpts(courier.Body(nil)),
				wantBody: "", wantLength: 0,
				wantReplay: true, wantReplays: "",
			},
			{
				name: "BodyReader strings.Reader from where it stands",
				opts: func(t *testing.T) []courier.RequestOption {
					r := strings.NewReader("skip:payload")
					io.CopyN(io.Discard, r, 5)
					return []courier.RequestOption{courier.BodyReader(r)}
				},
				wantBody: "payload", wantLength: 7,
				wantReplay: true, wantReplays: "payload",
			},
			{
				name: "BodyReader bytes.Reader",
				opts: func(t *testing.T) []courier.RequestOption {
					return []courier.RequestOption{courier.BodyReader(bytes.NewReader([]byte("bytes reader")))}
				},
				wantBody: "bytes reader", wantLength: 12,
				wantReplay: true, wantReplays: "bytes reader",
			},
			{
				name: "BodyReader bytes.Buffer",
				opts: func(t *testing.T) []courier.RequestOption {
					return []courier.RequestOption{courier.BodyReader(bytes.NewBufferString("buffer"))}
				},
				wantBody: "buffer", wantLength: 6,
				wantReplay: true, wantReplays: "buffer",
			},
			{
				name: "BodyReader os.File from its offset",
				opts: func(t *testing.T) []courier.RequestOption {
					f := tempFile(t, dir, "head|file body")
					if _, err := f.Seek(5, io.SeekStart); err != nil {
						t.Fatal(err)
					}
					return []courier.RequestOption{courier.BodyReader(f)}
				},
				wantBody: "file body", wantLength: 9,
				wantReplay: true, wantReplays: "file body",
			},
			{
				name: "BodyReader empty os.File",
				opts: func(t *testing.T) []courier.RequestOption {
					return []courier.RequestOption{courier.BodyReader(tempFile(t, dir, ""))}
				},
				wantBody: "", wantLength: 0,
				wantReplay: true, wantReplays: "",
			},
			{
				name: "BodyReader one-shot reader",
				opts: func(t *testing.T) []courier.RequestOption {
					return []courier.RequestOption{courier.BodyReader(io.MultiReader(strings.NewReader("one "), strings.NewReader("shot")))}
				},
				wantBody: "one shot", wantLength: -1,
			},
			{
				name: "BodyReader pipe (a file that cannot seek)",
				opts: func(t *testing.T) []courier.RequestOption {
					pr, pw, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { pr.Close() })
					go func() {
						pw.WriteString("piped")
						pw.Close()
					}()
					return []courier.RequestOption{courier.BodyReader(pr)}
				},
				wantBody: "piped", wantLength: -1,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var check bodyCheck
				s := ts.Session(t, append(tt.session, courier.WithMiddleware(check.middleware))...)
				var got echoed
				if _, err := s.Post(t.Context(), "/", append(tt.opts(t), courier.Into(&got))...); err != nil {
					t.Fatalf("Post: %v", err)
				}
				if got.Body != tt.wantBody {
					t.Errorf("server got body %q, want %q", got.Body, tt.wantBody)
				}
				if ct := got.Header.Get("Content-Type"); ct != tt.wantType {
					t.Errorf("server got Content-Type %q, want %q", ct, tt.wantType)
				}
				if got.ContentLength != tt.wantLength {
					t.Errorf("server got Content-Length %d, want %d", got.ContentLength, tt.wantLength)
				}
				wantTE := []string(nil)
				if tt.wantLength < 0 && m == testenv.HTTP1 {
					wantTE = []string{"chunked"}
				}
				if !slices.Equal(got.TransferEncoding, wantTE) {
					t.Errorf("server got Transfer-Encoding %q, want %q", got.TransferEncoding, wantTE)
				}
				check.mu.Lock()
				defer check.mu.Unlock()
				if check.replay != tt.wantReplay {
					t.Errorf("GetBody set = %v, want %v", check.replay, tt.wantReplay)
				}
				if check.replayErr != nil || check.replayed != tt.wantReplays {
					t.Errorf("GetBody() yields %q, %v; want %q, nil", check.replayed, check.replayErr, tt.wantReplays)
				}
			})
		}
	})
}

func constOpts(opts ...courier.RequestOption) func(*testing.T) []courier.RequestOption {
	return func(*testing.T) []courier.RequestOption { return opts }
}

func tempFile(t *testing.T, dir, content string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(dir, "body")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestJSONEncodeErrorSendsNothing checks that a body that cannot be encoded
// fails before anything leaves, with the encoder's error kept.
func TestJSONEncodeErrorSendsNothing(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := ts.Session(t)
	_, err := s.Post(t.Context(), "/", courier.JSON(struct{ C chan int }{make(chan int)}))
	if !errors.Is(err, courier.ErrInvalidRequest) {
		t.Errorf("Post(JSON(chan)) = %v, want ErrInvalidRequest", err)
	}
	var ute *json.UnsupportedTypeError
	if !errors.As(err, &ute) {
		t.Errorf("Post(JSON(chan)) = %v, want it to wrap *json.UnsupportedTypeError", err)
	}
	if n := ts.Requests.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

// TestBodyFileKeepsLength checks that a file that grows while it is sent
// still sends the length it had when the request was built.
func TestBodyFileKeepsLength(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	f := tempFile(t, t.TempDir(), "0123456789")
	var grown bool
	s := ts.Session(t, courier.WithMiddleware(func(next http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			if _, err := f.WriteAt([]byte("more"), 10); err == nil {
				grown = true
			}
			return next.RoundTrip(req)
		})
	}))
	var got echoed
	if _, err := s.Put(t.Context(), filepath.Base(f.Name()), courier.BodyReader(f), courier.Into(&got)); err != nil {
		t.Fatalf("Put(file): %v", err)
	}
	if !grown {
		t.Fatal("the file did not grow")
	}
	if got.Body != "0123456789" || got.ContentLength != 10 {
		t.Errorf("server got %q (Content-Length %d), want %q (10)", got.Body, got.ContentLength, "0123456789")
	}
}
