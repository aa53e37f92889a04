// Package redact removes secrets from what courier shows to people: URLs in
// error messages and logs, header values, and excerpts of bodies.
//
// It is the one place that decides what counts as a secret, so errors, logs,
// the CLI and the test kit all hide the same things.
package redact

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret value.
const Mask = "REDACTED"

// sensitiveHeaders are always treated as secrets (canonical form).
var sensitiveHeaders = map[string]bool{
	"Authorization":        true,
	"Proxy-Authorization":  true,
	"Proxy-Authenticate":   true,
	"Cookie":               true,
	"Set-Cookie":           true,
	"X-Api-Key":            true,
	"X-Auth-Token":         true,
	"X-Csrf-Token":         true,
	"X-Xsrf-Token":         true,
	"X-Amz-Security-Token": true,
}

// notSecretHeaders name headers whose words look like a secret's but which
// carry none: their values help whoever reads a log or a trace.
var notSecretHeaders = map[string]bool{
	"Idempotency-Key":   true,
	"Www-Authenticate":  true,
	"Sec-Websocket-Key": true,
	"Key-Id":            true,
}

// headerSecretWords are the words that make a header name a secret's: a
// name carries a secret when one of its words (split at '-' and '_', in any
// case) is one of them, or starts with "auth". Api-Key, X-Goog-Api-Key,
// Private-Token, X-Auth-Token, X-Session-Id, X-Hub-Signature and
// X-Client-Secret all match.
var headerSecretWords = map[string]bool{
	"key": true, "apikey": true, "token": true, "secret": true, "password": true, "passwd": true,
	"signature": true, "sig": true, "credential": true, "credentials": true, "session": true,
	"sessionid": true, "cookie": true, "jwt": true, "csrf": true, "xsrf": true,
}

// IsSensitiveHeader reports whether a header with this name carries a
// secret: one of the well-known ones (Authorization, Cookie,
// Proxy-Authorization, Set-Cookie, X-Api-Key, ...), or a name with a word
// of [headerSecretWords], or a word starting with "auth". The rule errs on
// the side of hiding: a header it wrongly calls secret is only masked in
// logs and dropped on a redirect to another origin.
func IsSensitiveHeader(name string) bool {
	k := http.CanonicalHeaderKey(name)
	if sensitiveHeaders[k] {
		return true
	}
	if notSecretHeaders[k] {
		return false
	}
	for word := range strings.FieldsFuncSeq(strings.ToLower(k), func(r rune) bool { return r == '-' || r == '_' }) {
		if headerSecretWords[word] || strings.HasPrefix(word, "auth") {
			return true
		}
	}
	return false
}

// secretWords are the query keys (and JSON field names) whose values are
// secrets. A key matches when, lower-cased and with '-' read as '_', it equals
// one of them or ends with "_" followed by one of them (client_secret,
// x_api_key).
var secretWords = []string{
	"token", "access_token", "refresh_token", "id_token", "api_key", "apikey",
	"key", "sig", "signature", "password", "passwd", "pass", "secret",
	"client_secret", "auth", "credential", "credentials", "session", "sessionid",
	"code", "jwt",
}

// IsSecretKey reports whether a query parameter or field named key carries a
// secret. camelCase names count as snake_case ones: accessToken is
// access_token.
func IsSecretKey(key string) bool {
	lower := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	return matchesSecret(lower) || matchesSecret(snakeCase(key))
}

func matchesSecret(k string) bool {
	for _, w := range secretWords {
		if k == w || strings.HasSuffix(k, "_"+w) {
			return true
		}
	}
	return false
}

// snakeCase lower-cases key with '_' at each lower-to-upper case step and in
// place of '-': accessToken and Access-Token give access_token.
func snakeCase(key string) string {
	var b strings.Builder
	var prev byte
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '-':
			c = '_'
		case 'A' <= c && c <= 'Z':
			if 'a' <= prev && prev <= 'z' || '0' <= prev && prev <= '9' {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
		prev = key[i]
	}
	return b.String()
}

