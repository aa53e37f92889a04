package cookiejar_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/courierhttp/courier/cookiejar"
)

// FuzzSetCookies: any Set-Cookie line from any URL is stored or dropped
// without a panic, and the jar sends back only a cookie of that name, and
// never to an unrelated site.
func FuzzSetCookies(f *testing.F) {
	for _, s := range [][2]string{
		{"https://a.example.com/x/y", "sid=1; Domain=example.com; Path=/x; Secure; HttpOnly"},
		{"http://example.com/", "a=b; Max-Age=0"},
		{"http://127.0.0.1:8080/", "n=v; Domain=127.0.0.1"},
		{"https://co.uk/", "t=1; Domain=co.uk"},
		{"http://[::1]/p", "x=y; Path=/p/q; Expires=Wed, 21 Oct 2015 07:28:00 GMT"},
		{"https://example.com/", "__Host-a=1; Path=/; Secure"},
		{"https://example.com/", "a=1; SameSite=None"},
	} {
		f.Add(s[0], s[1])
	}
	other, _ := url.Parse("https://unrelated-courier-fuzz.invalid/")
	f.Fuzz(func(t *testing.T, rawURL, line string) {
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return
		}
		c, err := http.ParseSetCookie(line)
		if err != nil {
			return
		}
		j := cookiejar.New(cookiejar.Options{})
		j.SetCookies(u, []*http.Cookie{c})
		for _, got := range j.Cookies(u) {
			if got.Name != c.Name {
				t.Errorf("set %q from %s, got back %q", c.Name, u, got.Name)
			}
		}
		if u.Hostname() != other.Hostname() && len(j.Cookies(other)) != 0 {
			t.Errorf("a cookie set by %s (%q) is sent to %s", u, line, other)
		}
	})
}
