package courier_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/courierhttp/courier"
)

// chain builds the requests of a redirect chain through urls, linked the way
// courier's loop and http.Client's leave them, and returns the last.
func chain(t *testing.T, urls ...string) *http.Request {
	t.Helper()
	var prev *http.Request
	for _, raw := range urls {
		req, err := http.NewRequest(http.MethodGet, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			req.Response = &http.Response{StatusCode: http.StatusFound, Request: prev}
		}
		prev = req
	}
	return prev
}

func TestCredentialsAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		chain []string
		want  bool
	}{
		{[]string{"https://a.example/"}, true},
		{[]string{"https://a.example/x", "https://a.example/y"}, true},
		{[]string{"https://a.example/", "https://b.example/"}, false},
		{[]string{"https://a.example/", "https://b.example/", "https://a.example/"}, false},
		{[]string{"https://a.example/", "https://b.example/1", "https://b.example/2"}, false},
		{[]string{"https://a.example/", "http://a.example/"}, false},
		{[]string{"http://a.example/", "https://a.example/"}, true},
		{[]string{"http://a.example:8080/", "https://a.example:8443/"}, false},
		{[]string{"https://a.example/", "https://a.example:8443/"}, false},
		{[]string{"https://a.example/", "https://A.EXAMPLE/"}, true},
		{[]string{"https://a.example/", "https://sub.a.example/"}, false},
		{[]string{"http://[::1]/", "http://[::1%25.a.example]/"}, false},
	}
	for _, tt := range tests {
		if got := courier.CredentialsAllowed(chain(t, tt.chain...)); got != tt.want {
			t.Errorf("CredentialsAllowed(%v) = %v, want %v", tt.chain, got, tt.want)
		}
	}
	// A hop whose chain cannot be followed is refused.
	req := chain(t, "https://a.example/", "https://a.example/2")
	req.Response.Request = nil
	if courier.CredentialsAllowed(req) {
		t.Error("CredentialsAllowed(hop without its previous request) = true, want false")
	}
}

// stamp is an auth layer that adds X-Auth where credentials are allowed.
func stamp(value string) courier.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			if courier.CredentialsAllowed(req) {
				req = req.Clone(req.Context())
				req.Header.Set("X-Auth", value)
			}
			return next.RoundTrip(req)
		})
	}
}

// WithAuth layers run only toward the session's credential origins: the
// base URL's, and those of WithCredentialOrigins.
func TestWithAuthBoundToOrigins(t *testing.T) {
	t.Parallel()
	home, homeSaw := headerEcho(t)
	listed, listedSaw := headerEcho(t)
	other, otherSaw := headerEcho(t)
	s := home.Session(t,
		courier.WithAuth(stamp("secret")),
		courier.WithCredentialOrigins(listed.URL),
		courier.Query("api_key", "k"),
	)
	ctx := context.Background()
	for _, tt := range []struct {
		url      string
		saw      func() http.Header
		wantAuth bool
	}{
		{"/x", homeSaw, true},
		{listed.URL + "/x", listedSaw, true},
		{other.URL + "/x", otherSaw, false},
	} {
		resp, err := s.Get(ctx, tt.url)
		if err != nil {
			t.Fatal(err)
		}
		h := tt.saw()
		if got := h.Get("X-Auth") != ""; got != tt.wantAuth {
			t.Errorf("GET %s: auth sent = %v, want %v", tt.url, got, tt.wantAuth)
		}
		if got := strings.Contains(resp.Request.URL.RawQuery, "api_key"); got != tt.wantAuth {
			t.Errorf("GET %s: session query sent = %v, want %v", tt.url, got, tt.wantAuth)
		}
	}
}

func TestWithCredentialOriginsErrors(t *testing.T) {
	t.Parallel()
	for _, o := range []string{"", "ftp://a.example", "https://u:p@a.example", "https://a.example/path", "https://a.example?q=1", "a.example"} {
		_, err := courier.New(courier.WithCredentialOrigins(o))
		var oe *courier.OptionError
		if !errors.As(err, &oe) {
			t.Errorf("New(WithCredentialOrigins(%q)) = %v, want an *OptionError", o, err)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("error %q shows the password", err)
		}
	}
	if _, err := courier.New(courier.WithAuth(nil)); err == nil {
		t.Error("New(WithAuth(nil)) = nil error, want one")
	}
}
