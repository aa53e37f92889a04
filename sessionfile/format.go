package sessionfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/courierhttp/courier/cookiejar"
)

// maxFileSize bounds what Load reads: a full jar (3000 cookies of 4 KiB)
// fits many times over.
const maxFileSize = 64 << 20

// readFile reads and parses the session file at path.
func readFile(path string) (identity, error) {
	// Stat before opening: opening a FIFO would block.
	fi, err := os.Stat(path)
	if err != nil {
		return identity{}, fmt.Errorf("sessionfile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return identity{}, &FormatError{path, errors.New("not a regular file")}
	}
	fh, err := os.Open(path)
	if err != nil {
		return identity{}, fmt.Errorf("sessionfile: %w", err)
	}
	defer fh.Close()
	if fi, err = fh.Stat(); err != nil {
		return identity{}, fmt.Errorf("sessionfile: %w", err)
	}
	if err := checkMode(path, fi); err != nil {
		return identity{}, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return identity{}, fmt.Errorf("sessionfile: read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return identity{}, &FormatError{path, fmt.Errorf("larger than %d MiB", maxFileSize>>20)}
	}
	id, err := parse(data)
	if err != nil {
		return identity{}, &FormatError{path, err}
	}
	return id, nil
}

// parse reads a session file's content. Its errors name fields and offsets,
// never content.
func parse(data []byte) (identity, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return identity{}, jsonProblem(err, data)
	}
	if top == nil {
		return identity{}, errors.New("not a JSON object")
	}
	root := object{where: "file", m: top}
	if err := checkVersion(root); err != nil {
		return identity{}, err
	}
	if err := root.unknown("courier_session", "headers", "auth", "cookies"); err != nil {
		return identity{}, err
	}
	var id identity
	var err error
	if id.header, err = parseHeaders(top["headers"]); err != nil {
		return identity{}, err
	}
	if id.auth, err = parseAuth(top["auth"]); err != nil {
		return identity{}, err
	}
	if raw := top["cookies"]; raw != nil && !isNull(raw) {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return identity{}, errors.New("cookies: want an array")
		}
		for i, raw := range list {
			c, err := parseCookie(raw, fmt.Sprintf("cookies[%d]", i))
			if err != nil {
				return identity{}, err
			}
			id.addCookie(c, i)
		}
	}
	return id, nil
}

// jsonProblem describes a JSON syntax error by its offset alone: the
// standard messages quote the offending character.
func jsonProblem(err error, data []byte) error {
	var se *json.SyntaxError
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return errors.New("empty file (a torn write?)")
	case errors.As(err, &se) && se.Offset >= int64(len(data)):
		return fmt.Errorf("cut short: the JSON ends at byte %d before it is complete (a torn write?)", len(data))
	case errors.As(err, &se):
		return fmt.Errorf("not valid JSON (near byte %d)", se.Offset)
	}
	return errors.New("not a JSON object")
}

func checkVersion(root object) error {
	raw, ok := root.m["courier_session"]
	if !ok {
		if _, ok := root.m["__meta__"]; ok {
			return errors.New("an HTTPie session file, not a courier one: import it with File.ImportHTTPie")
		}
		return errors.New(`not a courier session file: no "courier_session" version field`)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || isNull(raw) || v != math.Trunc(v) || v < 1 {
		return fmt.Errorf("%w: courier_session must be a positive whole number", ErrVersion)
	}
	if v > Version {
		return fmt.Errorf("%w %g: written by a newer courier (this one reads version %d); upgrade to read it", ErrVersion, v, Version)
	}
	if v != Version {
		return fmt.Errorf("%w %g (this package reads version %d)", ErrVersion, v, Version)
	}
	return nil
}

func parseHeaders(raw json.RawMessage) (http.Header, error) {
	h := http.Header{}
	if raw == nil || isNull(raw) {
		return h, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("headers: want an object of header names to arrays of values")
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		var vs []string
		if err := json.Unmarshal(m[name], &vs); err != nil || isNull(m[name]) {
			return nil, fmt.Errorf("headers[%q]: want an array of strings", clip(name))
		}
		if len(vs) == 0 {
			continue
		}
		k := http.CanonicalHeaderKey(name)
		h[k] = append(h[k], vs...)
	}
	return h, checkHeader(h)
}

// checkHeader reports a header that a session could not send, and that
// Load would refuse. It quotes names, never values.
func checkHeader(h http.Header) error {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("headers: %q is not a valid header name", clip(name))
		}
		for _, v := range h[name] {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("headers[%q]: a value holds a control character (such as CR or LF)", name)
			}
		}
	}
	return nil
}

