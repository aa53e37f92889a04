package courier_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// headerEcho records the headers of the last request it saw.
func headerEcho(t *testing.T) (*testenv.Server, func() http.Header) {
	t.Helper()
	got := make(chan http.Header, 16)
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	return ts, func() http.Header {
		select {
		case h := <-got:
			return h
		default:
			t.Fatal("server saw no request")
			return nil
		}
	}
}

// Sensitive session headers are bound to the base URL's origin: a full URL
// to another origin gets the ordinary defaults but not the credentials.
func TestSessionCredentialsStayWithTheirOrigin(t *testing.T) {
	t.Parallel()
	home, homeSaw := headerEcho(t)
	other, otherSaw := headerEcho(t)
	s := home.Session(t,
		courier.Header("Authorization", "Bearer CANARY-home"),
		courier.Header("X-Api-Key", "CANARY-key"),
		courier.Header("X-Tenant", "acme"),
		courier.Header("X-Signed", "CANARY-sig"),
		courier.WithSensitiveHeaders("X-Signed"),
	)
	ctx := context.Background()

	if _, err := s.Get(ctx, "/x"); err != nil {
		t.Fatal(err)
	}
	h := homeSaw()
	for _, k := range []string{"Authorization", "X-Api-Key", "X-Tenant", "X-Signed"} {
		if h.Get(k) == "" {
			t.Errorf("home origin: %s missing", k)
		}
	}

	if _, err := s.Get(ctx, other.URL+"/y"); err != nil {
		t.Fatal(err)
	}
	h = otherSaw()
	for _, k := range []string{"Authorization", "X-Api-Key", "X-Signed"} {
		if v := h.Get(k); v != "" {
			t.Errorf("other origin got %s: %q", k, v)
		}
	}
	if got := h.Get("X-Tenant"); got != "acme" {
		t.Errorf("other origin X-Tenant = %q, want the non-sensitive default acme", got)
	}

	// An explicit request header is the caller's choice, wherever it goes.
	if _, err := s.Get(ctx, other.URL+"/y", courier.Header("Authorization", "Bearer explicit")); err != nil {
		t.Fatal(err)
	}
	if got := otherSaw().Get("Authorization"); got != "Bearer explicit" {
		t.Errorf("explicit Authorization = %q, want it sent", got)
	}
}

// Requests through Session.Client get the session's defaults for headers
// they do not set, the credentials only toward the session's origin, and
// the caller's header map is never changed.
func TestClientMergesSessionDefaults(t *testing.T) {
	t.Parallel()
	home, homeSaw := headerEcho(t)
	other, otherSaw := headerEcho(t)
	s := home.Session(t,
		courier.Header("Authorization", "Bearer CANARY-home"),
		courier.Header("Accept", "application/json"),
		courier.Header("X-Tenant", "acme"),
		courier.Query("api_key", "CANARY-query"),
	)
	client := s.Client()

	send := func(url string, h http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	callerHeader := http.Header{"Accept": {"text/plain"}}
	send(home.URL+"/x", callerHeader)
	h := homeSaw()
	if got := h.Get("Accept"); got != "text/plain" {
		t.Errorf("Accept = %q, want the caller's text/plain", got)
	}
	if got := h.Get("X-Tenant"); got != "acme" {
		t.Errorf("X-Tenant = %q, want the session default", got)
	}
	if got := h.Get("Authorization"); got != "Bearer CANARY-home" {
		t.Errorf("Authorization = %q, want the session's toward its own origin", got)
	}
	if got := h.Get("User-Agent"); got != "courier/"+courier.Version {
		t.Errorf("User-Agent = %q, want courier's", got)
	}
	if len(callerHeader) != 1 {
		t.Errorf("caller's header map changed: %v", callerHeader)
	}

	send(other.URL+"/y", nil)
	h = otherSaw()
	if got := h.Get("Authorization"); got != "" {
		t.Errorf("other origin got Authorization %q through Client", got)
	}
	if got := h.Get("X-Tenant"); got != "acme" {
		t.Errorf("other origin X-Tenant = %q, want acme", got)
	}

	// Session query parameters are not added: an SDK builds (and may sign)
	// its own URLs.
	req, _ := http.NewRequest(http.MethodGet, home.URL+"/q?a=1", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	homeSaw()
	if strings.Contains(resp.Request.URL.RawQuery, "api_key") {
		t.Errorf("Client request URL got the session query: %s", resp.Request.URL.RawQuery)
	}
}

func TestNilRequestOption(t *testing.T) {
	t.Parallel()
	ts, _ := headerEcho(t)
	s := ts.Session(t)
	_, err := s.Get(context.Background(), "/x", nil)
	if !errors.Is(err, courier.ErrInvalidRequest) {
		t.Fatalf("Get with a nil option: err = %v, want ErrInvalidRequest", err)
	}
	if n := ts.Requests.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestInvalidMethodIsNotEchoed(t *testing.T) {
	t.Parallel()
	ts, _ := headerEcho(t)
	s := ts.Session(t)
	_, err := s.Do(context.Background(), "GET\r\nX-Injected: 1", "/x")
	if !errors.Is(err, courier.ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest", err)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error text carries CR/LF: %q", err.Error())
	}
}

// BasicAuth authenticates one request, and like every credential it does
// not follow a redirect to another origin.
func TestBasicAuthPerRequest(t *testing.T) {
	t.Parallel()
	other, otherSaw := headerEcho(t)
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, other.URL+"/landed", http.StatusFound)
			return
		}
		user, pass, ok := r.BasicAuth()
		w.Write([]byte(user + ":" + pass + ":" + strconv.FormatBool(ok)))
	}))
	s := ts.Session(t)
	resp, err := s.Get(t.Context(), "/me", courier.BasicAuth("ada", "s3cret:x"))
	if err != nil || string(resp.Bytes()) != "ada:s3cret:x:true" {
		t.Errorf("Get with BasicAuth = %q, %v; want ada:s3cret:x:true", string(resp.Bytes()), err)
	}
	if resp, err := s.Get(t.Context(), "/me"); err != nil || string(resp.Bytes()) != "::false" {
		t.Errorf("the next Get = %q, %v; want no credentials: BasicAuth is for one request", string(resp.Bytes()), err)
	}
	if _, err := s.Get(t.Context(), "/away", courier.BasicAuth("ada", "s3cret")); err != nil {
		t.Fatal(err)
	}
	if h := otherSaw(); h.Get("Authorization") != "" {
		t.Errorf("another origin got Authorization %q after a redirect", h.Get("Authorization"))
	}
	if _, err := s.Get(t.Context(), "/me", courier.BasicAuth("a:b", "c")); !errors.Is(err, courier.ErrInvalidRequest) {
		t.Errorf("BasicAuth with a colon in the user = %v, want ErrInvalidRequest", err)
	}
}
