// Package cookiejar is the cookie jar of courier sessions: the semantics of
// net/http/cookiejar (RFC 6265 and the public suffix list), plus what a
// client that keeps an identity needs: listing, setting, deleting, saving
// and loading cookies with every attribute (see package sessionfile), and
// the stricter rules browsers follow today.
package cookiejar

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	stdjar "net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Cookie is a cookie as a [Jar] holds it, with every attribute a jar keeps,
// so that it can be saved and loaded again (see package sessionfile).
type Cookie struct {
	Name  string
	Value string
	// Quoted: the value came in double quotes and goes back that way.
	Quoted bool
	// Domain is the host (HostOnly) or domain the cookie belongs to: lower
	// case, in ASCII (punycode), without a leading dot.
	Domain string
	// HostOnly cookies (set without a Domain attribute) go to Domain
	// exactly; the others go to Domain and its subdomains.
	HostOnly bool
	Path     string
	// Expires is when the cookie expires. It is zero for a session cookie,
	// which the jar keeps for as long as it lives (and a session file
	// keeps, as browsers restoring a session do).
	Expires  time.Time
	Secure   bool
	HttpOnly bool
	// SameSite is kept for saving; a client outside a browser has no
	// "site" to apply it to.
	SameSite http.SameSite
	// Created is when the jar first stored the cookie. Among cookies of
	// equal path length, the older one is sent first.
	Created time.Time
}

func (c Cookie) String() string {
	return fmt.Sprintf("cookie %q for %s%s", c.Name, c.Domain, c.Path)
}

// Options configure a [Jar]. The zero value is what most callers want.
type Options struct {
	// PublicSuffixList decides which domains are public suffixes (co.uk,
	// github.io), for which no cookie may be set. Nil means the list of
	// golang.org/x/net/publicsuffix.
	PublicSuffixList stdjar.PublicSuffixList
	// Now is the jar's clock (nil: time.Now).
	Now func() time.Time
}

// Limits a Jar keeps to (RFC 6265, section 6.1, with browsers' figures): the
// least recently used cookie goes first.
const (
	maxCookiesPerSite = 50
	maxCookies        = 3000
	maxCookieSize     = 4096
	// maxCookieAge caps a cookie's lifetime (RFC 6265bis, section 5.5).
	maxCookieAge = 400 * 24 * time.Hour
)

// Jar is a cookie jar with the semantics of net/http/cookiejar (RFC 6265,
// the public suffix list), that can also list, set, delete, export and
// import its cookies with every attribute.
//
// Beyond what cookiejar does, it refuses a Secure cookie set over http and
// a plain cookie that would overwrite a Secure one from http; it enforces
// the __Secure- and __Host- name prefixes; it caps a cookie at 4096 bytes,
// a site (registrable domain) at 50 cookies and the jar at 3000, evicting
// the least recently used. Secure cookies go over https only.
//
// A Jar is safe for concurrent use. Make one with [New]; a courier Session
// has one by default (see courier.WithJar).
type Jar struct {
	psl stdjar.PublicSuffixList
	now func() time.Time

	mu sync.Mutex
	// sites maps a registrable domain (or an IP address, or a public
	// suffix that is a host) to its cookies by name, domain and path.
	sites map[string]map[cookieKey]*entry
	n     atomic.Int64
	seq   uint64
}

type cookieKey struct{ name, domain, path string }

type entry struct {
	Cookie
	seq        uint64 // orders cookies created at the same instant
	lastAccess time.Time
}

var _ http.CookieJar = (*Jar)(nil)

// New returns an empty jar.
func New(opts Options) *Jar {
	j := &Jar{psl: opts.PublicSuffixList, now: opts.Now, sites: map[string]map[cookieKey]*entry{}}
	if j.psl == nil {
		j.psl = publicsuffix.List
	}
	if j.now == nil {
		j.now = time.Now
	}
	return j
}

