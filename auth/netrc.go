package auth

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/courierhttp/courier"
)

// Netrc authenticates with Basic credentials read from the netrc file at
// path: the login and password of the first "machine" entry whose name
// matches the request's host (case-insensitively, without the port), or else
// of the "default" entry. The file is read once, here; errors name the file
// and the line, never a password. A file that does not exist gives an error
// wrapping [fs.ErrNotExist]. On unix, a file that its group or others can
// read or write is refused.
//
// The syntax is that of Python's netrc module: whitespace-separated tokens,
// double-quoted tokens with backslash escapes, "#" comments where a keyword
// is expected, and macdef entries, whose bodies run to the next blank line
// and are skipped.
//
// On a redirect hop the host is looked up anew: a host named in the file
// gets its own entry, wherever the chain comes from, and any other host gets
// the default entry only when [courier.CredentialsAllowed] says the hop is
// still on the first request's origin. Once a chain has gone from https to
// http, nothing is added to the rest of it. A request that has its own
// Authorization header is left alone.
func Netrc(path string) (courier.Middleware, error) {
	if path == "" {
		return nil, errors.New("auth: netrc: empty path")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: netrc: %w", err)
	}
	defer f.Close()
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("auth: netrc: %w", err)
		}
		if fi.Mode().Perm()&0o066 != 0 {
			return nil, fmt.Errorf("auth: netrc: %s can be read or written by others; run chmod 600 %s", path, path)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("auth: netrc: %w", err)
	}
	entries, err := parseNetrc(string(data))
	if err != nil {
		return nil, fmt.Errorf("auth: netrc: %s:%w", path, err)
	}
	creds := netrcCreds{}
	for _, e := range entries {
		c := netrcCred{machine: e.machine}
		if e.login != "" || e.password != "" {
			c.header, c.err = basicHeader(e.login, e.password)
			if c.err != nil {
				c.err = fmt.Errorf("auth: netrc: %s:%d: login or password: %w", path, e.line, c.err)
			}
			c.ok = true
		}
		switch {
		case e.isDefault && creds.def == nil:
			creds.def = &c
		case !e.isDefault:
			creds.machines = append(creds.machines, c)
		}
	}
	return func(next http.RoundTripper) http.RoundTripper {
		return &netrcTransport{next: orDefault(next), creds: creds}
	}, nil
}

// NetrcFromEnv is [Netrc] for the file named by $NETRC, or else ~/.netrc
// (%USERPROFILE%\_netrc on Windows). A missing default file gives a layer
// that adds nothing; a missing $NETRC file is an error wrapping
// [fs.ErrNotExist].
func NetrcFromEnv() (courier.Middleware, error) {
	if p := os.Getenv("NETRC"); p != "" {
		return Netrc(p)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return passThrough, nil
	}
	name := ".netrc"
	if runtime.GOOS == "windows" {
		name = "_netrc"
	}
	m, err := Netrc(filepath.Join(home, name))
	if errors.Is(err, fs.ErrNotExist) {
		return passThrough, nil
	}
	return m, err
}

func passThrough(next http.RoundTripper) http.RoundTripper { return orDefault(next) }

// netrcCreds are a netrc file's credentials, ready to send.
type netrcCreds struct {
	machines []netrcCred // in file order; the first match wins
	def      *netrcCred
}

type netrcCred struct {
	machine string
	header  string // Basic Authorization value
	ok      bool   // the entry has a login or a password
	err     error  // why header could not be made
}

type netrcTransport struct {
	next  http.RoundTripper
	creds netrcCreds
}

var _ http.RoundTripper = (*netrcTransport)(nil)

func (t *netrcTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if hasAuthorization(req) || downgraded(req) {
		return t.next.RoundTrip(req)
	}
	c := t.creds.lookup(req.URL.Hostname())
	if c == nil && t.creds.def != nil && courier.CredentialsAllowed(req) {
		c = t.creds.def
	}
	if c == nil || !c.ok {
		return t.next.RoundTrip(req)
	}
	if c.err != nil {
		return fail(req, c.err)
	}
	return withHeader(t.next, req, c.header)
}

// lookup returns the first machine entry for host, or nil.
func (c *netrcCreds) lookup(host string) *netrcCred {
	if host == "" {
		return nil
	}
	for i := range c.machines {
		if strings.EqualFold(c.machines[i].machine, host) {
			return &c.machines[i]
		}
	}
	return nil
}

// downgraded reports whether req's redirect chain went from https to http
// at some hop, up to and including req, or cannot be followed.
func downgraded(req *http.Request) bool {
	hops := 0
	for r := req; r.Response != nil; r = r.Response.Request {
		prev := r.Response.Request
		if prev == nil || hops > 100 {
			return true
		}
		if strings.EqualFold(prev.URL.Scheme, "https") && !strings.EqualFold(r.URL.Scheme, "https") {
			return true
		}
		hops++
	}
	return false
}

