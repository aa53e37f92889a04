package courier_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// hop is one request a redirectServer saw.
type hop struct {
	path   string
	header http.Header
}

// redirectServer serves redirects and records every request it sees:
//
//	/to?status=302&loc=URL  answers 302 with Location: URL, {secret} in it
//	                        replaced by the canary, and a body
//	/chain/N                redirects N times, then echoes
//	/loop/N                 redirects forever
//	/echo, anything else    echoHandler
type redirectServer struct {
	*testenv.Server
	mu   sync.Mutex
	hops []hop
}

func newRedirectServer(t *testing.T, m testenv.Mode) *redirectServer {
	t.Helper()
	rs := &redirectServer{}
	echo := echoHandler()
	mux := http.NewServeMux()
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("status"))
		if err != nil {
			code = http.StatusFound
		}
		if loc := r.URL.Query().Get("loc"); loc != "" {
			w.Header().Set("Location", strings.ReplaceAll(loc, "{secret}", canary))
		}
		w.WriteHeader(code)
		io.WriteString(w, "redirecting")
	})
	mux.HandleFunc("/chain/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n <= 0 {
			echo.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/chain/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/loop/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		http.Redirect(w, r, fmt.Sprintf("/loop/%d", n+1), http.StatusFound)
	})
	mux.Handle("/", echo)
	rs.Server = testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.hops = append(rs.hops, hop{r.URL.Path, r.Header.Clone()})
		rs.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	return rs
}

// to returns the path on rs that redirects with code to loc.
func to(code int, loc string) string {
	return "/to?status=" + strconv.Itoa(code) + "&loc=" + url.QueryEscape(loc)
}

func (rs *redirectServer) seen() []hop {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.hops)
}

func TestRedirectLimit(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		tests := []struct {
			name          string
			opts          []courier.Option
			path          string
			wantErr       error
			wantRequests  int64
			wantRedirects int
		}{
			{"10 by default", nil, "/chain/10", nil, 11, 10},
			{"the 11th is refused", nil, "/chain/11", courier.ErrTooManyRedirects, 11, 11},
			{"a loop is refused", nil, "/loop/0", courier.ErrTooManyRedirects, 11, 11},
			{"WithRedirects(3) follows 3", []courier.Option{courier.WithRedirects(3)}, "/chain/3", nil, 4, 3},
			{"WithRedirects(3) refuses a 4th", []courier.Option{courier.WithRedirects(3)}, "/chain/4", courier.ErrTooManyRedirects, 4, 4},
			{"WithRedirects(1)", []courier.Option{courier.WithRedirects(1)}, "/loop/0", courier.ErrTooManyRedirects, 2, 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rs := newRedirectServer(t, m)
				s := rs.Session(t, tt.opts...)
				resp, err := s.Get(t.Context(), tt.path)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get(%q) = %v, want %v", tt.path, err, tt.wantErr)
				}
				if n := rs.Requests.Load(); n != tt.wantRequests {
					t.Errorf("Get(%q): server got %d requests, want %d", tt.path, n, tt.wantRequests)
				}
				redirects := errRedirects(err)
				if err == nil {
					redirects = resp.Redirects
				}
				if len(redirects) != tt.wantRedirects {
					t.Fatalf("Get(%q): Redirects = %q, want %d of them", tt.path, redirects, tt.wantRedirects)
				}
				if want := rs.URL + tt.path; redirects[0] != want {
					t.Errorf("Get(%q): Redirects[0] = %q, want %q", tt.path, redirects[0], want)
				}
			})
		}
	})
}

// errRedirects returns the Redirects of err's *courier.Error, if it has one.
func errRedirects(err error) []string {
	var ce *courier.Error
	if !errors.As(err, &ce) {
		return nil
	}
	return ce.Redirects
}

func TestRedirectTooManyError(t *testing.T) {
	t.Parallel()
	rs := newRedirectServer(t, testenv.HTTP1)
	s := rs.Session(t, courier.WithRedirects(2))
	_, err := s.Get(t.Context(), "/loop/0?token="+canary)
	var ce *courier.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Get(loop) = %v, want a *courier.Error", err)
	}
	if ce.Kind != courier.ErrTooManyRedirects {
		t.Errorf("Get(loop): Kind = %v, want ErrTooManyRedirects", ce.Kind)
	}
	if ce.Method != http.MethodGet {
		t.Errorf("Get(loop): Method = %q, want GET", ce.Method)
	}
	want := []string{rs.URL + "/loop/0?token=REDACTED", rs.URL + "/loop/1", rs.URL + "/loop/2"}
	if !slices.Equal(ce.Redirects, want) {
		t.Errorf("Get(loop): Redirects = %q, want %q", ce.Redirects, want)
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("Get(loop): error %q holds a secret query value", err)
	}
}

