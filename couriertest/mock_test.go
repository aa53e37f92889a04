package couriertest_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// spyTB is a couriertest.TB that records what the kit reports, so that
// tests can check failures the kit is meant to report. finish runs the
// cleanups, as the end of a test does.
type spyTB struct {
	mu       sync.Mutex
	errors   []string
	fatals   []string
	cleanups []func()
}

func (s *spyTB) Helper() {}
func (s *spyTB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}
func (s *spyTB) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, fmt.Sprintf(format, args...))
}
func (s *spyTB) Fatalf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fatals = append(s.fatals, fmt.Sprintf(format, args...))
}
func (s *spyTB) Logf(string, ...any) {}

func (s *spyTB) finish() {
	s.mu.Lock()
	cs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func (s *spyTB) reported() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(append(append([]string{}, s.fatals...), s.errors...), "\n")
}

// mockSession returns a session on transport rt that retries at once.
func mockSession(t *testing.T, rt http.RoundTripper, opts ...courier.Option) *courier.Session {
	t.Helper()
	all := append([]courier.Option{
		courier.WithBaseURL("https://api.example.com"),
		courier.WithTransport(rt),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}),
	}, opts...)
	return testenv.NewSession(t, all...)
}

func newRequest(t *testing.T, method, url, body string, headerKV ...string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headerKV); i += 2 {
		req.Header.Add(headerKV[i], headerKV[i+1])
	}
	return req
}

