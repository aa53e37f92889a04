package sessionfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/courierhttp/courier/cookiejar"
)

// ImportHTTPie adds the identity of the HTTPie session file at path to f:
// its headers replace f's of the same name, its auth (if it has one)
// replaces f.Auth, and its cookies are stored in f.Jar, which Load or New
// made (a nil Jar gets a new one). host is the host the HTTPie session was
// used with, as host or host:port: the one in the session's directory name
// (~/.config/httpie/sessions/<host>/<name>.json), or the host of the URL
// given with --session.
//
// Both layouts are read: the one of HTTPie before 3.1 (headers and cookies
// as objects keyed by name) and the one of 3.1 and later (lists, with a
// domain for each cookie). A cookie with no domain (every cookie of the old
// layout) is bound to host as a host-only cookie: HTTPie sent such cookies
// to every host (CVE-2022-24737), courier sends them to host alone. A
// domain with a leading dot is a domain cookie, for its subdomains too; one
// without is host-only, as Python's cookie jar meant it. expires is a Unix
// time or null (a session cookie). HTTPie keeps neither HttpOnly nor
// SameSite, and imported cookies have neither.
//
// Auth of type basic and digest (raw_auth "user:password", or the old
// username and password) and bearer (raw_auth the token) are imported;
// another type (an HTTPie plugin's) is an error. Content-* and If-*
// headers are left out, as HTTPie itself does.
//
// Nothing is changed unless the whole file can be read: an error leaves f
// as it was. A cookie the jar refuses is not an error; it is appended to
// f.Refused. The HTTPie file's mode is not checked: HTTPie writes its
// session files with the default mode (0644 under the usual umask) and
// relies on its 0700 directory. Save f to write the courier file, and
// consider removing the HTTPie one.
func (f *File) ImportHTTPie(path, host string) error {
	data, err := readHTTPie(path)
	if err != nil {
		return err
	}
	if err := f.importHTTPie(data, host); err != nil {
		return &FormatError{Path: path, Err: err}
	}
	return nil
}

// importHTTPie imports the HTTPie session file data.
func (f *File) importHTTPie(data []byte, host string) error {
	imp, err := parseHTTPie(data, host)
	if err != nil {
		return err
	}
	if f.Header == nil {
		f.Header = http.Header{}
	}
	for k, vs := range imp.header {
		f.Header[k] = vs
	}
	if imp.auth != nil {
		f.Auth = imp.auth
	}
	if f.Jar == nil {
		f.Jar = cookiejar.New(cookiejar.Options{})
	}
	// HTTPie keeps no creation time: the cookies are created now, in the
	// file's order.
	now := f.clock()
	for i := range imp.cookies {
		imp.cookies[i].Created = now
	}
	f.Refused = append(f.Refused, loadCookies(f.Jar, imp.cookies)...)
	return nil
}

func readHTTPie(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sessionfile: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("sessionfile: read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, &FormatError{path, fmt.Errorf("larger than %d MiB", maxFileSize>>20)}
	}
	return data, nil
}

// imported is what an HTTPie session file holds.
type imported struct {
	header  http.Header
	auth    *Auth
	cookies []cookiejar.Cookie
}

func parseHTTPie(data []byte, host string) (imported, error) {
	var imp imported
	host, err := boundHost(host)
	if err != nil {
		return imp, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return imp, jsonProblem(err, data)
	}
	if top == nil {
		return imp, errors.New("not a JSON object")
	}
	if _, ok := top["courier_session"]; ok {
		return imp, errors.New("a courier session file, not an HTTPie one: read it with Load")
	}
	if imp.header, err = httpieHeaders(top["headers"]); err != nil {
		return imp, err
	}
	if imp.cookies, err = httpieCookies(top["cookies"], host); err != nil {
		return imp, err
	}
	if imp.auth, err = httpieAuth(top["auth"]); err != nil {
		return imp, err
	}
	return imp, nil
}

// boundHost returns the host of host[:port], lower case, without a
// trailing dot.
func boundHost(host string) (string, error) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	// A name with an empty label ("..x", ".x") is no host: the jar would
	// store its cookies under one name and load them back under another.
	if host == "" || strings.ContainsAny(host, "/ ") || strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
		return "", fmt.Errorf("bad host %q: want host or host:port", clip(host))
	}
	return host, nil
}

// httpieHeaders reads headers as an object of names to values (before
// HTTPie 3.2) or a list of {name, value} (3.2 and later, which allows a
// name more than once).
func httpieHeaders(raw json.RawMessage) (http.Header, error) {
	h := http.Header{}
	if raw == nil || isNull(raw) {
		return h, nil
	}
	type pair struct{ name, value json.RawMessage }
	var pairs []pair
	var asMap map[string]json.RawMessage
	var asList []json.RawMessage
	switch {
	case json.Unmarshal(raw, &asMap) == nil:
		for _, k := range slices.Sorted(maps.Keys(asMap)) {
			name, _ := json.Marshal(k)
			pairs = append(pairs, pair{name, asMap[k]})
		}
	case json.Unmarshal(raw, &asList) == nil:
		for i, item := range asList {
			o, err := asObject(item, fmt.Sprintf("headers[%d]", i))
			if err != nil {
				return nil, err
			}
			if _, err := o.field("name"); err != nil {
				return nil, err
			}
			if _, err := o.field("value"); err != nil {
				return nil, err
			}
			pairs = append(pairs, pair{o.m["name"], o.m["value"]})
		}
	default:
		return nil, errors.New("headers: want an object or an array")
	}
	for i, p := range pairs {
		var name, value string
		if json.Unmarshal(p.name, &name) != nil || isNull(p.name) {
			return nil, fmt.Errorf("headers[%d].name: want a string", i)
		}
		if isNull(p.value) {
			continue // HTTPie's "unset"
		}
		if json.Unmarshal(p.value, &value) != nil {
			return nil, fmt.Errorf("headers[%q]: want a string", clip(name))
		}
		k := http.CanonicalHeaderKey(name)
		if notStored(k) {
			continue
		}
		h[k] = append(h[k], value)
	}
	return h, checkHeader(h)
}

