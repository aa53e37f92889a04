package couriertest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
)

// exampleTB stands in for the *testing.T a test would pass: it prints what
// the kit reports, and end runs the cleanups as the end of a test does.
type exampleTB struct{ cleanups []func() }

func (e *exampleTB) Helper()                      {}
func (e *exampleTB) Cleanup(f func())             { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Errorf(f string, args ...any) { fmt.Printf("test error: "+f+"\n", args...) }
func (e *exampleTB) Fatalf(f string, args ...any) { fmt.Printf("test fatal: "+f+"\n", args...) }
func (e *exampleTB) Logf(string, ...any)          {}
func (e *exampleTB) end() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// exampleSession is a session on rt that retries at once.
func exampleSession(rt http.RoundTripper, opts ...courier.Option) *courier.Session {
	s, err := courier.New(append([]courier.Option{
		courier.WithBaseURL("https://api.example.com"),
		courier.WithTransport(rt),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}),
	}, opts...)...)
	if err != nil {
		panic(err)
	}
	return s
}

// A route answers 503 first, then 200: the session retries the 503, and
// the test checks how many calls the route had.
func ExampleMock() {
	t := &exampleTB{} // in a test: t
	m := couriertest.NewMock(t)
	jobs := m.On("GET", "/jobs/{id}").
		Respond(503, "busy", "Retry-After", "0").
		Respond(200, `{"state":"done"}`, "Content-Type", "application/json").
		Times(2) // checked when the test ends

	s := exampleSession(m)
	defer s.Close(context.Background())
	resp, err := s.Get(context.Background(), "/jobs/7")
	fmt.Println(string(resp.Bytes()), resp.Attempts, err)
	fmt.Println("calls:", jobs.Calls())
	t.end()
	// Output:
	// {"state":"done"} 2 <nil>
	// calls: 2
}

// A request that matches no route fails the test with the closest routes
// and why each did not match; the session gets an error it does not retry.
func ExampleMock_noMatch() {
	t := &exampleTB{}
	m := couriertest.NewMock(t)
	m.On("GET", "/users/{id}").Query("fields", "name")
	m.On("POST", "/users").JSONBody(map[string]string{"name": "ann"})

	s := exampleSession(m)
	defer s.Close(context.Background())
	_, err := s.Post(context.Background(), "/users", courier.JSON(map[string]string{"name": "bob"}))
	fmt.Println(errors.Is(err, couriertest.ErrNoMatch))
	t.end()
	// Output:
	// test error: couriertest: no route matches POST /users; closest routes:
	// 	1. POST /users body {"name":"ann"}: body differs: at .name got "bob", want "ann"
	// 	2. GET /users/{id} query fields=name: method POST, want GET; path /users does not match /users/{id}; query fields missing, want "name"
	// true
}

// A route can match a JSON body (semantically: spacing and key order do
// not matter) and answer from a func that sees the path's wildcards.
func ExampleRoute_RespondFunc() {
	t := &exampleTB{}
	m := couriertest.NewMock(t)
	m.On("PUT", "/users/{id}").
		JSONBody(map[string]any{"name": "ann", "admin": false}).
		RespondFunc(func(r *http.Request) (*http.Response, error) {
			// The mock fills in Request, Proto, Status and ContentLength.
			body := fmt.Sprintf(`{"id":%q,"updated":true}`, r.PathValue("id"))
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body))}, nil
		})

	s := exampleSession(m)
	defer s.Close(context.Background())
	resp, err := s.Put(context.Background(), "/users/42", courier.JSON(map[string]any{"admin": false, "name": "ann"}))
	fmt.Println(resp.StatusCode, string(resp.Bytes()), err)
	t.end()
	// Output: 200 {"id":"42","updated":true} <nil>
}

// Faults wraps a transport and resets connections on seeded random calls:
// the same seed fails the same calls, and the session retries them.
func ExampleFaults() {
	t := &exampleTB{}
	m := couriertest.NewMock(t)
	m.On("GET", "/data").Respond(200, "ok")
	f := couriertest.NewFaults(m, couriertest.Reset().Rate(0.5, 42))

	s := exampleSession(f, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 5, Backoff: couriertest.NoBackoff}))
	defer s.Close(context.Background())
	for range 4 {
		resp, err := s.Get(context.Background(), "/data")
		fmt.Println(string(resp.Bytes()), resp.Attempts, err)
	}
	fmt.Println("calls:", f.Calls(), "resets:", f.Injected())
	t.end()
	// Output:
	// ok 1 <nil>
	// ok 2 <nil>
	// ok 2 <nil>
	// ok 1 <nil>
	// calls: 6 resets: 2
}