func TestMockMatchers(t *testing.T) {
	t.Parallel()
	type with = func(*couriertest.Route) *couriertest.Route
	none := func(r *couriertest.Route) *couriertest.Route { return r }
	query := func(r *couriertest.Route) *couriertest.Route { return r.Query("q", "go") }
	header := func(r *couriertest.Route) *couriertest.Route { return r.Header("x-api-key", "k") }
	jsonA := func(r *couriertest.Route) *couriertest.Route { return r.JSONBody(map[string]int{"a": 1}) }
	jsonUser := func(r *couriertest.Route) *couriertest.Route {
		return r.JSONBody(map[string]any{"name": "ann", "age": 7, "tags": []string{"a"}})
	}
	jsonRaw := func(r *couriertest.Route) *couriertest.Route { return r.JSONBody([]byte(`{"a":1}`)) }
	tests := []struct {
		name         string
		onMethod, on string
		with         with
		method, url  string
		body         string
		header       []string
		want         bool
	}{
		{"literal path", "GET", "/users", none, "GET", "http://h/users", "", nil, true},
		{"method differs", "POST", "/users", none, "GET", "http://h/users", "", nil, false},
		{"method any", "", "/users", none, "DELETE", "http://h/users", "", nil, true},
		{"method lower case", "get", "/users", none, "GET", "http://h/users", "", nil, true},
		{"GET matches HEAD", "GET", "/users", none, "HEAD", "http://h/users", "", nil, true},
		{"wildcard", "GET", "/users/{id}", none, "GET", "http://h/users/42", "", nil, true},
		{"wildcard empty segment", "GET", "/users/{id}", none, "GET", "http://h/users/", "", nil, false},
		{"wildcard one segment only", "GET", "/users/{id}", none, "GET", "http://h/users/1/2", "", nil, false},
		{"escaped slash in a segment", "GET", "/users/{id}", none, "GET", "http://h/users/a%2Fb", "", nil, true},
		{"rest", "GET", "/files/{path...}", none, "GET", "http://h/files/a/b/c.txt", "", nil, true},
		{"rest empty", "GET", "/files/{path...}", none, "GET", "http://h/files/", "", nil, true},
		{"rest needs its slash", "GET", "/files/{path...}", none, "GET", "http://h/files", "", nil, false},
		{"trailing slash differs", "GET", "/users/", none, "GET", "http://h/users", "", nil, false},
		{"root", "GET", "/", none, "GET", "http://h", "", nil, true},
		{"query", "GET", "/s", query, "GET", "http://h/s?q=go&page=2", "", nil, true},
		{"query among values", "GET", "/s", query, "GET", "http://h/s?q=rust&q=go", "", nil, true},
		{"query missing", "GET", "/s", query, "GET", "http://h/s", "", nil, false},
		{"query differs", "GET", "/s", query, "GET", "http://h/s?q=rust", "", nil, false},
		{"header any case", "GET", "/", header, "GET", "http://h/", "", []string{"X-Api-Key", "k"}, true},
		{"header differs", "GET", "/", header, "GET", "http://h/", "", []string{"X-Api-Key", "other"}, false},
		{"header missing", "GET", "/", header, "GET", "http://h/", "", nil, false},
		{"json body semantic", "POST", "/u", jsonUser, "POST", "http://h/u", ` {"tags": ["a"], "age": 7.0, "name": "ann"} `, nil, true},
		{"json body raw", "POST", "/u", jsonRaw, "POST", "http://h/u", `{"a": 1}`, nil, true},
		{"json body differs", "POST", "/u", jsonA, "POST", "http://h/u", `{"a":2}`, nil, false},
		{"json body extra key", "POST", "/u", jsonA, "POST", "http://h/u", `{"a":1,"b":2}`, nil, false},
		{"json body not json", "POST", "/u", jsonA, "POST", "http://h/u", `a=1`, nil, false},
		{"json body two values", "POST", "/u", jsonA, "POST", "http://h/u", `{"a":1} {"a":1}`, nil, false},
		{"json body missing", "POST", "/u", jsonA, "POST", "http://h/u", ``, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := &spyTB{}
			m := couriertest.NewMock(tb)
			r := tt.with(m.On(tt.onMethod, tt.on))
			resp, err := m.RoundTrip(newRequest(t, tt.method, tt.url, tt.body, tt.header...))
			if got := err == nil; got != tt.want {
				t.Fatalf("%s %s matched %v (err %v), want %v", tt.method, tt.url, got, err, tt.want)
			}
			if got := r.Calls(); got != btoi(tt.want) {
				t.Errorf("Calls() = %d, want %d", got, btoi(tt.want))
			}
			if got := tb.reported() == ""; got != tt.want {
				t.Errorf("test reports %q, want a report %v", tb.reported(), !tt.want)
			}
			closeResp(resp)
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func closeResp(resp *http.Response, _ ...error) {
	if resp != nil {
		resp.Body.Close()
	}
}

// The first route that matches answers, in declaration order.
func TestMockFirstRouteWins(t *testing.T) {
	t.Parallel()
	m := couriertest.NewMock(t)
	specific := m.On("GET", "/users/me").Respond(200, "me")
	general := m.On("GET", "/users/{id}").Respond(200, "other")
	s := mockSession(t, m)
	for _, path := range []string{"/users/me", "/users/7", "/users/8"} {
		if _, err := s.Get(t.Context(), path); err != nil {
			t.Fatalf("Get(%q): %v", path, err)
		}
	}
	if specific.Calls() != 1 || general.Calls() != 2 {
		t.Errorf("calls = %d, %d, want 1, 2", specific.Calls(), general.Calls())
	}
}

// A sequence answers 503 first, then 200; the last step repeats, and a
// courier session retries the 503.
func TestMockSequenceRetried(t *testing.T) {
	t.Parallel()
	m := couriertest.NewMock(t)
	r := m.On("GET", "/jobs/{id}").
		Respond(503, "busy", "Retry-After", "0").
		Respond(200, "done").
		AtLeast(2)
	s := mockSession(t, m)
	resp, err := s.Get(t.Context(), "/jobs/1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(resp.Bytes()) != "done" || resp.Attempts != 2 {
		t.Errorf("Get = %q after %d attempts, want %q after 2", string(resp.Bytes()), resp.Attempts, "done")
	}
	resp, err = s.Get(t.Context(), "/jobs/1")
	if err != nil || string(resp.Bytes()) != "done" || resp.Attempts != 1 {
		t.Errorf("second Get = %v, %v, want the last step again at once", resp, err)
	}
	if r.Calls() != 3 {
		t.Errorf("Calls() = %d, want 3", r.Calls())
	}
}

// Without retries, the status reaches the caller as a *StatusError.
func TestMockStatusError(t *testing.T) {
	t.Parallel()
	m := couriertest.NewMock(t)
	m.On("GET", "/missing").Respond(404, `{"error":"no"}`, "Content-Type", "application/json", "X-Request-Id", "r1")
	s := mockSession(t, m)
	_, err := s.Get(t.Context(), "/missing")
	var se *courier.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || se.RequestID != "r1" || string(se.Body) != `{"error":"no"}` {
		t.Fatalf("Get = %v, want a StatusError 404 with request ID r1 and the body", err)
	}
}

func TestMockResponses(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "user.json")
	if err := os.WriteFile(file, []byte(`{"id":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m := couriertest.NewMock(t)
	m.On("GET", "/plain").Respond(201, "hello", "X-A", "1", "X-A", "2")
	m.On("GET", "/json").RespondJSON(200, map[string]int{"id": 1})
	m.On("GET", "/file").RespondFile(200, file)
	m.On("GET", "/empty")
	m.On("POST", "/echo/{name}").RespondFunc(func(r *http.Request) (*http.Response, error) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		// No ContentLength: the mock makes it unknown, not 0.
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(r.PathValue("name") + ":" + string(b)))}, nil
	})
	tests := []struct {
		name, method, url, body string
		wantStatus              string
		wantBody                string
		wantLength              int64
		wantHeader              string // "Key: v1,v2"
	}{
		{"respond", "GET", "http://h/plain", "", "201 Created", "hello", 5, "X-A: 1,2"},
		{"respond json", "GET", "http://h/json", "", "200 OK", `{"id":1}`, 8, "Content-Type: application/json"},
		{"respond file", "GET", "http://h/file", "", "200 OK", `{"id":1}`, 8, "Content-Type: application/json"},
		{"no steps", "GET", "http://h/empty", "", "200 OK", "", 0, "Content-Length: 0"},
		{"head has no body", "HEAD", "http://h/empty", "", "200 OK", "", 0, "Content-Length: 0"},
		{"respond func", "POST", "http://h/echo/ann", "hi", "200 OK", "ann:hi", -1, "Content-Length: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Twice: every call gets a fresh body.
			for range 2 {
				req := newRequest(t, tt.method, tt.url, tt.body)
				resp, err := m.RoundTrip(req)
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				key, val, _ := strings.Cut(tt.wantHeader, ": ")
				if err != nil || string(b) != tt.wantBody || resp.Status != tt.wantStatus || resp.ContentLength != tt.wantLength ||
					strings.Join(resp.Header.Values(key), ",") != val {
					t.Errorf("%s %s = %q %q (length %d, %s %q, err %v), want %q %q (length %d, %q)", tt.method, tt.url,
						resp.Status, b, resp.ContentLength, key, resp.Header.Values(key), err, tt.wantStatus, tt.wantBody, tt.wantLength, tt.wantHeader)
				}
				if resp.Request != req || resp.Proto != "HTTP/1.1" || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
					t.Errorf("Request %p (want %p), Proto %q %d.%d, want HTTP/1.1", resp.Request, req, resp.Proto, resp.ProtoMajor, resp.ProtoMinor)
				}
			}
		})
	}
}

// An error from RespondFunc comes back as it is: here a connection lost
// that courier classifies and retries.
func TestMockRespondFuncError(t *testing.T) {
	t.Parallel()
	m := couriertest.NewMock(t)
	r := m.On("GET", "/").RespondFunc(func(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF })
	s := mockSession(t, m)
	_, err := s.Get(t.Context(), "/")
	if !errors.Is(err, courier.ErrConnLost) || !errors.Is(err, io.ErrUnexpectedEOF) || r.Calls() != 3 {
		t.Errorf("Get = %v after %d calls, want ErrConnLost and io.ErrUnexpectedEOF after %d", err, r.Calls(), 3)
	}
}

func TestMockNoMatchExplains(t *testing.T) {
	t.Parallel()
	routes := func(m *couriertest.Mock) {
		m.On("GET", "/users/{id}").Query("verbose", "1")
		m.On("POST", "/users").Header("Content-Type", "application/json").JSONBody(map[string]any{"name": "ann", "tags": []string{"a", "b"}})
		m.On("GET", "/orders").Once()
		m.On("DELETE", "/users/{id}")
	}
	tests := []struct {
		name, method, url, body string
		header                  []string
		// want are the lines of the message, in order: each is
		// contained in a line of its own.
		want []string
	}{
		{"query missing", "GET", "/users/42", "", nil, []string{
			"no route matches GET /users/42",
			`1. GET /users/{id} query verbose=1: query verbose missing, want "1"`,
			"2. DELETE /users/{id}: method GET, want DELETE",
			"3. GET /orders: path /users/42 does not match /orders",
		}},
		{"query differs", "GET", "/users/42?verbose=0", "", nil, []string{
			`1. GET /users/{id} query verbose=1: query verbose=["0"], want "1"`,
		}},
		{"method", "PUT", "/users/42?verbose=1", "", nil, []string{
			`1. GET /users/{id} query verbose=1: method PUT, want GET`,
			"2. DELETE /users/{id}: method PUT, want DELETE",
		}},
		{"body differs", "POST", "/users", `{"name":"bob","tags":["a","b"]}`, []string{"Content-Type", "application/json"}, []string{
			`POST /users header Content-Type: application/json body {"name":"ann","tags":["a","b"]}: body differs: at .name got "bob", want "ann"`,
		}},
		{"body array differs", "POST", "/users", `{"name":"ann","tags":["a"]}`, []string{"Content-Type", "application/json"}, []string{
			`body differs: at .tags got ["a"], want ["a","b"]`,
		}},
		{"body and header", "POST", "/users", `{"name":"ann"}`, nil, []string{
			`1. POST /users header Content-Type: application/json body {"name":"ann","tags":["a","b"]}: header Content-Type missing, want "application/json"; body differs: at .tags missing, want ["a","b"]`,
		}},
		{"path", "GET", "/nothing", "", nil, []string{
			`1. GET /users/{id} query verbose=1: path /nothing does not match /users/{id}; query verbose missing, want "1"`,
			"2. GET /orders: path /nothing does not match /orders; already called 1 times, the most it expects",
			"3. DELETE /users/{id}: method GET, want DELETE; path /nothing does not match /users/{id}",
			"(1 more)",
		}},
		{"exhausted", "GET", "/orders", "", nil, []string{
			"1. GET /orders: already called 1 times, the most it expects",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := &spyTB{}
			m := couriertest.NewMock(tb)
			routes(m)
			// One call uses up the Once route.
			closeResp(m.RoundTrip(newRequest(t, "GET", "http://h/orders", "")))
			resp, err := m.RoundTrip(newRequest(t, tt.method, "http://h"+tt.url, tt.body, tt.header...))
			closeResp(resp)
			if !errors.Is(err, couriertest.ErrNoMatch) {
				t.Fatalf("RoundTrip error = %v, want ErrNoMatch", err)
			}
			msg := tb.reported()
			rest := msg
			for _, w := range tt.want {
				_, after, ok := strings.Cut(rest, w)
				if !ok {
					t.Fatalf("report lacks %q (in order); report:\n%s", w, msg)
				}
				rest = after
			}
			if err.Error() != msg {
				t.Errorf("error %q, want the report %q", err, msg)
			}
		})
	}
}

func TestMockNoRoutes(t *testing.T) {
	t.Parallel()
	tb := &spyTB{}
	m := couriertest.NewMock(tb)
	_, err := m.RoundTrip(newRequest(t, "GET", "http://h/x?a=1", ""))
	want := "couriertest: no route matches GET /x?a=1 (the mock has no routes)"
	if !errors.Is(err, couriertest.ErrNoMatch) || tb.reported() != want {
		t.Errorf("RoundTrip = %v, reported %q, want ErrNoMatch and %q", err, tb.reported(), want)
	}
}

// Through a session, a request that matches nothing fails once, with the
// mock's error in the chain, and is not retried.
func TestMockNoMatchThroughSession(t *testing.T) {
	t.Parallel()
	tb := &spyTB{}
	m := couriertest.NewMock(tb)
	m.On("GET", "/a")
	s := mockSession(t, m)
	_, err := s.Get(t.Context(), "/b")
	var ce *courier.Error
	if !errors.As(err, &ce) || !errors.Is(err, couriertest.ErrNoMatch) || ce.Attempts != 1 {
		t.Errorf("Get = %v, want a courier.Error with ErrNoMatch after 1 attempt", err)
	}
	if !strings.Contains(tb.reported(), "no route matches GET /b") {
		t.Errorf("reported %q, want the no-match message", tb.reported())
	}
}

func TestMockExpectations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		expect func(*couriertest.Route) *couriertest.Route
		calls  int
		want   string
	}{
		{"unmarked never called", func(r *couriertest.Route) *couriertest.Route { return r }, 0, ""},
		{"once called", (*couriertest.Route).Once, 1, ""},
		{"once never called", (*couriertest.Route).Once, 0, "couriertest: route GET /x was called 0 times, want 1"},
		{"times short", func(r *couriertest.Route) *couriertest.Route { return r.Times(3) }, 2, "couriertest: route GET /x was called 2 times, want 3"},
		{"times met", func(r *couriertest.Route) *couriertest.Route { return r.Times(2) }, 2, ""},
		{"at least short", func(r *couriertest.Route) *couriertest.Route { return r.AtLeast(2) }, 1, "couriertest: route GET /x was called 1 times, want at least 2"},
		{"at least over", func(r *couriertest.Route) *couriertest.Route { return r.AtLeast(1) }, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := &spyTB{}
			m := couriertest.NewMock(tb)
			tt.expect(m.On("GET", "/x"))
			for range tt.calls {
				closeResp(m.RoundTrip(newRequest(t, "GET", "http://h/x", "")))
			}
			tb.finish()
			if got := tb.reported(); got != tt.want {
				t.Errorf("after %d calls, cleanup reported %q, want %q", tt.calls, got, tt.want)
			}
		})
	}
}

// Times(n) stops matching after n calls, so that a later route can take over.
func TestMockTimesFallsThrough(t *testing.T) {
	t.Parallel()
	m := couriertest.NewMock(t)
	first := m.On("GET", "/token").Respond(200, "fresh").Times(2)
	then := m.On("GET", "/token").Respond(200, "stale")
	s := mockSession(t, m)
	var got []string
	for range 3 {
		resp, err := s.Get(t.Context(), "/token")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(resp.Bytes()))
	}
	if strings.Join(got, " ") != "fresh fresh stale" || first.Calls() != 2 || then.Calls() != 1 {
		t.Errorf("answers %q (calls %d, %d), want fresh fresh stale (2, 1)", got, first.Calls(), then.Calls())
	}
}

func TestMockBadDeclarations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		declare func(*couriertest.Mock)
		want    string
	}{
		{"no leading slash", func(m *couriertest.Mock) { m.On("GET", "users") }, `pattern must start with "/"`},
		{"partial wildcard", func(m *couriertest.Mock) { m.On("GET", "/u/x{id}") }, "a wildcard must be a whole segment"},
		{"rest not last", func(m *couriertest.Mock) { m.On("GET", "/u/{p...}/x") }, "must be the last segment"},
		{"empty wildcard", func(m *couriertest.Mock) { m.On("GET", "/u/{}") }, "bad wildcard name"},
		{"odd headers", func(m *couriertest.Mock) { m.On("GET", "/").Respond(200, "", "X-A") }, "odd number of header arguments"},
		{"bad json", func(m *couriertest.Mock) { m.On("GET", "/").RespondJSON(200, make(chan int)) }, "unsupported type"},
		{"bad json body", func(m *couriertest.Mock) { m.On("GET", "/").JSONBody([]byte("{")) }, "unexpected EOF"},
		{"missing file", func(m *couriertest.Mock) { m.On("GET", "/").RespondFile(200, "no/such/file") }, "no such file"},
		{"times zero", func(m *couriertest.Mock) { m.On("GET", "/").Times(0) }, "n must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := &spyTB{}
			tt.declare(couriertest.NewMock(tb))
			if got := tb.reported(); !strings.Contains(got, tt.want) {
				t.Errorf("reported %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// Parallel requests, routes declared while requests run: run with -race.
func TestMockConcurrent(t *testing.T) {
	t.Parallel()
	m := couriertest.NewMock(t)
	r := m.On("POST", "/items").JSONBody(map[string]int{"n": 1}).Respond(503, "").Respond(201, "ok")
	s := mockSession(t, m)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.Post(t.Context(), "/items", courier.JSON(map[string]int{"n": 1}), courier.Header("Idempotency-Key", fmt.Sprint(i)))
			errs <- err
		})
		wg.Go(func() { m.On("GET", fmt.Sprintf("/other/%d", i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// One 503 (the first call), retried; every other call is a 201.
	if r.Calls() != n+1 {
		t.Errorf("Calls() = %d, want %d", r.Calls(), n+1)
	}
}
