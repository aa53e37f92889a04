package courier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/courierhttp/courier/internal/redact"
	"golang.org/x/net/http/httpguts"
)

// parseAbsoluteURL parses raw strictly: http or https, a non-empty host, and
// a port in range.
func parseAbsoluteURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("empty URL")
	}
	if !httpguts.ValidHeaderFieldValue(raw) || strings.ContainsAny(raw, " \t") {
		return nil, errors.New("URL contains a space or control character")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, parseError("URL", err)
	}
	if err := checkAbsolute(u); err != nil {
		return nil, err
	}
	return u, nil
}

// parseError reports a url.Parse failure without the *url.Error wrapper,
// whose text repeats the whole input (and whatever secret is in it).
func parseError(what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot parse %s: %w", what, err)
}

func checkAbsolute(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		u.Scheme = strings.ToLower(u.Scheme)
	case "":
		return errors.New("URL has no scheme (want http:// or https://)")
	default:
		return fmt.Errorf("unsupported scheme %q (want http or https)", u.Scheme)
	}
	if u.Opaque != "" {
		return errors.New("URL is not hierarchical (want scheme://host/path)")
	}
	if u.Hostname() == "" {
		return errors.New("URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q out of range", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("URL has an empty port")
	}
	return nil
}

// resolve turns a request path into the URL to send: a full URL is used as
// given; anything else is appended to the base URL's path. Query parameters
// are assembled in order: the base URL's, the session's, the path's, the
// request's.
//
// The result is written into u, which the caller allocated (the request's
// own URL), so that resolving costs no URL of its own. When parsed is true,
// u already holds path parsed (a full URL that NewRequestWithContext parsed
// into the request), and is only checked and completed.
func (s *Session) resolve(path string, reqQuery []queryParam, u *url.URL, parsed bool) error {
	pathQuery := ""
	if simplePath(path) && s.cfg.baseURL != nil {
		// Fast path: nothing to parse, escape or clean.
		*u = *s.cfg.baseURL
		u.Path = joinPath(s.cfg.baseURL.Path, path)
		if u.RawPath != "" {
			u.RawPath = joinPath(s.cfg.baseURL.RawPath, path)
		}
	} else {
		ref := u
		if !parsed { // fullHTTPURL checked a parsed path already
			if !validPathText(path) {
				return errors.New("path contains a space or control character")
			}
			var err error
			if ref, err = url.Parse(path); err != nil {
				return parseError("path", err)
			}
		}
		switch {
		case ref.Scheme != "":
			if err := checkAbsolute(ref); err != nil {
				return err
			}
			// The URL's own query is the request path's: it goes after the
			// session's parameters, as the Query option documents.
			*u, pathQuery = *ref, ref.RawQuery
			u.RawQuery = ""
		case ref.Host != "" || strings.HasPrefix(path, "//"):
			return errors.New("path starting with // is ambiguous: give a full URL with a scheme")
		case s.cfg.baseURL == nil:
			return errors.New("relative path and no base URL (use WithBaseURL or a full URL)")
		default:
			v := *s.cfg.baseURL
			escaped, err := appendEscapedPath(s.cfg.baseURL.EscapedPath(), ref.EscapedPath())
			if err != nil {
				return err
			}
			unescaped, err := url.PathUnescape(escaped)
			if err != nil {
				return fmt.Errorf("cannot parse path: %w", err)
			}
			v.Path, v.RawPath = unescaped, ""
			if v.EscapedPath() != escaped {
				v.RawPath = escaped
			}
			pathQuery = ref.RawQuery
			*u = v
		}
		u.Fragment, u.RawFragment = "", ""
	}
	session := s.cfg.query
	if !s.sendsCredentials(u) {
		// Session parameters are part of the session's API (an API key,
		// a version): another origin gets none of them.
		session = nil
	}
	if len(session) > 0 || len(reqQuery) > 0 || pathQuery != "" {
		u.RawQuery = buildQuery(u.RawQuery, session, pathQuery, reqQuery)
	}
	return nil
}

// buildQuery joins raw query strings and parameters in order, keeping raw
// parts as they were written and escaping parameters.
func buildQuery(base string, session []queryParam, path string, request []queryParam) string {
	var b strings.Builder
	add := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(s)
	}
	addParams := func(ps []queryParam) {
		for _, p := range ps {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(p.key))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(p.value))
		}
	}
	add(base)
	addParams(session)
	add(path)
	addParams(request)
	return b.String()
}