// An error after a redirect names the URL that failed, not the first one.
func TestErrorNamesTheFailingHop(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
	}))
	s := ts.Session(t, noRetry)
	_, err := s.Get(t.Context(), "/start")
	var ce *courier.Error
	if !errors.As(err, &ce) || !errors.Is(err, courier.ErrConnect) {
		t.Fatalf("Get = %v, want ErrConnect", err)
	}
	if ce.URL != "http://127.0.0.1:1/elsewhere" || len(ce.Redirects) != 1 {
		t.Errorf("Error.URL = %q, Redirects = %v; want the failing hop and the chain before it", ce.URL, ce.Redirects)
	}
}

func TestRedirectDisabled(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		rs := newRedirectServer(t, m)
		s := rs.Session(t, courier.WithRedirects(courier.NoRedirects))
		path := to(http.StatusFound, "/echo")

		resp, err := s.Get(t.Context(), path)
		var se *courier.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusFound {
			t.Errorf("Get(302) with WithRedirects(NoRedirects) = %v, want a *StatusError with 302", err)
		}
		if resp == nil || resp.StatusCode != http.StatusFound {
			t.Errorf("Get(302) with WithRedirects(NoRedirects): response %v, want the 302", resp)
		}

		resp, err = s.Get(t.Context(), path, courier.ExpectStatus(http.StatusFound))
		if err != nil {
			t.Fatalf("Get(302, ExpectStatus(302)) = %v", err)
		}
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/echo" || string(resp.Bytes()) != "redirecting" {
			t.Errorf("Get(302, ExpectStatus(302)) = %d, Location %q, body %q; want 302, %q, %q",
				resp.StatusCode, resp.Header.Get("Location"), string(resp.Bytes()), "/echo", "redirecting")
		}
		if len(resp.Redirects) != 0 {
			t.Errorf("Redirects = %q, want none", resp.Redirects)
		}
		if n := rs.Requests.Load(); n != 2 {
			t.Errorf("server got %d requests, want 2 (the redirect is not followed)", n)
		}
	})
}

func TestRedirectMethodAndBody(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		rs := newRedirectServer(t, m)
		s := rs.Session(t)
		const body = `{"id":1,"name":"über"}`
		tests := []struct {
			code       int
			method     string
			wantMethod string
			wantBody   string
			wantType   string
		}{
			{301, "POST", "GET", "", ""},
			{302, "POST", "GET", "", ""},
			{303, "POST", "GET", "", ""},
			{303, "PUT", "GET", "", ""},
			{303, "DELETE", "GET", "", ""},
			{307, "POST", "POST", body, "application/json"},
			{307, "PUT", "PUT", body, "application/json"},
			{307, "PATCH", "PATCH", body, "application/json"},
			{308, "POST", "POST", body, "application/json"},
			{308, "DELETE", "DELETE", body, "application/json"},
			{301, "PUT", "PUT", body, "application/json"},
			{302, "PATCH", "PATCH", body, "application/json"},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d %s", tt.code, tt.method), func(t *testing.T) {
				t.Parallel()
				var got echoed
				_, err := s.Do(t.Context(), tt.method, to(tt.code, "/echo"),
					courier.Body([]byte(body)), courier.Header("Content-Type", "application/json"), courier.Into(&got))
				if err != nil {
					t.Fatalf("%s after %d: %v", tt.method, tt.code, err)
				}
				if got.Method != tt.wantMethod {
					t.Errorf("%s after %d: method %q, want %q", tt.method, tt.code, got.Method, tt.wantMethod)
				}
				if got.Body != tt.wantBody {
					t.Errorf("%s after %d: body %q, want %q", tt.method, tt.code, got.Body, tt.wantBody)
				}
				if ct := got.Header.Get("Content-Type"); ct != tt.wantType {
					t.Errorf("%s after %d: Content-Type %q, want %q", tt.method, tt.code, ct, tt.wantType)
				}
				if got.ContentLength != int64(len(tt.wantBody)) {
					t.Errorf("%s after %d: Content-Length %d, want %d", tt.method, tt.code, got.ContentLength, len(tt.wantBody))
				}
			})
		}
	})
}