func parseAuth(raw json.RawMessage) (*Auth, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	o, err := asObject(raw, "auth")
	if err != nil {
		return nil, err
	}
	if err := o.unknown("type", "username", "password", "token"); err != nil {
		return nil, err
	}
	var a Auth
	if a.Type, err = o.str("type"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		v   *string
	}{{"username", &a.Username}, {"password", &a.Password}, {"token", &a.Token}} {
		if _, ok := o.m[f.key]; !ok {
			continue
		}
		if *f.v, err = o.str(f.key); err != nil {
			return nil, err
		}
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	return &a, nil
}

func parseCookie(raw json.RawMessage, where string) (cookiejar.Cookie, error) {
	var c cookiejar.Cookie
	o, err := asObject(raw, where)
	if err != nil {
		return c, err
	}
	if err := o.unknown(cookieFields...); err != nil {
		return c, err
	}
	for _, f := range []struct {
		key string
		v   *string
	}{{"name", &c.Name}, {"value", &c.Value}, {"domain", &c.Domain}, {"path", &c.Path}} {
		if *f.v, err = o.str(f.key); err != nil {
			return c, err
		}
	}
	for _, f := range []struct {
		key string
		v   *bool
	}{{"quoted", &c.Quoted}, {"host_only", &c.HostOnly}, {"secure", &c.Secure}, {"http_only", &c.HttpOnly}} {
		if *f.v, err = o.boolean(f.key); err != nil {
			return c, err
		}
	}
	sameSite, err := o.str("same_site")
	if err != nil {
		return c, err
	}
	var ok bool
	if c.SameSite, ok = parseSameSite(sameSite); !ok {
		return c, fmt.Errorf(`%s.same_site: want "", "default", "lax", "strict" or "none"`, where)
	}
	if c.Expires, err = o.time("expires", true); err != nil {
		return c, err
	}
	if c.Created, err = o.time("created", false); err != nil {
		return c, err
	}
	if err := checkTimes(c); err != nil {
		return c, fmt.Errorf("%s: %w", where, err)
	}
	return c, nil
}

var cookieFields = []string{"name", "value", "quoted", "domain", "host_only", "path", "expires",
	"secure", "http_only", "same_site", "created"}

var sameSiteNames = []struct {
	mode http.SameSite
	name string
}{
	{0, ""},
	{http.SameSiteDefaultMode, "default"},
	{http.SameSiteLaxMode, "lax"},
	{http.SameSiteStrictMode, "strict"},
	{http.SameSiteNoneMode, "none"},
}

func parseSameSite(s string) (http.SameSite, bool) {
	for _, n := range sameSiteNames {
		if n.name == s {
			return n.mode, true
		}
	}
	return 0, false
}

func sameSiteName(m http.SameSite) string {
	for _, n := range sameSiteNames {
		if n.mode == m {
			return n.name
		}
	}
	return "default"
}

// object is a JSON object being read, with where it sits for errors.
type object struct {
	where string
	m     map[string]json.RawMessage
}

func asObject(raw json.RawMessage, where string) (object, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return object{}, fmt.Errorf("%s: want an object", where)
	}
	return object{where, m}, nil
}

// unknown reports a field other than those allowed. A field name that does
// not look like one of the format's is not quoted.
func (o object) unknown(allowed ...string) error {
	for _, k := range slices.Sorted(maps.Keys(o.m)) {
		if slices.Contains(allowed, k) {
			continue
		}
		if len(k) <= 40 && isFieldName(k) {
			return fmt.Errorf("%s: unknown field %q", o.where, k)
		}
		return fmt.Errorf("%s: an unknown field", o.where)
	}
	return nil
}

