package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// TestSecretsRedacted: what the CLI prints of a request (-v, --offline,
// --curl, errors) hides its secrets, unless --show-secrets.
func TestSecretsRedacted(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	secrets := []string{"tok-SECRET1", "pw-SECRET2", "cookie-SECRET3", "qs-SECRET4", "body-SECRET5"}
	base := []string{srv.URL + "/status/200", "access_token==qs-SECRET4", "Cookie:sid=cookie-SECRET3",
		"X-Api-Key:tok-SECRET1", "user=ada", "password=body-SECRET5"}
	tests := []struct {
		name string
		args []string
	}{
		{"verbose", append([]string{"-v", "-a", "ada:pw-SECRET2"}, base...)},
		{"offline", append([]string{"--offline", "-a", "ada:pw-SECRET2"}, base...)},
		{"curl", append([]string{"--curl", "-a", "ada:pw-SECRET2"}, base...)},
		{"trace", append([]string{"--trace", "-b", "-a", "ada:pw-SECRET2"}, base...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.ok(tt.args...)
			shown := c.Stderr + c.Stdout
			for _, s := range secrets {
				if strings.Contains(shown, s) {
					t.Errorf("%s printed:\n%s", s, shown)
				}
			}
			if !strings.Contains(shown, "REDACTED") && tt.name != "trace" {
				t.Errorf("nothing redacted:\n%s", shown)
			}
			c.ok(append([]string{"--show-secrets"}, tt.args...)...)
			if tt.name == "trace" {
				return
			}
			for _, s := range secrets {
				if s == "pw-SECRET2" {
					continue // in the Authorization header, base64-encoded
				}
				if !strings.Contains(c.Stdout, s) {
					t.Errorf("--show-secrets did not print %s:\n%s", s, c.Stdout)
				}
			}
		})
	}

	// An error names the URL without its user info.
	c := newCLI(t)
	c.run("--retries", "0", "--timeout", "0.2", "http://ada:pw-SECRET2@127.0.0.1:1/x")
	if c.Code != exitError || strings.Contains(c.Stderr, "pw-SECRET2") || !strings.Contains(c.Stderr, "127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q", c.Code, c.Stderr)
	}
}

// TestOffline builds the request and prints it; nothing is sent.
func TestOffline(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	out := c.ok("--offline", srv.URL+"/post", "a=1", "X-H:v", "q==2")
	for _, s := range []string{"POST /post?q=2 HTTP/1.1\n", "X-H: v\n", "Content-Type: application/json\n", "Content-Length: 10\n", `{"a": "1"}`} {
		if !strings.Contains(out, s) {
			t.Errorf("offline output lacks %q:\n%s", s, out)
		}
	}
	out = c.ok("--curl", "-f", srv.URL+"/post", "a=1")
	if !strings.HasPrefix(out, "curl -X 'POST' ") || !strings.Contains(out, "--data-binary 'a=1'") ||
		!strings.Contains(out, "'Content-Type: application/x-www-form-urlencoded; charset=utf-8'") {
		t.Errorf("curl output:\n%s", out)
	}
	if n := srv.Requests.Load(); n != 0 {
		t.Errorf("%d requests sent offline", n)
	}
}

// TestColorJSON colors keys, strings, numbers and literals.
func TestColorJSON(t *testing.T) {
	got := string(colorJSON([]byte(`{"k": "v\"x", "n": -1.5e3, "t": true, "z": null}`)))
	for _, s := range []string{
		colorBlue + `"k"` + colorReset, colorYellow + `"v\"x"` + colorReset,
		colorCyan + `-1.5e3` + colorReset, colorPurple + `true` + colorReset, colorPurple + `null` + colorReset,
	} {
		if !strings.Contains(got, s) {
			t.Errorf("%q lacks %q", got, s)
		}
	}
}

func TestIsBinary(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"text", []byte("hello\n"), false},
		{"utf-8", []byte("héllo ✓"), false},
		{"nul", []byte("a\x00b"), true},
		{"latin-1", []byte("caf\xe9 au lait"), true},
		{"character cut at 1 KiB", append([]byte(strings.Repeat("a", 1023)), "✓✓"...), false},
	}
	for _, tt := range tests {
		if got := isBinary(tt.in); got != tt.want {
			t.Errorf("%s: isBinary = %v", tt.name, got)
		}
	}
}

func TestIsJSON(t *testing.T) {
	tests := []struct {
		ctype, body string
		want        bool
	}{
		{"application/json", `{"a":1}`, true},
		{"application/problem+json; charset=utf-8", `{"a":1}`, true},
		{"text/plain", ` [1,2]`, true},
		{"text/html", `{"a":1}`, false},
		{"application/json", `not json`, false},
		{"", `hello`, false},
	}
	for _, tt := range tests {
		if got := isJSON(tt.ctype, []byte(tt.body)); got != tt.want {
			t.Errorf("isJSON(%q, %q) = %v", tt.ctype, tt.body, got)
		}
	}
}

// TestRequestHeadHost: the request line and Host of a printed request.
func TestRequestHeadHost(t *testing.T) {
	var b strings.Builder
	p := newPrinter(&b, "none", false, false)
	req, _ := http.NewRequest("GET", "http://example.com:8080/a?token=abc&x=1", nil)
	req.Header.Set("Authorization", "Bearer abc")
	p.requestHead(req)
	want := "GET /a?token=REDACTED&x=1 HTTP/1.1\nHost: example.com:8080\nAuthorization: REDACTED\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