// simplePath reports whether p needs no parsing: only unreserved characters,
// '/' and a few sub-delimiters, and no dot segments.
func simplePath(p string) bool {
	if strings.HasPrefix(p, "//") {
		return false
	}
	prevSlash := true
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '~':
		case c == '/':
		case c == '.':
			if prevSlash {
				return false // possible dot segment
			}
		default:
			return false
		}
		prevSlash = c == '/'
	}
	return true
}

func joinPath(base, p string) string {
	if p == "" {
		if base == "" {
			return "/"
		}
		return base
	}
	base = strings.TrimSuffix(base, "/")
	if p[0] == '/' {
		return base + p
	}
	return base + "/" + p
}

// appendEscapedPath appends the escaped request path to the escaped base path
// and removes dot segments from the request's part. A ".." that would climb
// above the base path is an error: it is almost always a bug or an attack,
// and silently rewriting it (as RFC 3986 resolution does) hides both.
func appendEscapedPath(base, p string) (string, error) {
	base = strings.TrimSuffix(base, "/")
	if p == "" {
		if base == "" {
			return "/", nil
		}
		return base, nil
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	out := make([]string, 0, len(segs))
	trailingSlash := false
	for i, seg := range segs {
		last := i == len(segs)-1
		if hiddenDotSegment(seg) {
			return "", fmt.Errorf("path %q has a dot segment behind an encoded slash: a server that decodes it would climb", p)
		}
		switch dotSegment(seg) {
		case 1:
			trailingSlash = last
		case 2:
			if len(out) == 0 {
				return "", fmt.Errorf("path %q climbs above the base path", p)
			}
			out = out[:len(out)-1]
			trailingSlash = last
		default:
			out = append(out, seg)
			trailingSlash = false
		}
	}
	joined := base + "/" + strings.Join(out, "/")
	if trailingSlash && !strings.HasSuffix(joined, "/") {
		joined += "/"
	}
	if strings.HasPrefix(joined, "//") {
		// Servers and proxies read a request-target "//host/..." as an
		// authority, whatever the connection.
		return "", fmt.Errorf("path %q resolves to %q, which reads as a host: give a full URL", p, joined)
	}
	return joined, nil
}

// hiddenDotSegment reports whether a segment holds an encoded slash or
// backslash (%2F, %5C) with a dot segment beside it ("..%2f",
// "a%2F..%2Fb"): servers that decode %2F before they remove dot segments
// read it as one.
func hiddenDotSegment(seg string) bool {
	lower := strings.ToLower(seg)
	if !strings.Contains(lower, "%2f") && !strings.Contains(lower, "%5c") {
		return false
	}
	for part := range strings.FieldsFuncSeq(strings.ReplaceAll(strings.ReplaceAll(lower, "%2f", "/"), "%5c", "/"), func(r rune) bool { return r == '/' }) {
		if dotSegment(part) != 0 {
			return true
		}
	}
	return false
}

// dotSegment returns 1 for ".", 2 for "..", counting their percent-encoded
// forms, which servers decode too.
func dotSegment(seg string) int {
	s := strings.ReplaceAll(strings.ReplaceAll(seg, "%2e", "."), "%2E", ".")
	switch s {
	case ".":
		return 1
	case "..":
		return 2
	}
	return 0
}

func validMethod(m string) bool {
	return m != "" && httpguts.ValidHeaderFieldName(m)
}

// newRequest builds the request for Do: layer 1 of the request path.
func (s *Session) newRequest(ctx context.Context, method, path string, rc *requestConfig) (*http.Request, error) {
	if !validMethod(method) {
		return nil, fmt.Errorf("method %q is not a valid token", method)
	}
	// A full URL is parsed once, by NewRequestWithContext, straight into
	// the request's URL, rather than parsed by resolve and copied over.
	raw := ""
	if fullHTTPURL(path) {
		raw = path
	}
	req, err := http.NewRequestWithContext(ctx, method, raw, nil)
	if err != nil {
		if raw != "" {
			return nil, parseError("path", err)
		}
		return nil, err
	}
	u := req.URL
	if err := s.resolve(path, rc.query, u, raw != ""); err != nil {
		return nil, err
	}
	user := u.User
	u.User = nil // credentials never travel in the URL
	req.URL, req.Host = u, u.Host
	req.Header = s.requestHeader(rc, u)
	if user != nil && req.Header.Get("Authorization") == "" {
		// As http.Client does: userinfo in a full URL is Basic auth for
		// that URL's origin (redirects to another origin drop it).
		pass, _ := user.Password()
		req.SetBasicAuth(user.Username(), pass)
	}
	if rc.body.set {
		if err := setBody(req, &rc.body); err != nil {
			return nil, err
		}
		// The body's type (JSON, Form) replaces a session default; only the
		// request's own Header, AddHeader or RemoveHeader changes it.
		if ct := rc.body.contentType; ct != "" && !rc.setsHeader("Content-Type") {
			req.Header["Content-Type"] = []string{ct}
		}
		if rc.progress != nil {
			watchUpload(req, rc.progress)
		}
	}
	return req, nil
}

// fullHTTPURL reports whether path is a full http or https URL that
// NewRequestWithContext parses as resolve would: no space or control
// character, and no empty port (which NewRequestWithContext drops and
// checkAbsolute refuses).
func fullHTTPURL(path string) bool {
	var authority string
	switch {
	case len(path) > 7 && strings.EqualFold(path[:7], "http://"):
		authority = path[7:]
	case len(path) > 8 && strings.EqualFold(path[:8], "https://"):
		authority = path[8:]
	default:
		return false
	}
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	return !strings.HasSuffix(authority, ":") && validPathText(path)
}

// validPathText reports whether a request path holds no space or control
// character.
func validPathText(path string) bool {
	return httpguts.ValidHeaderFieldValue(path) && !strings.ContainsAny(path, " \t")
}

// setsHeader reports whether the request's options touch header k
// (canonical).
func (r *requestConfig) setsHeader(k string) bool {
	for _, op := range r.headerOps {
		if http.CanonicalHeaderKey(op.key) == k {
			return true
		}
	}
	return false
}

// requestHeader builds the request's header: session defaults, then the
// request's operations. Value slices of the session's defaults are shared
// (they are clipped, so an append copies), which saves a copy per request.
// Sensitive defaults go only to the session's own origin (see
// Session.sendsCredentials).
func (s *Session) requestHeader(rc *requestConfig, u *url.URL) http.Header {
	creds := s.sendsCredentials(u)
	n, keys := s.plain.values, len(s.plain.h)
	if creds {
		n, keys = n+s.creds.values, keys+len(s.creds.h)
	}
	h := make(http.Header, keys+len(rc.headerOps)+1)
	// The request gets its own copy of the values, in one backing array
	// (as Header.Clone does): Response.Request.Header must not reach the
	// session's defaults.
	vals := make([]string, 0, n)
	vals = copyHeader(h, s.plain.h, vals)
	if creds {
		copyHeader(h, s.creds.h, vals)
	}
	for k := range s.cfg.removedHeader {
		markRemoved(h, k)
	}
	for _, op := range rc.headerOps {
		k := http.CanonicalHeaderKey(op.key)
		switch op.op {
		case headerSet:
			h[k] = []string{op.value}
		case headerAdd:
			if isRemoved(h, k) {
				delete(h, k)
			}
			h[k] = append(h[k][:len(h[k]):len(h[k])], op.value)
		case headerRemove:
			markRemoved(h, k)
		}
	}
	return h
}

// defaults is a set of session default headers and its number of values.
type defaults struct {
	h      http.Header
	values int
}

func newDefaults(h http.Header, keep func(string) bool) defaults {
	d := defaults{h: http.Header{}}
	for k, v := range h {
		if keep(k) {
			d.h[k] = v
			d.values += len(v)
		}
	}
	return d
}

// copyHeader copies src's values into dst, backed by vals, and returns what
// is left of vals. Each value slice is clipped, so an append copies.
func copyHeader(dst, src http.Header, vals []string) []string {
	for k, v := range src {
		vals = append(vals, v...)
		dst[k] = vals[len(vals)-len(v) : len(vals) : len(vals)]
		vals = vals[len(vals):]
	}
	return vals
}

// Headers that net/http or courier add on their own are removed by leaving an
// empty value: net/http sends no User-Agent for it, and courier's top layer
// deletes Accept-Encoding before sending and then does not decode.
func markRemoved(h http.Header, k string) {
	switch k {
	case "User-Agent", "Accept-Encoding":
		h[k] = []string{""}
	default:
		delete(h, k)
	}
}

func isRemoved(h http.Header, k string) bool {
	v, ok := h[k]
	return ok && len(v) == 1 && v[0] == ""
}

// setBody attaches a replayable body where it can.
func setBody(req *http.Request, b *bodySpec) error {
	if b.open != nil {
		body, err := b.open()
		if err != nil {
			return err
		}
		req.Body, req.ContentLength = body, b.length
		if !b.once {
			req.GetBody = b.open
		}
		return nil
	}
	if b.encode != nil {
		data, err := b.encode()
		if err != nil {
			return err
		}
		b.bytes = data
	}
	if b.reader == nil {
		data := b.bytes
		req.ContentLength = int64(len(data))
		if len(data) == 0 {
			req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
			return nil
		}
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		return nil
	}
	switch r := b.reader.(type) {
	case *bytes.Buffer:
		data := r.Bytes()
		r.Reset()
		return setBody(req, &bodySpec{bytes: data})
	case io.ReadSeeker:
		// A reader that cannot seek after all (an *os.File on a pipe) is
		// sent once, like any other reader.
		if start, err := r.Seek(0, io.SeekCurrent); err == nil {
			return setSeekerBody(req, r, start)
		}
	}
	req.Body = io.NopCloser(b.reader)
	req.ContentLength = -1
	return nil
}

// setSeekerBody makes a replayable body of what r holds from start on.
//
// When r is also an io.ReaderAt (*strings.Reader, *bytes.Reader, *os.File),
// each body, the first and every replay, is its own section reader: a
// replay never moves a body that the transport may still be reading (it
// keeps writing after an early response such as a 307), and a file that
// grows meanwhile still sends the length it had.
func setSeekerBody(req *http.Request, r io.ReadSeeker, start int64) error {
	end, err := r.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = r.Seek(start, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("body: %w", err)
	}
	size := max(end-start, 0)
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return nil
	}
	if ra, ok := r.(io.ReaderAt); ok {
		req.Body = io.NopCloser(io.NewSectionReader(ra, start, size))
		req.GetBody = func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(ra, start, size)), nil
		}
		return nil
	}
	req.Body = io.NopCloser(io.LimitReader(r, size))
	req.GetBody = func() (io.ReadCloser, error) {
		if _, err := r.Seek(start, io.SeekStart); err != nil {
			return nil, err
		}
		return io.NopCloser(io.LimitReader(r, size)), nil
	}
	return nil
}

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON body: %w", err)
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // drop Encode's newline
}