// URL returns u as a string with its userinfo and the values of secret query
// parameters replaced by [Mask], in the query and in a fragment written like
// one (an OAuth implicit grant's #access_token=...). The user name goes too:
// services put keys there (https://TOKEN@host, https://sk_live_...:@host).
// A nil URL gives "".
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return u.String()
	}
	v := *u
	if v.User != nil {
		// The whole userinfo: services put keys in the user name too
		// (https://TOKEN@host, https://sk_live_...:@host).
		v.User = url.User(Mask)
	}
	v.RawQuery = Query(v.RawQuery)
	if v.Fragment != "" {
		if f := v.EscapedFragment(); Query(f) != f {
			v.RawFragment = Query(f)
			v.Fragment, _ = url.PathUnescape(v.RawFragment)
		}
	}
	return v.String()
}

// String parses raw as a URL and redacts it as [URL] does. Text that does not
// parse is returned (with control characters escaped, so that it cannot
// forge a line of a log) only when it cannot hold a secret the parser would
// have found; otherwise a placeholder is returned.
func String(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.ContainsAny(raw, "@?#") {
			return "<unparsable URL>"
		}
		return escapeControls(raw)
	}
	return URL(u)
}

// escapeControls percent-encodes ASCII control characters.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Query redacts the values of secret keys in a raw query string, keeping the
// order and encoding of everything else.
func Query(raw string) string {
	if raw == "" {
		return raw
	}
	var b strings.Builder
	changed := false
	for i, part := range strings.Split(raw, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		k, _, hasValue := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		if hasValue && IsSecretKey(key) {
			b.WriteString(k)
			b.WriteString("=" + Mask)
			changed = true
			continue
		}
		b.WriteString(part)
	}
	if !changed {
		return raw
	}
	return b.String()
}

// urlHeaders carry URLs (a redirect's target, a link), whose userinfo and
// secret query values are redacted as [URL] does.
var urlHeaders = map[string]bool{
	"Location": true, "Content-Location": true, "Referer": true, "Link": true, "Refresh": true,
}

// Header returns a copy of h in which the values of sensitive headers, and of
// the extra names given, are replaced by [Mask], and the URLs in headers that
// carry them (Location, Referer, Link...) are redacted. Every value of a
// repeated header is replaced.
func Header(h http.Header, extra ...string) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		switch {
		case IsSensitiveHeader(k) || contains(extra, k):
			masked := make([]string, len(vs))
			for i := range masked {
				masked[i] = Mask
			}
			out[k] = masked
		case urlHeaders[http.CanonicalHeaderKey(k)]:
			masked := make([]string, len(vs))
			for i, v := range vs {
				masked[i] = Text(v)
			}
			out[k] = masked
		default:
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}

// Text masks, in free text (an HTML page, a header, a log message), the
// values of secret keys written as key=value (a URL's query: ?sig=abc) and
// the user info of URLs (scheme://user:pass@host).
func Text(s string) string {
	s = credentialInText.ReplaceAllString(s, "${1}"+Mask)
	if !strings.Contains(s, "=") && !strings.Contains(s, "@") {
		return s
	}
	s = userinfoInText.ReplaceAllString(s, "${1}"+Mask+"@")
	return keyValueInText.ReplaceAllStringFunc(s, func(m string) string {
		sep := strings.IndexByte(m, '=')
		start := 0
		if m[0] < 'A' || m[0] == '?' || m[0] == '&' || m[0] == ';' {
			start = 1 // the delimiter before the key
		}
		key := m[start:sep]
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if !IsSecretKey(key) || sep+1 == len(m) {
			return m
		}
		return m[:sep+1] + Mask
	})
}

