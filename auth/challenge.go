package auth

import (
	"fmt"
	"strings"
)

// A challenge is one challenge of a WWW-Authenticate field (RFC 9110,
// section 11.6.1): a scheme, then either a token68 or a list of auth-params.
type challenge struct {
	scheme  string      // as sent; compare with strings.EqualFold
	token68 string      // "" when absent
	params  []authParam // in the order sent
}

// An authParam is one name=value pair. The name is lower-cased (names are
// case-insensitive); the value is a token or a quoted-string's content with
// its escapes removed.
type authParam struct {
	name, value string
}

// param returns the value of the parameter called name (lower case).
func (c *challenge) param(name string) (string, bool) {
	return lookupParam(c.params, name)
}

func lookupParam(params []authParam, name string) (string, bool) {
	for _, p := range params {
		if p.name == name {
			return p.value, true
		}
	}
	return "", false
}

// String formats c as it would appear in a WWW-Authenticate field, every
// parameter value as a quoted-string; parseChallenges reads it back as c.
func (c challenge) String() string {
	var b strings.Builder
	b.WriteString(c.scheme)
	if c.token68 != "" {
		b.WriteByte(' ')
		b.WriteString(c.token68)
	}
	for i, p := range c.params {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(quote(p.value))
	}
	return b.String()
}

// quote returns s as a quoted-string.
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// A syntaxError says where a header field stopped making sense. It quotes
// nothing of the field.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("auth: bad auth header: %s at offset %d", e.msg, e.offset)
}

// parseChallenges parses the value of one WWW-Authenticate (or
// Proxy-Authenticate) field:
//
//	WWW-Authenticate = #challenge
//	challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// Scheme and parameter names are case-insensitive; empty list elements and
// whitespace around commas are allowed. On a syntax error it returns the
// challenges complete before it, and the error. It never panics.
func parseChallenges(field string) ([]challenge, error) {
	p := &headerLexer{s: field}
	var out []challenge
	for {
		p.skipListSeparators()
		if p.eof() {
			return out, nil
		}
		c := challenge{scheme: p.token()}
		if c.scheme == "" {
			return out, p.errorf("expected an auth scheme")
		}
		if p.eof() || p.peek() == ',' {
			out = append(out, c)
			continue
		}
		if !p.skipOWS() {
			return out, p.errorf("expected a space after the auth scheme")
		}
		if p.eof() || p.peek() == ',' {
			out = append(out, c)
			continue
		}
		if t, ok := p.token68(); ok {
			c.token68 = t
			out = append(out, c)
			continue
		}
		params, err := p.params(true)
		if err != nil {
			return out, err
		}
		c.params = params
		out = append(out, c)
	}
}

// parseAuthParams parses a field that is a bare list of auth-params, such as
// Authentication-Info (RFC 7615).
func parseAuthParams(field string) ([]authParam, error) {
	p := &headerLexer{s: field}
	p.skipListSeparators()
	if p.eof() {
		return nil, nil
	}
	params, err := p.params(false)
	if err == nil && !p.eof() {
		err = p.errorf("expected an auth-param")
	}
	return params, err
}

// headerLexer reads the pieces of an authentication header field.
type headerLexer struct {
	s string
	i int
}

func (p *headerLexer) eof() bool  { return p.i >= len(p.s) }
func (p *headerLexer) peek() byte { return p.s[p.i] }

func (p *headerLexer) errorf(msg string) error { return &syntaxError{msg, p.i} }

// skipOWS skips spaces and tabs and reports whether there were any.
func (p *headerLexer) skipOWS() bool {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
	return p.i > start
}

// skipListSeparators skips whitespace and commas (empty list elements).
func (p *headerLexer) skipListSeparators() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *headerLexer) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 reads a token68 if one stands at the cursor alone, followed only
// by whitespace and a comma or the end; otherwise it reads nothing.
func (p *headerLexer) token68() (string, bool) {
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false
	}
	t := p.s[p.i:j]
	p.i = j
	return t, true
}

// params reads a comma-separated list of auth-params, at least one. In a
// challenge (inChallenge), a list element that is not name=value begins the
// next challenge and ends the list.
func (p *headerLexer) params(inChallenge bool) ([]authParam, error) {
	var out []authParam
	for {
		a, err := p.param()
		if err != nil {
			return out, err
		}
		for _, b := range out {
			if b.name == a.name {
				return out, p.errorf("parameter " + a.name + " given twice")
			}
		}
		out = append(out, a)
		p.skipOWS()
		if p.eof() {
			return out, nil
		}
		if p.peek() != ',' {
			return out, p.errorf("expected ',' after a parameter")
		}
		p.skipListSeparators()
		if p.eof() {
			return out, nil
		}
		if inChallenge {
			mark := p.i
			name := p.token()
			p.skipOWS()
			isParam := name != "" && !p.eof() && p.peek() == '='
			p.i = mark
			if !isParam {
				return out, nil // the next challenge
			}
		}
	}
}

func (p *headerLexer) param() (authParam, error) {
	name := p.token()
	if name == "" {
		return authParam{}, p.errorf("expected a parameter name")
	}
	p.skipOWS()
	if p.eof() || p.peek() != '=' {
		return authParam{}, p.errorf("expected '=' after a parameter name")
	}
	p.i++
	p.skipOWS()
	var value string
	if !p.eof() && p.peek() == '"' {
		v, err := p.quotedString()
		if err != nil {
			return authParam{}, err
		}
		value = v
	} else if value = p.token(); value == "" {
		return authParam{}, p.errorf("expected a token or quoted-string value")
	}
	return authParam{name: strings.ToLower(name), value: value}, nil
}

// quotedString reads a quoted-string at the cursor and returns its content
// with the quoted-pairs resolved.
func (p *headerLexer) quotedString() (string, error) {
	start := p.i
	p.i++ // the opening quote
	var b []byte
	from := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[from:p.i]
			if b != nil {
				v = string(append(b, v...))
			}
			p.i++
			return v, nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", &syntaxError{"unterminated quoted-string", start}
			}
			if !isQuotedChar(p.s[p.i+1]) {
				return "", p.errorf("control character in a quoted-string")
			}
			b = append(b, p.s[from:p.i]...)
			b = append(b, p.s[p.i+1])
			p.i += 2
			from = p.i
		case isQuotedChar(c):
			p.i++
		default:
			return "", p.errorf("control character in a quoted-string")
		}
	}
	return "", &syntaxError{"unterminated quoted-string", start}
}

// isTokenChar reports whether c is a tchar (RFC 9110, section 5.6.2).
func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// isQuotedChar reports whether c may appear in a quoted-string, as qdtext
// or as the second byte of a quoted-pair: HTAB, SP, VCHAR or obs-text.
func isQuotedChar(c byte) bool {
	return c == '\t' || c >= 0x20 && c != 0x7f
}
