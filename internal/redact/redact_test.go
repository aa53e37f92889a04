package redact_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/courierhttp/courier/internal/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "https://api.example.com/v1/users/42", "https://api.example.com/v1/users/42"},
		{"password", "https://alice:hunter2@example.com/x", "https://REDACTED@example.com/x"},
		{"token as user name", "https://ghp_CANARY@example.com/x", "https://REDACTED@example.com/x"},
		{"key as user, empty password", "https://sk_live_CANARY:@example.com/x", "https://REDACTED@example.com/x"},
		{"jwt query", "https://example.com/x?jwt=CANARY&a=1", "https://example.com/x?jwt=REDACTED&a=1"},
		{"token", "https://h/x?token=abc", "https://h/x?token=REDACTED"},
		{"access_token", "https://h/x?access_token=abc", "https://h/x?access_token=REDACTED"},
		{"refresh_token", "https://h/x?refresh_token=abc", "https://h/x?refresh_token=REDACTED"},
		{"api_key", "https://h/x?api_key=abc", "https://h/x?api_key=REDACTED"},
		{"apikey", "https://h/x?apikey=abc", "https://h/x?apikey=REDACTED"},
		{"camelCase apiKey", "https://h/x?apiKey=abc", "https://h/x?apiKey=REDACTED"},
		{"camelCase accessToken", "https://h/x?accessToken=abc", "https://h/x?accessToken=REDACTED"},
		{"dashed X-Api-Key", "https://h/x?X-Api-Key=abc", "https://h/x?X-Api-Key=REDACTED"},
		{"upper case", "https://h/x?TOKEN=abc", "https://h/x?TOKEN=REDACTED"},
		{"sig", "https://h/x?sig=abc", "https://h/x?sig=REDACTED"},
		{"X-Amz-Signature", "https://h/x?X-Amz-Signature=abc", "https://h/x?X-Amz-Signature=REDACTED"},
		{"password param", "https://h/x?password=abc", "https://h/x?password=REDACTED"},
		{"client_secret", "https://h/x?client_id=id&client_secret=abc", "https://h/x?client_id=id&client_secret=REDACTED"},
		{"OAuth code", "https://h/cb?code=abc&state=s", "https://h/cb?code=REDACTED&state=s"},
		{"escaped key", "https://h/x?%74oken=abc", "https://h/x?%74oken=REDACTED"},
		{
			"others kept in order",
			"https://h/x?z=1&token=abc&a=2&a=3&sig=def&m=%2F+",
			"https://h/x?z=1&token=REDACTED&a=2&a=3&sig=REDACTED&m=%2F+",
		},
		{"repeated secret", "https://h/x?token=a&token=b", "https://h/x?token=REDACTED&token=REDACTED"},
		{"key without value kept", "https://h/x?token&q=1", "https://h/x?token&q=1"},
		{"not a secret", "https://h/x?tokens_left=3&monkey=1&page=2", "https://h/x?tokens_left=3&monkey=1&page=2"},
		{"password and query", "http://u:p@h:8080/x?api_key=k", "http://REDACTED@h:8080/x?api_key=REDACTED"},
		{"fragment with a token", "https://h/cb#access_token=abc&state=s", "https://h/cb#access_token=REDACTED&state=s"},
		{"plain fragment kept", "https://h/doc#section-2", "https://h/doc#section-2"},
		{"relative", "/users/42?token=abc", "/users/42?token=REDACTED"},
		{"escaped path kept", "https://h/a%2Fb?x=1", "https://h/a%2Fb?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", tt.in, err)
			}
			if got := redact.URL(u); got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := redact.String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestURLDoesNotChangeItsArgument(t *testing.T) {
	t.Parallel()
	const raw = "https://alice:hunter2@h/x?token=abc#access_token=def"
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	redact.URL(u)
	if got := u.String(); got != raw {
		t.Errorf("after URL(u), u = %q, want %q", got, raw)
	}
	if got := redact.URL(nil); got != "" {
		t.Errorf("URL(nil) = %q, want %q", got, "")
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"path", "/users/42", "/users/42"},
		{"unparsable without secrets", "/a%zz", "/a%zz"},
		{"unparsable with user info", "http://u:secret@[::1/x", "<unparsable URL>"},
		{"unparsable with a query", "/a%zz?token=abc", "<unparsable URL>"},
		{"unparsable with a fragment", "/a%zz#access_token=abc", "<unparsable URL>"},
		{"control characters escaped", "/a\r\nX-Injected: 1", "/a%0D%0AX-Injected: 1"},
		{"NUL and DEL escaped", "/a\x00b\x7f", "/a%00b%7F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact.String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"a=1", "a=1"},
		{"token=x", "token=REDACTED"},
		{"token=", "token=REDACTED"},
		{"a=1&&token=x&", "a=1&&token=REDACTED&"},
		{"a=%zz&token=x", "a=%zz&token=REDACTED"},
		{"%zz=1", "%zz=1"},
		{"a;token=x", "a;token=x"},
	}
	for _, tt := range tests {
		if got := redact.Query(tt.in); got != tt.want {
			t.Errorf("Query(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want bool
	}{
		{"token", true},
		{"Token", true},
		{"access_token", true},
		{"accessToken", true},
		{"AccessToken", true},
		{"refreshToken", true},
		{"id_token", true},
		{"idToken", true},
		{"api_key", true},
		{"api-key", true},
		{"apiKey", true},
		{"APIKey", true},
		{"x_api_key", true},
		{"client_secret", true},
		{"clientSecret", true},
		{"password", true},
		{"userPassword", true},
		{"sessionid", true},
		{"sessionId", true},
		{"sig", true},
		{"signature", true},
		{"X-Amz-Signature", true},
		{"credentials", true},
		{"page", false},
		{"tokens_left", false},
		{"monkey", false},
		{"keyboard", false},
		{"user", false},
		{"username", false},
		{"id", false},
		{"client_id", false},
		{"state", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := redact.IsSecretKey(tt.key); got != tt.want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	in := http.Header{
		"Authorization":       {"Bearer a", "Bearer b"},
		"Proxy-Authorization": {"Basic x"},
		"Cookie":              {"a=1", "b=2"},
		"Set-Cookie":          {"s=1; HttpOnly"},
		"X-Api-Key":           {"k"},
		"X-Vendor-Secret":     {"v"},
		"Accept":              {"application/json", "text/plain"},
		"X-Empty":             {},
	}
	want := http.Header{
		"Authorization":       {"REDACTED", "REDACTED"},
		"Proxy-Authorization": {"REDACTED"},
		"Cookie":              {"REDACTED", "REDACTED"},
		"Set-Cookie":          {"REDACTED"},
		"X-Api-Key":           {"REDACTED"},
		"X-Vendor-Secret":     {"REDACTED"},
		"Accept":              {"application/json", "text/plain"},
		"X-Empty":             nil,
	}
	got := redact.Header(in, "x-vendor-secret")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Header(%v) = %v, want %v", in, got, want)
	}
	if in.Get("Authorization") != "Bearer a" {
		t.Errorf("Header changed its argument: Authorization = %q", in.Get("Authorization"))
	}
	got["Accept"][0] = "changed"
	if in.Get("Accept") != "application/json" {
		t.Errorf("Header's result shares value slices with its argument")
	}
	if got := redact.Header(nil); len(got) != 0 {
		t.Errorf("Header(nil) = %v, want empty", got)
	}
}

func TestIsSensitiveHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"Authorization", true},
		{"authorization", true},
		{"Proxy-Authorization", true},
		{"Cookie", true},
		{"set-cookie", true},
		{"X-Api-Key", true},
		{"Accept", false},
		{"Content-Type", false},
		{"User-Agent", false},
	}
	for _, tt := range tests {
		if got := redact.IsSensitiveHeader(tt.name); got != tt.want {
			t.Errorf("IsSensitiveHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		n    int
		want string
	}{
		{"short", `{"ok":true}`, 100, `{"ok":true}`},
		{"JSON secret", `{"access_token":"abc"}`, 100, `{"access_token":"REDACTED"}`},
		{"JSON secret with spaces", `{"token" : "abc", "user": "bob"}`, 100, `{"token" : "REDACTED", "user": "bob"}`},
		{"JSON camelCase secret", `{"accessToken":"abc","expiresIn":3600}`, 100, `{"accessToken":"REDACTED","expiresIn":3600}`},
		{"JSON number secret", `{"pin":1,"password":12345}`, 100, `{"pin":1,"password":REDACTED}`},
		{"JSON escaped quote in a secret", `{"secret":"a\"b","x":1}`, 100, `{"secret":"REDACTED","x":1}`},
		{"JSON secret across lines", "{\n  \"client_secret\":\n \"abc\"\n}", 100, `{   "client_secret":  "REDACTED" }`},
		{"JSON secret cut", `{"refresh_token":"abcdefghij"}`, 24, `{"refresh_token":"REDACTED"…`},
		{"JSON secret value as key is kept", `{"name":"token"}`, 100, `{"name":"token"}`},
		{"form secret", "grant_type=x&client_secret=abc&scope=y", 100, "grant_type=x&client_secret=REDACTED&scope=y"},
		{"truncated", "0123456789", 4, "0123…"},
		{"exactly n", "0123", 4, "0123"},
		{"control characters", "a\x00b\r\nc\x1bd\x7f", 100, "a b  c d "},
		{"invalid UTF-8", "a\xffb", 100, "a?b"},
		{"cut inside a rune", "aé", 2, "a?…"},
		{"empty", "", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact.Excerpt([]byte(tt.body), tt.n); got != tt.want {
				t.Errorf("Excerpt(%q, %d) = %q, want %q", tt.body, tt.n, got, tt.want)
			}
		})
	}
}

// FuzzURL checks that String never panics, never lets a password placed in
// a URL's user info through, and never returns a control character.
func FuzzURL(f *testing.F) {
	for _, seed := range []struct{ scheme, user, rest string }{
		{"https", "alice", "example.com/x?token=abc"},
		{"http", "", "127.0.0.1:8080/"},
		{"http", "a@b", "h"},
		{"https", "u", "[::1]:443/a%2Fb#frag"},
		{"http", "u", "h/@x@y"},
		{"http", "u", ":99999"},
		{"http", "u", "h/\r\n"},
		{"HTTP", "U", "%zz"},
		{"ftp", "u", "[::1"},
		{"", "", ""},
		{"http", "u:v", "h?x#y"},
	} {
		f.Add(seed.scheme, seed.user, seed.rest)
	}
	const password = "Pw0rdCanary"
	f.Fuzz(func(t *testing.T, scheme, user, rest string) {
		raw := scheme + "://" + url.QueryEscape(user) + ":" + password + "@" + rest
		if !isScheme(scheme) {
			// A string that is no URL may hold the password anywhere:
			// only check that it does not panic.
			redact.String(raw)
			redact.String(rest)
			return
		}
		got := redact.String(raw)
		if strings.Contains(got, password) {
			t.Errorf("String(%q) = %q, which holds the password", raw, got)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("String(%q) = %q, which holds a control character", raw, got)
		}
		if strings.ContainsFunc(redact.String(rest), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("String(%q) holds a control character", rest)
		}
	})
}

// isScheme reports whether s is a URL scheme (RFC 3986 section 3.1).
func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no secrets here", "no secrets here"},
		{`<a href="/loop?sig=abc&page=2">Found</a>`, `<a href="/loop?sig=REDACTED&page=2">Found</a>`},
		{"https://x.example/cb?code=c0de&state=s", "https://x.example/cb?code=REDACTED&state=s"},
		{"token=abc", "token=REDACTED"},
		{"see https://ada:pw@host/p and http://u@h/", "see https://REDACTED@host/p and http://REDACTED@h/"},
		{"a=1; api_key=k; b=2", "a=1; api_key=REDACTED; b=2"},
		{`{"x": "y=1"}`, `{"x": "y=1"}`},
		{"mail ada@example.com", "mail ada@example.com"},
		{"access%5Ftoken=x", "access%5Ftoken=REDACTED"},
	}
	for _, tt := range tests {
		if got := redact.Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeaderRedactsURLs(t *testing.T) {
	h := redact.Header(http.Header{"Location": {"https://u:p@h/x?token=t&a=1"}, "Link": {`<https://h/p?sig=s>; rel="next"`}})
	if got, want := h.Get("Location"), "https://REDACTED@h/x?token=REDACTED&a=1"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := h.Get("Link"), `<https://h/p?sig=REDACTED>; rel="next"`; got != want {
		t.Errorf("Link = %q, want %q", got, want)
	}
}

func TestBody(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"json secret field", "{\n    \"user\": \"ada\",\n    \"password\": \"hunter2\"\n}", "{\n    \"user\": \"ada\",\n    \"password\": \"REDACTED\"\n}"},
		{"form secret field", "user=ada&password=hunter2&x=1", "user=ada&password=REDACTED&x=1"},
		{"nothing secret", "{\"a\": 1}\n", "{\"a\": 1}\n"},
		{"control characters kept", "line1\nline2\ttab", "line1\nline2\ttab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.Body(tt.in); got != tt.want {
				t.Errorf("Body(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\tc", 10, "a b c"},
		{"password=hunter2", 100, "password=hunter2"}, // nothing masked
		{"abcdef", 3, "abc…"},
		{"bad \xff byte", 20, "bad ? byte"},
	}
	for _, tt := range tests {
		if got := redact.Printable([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("Printable(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestIsSensitiveHeaderRule(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "cookie": true, "Api-Key": true, "X-Goog-Api-Key": true, "Private-Token": true,
		"X-Auth-Token": true, "X-Session-Id": true, "X-Client-Secret": true, "X-Hub-Signature-256": true,
		"X_API_KEY": true, "X-Authentication": true, "Proxy-Authorization": true, "X-Password": true,
		"Content-Type": false, "Accept": false, "User-Agent": false, "X-Request-Id": false,
		"Idempotency-Key": false, "WWW-Authenticate": false, "Keep-Alive": false, "X-Monkey": false,
	} {
		if got := redact.IsSensitiveHeader(name); got != want {
			t.Errorf("redact.IsSensitiveHeader(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestExcerptHidesEchoedHeaders(t *testing.T) {
	body := []byte(`{"headers": {"Authorization": ["Bearer tok-123456"], "Cookie": ["sid=abc123; x=y"], "X-Api-Key": "k-999", "Accept": ["*/*"]}}`)
	got := redact.Excerpt(body, 500)
	for _, secret := range []string{"tok-123456", "abc123", "k-999"} {
		if strings.Contains(got, secret) {
			t.Errorf("Excerpt = %s\nshows %s", got, secret)
		}
	}
	if !strings.Contains(got, `"Accept": ["*/*"]`) {
		t.Errorf("Excerpt = %s\nlost a plain header", got)
	}
	if got := redact.Text("failed: Authorization: Basic dXNlcjpwYXNz sent"); strings.Contains(got, "dXNlcjpwYXNz") {
		t.Errorf("Text = %q, shows Basic credentials", got)
	}
}