// sendsCredentials reports whether the session's credentials (sensitive
// default headers such as Authorization, Cookie and X-Api-Key, query
// parameters, auth layers) may go to u: a session with a base URL sends them
// only to the base URL's origin (an http base also to https on the default
// ports) and to the origins of WithCredentialOrigins, so that a full URL to
// another host, or an SDK using Session.Client against another API, never
// receives them. A session with neither has no origin to bind them to and
// sends them everywhere.
func (s *Session) sendsCredentials(u *url.URL) bool {
	if s.cfg.baseURL == nil && len(s.cfg.credentialOrigins) == 0 {
		return true
	}
	if s.cfg.baseURL != nil && sameOrigin(s.cfg.baseURL, u) {
		return true
	}
	for _, o := range s.cfg.credentialOrigins {
		if sameOrigin(o, u) {
			return true
		}
	}
	return false
}

func (s *Session) sensitiveHeader(k string) bool { return isSensitive(s.cfg.sensitive, k) }

// isCred reports whether the session's default header k is a credential,
// from the split New made once.
func (s *Session) isCred(k string) bool {
	_, ok := s.creds.h[k]
	return ok
}

// isSensitive reports whether header k carries a secret: one of courier's
// list, or one the user marked with WithSensitiveHeaders.
func isSensitive(marked []string, k string) bool {
	return redact.IsSensitiveHeader(k) || containsFold(marked, k)
}