func isFieldName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

func (o object) field(key string) (json.RawMessage, error) {
	raw, ok := o.m[key]
	if !ok {
		return nil, fmt.Errorf("%s: no %q field", o.where, key)
	}
	return raw, nil
}

func (o object) str(key string) (string, error) {
	raw, err := o.field(key)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || isNull(raw) {
		return "", fmt.Errorf("%s.%s: want a string", o.where, key)
	}
	return s, nil
}

func (o object) boolean(key string) (bool, error) {
	raw, err := o.field(key)
	if err != nil {
		return false, err
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil || isNull(raw) {
		return false, fmt.Errorf("%s.%s: want true or false", o.where, key)
	}
	return b, nil
}

// time reads an RFC 3339 time; null gives the zero time where nullable.
func (o object) time(key string, nullable bool) (time.Time, error) {
	raw, err := o.field(key)
	if err != nil {
		return time.Time{}, err
	}
	if nullable && isNull(raw) {
		return time.Time{}, nil
	}
	want := "want an RFC 3339 time"
	if nullable {
		want += " or null"
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || isNull(raw) {
		return time.Time{}, fmt.Errorf("%s.%s: %s", o.where, key, want)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s.%s: %s", o.where, key, want)
	}
	return t, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// The file's layout, for writing.
type (
	fileJSON struct {
		Version int                 `json:"courier_session"`
		Headers map[string][]string `json:"headers"`
		Auth    *authJSON           `json:"auth"`
		Cookies []cookieJSON        `json:"cookies"`
	}
	authJSON struct {
		Type     string `json:"type"`
		Username string `json:"username,omitempty"`
		Password string `json:"password,omitempty"`
		Token    string `json:"token,omitempty"`
	}
	cookieJSON struct {
		Name     string  `json:"name"`
		Value    string  `json:"value"`
		Quoted   bool    `json:"quoted"`
		Domain   string  `json:"domain"`
		HostOnly bool    `json:"host_only"`
		Path     string  `json:"path"`
		Expires  *string `json:"expires"`
		Secure   bool    `json:"secure"`
		HTTPOnly bool    `json:"http_only"`
		SameSite string  `json:"same_site"`
		Created  string  `json:"created"`
	}
)

// encode writes id in the file's layout: cookies oldest first, headers by
// name, indented, ending in a newline.
func encode(id identity) ([]byte, error) {
	out := fileJSON{Version: Version, Headers: map[string][]string{}, Cookies: []cookieJSON{}}
	for k, vs := range id.header {
		out.Headers[k] = vs
	}
	if a := id.auth; a != nil {
		out.Auth = &authJSON{a.Type, a.Username, a.Password, a.Token}
	}
	for _, c := range id.sortedCookies() {
		if err := checkTimes(c); err != nil {
			return nil, err
		}
		cj := cookieJSON{
			Name: c.Name, Value: c.Value, Quoted: c.Quoted, Domain: c.Domain, HostOnly: c.HostOnly,
			Path: c.Path, Secure: c.Secure, HTTPOnly: c.HttpOnly, SameSite: sameSiteName(c.SameSite),
			Created: formatTime(c.Created),
		}
		if !c.Expires.IsZero() {
			s := formatTime(c.Expires)
			cj.Expires = &s
		}
		out.Cookies = append(out.Cookies, cj)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// WritePrivate replaces path with data as the package writes session
// files: mode 0600, through a temporary file beside it, synced and renamed
// over path, so that path holds the old data or the new, never a part of
// either. The CLI writes the cookies.txt files it exports with it.
func WritePrivate(path string, data []byte) error { return writeAtomic(path, data) }

// writeAtomic replaces path with data: a temporary file in the same
// directory, mode 0600, synced, renamed over path, and the directory
// synced. On failure the temporary file is removed and path is untouched.
func writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The new file is in place; a failure from here on is one of
	// durability only.
	return syncDir(dir)
}