func TestRedirectHEADStaysHEAD(t *testing.T) {
	t.Parallel()
	rs := newRedirectServer(t, testenv.HTTP1)
	s := rs.Session(t)
	for _, code := range []int{301, 302, 303, 307, 308} {
		if _, err := s.Do(t.Context(), http.MethodHead, to(code, "/echo")); err != nil {
			t.Errorf("Head after %d: %v", code, err)
		}
	}
	for _, h := range rs.seen() {
		if h.path != "/echo" {
			continue
		}
		if h.header.Get("Content-Type") != "" {
			t.Errorf("redirected HEAD carries Content-Type %q", h.header.Get("Content-Type"))
		}
	}
}

// TestRedirectReplaysBodies checks that 307 and 308 send every replayable
// body again byte for byte, also when the server answered before reading
// it (the transport may still be writing the first copy as the redirect is
// followed).
func TestRedirectReplaysBodies(t *testing.T) {
	large := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	dir := t.TempDir()
	run(t, func(t *testing.T, m testenv.Mode) {
		rs := newRedirectServer(t, m)
		s := rs.Session(t)
		tests := []struct {
			name string
			body func(t *testing.T) courier.RequestOption
			want string
		}{
			{"Body", func(*testing.T) courier.RequestOption { return courier.Body([]byte(large)) }, large},
			{"strings.Reader", func(*testing.T) courier.RequestOption { return courier.BodyReader(strings.NewReader(large)) }, large},
			{"bytes.Reader", func(*testing.T) courier.RequestOption { return courier.BodyReader(bytes.NewReader([]byte(large))) }, large},
			{"bytes.Buffer", func(*testing.T) courier.RequestOption { return courier.BodyReader(bytes.NewBufferString(large)) }, large},
			{"os.File", func(t *testing.T) courier.RequestOption { return courier.BodyReader(tempFile(t, dir, large)) }, large},
			{"JSON", func(*testing.T) courier.RequestOption { return courier.JSON(map[string]string{"k": "<v>"}) }, `{"k":"<v>"}`},
			{"Form", func(*testing.T) courier.RequestOption { return courier.Form(url.Values{"k": {"v w"}}) }, "k=v+w"},
			{"small strings.Reader", func(*testing.T) courier.RequestOption { return courier.BodyReader(strings.NewReader("small")) }, "small"},
		}
		for _, tt := range tests {
			for _, code := range []int{307, 308} {
				t.Run(fmt.Sprintf("%s %d", tt.name, code), func(t *testing.T) {
					t.Parallel()
					var got echoed
					if _, err := s.Put(t.Context(), to(code, "/echo"), tt.body(t), courier.Into(&got)); err != nil {
						t.Fatalf("Put after %d: %v", code, err)
					}
					if got.Method != "PUT" || got.Body != tt.want || got.ContentLength != int64(len(tt.want)) {
						t.Errorf("Put after %d: server got %s with %d bytes (Content-Length %d), want PUT with %d bytes",
							code, got.Method, len(got.Body), got.ContentLength, len(tt.want))
					}
				})
			}
		}
	})
}

func TestRedirectBodyNotReplayable(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		rs := newRedirectServer(t, m)
		s := rs.Session(t)
		oneShot := func() courier.RequestOption {
			return courier.BodyReader(io.MultiReader(strings.NewReader("one"), strings.NewReader("shot")))
		}
		tests := []struct {
			code    int
			wantErr error
		}{
			{307, courier.ErrBodyNotReplayable},
			{308, courier.ErrBodyNotReplayable},
			{303, nil},
			{302, nil},
		}
		for _, tt := range tests {
			t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
				t.Parallel()
				_, err := s.Post(t.Context(), to(tt.code, "/echo"), oneShot())
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Post(one-shot body) after %d = %v, want %v", tt.code, err, tt.wantErr)
				}
			})
		}
	})
}

