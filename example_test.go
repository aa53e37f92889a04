package courier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/couriertest"
)

// exampleAPI is a small in-process API for the examples: users by id, and a
// 404 with a request id for anything else.
func exampleAPI() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "42" {
			w.Header().Set("X-Request-Id", "req-7f3a")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"no such user"}`+"\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": 42, "name": "Ada", "agent": r.UserAgent()})
	})
	mux.HandleFunc("GET /v1/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.",`+
			`"status":403,"detail":"Your current balance is 30, but that costs 50.","balance":30}`)
	})
	mux.HandleFunc("POST /v1/users", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": 43, "name": in["name"]})
	})
	return httptest.NewServer(mux)
}

// The main flow: create a session once, make requests through it, close it.
func Example() {
	api := exampleAPI()
	defer api.Close()
	ctx := context.Background()

	s, err := courier.New(
		courier.WithBaseURL(api.URL+"/v1"),
		courier.Header("Accept", "application/json"),
		courier.WithTimeout(5*time.Second),
	)
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	var user struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if _, err := s.Get(ctx, "/users/42", courier.Into(&user)); err != nil {
		panic(err)
	}
	fmt.Println(user.ID, user.Name)

	resp, err := s.Post(ctx, "/users", courier.JSON(map[string]string{"name": "Grace"}))
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, string(resp.Bytes()))
	// Output:
	// 42 Ada
	// 201 {"id":43,"name":"Grace"}
}

func ExampleNew() {
	_, err := courier.New(courier.WithBaseURL("ftp://files.example.com"))
	var oe *courier.OptionError
	if errors.As(err, &oe) {
		fmt.Println("bad setting:", oe.Option)
	}
	fmt.Println(err)
	// Output:
	// bad setting: WithBaseURL
	// courier: WithBaseURL: unsupported scheme "ftp" (want http or https)
}

func ExampleSession_Get() {
	api := exampleAPI()
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(courier.WithBaseURL(api.URL + "/v1"))
	defer s.Close(ctx)

	resp, err := s.Get(ctx, "/users/42")
	if err != nil {
		panic(err)
	}
	var user map[string]any
	if err := resp.Decode(&user); err != nil {
		panic(err)
	}
	fmt.Println(resp.Status, user["name"], user["agent"] == "courier/"+courier.Version)
	// Output: 200 OK Ada true
}

func ExampleStatusError() {
	api := exampleAPI()
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(courier.WithBaseURL(api.URL + "/v1"))
	defer s.Close(ctx)

	_, err := s.Get(ctx, "/users/7")
	var se *courier.StatusError
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode, se.RequestID, strings.TrimSpace(string(se.Body)))
	}
	fmt.Println(se != nil && se.StatusCode == http.StatusNotFound)

	// A status the caller expects is not an error.
	resp, err := s.Get(ctx, "/users/7", courier.ExpectStatus(http.StatusNotFound))
	fmt.Println(resp.StatusCode, err)
	// Output:
	// 404 req-7f3a {"error":"no such user"}
	// true
	// 404 <nil>
}

func ExampleError() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := courier.New()
	defer s.Close(context.Background())

	_, err := s.Get(ctx, "http://127.0.0.1:1/never")
	fmt.Println(errors.Is(err, courier.ErrCanceled), errors.Is(err, context.Canceled))
	// Output: true true
}

// A session hands an *http.Client to code that wants one, such as a
// third-party SDK. It keeps the standard semantics: a 404 is a response.
func ExampleSession_Client() {
	api := exampleAPI()
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(courier.Header("Accept", "application/json"))
	defer s.Close(ctx)

	sdk := s.Client() // e.g. github.NewClient(s.Client())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/v1/users/7", nil)
	resp, err := sdk.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	// Output: 404 {"error":"no such user"}
}

func ExampleStream() {
	api := exampleAPI()
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(courier.WithBaseURL(api.URL + "/v1"))
	defer s.Close(ctx)

	resp, err := s.Get(ctx, "/users/42", courier.Stream())
	if err != nil {
		panic(err)
	}
	defer resp.Close() // a streamed body is the caller's to close
	n, _ := io.Copy(io.Discard, resp.Body())
	fmt.Println(n > 0)
	// Output: true
}