var (
	// credentialInText matches the credentials of an Authorization value
	// in text: "Bearer abc", "Basic dXNlcjpw", "Token abc".
	credentialInText = regexp.MustCompile(`(?i)\b((?:Bearer|Basic|Token|Digest|Negotiate|NTLM)\s+)[A-Za-z0-9._~+/=\-]{4,}`)
	// keyValueInText matches key=value after a delimiter (or at the start).
	keyValueInText = regexp.MustCompile(`(?:^|[?&;\s"'(<,])[A-Za-z0-9_.%\-\[\]]+=[^&\s"'<>;#,)]*`)
	// userinfoInText matches the user info of a URL in text.
	userinfoInText = regexp.MustCompile(`(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s"'<>]+@`)
)

func contains(names []string, k string) bool {
	for _, n := range names {
		if strings.EqualFold(n, k) {
			return true
		}
	}
	return false
}

// Excerpt returns at most n bytes of body as text for an error message, with
// the values of secret JSON fields and form fields masked and control
// characters replaced, so that a bad response can be quoted without echoing a
// token. An ellipsis marks a cut.
func Excerpt(body []byte, n int) string {
	s, cut := printable(body, n)
	s = Text(maskJSONSecrets(s))
	if cut {
		s += "…"
	}
	return s
}

// Printable returns at most n bytes of body as text safe to print on one
// line: control characters replaced by spaces, invalid UTF-8 by '?', and an
// ellipsis for a cut. Nothing is masked: use Excerpt for that.
func Printable(body []byte, n int) string {
	s, cut := printable(body, n)
	if cut {
		s += "…"
	}
	return s
}

func printable(body []byte, n int) (string, bool) {
	cut := len(body) > n
	if cut {
		body = body[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(body), "?")), cut
}

// Body masks the secrets of a body shown whole (the CLI's -v): the string
// values of secret fields in JSON, and key=value secrets such as a form's
// password=... Unlike Excerpt it keeps the text's lines and length.
func Body(s string) string {
	return Text(maskJSONSecrets(s))
}

// maskJSONSecrets masks string values of secret fields in JSON-looking text:
// "access_token": "abc" becomes "access_token": "REDACTED". It is a scanner,
// not a parser, so that it also works on truncated or invalid JSON.
func maskJSONSecrets(s string) string {
	if !strings.Contains(s, "\"") {
		return s
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		if s[i] != '"' {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := closingQuote(s, i+1)
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		key := s[i+1 : end]
		b.WriteString(s[i : end+1])
		i = end + 1
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j >= len(s) || s[j] != ':' || !(IsSecretKey(key) || IsSensitiveHeader(key)) {
			continue
		}
		j++
		for j < len(s) && s[j] == ' ' {
			j++
		}
		b.WriteString(s[i:j])
		var done bool
		if i, done = maskJSONValue(&b, s, j); done {
			return b.String()
		}
	}
	return b.String()
}

// maskJSONValue writes the value that starts at s[i] masked, and returns
// where it ends; done when the text ended inside it.
func maskJSONValue(b *strings.Builder, s string, i int) (next int, done bool) {
	switch {
	case i < len(s) && s[i] == '[':
		// An array, as httpbin echoes headers: mask every string.
		return maskJSONArray(b, s, i)
	case i < len(s) && s[i] == '"':
		vend := closingQuote(s, i+1)
		b.WriteString("\"" + Mask + "\"")
		if vend < 0 {
			return len(s), true
		}
		return vend + 1, false
	}
	// A bare value (number, literal): mask up to the next delimiter.
	k := i
	for k < len(s) && !strings.ContainsRune(",}] ", rune(s[k])) {
		k++
	}
	if k > i {
		b.WriteString(Mask)
	}
	return k, false
}

// maskJSONArray writes the array that starts at s[i] with each string in it
// masked, and returns where it ends; done when the text ended inside it.
func maskJSONArray(b *strings.Builder, s string, i int) (next int, done bool) {
	for i < len(s) {
		switch s[i] {
		case '"':
			end := closingQuote(s, i+1)
			b.WriteString("\"" + Mask + "\"")
			if end < 0 {
				return len(s), true
			}
			i = end + 1
		case ']':
			b.WriteByte(']')
			return i + 1, false
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return i, true
}

func closingQuote(s string, from int) int {
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}
