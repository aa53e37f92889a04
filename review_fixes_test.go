package courier_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
)

// Into leaves its target alone when there is nothing to decode; an explicit
// Decode of an empty body is still an error.
func TestIntoWithoutContent(t *testing.T) {
	t.Parallel()
	ts := newServer(t, http1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/empty":
		default:
			w.Write([]byte(`{"n":1}`))
		}
	}))
	s := newSession(t, ts)
	for _, c := range []struct{ method, path string }{{"DELETE", "/204"}, {"POST", "/empty"}, {"HEAD", "/full"}} {
		v := map[string]int{"kept": 7}
		if _, err := s.Do(t.Context(), c.method, c.path, courier.Into(&v)); err != nil || v["kept"] != 7 {
			t.Errorf("%s %s with Into = %v, target %v; want no error and the target untouched", c.method, c.path, err, v)
		}
	}
	resp, err := s.Post(t.Context(), "/empty")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if err := resp.Decode(&v); !errors.Is(err, courier.ErrDecode) {
		t.Errorf("Decode of an empty body = %v, want ErrDecode", err)
	}
}

// A request's header values are its own: changing them through
// Response.Request never reaches the session's defaults.
func TestRequestHeaderIsACopy(t *testing.T) {
	t.Parallel()
	ts, saw := headerEcho(t)
	s := newSession(t, ts, courier.Header("X-Tenant", "acme"))
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

// Through Client, a response without a body releases its request at once:
// an SDK that skips Close on a 204 does not hold Close up.
func TestClientNoBodyResponseIsReleased(t *testing.T) {
	t.Parallel()
	ts := newServer(t, http1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	s, _ := courier.New(courier.WithBaseURL(ts.URL))
	resp, err := s.Client().Get(ts.URL + "/")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Get = %v, %v", resp, err)
	}
	// resp.Body is never closed, as many SDKs do for a 204.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close = %v, want nil: nothing was left to read", err)
	}
}

// An error after a redirect names the URL that failed, not the first one.
func TestErrorNamesTheFailingHop(t *testing.T) {
	t.Parallel()
	ts := newServer(t, http1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
	}))
	s := newSession(t, ts, noRetry)
	_, err := s.Get(t.Context(), "/start")
	var ce *courier.Error
	if !errors.As(err, &ce) || !errors.Is(err, courier.ErrConnect) {
		t.Fatalf("Get = %v, want ErrConnect", err)
	}
	if ce.URL != "http://127.0.0.1:1/elsewhere" || len(ce.Redirects) != 1 {
		t.Errorf("Error.URL = %q, Redirects = %v; want the failing hop and the chain before it", ce.URL, ce.Redirects)
	}
}

// The last option for a setting wins: WithTimeouts without Request keeps
// an earlier WithTimeout.
func TestWithTimeoutsKeepsUnsetFields(t *testing.T) {
	t.Parallel()
	ts := newServer(t, http1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	s := newSession(t, ts, noRetry, courier.WithTimeout(200*time.Millisecond), courier.WithTimeouts(courier.Timeouts{Dial: time.Second}))
	start := time.Now()
	_, err := s.Get(t.Context(), "/")
	if !errors.Is(err, courier.ErrTimeout) {
		t.Fatalf("Get = %v, want ErrTimeout", err)
	}
	requireWithin(t, start, 2*time.Second)
}