func TestRedirectResponse(t *testing.T) {
	t.Parallel()
	rs := newRedirectServer(t, testenv.HTTP1)
	s := rs.Session(t)
	tests := []struct {
		name          string
		path          string
		wantURL       string
		wantRedirects []string
	}{
		{"no redirect", "/echo", rs.URL + "/echo", nil},
		{"relative chain", "/chain/2", rs.URL + "/chain/0", []string{rs.URL + "/chain/2", rs.URL + "/chain/1"}},
		{"Location relative to the path", to(307, "sub/x?q=1"), rs.URL + "/sub/x?q=1", []string{rs.URL + to(307, "sub/x?q=1")}},
		{"Location with dot segments", to(302, "../up"), rs.URL + "/up", []string{rs.URL + to(302, "../up")}},
		{"absolute Location", to(301, rs.URL+"/abs"), rs.URL + "/abs", []string{rs.URL + to(301, rs.URL+"/abs")}},
		{"secret query redacted in the chain", to(302, "/echo") + "&api_key=" + canary, rs.URL + "/echo",
			[]string{rs.URL + to(302, "/echo") + "&api_key=REDACTED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Get(t.Context(), rs.URL+tt.path)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.path, err)
			}
			if got := resp.URL.String(); got != tt.wantURL {
				t.Errorf("Get(%q): URL = %q, want %q", tt.path, got, tt.wantURL)
			}
			if !slices.Equal(resp.Redirects, tt.wantRedirects) {
				t.Errorf("Get(%q): Redirects = %q, want %q", tt.path, resp.Redirects, tt.wantRedirects)
			}
			if resp.Request == nil || resp.Request.URL.String() != tt.wantURL {
				t.Errorf("Get(%q): Request is not the final request", tt.path)
			}
		})
	}
}

func TestRedirectBadLocation(t *testing.T) {
	t.Parallel()
	rs := newRedirectServer(t, testenv.HTTP1)
	// One attempt each: a Location net/http cannot even parse (the control
	// character row) is a malformed response, which courier would retry.
	s := rs.Session(t, noRetry)
	tests := []struct {
		name string
		loc  string
	}{
		{"unsupported scheme", "ftp://127.0.0.1/x"},
		{"javascript", "javascript:alert(1)"},
		{"no host", "http:///x"},
		{"unparsable", "http://[::1/x"},
		{"unparsable with a secret", "http://[::1/x?token={secret}"},
		{"bad escape with a secret", "http://h/%zz?token={secret}"},
		{"unsupported scheme with a secret", "ftp://u:{secret}@h/x?token={secret}"},
		{"control character (refused by the transport)", "/a\x7fb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Get(t.Context(), to(302, tt.loc))
			var ce *courier.Error
			if !errors.As(err, &ce) {
				t.Errorf("Get(redirect to %q) = %v, want a *courier.Error", tt.loc, err)
			}
			if err != nil && strings.Contains(err.Error(), canary) {
				t.Errorf("Get(redirect to %q): error %q holds a secret of the Location", tt.loc, err)
			}
		})
	}
	if n := rs.Requests.Load(); n != int64(len(tests)) {
		t.Errorf("server got %d requests, want %d (no bad target followed)", n, len(tests))
	}

	// A 3xx without Location, and a 300 or 304, is a response, not a redirect.
	for _, code := range []int{http.StatusFound, http.StatusMultipleChoices, http.StatusNotModified} {
		resp, err := s.Get(t.Context(), "/to?status="+strconv.Itoa(code), courier.ExpectStatus(code))
		if err != nil || resp.StatusCode != code {
			t.Errorf("Get(%d without Location) = %v, %v; want the %d as it is", code, resp, err, code)
		}
	}
}

// TestRedirectDrainsBodies checks that the bodies of the redirects followed
// are drained so that one connection carries the whole chain.
func TestRedirectDrainsBodies(t *testing.T) {
	t.Parallel()
	rs := newRedirectServer(t, testenv.HTTP1)
	s := rs.Session(t)
	for range 3 {
		if _, err := s.Get(t.Context(), "/chain/5"); err != nil {
			t.Fatalf("Get(chain): %v", err)
		}
	}
	if n := rs.NewConns.Load(); n != 1 {
		t.Errorf("3 chains of 5 redirects opened %d connections, want 1", n)
	}
}

// secretHeaders are sent on every request of TestRedirectSensitiveHeaders:
// every one but X-Plain must stay with its origin.
var secretHeaders = []string{"Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key", "X-Vendor-Secret"}