// SetCookies stores the cookies of a response from u, as http.CookieJar
// requires. Cookies the jar must refuse (a domain that is a public suffix or
// does not match u's host, a Secure cookie from http...) are dropped; an
// expired cookie, or one with Max-Age 0, deletes the stored one.
func (j *Jar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	host, err := canonicalHost(u.Hostname())
	if err != nil || len(cookies) == 0 {
		return
	}
	secure := u.Scheme == "https"
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, hc := range cookies {
		c, del, err := j.fromHTTP(hc, host, u.Path, now)
		if err != nil {
			continue
		}
		j.store(c, host, secure, del, now)
	}
}

// fromHTTP turns a Set-Cookie from host into a Cookie. del reports that the
// cookie deletes a stored one rather than storing itself.
func (j *Jar) fromHTTP(hc *http.Cookie, host, urlPath string, now time.Time) (c Cookie, del bool, err error) {
	c = Cookie{Name: hc.Name, Value: hc.Value, Quoted: hc.Quoted, Path: hc.Path,
		Secure: hc.Secure, HttpOnly: hc.HttpOnly, SameSite: hc.SameSite}
	if c.Path == "" || c.Path[0] != '/' {
		c.Path = defaultCookiePath(urlPath)
	}
	c.Domain, c.HostOnly, err = j.cookieDomain(host, hc.Domain)
	if err != nil {
		return c, false, err
	}
	switch {
	case hc.MaxAge < 0:
		return c, true, nil
	case hc.MaxAge > 0:
		c.Expires = now.Add(time.Duration(min(int64(hc.MaxAge), int64(maxCookieAge/time.Second))) * time.Second)
	case !hc.Expires.IsZero():
		if !hc.Expires.After(now) {
			return c, true, nil
		}
		c.Expires = hc.Expires
		if limit := now.Add(maxCookieAge); c.Expires.After(limit) {
			c.Expires = limit
		}
	}
	return c, false, nil
}

// store applies c (from a source of host, over https if secure) under the
// lock: the rules every cookie passes, fresh or reloaded.
func (j *Jar) store(c Cookie, host string, secure, del bool, now time.Time) error {
	if err := checkCookie(c, secure); err != nil {
		return err
	}
	site := j.siteOf(c.Domain)
	key := cookieKey{c.Name, c.Domain, c.Path}
	cookies := j.sites[site]
	old := cookies[key]
	if old != nil && old.Secure && !secure {
		// A page over http may not overwrite (or delete) a Secure cookie.
		return fmt.Errorf("%s: a Secure cookie cannot be replaced over http", c)
	}
	if del || (!c.Expires.IsZero() && !c.Expires.After(now)) {
		if old != nil {
			j.remove(site, key)
		}
		return nil
	}
	if cookies == nil {
		cookies = map[cookieKey]*entry{}
		j.sites[site] = cookies
	}
	e := &entry{Cookie: c, lastAccess: now}
	if old != nil {
		e.Created, e.seq = old.Created, old.seq
	} else {
		if e.Created.IsZero() {
			e.Created = now
		}
		j.seq++
		e.seq = j.seq
		j.n.Add(1)
	}
	cookies[key] = e
	j.evict(site)
	return nil
}

func checkCookie(c Cookie, secure bool) error {
	switch {
	case c.Name == "" && c.Value == "":
		return fmt.Errorf("%s: empty name and value", c)
	case len(c.Name)+len(c.Value) > maxCookieSize:
		return fmt.Errorf("%s: larger than %d bytes", c, maxCookieSize)
	case (&http.Cookie{Name: c.Name, Value: c.Value}).Valid() != nil && c.Name != "":
		return fmt.Errorf("%s: invalid name or value", c)
	case c.Secure && !secure:
		return fmt.Errorf("%s: a Secure cookie can only be set over https", c)
	case strings.HasPrefix(strings.ToLower(c.Name), "__secure-") && !c.Secure:
		return fmt.Errorf("%s: the __Secure- prefix requires the Secure attribute", c)
	case strings.HasPrefix(strings.ToLower(c.Name), "__host-") && (!c.Secure || !c.HostOnly || c.Path != "/"):
		return fmt.Errorf("%s: the __Host- prefix requires Secure, Path=/ and no Domain", c)
	case c.Path == "" || c.Path[0] != '/':
		return fmt.Errorf("%s: path must start with /", c)
	}
	return nil
}