// httpieCookies reads cookies as an object of names to attributes (before
// HTTPie 3.1) or a list of attributes with a name (3.1 and later).
func httpieCookies(raw json.RawMessage, host string) ([]cookiejar.Cookie, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	var items []object
	var asMap map[string]json.RawMessage
	var asList []json.RawMessage
	switch {
	case json.Unmarshal(raw, &asMap) == nil:
		for _, name := range slices.Sorted(maps.Keys(asMap)) {
			o, err := asObject(asMap[name], fmt.Sprintf("cookies[%q]", clip(name)))
			if err != nil {
				return nil, err
			}
			o.m["name"], _ = json.Marshal(name)
			items = append(items, o)
		}
	case json.Unmarshal(raw, &asList) == nil:
		for i, item := range asList {
			o, err := asObject(item, fmt.Sprintf("cookies[%d]", i))
			if err != nil {
				return nil, err
			}
			items = append(items, o)
		}
	default:
		return nil, errors.New("cookies: want an object or an array")
	}
	cookies := make([]cookiejar.Cookie, 0, len(items))
	for _, o := range items {
		c, err := httpieCookie(o, host)
		if err != nil {
			return nil, err
		}
		cookies = append(cookies, c)
	}
	return cookies, nil
}

func httpieCookie(o object, host string) (cookiejar.Cookie, error) {
	var c cookiejar.Cookie
	var err error
	if c.Name, err = o.str("name"); err != nil {
		return c, err
	}
	if c.Value, err = o.str("value"); err != nil {
		return c, err
	}
	if len(c.Value) >= 2 && c.Value[0] == '"' && c.Value[len(c.Value)-1] == '"' {
		c.Value, c.Quoted = c.Value[1:len(c.Value)-1], true
	}
	var domain string
	if domain, err = o.optStr("domain"); err != nil {
		return c, err
	}
	c.Domain, c.HostOnly = httpieDomain(strings.ToLower(domain), host)
	if c.Path, err = o.optStr("path"); err != nil {
		return c, err
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if raw, ok := o.m["secure"]; ok && !isNull(raw) {
		if c.Secure, err = o.boolean("secure"); err != nil {
			return c, err
		}
	}
	if raw, ok := o.m["expires"]; ok && !isNull(raw) {
		var sec float64
		if err := json.Unmarshal(raw, &sec); err != nil {
			return c, fmt.Errorf("%s.expires: want a Unix time or null", o.where)
		}
		// Within the years the file format holds; long past is expired
		// all the same.
		sec = math.Max(1, math.Min(sec, 253402300799))
		whole, frac := math.Modf(sec)
		c.Expires = time.Unix(int64(whole), int64(frac*1e9))
	}
	return c, nil
}

// httpieDomain turns a domain as Python's cookie jar stores it into a jar
// domain: none means host, bound as host-only; a leading dot marks a domain
// cookie; a name without one is the host that set it. The jar stores a
// dotless host such as localhost as "localhost.local".
func httpieDomain(domain, host string) (string, bool) {
	switch {
	case domain == "":
		return host, true
	case strings.HasPrefix(domain, "."):
		return domain[1:], false
	case !strings.Contains(host, ".") && domain == host+".local":
		return host, true
	}
	return domain, true
}

// optStr reads a string that may be missing or null (both "").
func (o object) optStr(key string) (string, error) {
	if raw, ok := o.m[key]; !ok || isNull(raw) {
		return "", nil
	}
	return o.str(key)
}

// httpieAuth reads {type, raw_auth} (HTTPie 2.x and later) or the older
// {type, username, password}.
func httpieAuth(raw json.RawMessage) (*Auth, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	o, err := asObject(raw, "auth")
	if err != nil {
		return nil, err
	}
	typ, err := o.optStr("type")
	if err != nil || typ == "" {
		return nil, err
	}
	a := &Auth{Type: typ}
	rawAuth, hasRaw := o.m["raw_auth"]
	hasRaw = hasRaw && !isNull(rawAuth)
	switch {
	case typ != AuthBasic && typ != AuthDigest && typ != AuthBearer:
		return nil, fmt.Errorf("auth: type %q (an HTTPie plugin's?) cannot be imported; courier has basic, digest and bearer", clip(typ))
	case hasRaw && typ == AuthBearer:
		a.Token, err = o.str("raw_auth")
	case hasRaw:
		var s string
		if s, err = o.str("raw_auth"); err == nil {
			a.Username, a.Password = splitCredentials(s)
		}
	case typ == AuthBearer:
		err = errors.New("auth: type bearer without raw_auth")
	default:
		if a.Username, err = o.optStr("username"); err == nil {
			a.Password, err = o.optStr("password")
		}
	}
	if err != nil {
		return nil, err
	}
	return a, a.check()
}

// splitCredentials splits HTTPie's "user:password" at the first ':' that
// is not escaped as "\:"; an escaped one is a ':' of the user name or
// password, and any other backslash stays as it is. Without a ':', the
// password is empty.
func splitCredentials(s string) (user, password string) {
	var b strings.Builder
	split := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && s[i+1] == ':':
			b.WriteByte(':')
			i++
		case c == '\\' && i+1 < len(s):
			b.WriteString(s[i : i+2])
			i++
		case c == ':' && !split:
			user, split = b.String(), true
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if !split {
		return b.String(), ""
	}
	return user, b.String()
}