func TestRedirectSensitiveHeaders(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		a := newRedirectServer(t, m)
		b := newRedirectServer(t, m)
		tests := []struct {
			name     string
			path     string // on a
			wantKept bool   // whether the final request carries the secrets
		}{
			{"same origin", to(302, a.URL+"/echo"), true},
			{"same origin 307", to(307, "/echo"), true},
			{"another origin", to(302, b.URL+"/echo"), false},
			{"another origin 308", to(308, b.URL+"/echo"), false},
			{"another origin and back", to(302, b.URL+to(302, a.URL+"/echo")), false},
			{"another origin, then within it", to(302, b.URL+to(302, "/echo")), false},
			{"same origin, then another", to(302, to(307, b.URL+"/echo")), false},
			{"scheme-relative Location", to(302, "//"+b.Listener.Addr().String()+"/echo"), false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := a.Session(t,
					courier.WithSensitiveHeaders("X-Api-Key", "x-vendor-secret"),
					courier.Header("Authorization", "Bearer session-token"))
				var got echoed
				_, err := s.Post(t.Context(), tt.path, courier.Into(&got), courier.Body([]byte("b")),
					courier.Header("Cookie", "c=1"), courier.Header("Proxy-Authorization", "Basic eA=="),
					courier.Header("X-Api-Key", "k"), courier.Header("X-Vendor-Secret", "v"),
					courier.Header("X-Plain", "p"))
				if err != nil {
					t.Fatalf("Post(%q): %v", tt.path, err)
				}
				checkSecrets(t, got.Header, tt.wantKept)
			})
		}
		// The first hop to b already went without them.
		for _, h := range b.seen() {
			checkSecrets(t, h.header, false)
		}
	})
}

// checkSecrets reports whether h carries every secret header (kept) or none.
func checkSecrets(t *testing.T, h http.Header, kept bool) {
	t.Helper()
	for _, k := range secretHeaders {
		if _, ok := h[k]; ok != kept {
			t.Errorf("%s present = %v, want %v", k, ok, kept)
		}
	}
	if h.Get("X-Plain") != "p" {
		t.Errorf("X-Plain = %q, want %q: only secrets are removed", h.Get("X-Plain"), "p")
	}
}

// TestClientRedirects checks that the *http.Client from Session.Client
// follows courier's rules, as an SDK using it would see them.
func TestClientRedirects(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		a := newRedirectServer(t, m)
		b := newRedirectServer(t, m)
		s := a.Session(t, courier.WithSensitiveHeaders("X-Vendor-Secret"))
		client := s.Client()
		tests := []struct {
			name       string
			url        string
			wantStatus int
			wantKept   bool
			wantURL    string
		}{
			{"same origin", a.URL + to(307, "/echo"), 200, true, a.URL + "/echo"},
			{"another origin", a.URL + to(302, b.URL+"/echo"), 200, false, b.URL + "/echo"},
			{"another origin and back", a.URL + to(302, b.URL+to(307, a.URL+"/echo")), 200, false, a.URL + "/echo"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range secretHeaders {
					req.Header.Set(k, "secret")
				}
				req.Header.Set("X-Plain", "p")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("client.Do: %v", err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("client.Do: status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
				if resp.Request.URL.String() != tt.wantURL {
					t.Errorf("client.Do: final URL %q, want %q", resp.Request.URL, tt.wantURL)
				}
				var got echoed
				if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
					t.Fatalf("decode: %v", err)
				}
				checkSecrets(t, got.Header, tt.wantKept)
				if got := req.Header.Get("Authorization"); got != "secret" {
					t.Errorf("the caller's request was changed: Authorization = %q", got)
				}
			})
		}
	})
}

func TestClientStatusSemantics(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		rs := newRedirectServer(t, m)
		nf := testenv.NewServer(t, m, http.NotFoundHandler())
		s := rs.Session(t)
		client := s.Client()
		tests := []struct {
			name       string
			url        string
			wantStatus int
		}{
			{"404 is a response", nf.URL + "/missing", http.StatusNotFound},
			{"redirect to a 404", rs.URL + to(302, nf.URL+"/missing"), http.StatusNotFound},
			{"3xx without Location", rs.URL + "/to?status=302", http.StatusFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, err := client.Get(tt.url)
				if err != nil {
					t.Fatalf("client.Get(%q) = %v, want a response", tt.url, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("client.Get(%q): status %d, want %d", tt.url, resp.StatusCode, tt.wantStatus)
				}
			})
		}
		_, err := client.Get(rs.URL + "/loop/0")
		if !errors.Is(err, courier.ErrTooManyRedirects) {
			t.Errorf("client.Get(loop) = %v, want ErrTooManyRedirects", err)
		}
	})
}