// evict keeps the site and the jar within their limits.
func (j *Jar) evict(site string) {
	for len(j.sites[site]) > maxCookiesPerSite {
		j.removeLRU(site)
	}
	for j.n.Load() > maxCookies {
		j.removeLRU("")
	}
}

// removeLRU removes the least recently used cookie of site ("": any site).
func (j *Jar) removeLRU(site string) {
	var (
		victim     *entry
		victimSite string
	)
	for s, cookies := range j.sites {
		if site != "" && s != site {
			continue
		}
		for _, e := range cookies {
			if victim == nil || e.lastAccess.Before(victim.lastAccess) ||
				e.lastAccess.Equal(victim.lastAccess) && e.seq < victim.seq {
				victim, victimSite = e, s
			}
		}
	}
	if victim != nil {
		j.remove(victimSite, cookieKey{victim.Name, victim.Domain, victim.Path})
	}
}

func (j *Jar) remove(site string, key cookieKey) {
	if _, ok := j.sites[site][key]; !ok {
		return
	}
	delete(j.sites[site], key)
	if len(j.sites[site]) == 0 {
		delete(j.sites, site)
	}
	j.n.Add(-1)
}

// Cookies returns the cookies to send to u, as http.CookieJar requires:
// those whose domain and path match, Secure ones only over https, longest
// path first, then oldest first. Expired cookies are dropped on the way.
func (j *Jar) Cookies(u *url.URL) []*http.Cookie {
	if j.n.Load() == 0 {
		return nil
	}
	host, err := canonicalHost(u.Hostname())
	if err != nil {
		return nil
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	secure := u.Scheme == "https"
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	site := j.siteOf(host)
	var selected []*entry
	for key, e := range j.sites[site] {
		if !e.Expires.IsZero() && !e.Expires.After(now) {
			j.remove(site, key)
			continue
		}
		if (e.Secure && !secure) || !e.domainMatch(host) || !pathMatch(path, e.Path) {
			continue
		}
		e.lastAccess = now
		selected = append(selected, e)
	}
	if len(selected) == 0 {
		return nil
	}
	slices.SortFunc(selected, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(len(b.Path), len(a.Path)), byCreation(a, b))
	})
	out := make([]*http.Cookie, len(selected))
	for i, e := range selected {
		out[i] = &http.Cookie{Name: e.Name, Value: e.Value, Quoted: e.Quoted}
	}
	return out
}

// All returns a copy of every cookie the jar holds (expired ones are
// dropped first), oldest first: loading them in that order into another jar
// keeps the order in which they are sent.
func (j *Jar) All() []Cookie {
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	var all []*entry
	for site, cookies := range j.sites {
		for key, e := range cookies {
			if !e.Expires.IsZero() && !e.Expires.After(now) {
				j.remove(site, key)
				continue
			}
			all = append(all, e)
		}
	}
	slices.SortFunc(all, byCreation)
	out := make([]Cookie, len(all))
	for i, e := range all {
		out[i] = e.Cookie
	}
	return out
}