func ExampleSession_Close() {
	api := exampleAPI()
	defer api.Close()
	s, _ := courier.New(courier.WithBaseURL(api.URL + "/v1"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(s.Close(ctx))

	_, err := s.Get(context.Background(), "/users/42")
	fmt.Println(errors.Is(err, courier.ErrClosed))
	// Output:
	// <nil>
	// true
}

// Retries are on by default; hooks show each one. (NoBackoff keeps the
// example fast; the default waits are jittered.)
func ExampleWithRetry() {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ready")
	}))
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(
		courier.WithBaseURL(api.URL),
		courier.WithRetry(courier.RetryPolicy{MaxAttempts: 4, Backoff: couriertest.NoBackoff}),
		courier.WithHooks(courier.Hooks{OnRetry: func(i courier.AttemptInfo) {
			fmt.Printf("attempt %d: %d, retrying\n", i.Attempt, i.Response.StatusCode)
		}}),
	)
	defer s.Close(ctx)

	resp, err := s.Get(ctx, "/jobs/7")
	fmt.Println(string(resp.Bytes()), resp.Attempts, err)
	// Output:
	// attempt 1: 503, retrying
	// attempt 2: 503, retrying
	// ready 3 <nil>
}

// A session keeps the cookies a server sets, on redirect hops too, and sends
// them back; its jar can be listed, and loaded into another jar.
func ExampleJar() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cr3t", Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/me", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err == nil {
			fmt.Fprintf(w, "signed in with %s", c.Name)
			return
		}
		http.Error(w, "who are you?", http.StatusUnauthorized)
	})
	api := httptest.NewServer(mux)
	defer api.Close()
	ctx := context.Background()

	jar := cookiejar.New(cookiejar.Options{})
	s, err := courier.New(courier.WithBaseURL(api.URL), courier.WithJar(jar))
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)
	resp, err := s.Post(ctx, "/login") // 303 to /me: the cookie goes along
	if err != nil {
		panic(err)
	}
	fmt.Println(string(resp.Bytes()))

	saved := jar.All()
	fmt.Println(saved[0].Name, saved[0].HostOnly, saved[0].HttpOnly)

	// Another session resumes the identity.
	jar = cookiejar.New(cookiejar.Options{})
	if err := jar.Load(saved); err != nil {
		panic(err)
	}
	s2, err := courier.New(courier.WithBaseURL(api.URL), courier.WithJar(jar))
	if err != nil {
		panic(err)
	}
	defer s2.Close(ctx)
	resp, err = s2.Get(ctx, "/me")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(resp.Bytes()))
	// Output:
	// signed in with sid
	// sid true true
	// signed in with sid
}

// GetJSON decodes into the caller's type; ErrorBody decodes an error body
// into another, which errors.As finds.
func ExampleGetJSON() {
	api := exampleAPI()
	defer api.Close()
	ctx := context.Background()

	type User struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	s, _ := courier.New(courier.WithBaseURL(api.URL+"/v1"), courier.ErrorBody[apiErrorBody]())
	defer s.Close(ctx)

	user, _, err := courier.GetJSON[User](ctx, s, "/users/42")
	fmt.Println(user, err)

	_, _, err = courier.GetJSON[User](ctx, s, "/users/7")
	var body *apiErrorBody
	fmt.Println(errors.As(err, &body), body.Message)
	// Output:
	// {42 Ada} <nil>
	// true no such user
}

// apiErrorBody is an API's error body, for ExampleGetJSON. As *apiErrorBody
// is an error, errors.As finds it inside the *courier.StatusError.
type apiErrorBody struct {
	Message string `json:"error"`
}

func (e *apiErrorBody) Error() string { return e.Message }

// An RFC 9457 problem details body is decoded into a *Problem.
func ExampleProblem() {
	api := exampleAPI()
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(courier.WithBaseURL(api.URL + "/v1"))
	defer s.Close(ctx)

	_, err := s.Get(ctx, "/accounts/12345")
	var p *courier.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Type)
		fmt.Println(p)
		fmt.Println("balance:", string(p.Extensions["balance"]))
	}
	// Output:
	// https://example.com/probs/out-of-credit
	// problem 403 You do not have enough credit.: Your current balance is 30, but that costs 50.
	// balance: 30
}
