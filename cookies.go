package courier

import (
	"fmt"
	"net/http"
	"strings"
)

// WithJar sets the session's cookie jar: cookies from every response (each
// redirect hop and each attempt included) are stored in it, and those that
// match a request are sent with it. A session has its own [github.com/courierhttp/courier/cookiejar.Jar] by default;
// pass a shared one to share cookies between sessions, one loaded from a
// session file to resume an identity, or nil for no cookies at all.
func WithJar(jar http.CookieJar) Option {
	return sessionOption(func(c *config) error {
		c.jar, c.noJar = jar, jar == nil
		return nil
	})
}

type cookieOption struct{ name, value string }

// Cookie adds a cookie to the Cookie header. As a session option it goes to
// the session's credential origins only (see [WithCredentialOrigins]); on a
// request, to that request and the redirect hops that stay on its origin.
// Either way it is not stored in the jar, and a cookie of the jar with the
// same name is not sent beside it.
func Cookie(name, value string) SharedOption { return cookieOption{name, value} }

func (o cookieOption) check() error {
	if err := (&http.Cookie{Name: o.name, Value: o.value}).Valid(); err != nil {
		return &OptionError{"Cookie", fmt.Errorf("cookie %q: %w", o.name, err)}
	}
	return nil
}

// asHeader is the option as the AddHeader("Cookie", ...) it amounts to.
func (o cookieOption) asHeader() headerOption {
	return headerOption{headerAdd, "Cookie", (&http.Cookie{Name: o.name, Value: o.value}).String()}
}

func (o cookieOption) applySession(c *config) error {
	if err := o.check(); err != nil {
		return err
	}
	return o.asHeader().applySession(c)
}

func (o cookieOption) applyRequest(r *requestConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	return o.asHeader().applyRequest(r)
}

// cookieLayer runs on every attempt: it adds the jar's cookies to the
// request's own Cookie header (one header line, as RFC 6265 asks), and
// stores the response's Set-Cookie in the jar.
type cookieLayer struct {
	jar  http.CookieJar
	next http.RoundTripper
}

func (l cookieLayer) RoundTrip(req *http.Request) (*http.Response, error) {
	var fromJar []*http.Cookie
	if l.jar != nil {
		fromJar = l.jar.Cookies(req.URL)
	}
	if own := req.Header["Cookie"]; len(fromJar) > 0 || len(own) > 1 {
		r := *req
		r.Header = req.Header.Clone()
		r.Header["Cookie"] = []string{joinCookies(own, fromJar)}
		req = &r
	}
	resp, err := l.next.RoundTrip(req)
	if err == nil && l.jar != nil && len(resp.Header["Set-Cookie"]) > 0 {
		l.jar.SetCookies(req.URL, resp.Cookies())
	}
	return resp, err
}

// joinCookies makes one Cookie header of the request's own cookies and the
// jar's, leaving out a jar cookie the request sets itself.
func joinCookies(own []string, fromJar []*http.Cookie) string {
	var b strings.Builder
	names := map[string]bool{}
	for _, v := range own {
		for pair := range strings.SplitSeq(v, ";") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			name, _, _ := strings.Cut(pair, "=")
			names[name] = true
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(pair)
		}
	}
	for _, c := range fromJar {
		if names[c.Name] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.String())
	}
	return b.String()
}
