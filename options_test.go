package courier_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// Header, AddHeader, RemoveHeader and Query work at both levels.
var (
	_ courier.SharedOption = courier.Header("a", "b")
	_ courier.SharedOption = courier.AddHeader("a", "b")
	_ courier.SharedOption = courier.RemoveHeader("a")
	_ courier.SharedOption = courier.Query("a", "b")
)

func TestNewInvalid(t *testing.T) {
	t.Parallel()
	passthrough := func(next http.RoundTripper) http.RoundTripper { return next }
	tests := []struct {
		name   string
		opts   []courier.Option
		option string // the OptionError's Option
	}{
		{"ftp base URL", []courier.Option{courier.WithBaseURL("ftp://x")}, "WithBaseURL"},
		{"base URL without host", []courier.Option{courier.WithBaseURL("http:////x")}, "WithBaseURL"},
		{"base URL scheme only", []courier.Option{courier.WithBaseURL("http://")}, "WithBaseURL"},
		{"base URL port out of range", []courier.Option{courier.WithBaseURL("http://host:99999")}, "WithBaseURL"},
		{"base URL port zero", []courier.Option{courier.WithBaseURL("http://host:0")}, "WithBaseURL"},
		{"base URL port not a number", []courier.Option{courier.WithBaseURL("http://host:abc")}, "WithBaseURL"},
		{"base URL empty port", []courier.Option{courier.WithBaseURL("http://host:/v1")}, "WithBaseURL"},
		{"base URL port only", []courier.Option{courier.WithBaseURL("http://:8080/v1")}, "WithBaseURL"},
		{"relative base URL", []courier.Option{courier.WithBaseURL("relative/path")}, "WithBaseURL"},
		{"base URL without scheme", []courier.Option{courier.WithBaseURL("api.example.com/v1")}, "WithBaseURL"},
		{"base URL host:port without scheme", []courier.Option{courier.WithBaseURL("localhost:8080")}, "WithBaseURL"},
		{"base URL with a fragment", []courier.Option{courier.WithBaseURL("http://host/#frag")}, "WithBaseURL"},
		{"empty base URL", []courier.Option{courier.WithBaseURL("")}, "WithBaseURL"},
		{"base URL with a space", []courier.Option{courier.WithBaseURL("http://host/a b")}, "WithBaseURL"},
		{"base URL with a space in the host", []courier.Option{courier.WithBaseURL("http://ho st/")}, "WithBaseURL"},
		{"base URL with CR LF", []courier.Option{courier.WithBaseURL("http://host/\r\nX: y")}, "WithBaseURL"},
		{"opaque base URL", []courier.Option{courier.WithBaseURL("http:host/v1")}, "WithBaseURL"},
		{"mailto base URL", []courier.Option{courier.WithBaseURL("mailto:a@b.c")}, "WithBaseURL"},
		{"base URL bad escape", []courier.Option{courier.WithBaseURL("http://host/%zz")}, "WithBaseURL"},
		{"negative Dial", []courier.Option{courier.WithTimeouts(courier.Timeouts{Dial: -time.Second})}, "WithTimeouts.Dial"},
		{"negative TLSHandshake", []courier.Option{courier.WithTimeouts(courier.Timeouts{TLSHandshake: -time.Second})}, "WithTimeouts.TLSHandshake"},
		{"negative ResponseHeader", []courier.Option{courier.WithTimeouts(courier.Timeouts{ResponseHeader: -time.Second})}, "WithTimeouts.ResponseHeader"},
		{"negative BodyIdle", []courier.Option{courier.WithTimeouts(courier.Timeouts{BodyIdle: -time.Second})}, "WithTimeouts.BodyIdle"},
		{"WithTimeout negative", []courier.Option{courier.WithTimeout(-5 * time.Second)}, "WithTimeout"},
		{"WithTimeout -2ns", []courier.Option{courier.WithTimeout(-2)}, "WithTimeout"},
		{"WithMaxBodySize negative", []courier.Option{courier.WithMaxBodySize(-1)}, "WithMaxBodySize"},
		{"WithRedirects negative", []courier.Option{courier.WithRedirects(-2)}, "WithRedirects"},
		{"WithPool MaxIdleConnsPerHost", []courier.Option{courier.WithPool(courier.Pool{MaxIdleConnsPerHost: -1})}, "WithPool.MaxIdleConnsPerHost"},
		{"WithPool MaxIdleConns", []courier.Option{courier.WithPool(courier.Pool{MaxIdleConns: -1})}, "WithPool.MaxIdleConns"},
		{"WithPool MaxConnsPerHost", []courier.Option{courier.WithPool(courier.Pool{MaxConnsPerHost: -1})}, "WithPool.MaxConnsPerHost"},
		{"WithPool IdleTimeout", []courier.Option{courier.WithPool(courier.Pool{IdleTimeout: -time.Second})}, "WithPool.IdleTimeout"},
		{"CR LF in a Header value", []courier.Option{courier.Header("X-Token", canary+"\r\nX-Injected: 1")}, "Header"},
		{"LF in a Header value", []courier.Option{courier.Header("X-Token", canary+"\n")}, "Header"},
		{"NUL in a Header value", []courier.Option{courier.Header("X-Token", "a\x00"+canary)}, "Header"},
		{"CR in an AddHeader value", []courier.Option{courier.AddHeader("X-Token", canary+"\r")}, "AddHeader"},
		{"CR LF in a User-Agent", []courier.Option{courier.Header("User-Agent", canary+"\r\nX: y")}, "Header"},
		{"invalid Header name", []courier.Option{courier.Header("Bad Name", canary)}, "Header"},
		{"empty Header name", []courier.Option{courier.Header("", canary)}, "Header"},
		{"Header name with a colon", []courier.Option{courier.Header("X-A:", canary)}, "Header"},
		{"Header name with CR LF", []courier.Option{courier.Header("X\r\nY", canary)}, "Header"},
		{"invalid AddHeader name", []courier.Option{courier.AddHeader("a b", canary)}, "AddHeader"},
		{"invalid RemoveHeader name", []courier.Option{courier.RemoveHeader("a b")}, "RemoveHeader"},
		{"invalid WithSensitiveHeaders name", []courier.Option{courier.WithSensitiveHeaders("X-Ok", "bad name")}, "WithSensitiveHeaders"},
		{"nil option", []courier.Option{courier.WithTimeout(time.Second), nil}, "New"},
		{"nil transport", []courier.Option{courier.WithTransport(nil)}, "WithTransport"},
		{"nil TLS config", []courier.Option{courier.WithTLSConfig(nil)}, "WithTLSConfig"},
		{"nil middleware", []courier.Option{courier.WithMiddleware(passthrough, nil)}, "WithMiddleware"},
		{
			"middleware returning nil",
			[]courier.Option{courier.WithMiddleware(func(http.RoundTripper) http.RoundTripper { return nil })},
			"WithMiddleware",
		},
		{
			"first bad option is named",
			[]courier.Option{courier.WithBaseURL("http://ok.example"), courier.WithRedirects(-2), courier.WithTimeout(-5)},
			"WithRedirects",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := courier.New(tt.opts...)
			var oe *courier.OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("New(%s) = %v, %v; want an *OptionError", tt.name, s, err)
			}
			if oe.Option != tt.option {
				t.Errorf("New(%s): Option = %q, want %q (error: %v)", tt.name, oe.Option, tt.option, err)
			}
			if s != nil {
				t.Errorf("New(%s) returned a session with its error", tt.name)
			}
			msg := err.Error()
			if strings.Contains(msg, canary) {
				t.Errorf("New(%s): error %q holds the bad value", tt.name, msg)
			}
			if !strings.HasPrefix(msg, "courier: "+tt.option+": ") {
				t.Errorf("New(%s): error %q does not start with %q", tt.name, msg, "courier: "+tt.option+": ")
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("New(%s): error %q holds CR or LF", tt.name, msg)
			}
		})
	}
}

func TestNewValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []courier.Option
	}{
		{"no options", nil},
		{"http base URL", []courier.Option{courier.WithBaseURL("http://api.example.com")}},
		{"https base URL with a path", []courier.Option{courier.WithBaseURL("https://api.example.com/v1/")}},
		{"upper-case scheme", []courier.Option{courier.WithBaseURL("HTTPS://api.example.com/v1")}},
		{"base URL with a port", []courier.Option{courier.WithBaseURL("http://127.0.0.1:8080/v1")}},
		{"base URL with IPv6", []courier.Option{courier.WithBaseURL("http://[::1]:8080/")}},
		{"base URL with a query", []courier.Option{courier.WithBaseURL("https://api.example.com/v1?key=k")}},
		{"base URL with user info", []courier.Option{courier.WithBaseURL("https://user:pass@api.example.com/")}},
		{"base URL with an empty fragment", []courier.Option{courier.WithBaseURL("https://api.example.com/#")}},
		{"NoTimeout everywhere", []courier.Option{courier.WithTimeouts(courier.Timeouts{
			Dial: courier.NoTimeout, TLSHandshake: courier.NoTimeout, ResponseHeader: courier.NoTimeout,
			BodyIdle: courier.NoTimeout,
		}), courier.WithTimeout(courier.NoTimeout)}},
		{"WithTimeout NoTimeout", []courier.Option{courier.WithTimeout(courier.NoTimeout)}},
		{"WithTimeout 1ns", []courier.Option{courier.WithTimeout(1)}},
		{"zero Timeouts are defaults", []courier.Option{courier.WithTimeouts(courier.Timeouts{})}},
		{"WithRedirects zero is the default", []courier.Option{courier.WithRedirects(0)}},
		{"WithRedirects NoRedirects", []courier.Option{courier.WithRedirects(courier.NoRedirects)}},
		{"WithTimeout zero is the default", []courier.Option{courier.WithTimeout(0)}},
		{"WithMaxBodySize zero is the default", []courier.Option{courier.WithMaxBodySize(0)}},
		{"WithMaxBodySize one", []courier.Option{courier.WithMaxBodySize(1)}},
		{"WithPool zero", []courier.Option{courier.WithPool(courier.Pool{})}},
		{"WithPool IdleTimeout NoTimeout", []courier.Option{courier.WithPool(courier.Pool{IdleTimeout: courier.NoTimeout})}},
		{"empty Header value", []courier.Option{courier.Header("X-Empty", "")}},
		{"Header value with a tab", []courier.Option{courier.Header("X-Tab", "a\tb")}},
		{"Header value with UTF-8", []courier.Option{courier.Header("X-Name", "café")}},
		{"RemoveHeader of a default", []courier.Option{courier.RemoveHeader("User-Agent")}},
		{"no middleware", []courier.Option{courier.WithMiddleware()}},
		{"WithTLSConfig", []courier.Option{courier.WithTLSConfig(&tls.Config{})}},
		{"WithTransport", []courier.Option{courier.WithTransport(http.DefaultTransport.(*http.Transport).Clone())}},
		{"WithProxy nil", []courier.Option{courier.WithProxy(nil)}},
		{"WithHTTP2 off", []courier.Option{courier.WithTLSConfig(&tls.Config{NextProtos: []string{"http/1.1"}})}},
		{"WithSensitiveHeaders", []courier.Option{courier.WithSensitiveHeaders("X-Vendor-Secret")}},
		{"WithLeakTracking", []courier.Option{courier.WithLeakTracking(true)}},
		{"Query", []courier.Option{courier.Query("a b", "c&d")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := courier.New(tt.opts...)
			if err != nil {
				t.Fatalf("New(%s) = %v, want no error", tt.name, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := s.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestOptionsLastWins checks that, for a setting with one value, the last
// option given wins.
func TestOptionsLastWins(t *testing.T) {
	t.Parallel()
	a := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	b := testenv.NewServer(t, testenv.HTTP1, echoHandler())
	s := a.Session(t, courier.WithBaseURL(a.URL+"/first"), courier.WithBaseURL(b.URL+"/second"),
		courier.Header("User-Agent", "one/1"), courier.Header("User-Agent", "two/2"))
	var got echoed
	if _, err := s.Get(t.Context(), "/x", courier.Into(&got)); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.URI != "/second/x" || a.Requests.Load() != 0 {
		t.Errorf("server saw %q (first server got %d requests), want %q on the second", got.URI, a.Requests.Load(), "/second/x")
	}
	if ua := got.Header.Get("User-Agent"); ua != "two/2" {
		t.Errorf("User-Agent = %q, want %q", ua, "two/2")
	}
}

// The last option for a setting wins: WithTimeouts without Request keeps
// an earlier WithTimeout.
func TestWithTimeoutsKeepsUnsetFields(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	const timeout = 200 * time.Millisecond
	s := ts.Session(t, noRetry, courier.WithTimeout(timeout), courier.WithTimeouts(courier.Timeouts{Dial: time.Second}))
	start := time.Now()
	_, err := s.Get(t.Context(), "/")
	if !errors.Is(err, courier.ErrTimeout) {
		t.Fatalf("Get = %v, want ErrTimeout", err)
	}
	requireWithin(t, start, timeout+slack)
}