func TestRedirectHTTPBin(t *testing.T) {
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.HTTPBin(t, m)
		s := ts.Session(t)
		tests := []struct {
			name          string
			method        string
			path          string
			wantPath      string
			wantMethod    string
			wantData      string
			wantRedirects int
		}{
			{"redirect/3", "GET", "/redirect/3", "/get", "GET", "", 3},
			{"absolute-redirect/3", "GET", "/absolute-redirect/3", "/get", "GET", "", 3},
			{"relative-redirect/3", "GET", "/relative-redirect/3", "/get", "GET", "", 3},
			{"redirect-to 307", "POST", "/redirect-to?url=/anything&status_code=307", "/anything", "POST", "payload", 1},
			{"redirect-to 308", "PUT", "/redirect-to?url=/anything&status_code=308", "/anything", "PUT", "payload", 1},
			{"redirect-to 303", "POST", "/redirect-to?url=/anything&status_code=303", "/anything", "GET", "", 1},
			{"redirect-to 302", "POST", "/redirect-to?url=/anything", "/anything", "GET", "", 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var got struct {
					Method string `json:"method"`
					Data   string `json:"data"`
				}
				resp, err := s.Do(t.Context(), tt.method, tt.path, courier.Body([]byte("payload")),
					courier.Header("Content-Type", "text/plain"), courier.Into(&got))
				if err != nil {
					t.Fatalf("%s %s: %v", tt.method, tt.path, err)
				}
				if resp.URL.Path != tt.wantPath || len(resp.Redirects) != tt.wantRedirects {
					t.Errorf("%s %s: ended at %q after %d redirects, want %q after %d",
						tt.method, tt.path, resp.URL.Path, len(resp.Redirects), tt.wantPath, tt.wantRedirects)
				}
				if got.Method != tt.wantMethod || got.Data != tt.wantData {
					t.Errorf("%s %s: httpbin saw %s with %q, want %s with %q",
						tt.method, tt.path, got.Method, got.Data, tt.wantMethod, tt.wantData)
				}
			})
		}
	})
}

// TestRedirectOriginRules checks which changes of URL count as a change of
// origin, through a transport that answers from a script (scheme, host and
// port changes that loopback servers cannot show).
func TestRedirectOriginRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from, to string
		wantKept bool
	}{
		{"same URL scheme, host and port", "https://api.example.com/a", "https://api.example.com/b", true},
		{"host case", "https://api.example.com/a", "https://API.Example.com/b", true},
		{"explicit default port", "https://api.example.com/a", "https://api.example.com:443/b", true},
		{"explicit default http port", "http://api.example.com/a", "http://api.example.com:80/b", true},
		{"upgrade to https on default ports", "http://api.example.com/a", "https://api.example.com/b", true},
		{"downgrade to http", "https://api.example.com/a", "http://api.example.com/b", false},
		{"upgrade to https on another port", "http://api.example.com/a", "https://api.example.com:8443/b", false},
		{"port change", "https://api.example.com/a", "https://api.example.com:8443/b", false},
		{"subdomain", "https://api.example.com/a", "https://evil.api.example.com/b", false},
		{"parent domain", "https://api.example.com/a", "https://example.com/b", false},
		{"trailing dot", "https://api.example.com/a", "https://api.example.com./b", false},
		{"IP address", "https://127.0.0.1/a", "https://127.0.0.2/b", false},
		{"user info in Location", "https://api.example.com/a", "https://user@evil.example/b", false},
		{"IPv6 zone that reads as a subdomain (Go CVE-2023-45289)", "https://api.example.com/a", "https://[::1%25.api.example.com]/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var final http.Header
			script := rtFunc(func(req *http.Request) (*http.Response, error) {
				resp := &http.Response{
					StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: http.Header{}, Body: http.NoBody, Request: req,
				}
				if req.URL.String() == tt.from {
					resp.StatusCode, resp.Status = http.StatusTemporaryRedirect, "307 Temporary Redirect"
					resp.Header.Set("Location", tt.to)
					return resp, nil
				}
				mu.Lock()
				final = req.Header.Clone()
				mu.Unlock()
				return resp, nil
			})
			s, err := courier.New(courier.WithTransport(script), courier.WithSensitiveHeaders("X-Vendor-Secret"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(t.Context()) })
			opts := []courier.RequestOption{courier.Header("X-Plain", "p")}
			for _, k := range secretHeaders {
				opts = append(opts, courier.Header(k, "secret"))
			}
			resp, err := s.Get(t.Context(), tt.from, opts...)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.from, err)
			}
			if len(resp.Redirects) != 1 {
				t.Fatalf("Get(%q): Redirects = %q, want one", tt.from, resp.Redirects)
			}
			mu.Lock()
			defer mu.Unlock()
			checkSecrets(t, final, tt.wantKept)
		})
	}
}