// Set stores c (replacing a cookie of the same name, domain and path) after
// checking it against the rules a Set-Cookie from c.Domain would meet: the
// domain is not a public suffix (unless HostOnly) nor an IP address with
// HostOnly unset, the name and value are valid, the prefixes hold. A Secure
// cookie is taken to come over https. A cookie already expired is not
// stored, and deletes the stored one. A zero Path means "/"; a zero Created
// means now.
func (j *Jar) Set(c Cookie) error {
	domain, err := canonicalHost(strings.TrimPrefix(c.Domain, "."))
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	attr := domain
	if c.HostOnly {
		attr = ""
	}
	var hostOnly bool
	c.Domain, hostOnly, err = j.cookieDomain(domain, attr)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	if hostOnly != c.HostOnly {
		return fmt.Errorf("%s: a public suffix or IP address can only hold host-only cookies", c)
	}
	if c.Path == "" {
		c.Path = "/"
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.store(c, domain, c.Secure, false, now)
}

// Load sets each cookie as [Jar.Set] does, and returns the errors of those
// it refused, joined; the others are stored.
func (j *Jar) Load(cookies []Cookie) error {
	var errs []error
	for _, c := range cookies {
		if err := j.Set(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delete removes the cookie with that name, domain and path, and reports
// whether there was one.
func (j *Jar) Delete(name, domain, path string) bool {
	domain, err := canonicalHost(strings.TrimPrefix(domain, "."))
	if err != nil {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	site, key := j.siteOf(domain), cookieKey{name, domain, path}
	_, ok := j.sites[site][key]
	j.remove(site, key)
	return ok
}

// Clear removes every cookie.
func (j *Jar) Clear() {
	j.mu.Lock()
	defer j.mu.Unlock()
	clear(j.sites)
	j.n.Store(0)
}

// cookieDomain decides the domain of a cookie from host with the Domain
// attribute attr (RFC 6265, section 5.3, steps 4 to 6).
func (j *Jar) cookieDomain(host, attr string) (domain string, hostOnly bool, err error) {
	if attr == "" {
		return host, true, nil
	}
	attr = strings.TrimPrefix(attr, ".")
	if attr == "" || strings.HasSuffix(attr, ".") {
		return "", false, fmt.Errorf("bad domain %q", attr)
	}
	if net.ParseIP(host) != nil {
		// An IP address matches only itself, as a host-only cookie.
		if strings.EqualFold(attr, host) || net.ParseIP(attr).Equal(net.ParseIP(host)) {
			return host, true, nil
		}
		return "", false, fmt.Errorf("domain %q does not match the address %s", attr, host)
	}
	domain, err = canonicalHost(attr)
	if err != nil {
		return "", false, err
	}
	if ps := j.psl.PublicSuffix(domain); ps != "" && !strings.HasSuffix(domain, "."+ps) {
		// The domain is a public suffix: only that host itself may set a
		// cookie on it, and only a host-only one.
		if host == domain {
			return host, true, nil
		}
		return "", false, fmt.Errorf("domain %q is a public suffix", domain)
	}
	if host != domain && !strings.HasSuffix(host, "."+domain) {
		return "", false, fmt.Errorf("domain %q does not match host %s", domain, host)
	}
	return domain, false, nil
}

// siteOf returns the key cookies for domain are kept under: its registrable
// domain (eTLD+1), or domain itself when it has none (an IP address, a
// public suffix). A cookie's domain and every host it goes to share it.
func (j *Jar) siteOf(domain string) string {
	if net.ParseIP(domain) != nil {
		return domain
	}
	ps := j.psl.PublicSuffix(domain)
	if ps == "" || !strings.HasSuffix(domain, "."+ps) {
		return domain
	}
	rest := domain[:len(domain)-len(ps)-1]
	return rest[strings.LastIndexByte(rest, '.')+1:] + "." + ps
}

func byCreation(a, b *entry) int {
	return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.seq, b.seq))
}

func (e *entry) domainMatch(host string) bool {
	if e.Domain == host {
		return true
	}
	return !e.HostOnly && strings.HasSuffix(host, "."+e.Domain) && net.ParseIP(host) == nil
}

// pathMatch implements RFC 6265, section 5.1.4.
func pathMatch(reqPath, cookiePath string) bool {
	if reqPath == cookiePath {
		return true
	}
	if !strings.HasPrefix(reqPath, cookiePath) {
		return false
	}
	return strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/'
}

// defaultCookiePath implements RFC 6265, section 5.1.4: the directory of
// the request path.
func defaultCookiePath(p string) string {
	if p == "" || p[0] != '/' {
		return "/"
	}
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// canonicalHost lower-cases host, drops a trailing dot and turns an
// internationalised name into ASCII.
func canonicalHost(host string) (string, error) {
	if host == "" {
		return "", errors.New("no host")
	}
	if net.ParseIP(host) != nil {
		return strings.ToLower(host), nil
	}
	host = strings.TrimSuffix(host, ".")
	// A name with an empty label ("0..", "a..b", ".x") is no host name;
	// stored, it would come back under another name.
	if host == "" || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return "", fmt.Errorf("bad host name %q: an empty label", host)
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			ascii, err := idna.Lookup.ToASCII(host)
			if err != nil {
				return "", fmt.Errorf("bad host name: %w", err)
			}
			return strings.ToLower(ascii), nil
		}
	}
	return strings.ToLower(host), nil
}