// mergeDefaults returns the header for a request made through
// Session.Client: the caller's, plus the session's defaults for names the
// caller did not set (sensitive ones only for the session's origin), and
// Accept-Encoding unless the caller chose one. The caller's map is never
// changed; a copy is made when anything must be added.
func (s *Session) mergeDefaults(req *http.Request) http.Header {
	creds := s.sendsCredentials(req.URL)
	need := false
	if v, ok := req.Header["Accept-Encoding"]; !ok || len(v) == 1 && v[0] == "" {
		// Absent: courier adds it. The "removed" marker: exchange deletes
		// it. Either way the caller's map must not be the one changed.
		need = true
	}
	for k := range s.cfg.header {
		if _, ok := req.Header[k]; !ok && (creds || !s.isCred(k)) {
			need = true
			break
		}
	}
	for k := range s.cfg.removedHeader {
		if _, ok := req.Header[k]; !ok {
			need = true
		}
	}
	if !need {
		return req.Header
	}
	h := req.Header.Clone()
	if h == nil {
		h = make(http.Header, len(s.cfg.header)+1)
	}
	for k, v := range s.cfg.header {
		if _, ok := h[k]; !ok && (creds || !s.isCred(k)) {
			h[k] = v
		}
	}
	for k := range s.cfg.removedHeader {
		if _, ok := h[k]; !ok {
			markRemoved(h, k)
		}
	}
	return h
}