// Each injected error has the courier kind of the real failure.
func ExampleReset() {
	f := couriertest.NewFaults(nil, couriertest.Reset())
	s := exampleSession(f, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	defer s.Close(context.Background())
	_, err := s.Get(context.Background(), "/data")
	fmt.Println(errors.Is(err, courier.ErrConnLost))
	fmt.Println(err)
	// Output:
	// true
	// courier: GET https://api.example.com/data: connection lost: read tcp api.example.com:443: read: connection reset by peer
}

// A status sequence: 503, then 429 with Retry-After, then the real answer.
func ExampleStatus() {
	t := &exampleTB{}
	m := couriertest.NewMock(t)
	m.On("GET", "/data").Respond(200, "ok")
	f := couriertest.NewFaults(m,
		couriertest.Status(503).OnCalls(1),
		couriertest.Status(429, "Retry-After", "0").OnCalls(2),
	)
	var statuses []int
	s := exampleSession(f, courier.WithHooks(courier.Hooks{AfterAttempt: func(info courier.AttemptInfo) {
		statuses = append(statuses, info.Response.StatusCode)
	}}))
	defer s.Close(context.Background())
	resp, err := s.Get(context.Background(), "/data")
	fmt.Println(string(resp.Bytes()), err, statuses)
	t.end()
	// Output: ok <nil> [503 429 200]
}

// Latency delays calls; a request whose time runs out during it fails with
// a timeout at once.
func ExampleLatency() {
	t := &exampleTB{}
	m := couriertest.NewMock(t)
	m.On("GET", "/slow").Respond(200, "ok")
	f := couriertest.NewFaults(m, couriertest.Latency(time.Hour))
	s := exampleSession(f, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
	defer s.Close(context.Background())
	_, err := s.Get(context.Background(), "/slow", courier.Timeout(10*time.Millisecond))
	fmt.Println(errors.Is(err, courier.ErrTimeout))
	t.end()
	// Output: true
}

// A body cut short of its Content-Length reads as a lost connection, and
// a corrupt one fails to decode.
func ExampleTruncatedBody() {
	t := &exampleTB{}
	m := couriertest.NewMock(t)
	m.On("GET", "/user").RespondJSON(200, map[string]string{"name": "ann"})
	noRetry := courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1})
	var user struct{ Name string }

	cut := exampleSession(couriertest.NewFaults(m, couriertest.TruncatedBody(5)), noRetry)
	defer cut.Close(context.Background())
	_, err := cut.Get(context.Background(), "/user", courier.Into(&user))
	fmt.Println(errors.Is(err, courier.ErrConnLost))

	corrupt := exampleSession(couriertest.NewFaults(m, couriertest.CorruptBody()), noRetry)
	defer corrupt.Close(context.Background())
	_, err = corrupt.Get(context.Background(), "/user", courier.Into(&user))
	fmt.Println(errors.Is(err, courier.ErrDecode))
	t.end()
	// Output:
	// true
	// true
}

// HTTPBin serves go-httpbin on loopback for one test.
func ExampleHTTPBin() {
	t := &exampleTB{}
	srv := couriertest.HTTPBin(t)
	s, _ := courier.New(courier.WithBaseURL(srv.URL))
	var out struct{ Args map[string][]string }
	_, err := s.Get(context.Background(), "/get", courier.Query("q", "go"), courier.Into(&out))
	fmt.Println(out.Args["q"], err)
	_, err = s.Get(context.Background(), "/status/404")
	var se *courier.StatusError
	fmt.Println(errors.As(err, &se) && se.StatusCode == http.StatusNotFound, strings.Contains(err.Error(), "404 Not Found"))
	s.Close(context.Background())
	t.end() // the test ends: the server is closed
	// Output:
	// [go] <nil>
	// true true
}