// A netrcEntry is a machine or default entry of a netrc file.
type netrcEntry struct {
	machine                  string // "" for default
	isDefault                bool
	login, password, account string
	line                     int // of the machine or default keyword
}

// parseNetrc parses the text of a netrc file. Its errors start with the
// line number ("3: ...") and quote nothing of the file.
func parseNetrc(data string) ([]netrcEntry, error) {
	lx := &netrcLexer{s: data, line: 1}
	var entries []netrcEntry
	cur := -1 // the entry that login, password and account fill
	for {
		tok, quoted, line, err := lx.next()
		if err != nil {
			return nil, err
		}
		if line == 0 {
			return entries, nil
		}
		if !quoted && strings.HasPrefix(tok, "#") {
			lx.skipLine()
			continue
		}
		switch tok {
		case "machine":
			name, err := lx.value(line, tok)
			if err != nil {
				return nil, err
			}
			entries = append(entries, netrcEntry{machine: name, line: line})
			cur = len(entries) - 1
		case "default":
			entries = append(entries, netrcEntry{isDefault: true, line: line})
			cur = len(entries) - 1
		case "login", "password", "account":
			if cur < 0 {
				return nil, fmt.Errorf("%d: %s outside a machine or default entry", line, tok)
			}
			v, err := lx.value(line, tok)
			if err != nil {
				return nil, err
			}
			switch e := &entries[cur]; tok {
			case "login":
				e.login = v
			case "password":
				e.password = v
			default:
				e.account = v
			}
		case "macdef":
			if _, err := lx.value(line, tok); err != nil {
				return nil, err
			}
			lx.skipMacro()
			cur = -1
		default:
			// Not quoted: it may be a password that lost its keyword.
			return nil, fmt.Errorf("%d: unexpected token (want machine, default, login, password, account or macdef)", line)
		}
	}
}

// netrcLexer splits a netrc file into tokens as Python's netrc does.
type netrcLexer struct {
	s    string
	i    int
	line int
}

// next returns the next token, whether it was quoted, and the line it began
// on; line 0 means the end of the file.
func (lx *netrcLexer) next() (tok string, quoted bool, line int, err error) {
	for lx.i < len(lx.s) && isNetrcSpace(lx.s[lx.i]) {
		if lx.s[lx.i] == '\n' {
			lx.line++
		}
		lx.i++
	}
	if lx.i >= len(lx.s) {
		return "", false, 0, nil
	}
	line = lx.line
	var b strings.Builder
	if lx.s[lx.i] == '"' {
		lx.i++
		for lx.i < len(lx.s) {
			c := lx.s[lx.i]
			lx.i++
			switch c {
			case '"':
				return b.String(), true, line, nil
			case '\\':
				if lx.i >= len(lx.s) {
					return "", false, 0, fmt.Errorf("%d: backslash at the end of the file", lx.line)
				}
				c = lx.s[lx.i]
				lx.i++
			}
			if c == '\n' {
				lx.line++
			}
			b.WriteByte(c)
		}
		return "", false, 0, fmt.Errorf("%d: unterminated quoted token", line)
	}
	for lx.i < len(lx.s) && !isNetrcSpace(lx.s[lx.i]) {
		c := lx.s[lx.i]
		lx.i++
		if c == '\\' {
			if lx.i >= len(lx.s) {
				return "", false, 0, fmt.Errorf("%d: backslash at the end of the file", lx.line)
			}
			c = lx.s[lx.i]
			lx.i++
			if c == '\n' {
				lx.line++
			}
		}
		b.WriteByte(c)
	}
	return b.String(), false, line, nil
}

// value reads the token that follows keyword kw, on line.
func (lx *netrcLexer) value(line int, kw string) (string, error) {
	v, _, vline, err := lx.next()
	if err != nil {
		return "", err
	}
	if vline == 0 {
		return "", fmt.Errorf("%d: %s without a value", line, kw)
	}
	return v, nil
}

// skipLine skips to the end of the current line.
func (lx *netrcLexer) skipLine() {
	if j := strings.IndexByte(lx.s[lx.i:], '\n'); j >= 0 {
		lx.i += j // the newline is counted by next
	} else {
		lx.i = len(lx.s)
	}
}

// skipMacro skips the rest of the macdef line and the macro body, up to and
// including the next line that is blank, or the end of the file.
func (lx *netrcLexer) skipMacro() {
	lx.skipLine()
	for lx.i < len(lx.s) {
		lx.i++ // the newline
		lx.line++
		j := strings.IndexByte(lx.s[lx.i:], '\n')
		if j < 0 {
			j = len(lx.s) - lx.i
		}
		blank := strings.TrimLeft(lx.s[lx.i:lx.i+j], " \t\r") == ""
		lx.i += j
		if blank {
			return
		}
	}
}

func isNetrcSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
