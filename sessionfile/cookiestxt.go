package sessionfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/courierhttp/courier/cookiejar"
)

// The cookies.txt format: the Netscape cookie file that curl reads with -b
// and writes with -c, as do wget, yt-dlp and browser extensions. One cookie
// a line, seven fields separated by tabs: domain, include subdomains
// (TRUE/FALSE), path, secure (TRUE/FALSE), expires (Unix seconds, 0 for a
// session cookie), name, value. A line starting with # is a comment,
// except that curl marks an HttpOnly cookie by putting #HttpOnly_ before
// its domain.
const (
	cookiesTxtFields = 7
	httpOnlyPrefix   = "#HttpOnly_"
	// cookiesTxtHeader starts every file ExportCookiesTxt writes. Python's
	// http.cookiejar.MozillaCookieJar wants the first line to name the
	// format.
	cookiesTxtHeader = "# Netscape HTTP Cookie File\n" +
		"# https://curl.se/docs/http-cookies.html\n" +
		"# Written by courier. It holds secrets: keep it private.\n\n"
	// maxUnixTime is the last second of the year 9999, the latest expiry a
	// session file holds.
	maxUnixTime = 253402300799
)

// ImportCookiesTxt adds the cookies of a cookies.txt file read from r to
// f.Jar (a nil Jar gets a new one); f's headers and auth are left as they
// are. cookies.txt is the Netscape cookie file format that curl reads with
// -b and writes with -c, as do wget, yt-dlp and browser extensions that
// export cookies.
//
// Each line holds seven fields separated by tabs (spaces do not separate):
// domain, include subdomains, path, secure, expires, name and value; as
// curl does, a line of six is a cookie with an empty value.
// Include subdomains (TRUE or FALSE, in any case) decides whether the
// cookie is a domain cookie, sent to the domain's subdomains too, or a
// host-only one; a leading dot on the domain, which curl writes for domain
// cookies, is dropped. The path must start with '/'. Secure is TRUE or
// FALSE. Expires is a Unix time in seconds; 0, or an empty field as
// Python's http.cookiejar writes it, makes a session cookie, and a time
// past the year 9999 is taken as the end of that year. A value in double
// quotes is stored without them, and written back with them. A line that
// starts with #HttpOnly_ is a cookie with the HttpOnly attribute (curl's
// mark); any other line starting with # (after blanks) is a comment, and
// blank lines are skipped. A line may end in CR LF.
//
// cookies.txt holds neither SameSite nor the time a cookie was created:
// imported cookies have no SameSite and are created now, in the order of
// the file. Cookies that have expired are skipped; they do not delete a
// cookie of the same name, domain and path that f.Jar holds.
//
// Nothing is changed unless the whole input can be read: a line that is
// not a comment, blank or a cookie line is a [*CookiesTxtError] giving its
// line number and the field at fault, and never quoting the file, which
// holds secrets. Input beyond 64 MiB is an error too. The cookies go
// through [cookiejar.Jar.Load], so they meet the rules of a fresh
// Set-Cookie; one the jar refuses (a domain that is a public suffix, a
// name that is not a token, a broken __Host- prefix) is not an error: it
// is appended to f.Refused with the jar's reason. Save f to write them to
// its file.
func (f *File) ImportCookiesTxt(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return fmt.Errorf("sessionfile: read cookies.txt: %w", err)
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("sessionfile: cookies.txt larger than %d MiB", maxFileSize>>20)
	}
	now := f.clock()
	cookies, err := parseCookiesTxt(string(data), now)
	if err != nil {
		return err
	}
	if f.Jar == nil {
		f.Jar = cookiejar.New(cookiejar.Options{})
	}
	f.Refused = append(f.Refused, loadCookies(f.Jar, cookies)...)
	return nil
}

// ExportCookiesTxt writes the cookies of f.Jar (none for a nil Jar) to w
// in the cookies.txt format that [File.ImportCookiesTxt] reads and curl's
// -b reads: a header of comments naming the format, then one line per
// cookie, oldest first, its fields separated by tabs. A domain cookie's
// domain gets a leading dot and include subdomains TRUE; a host-only one
// neither. An HttpOnly cookie's line starts with #HttpOnly_, a session
// cookie expires at 0 (as curl writes it; Python's MozillaCookieJar takes
// 0 for long expired unless loaded with ignore_expires), and a quoted
// value is written in its quotes. The format holds neither SameSite nor
// creation times, which are left out.
//
// Everything is checked before anything is written: a cookie that
// cookies.txt cannot hold (a tab or line break in its name, value, domain
// or path, say, which a session file read from elsewhere may have) is an
// error naming the cookie but not its value, and w gets nothing. Otherwise
// the whole file goes to w in one Write, whose error is returned. The
// output holds secrets: give it mode 0600 if it goes to a file.
func (f *File) ExportCookiesTxt(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString(cookiesTxtHeader)
	if f.Jar != nil {
		for _, c := range f.Jar.All() {
			if err := writeCookiesTxtLine(&b, c); err != nil {
				return err
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// CookiesTxtError reports a line of a cookies.txt file that
// [File.ImportCookiesTxt] cannot read. It names the line and the field,
// never their content.
type CookiesTxtError struct {
	// Line is the line's number, from 1.
	Line int
	// Field is the field at fault: "domain", "include subdomains", "path",
	// "secure" or "expires"; "" when the line as a whole is (it does not
	// have seven fields).
	Field string
	// Err says what is wrong.
	Err error
}

// Error returns "sessionfile: cookies.txt line <n>: <field>: <problem>".
func (e *CookiesTxtError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("sessionfile: cookies.txt line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("sessionfile: cookies.txt line %d: %s: %v", e.Line, e.Field, e.Err)
}

// Unwrap returns the problem.
func (e *CookiesTxtError) Unwrap() error { return e.Err }

// parseCookiesTxt reads the cookie lines of data, leaving out those that
// expire by now; the others are created now.
func parseCookiesTxt(data string, now time.Time) ([]cookiejar.Cookie, error) {
	var cookies []cookiejar.Cookie
	n := 0
	for line := range strings.Lines(data) {
		n++
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		c, ok, err := parseCookiesTxtLine(line)
		if err != nil {
			err.Line = n
			return nil, err
		}
		if !ok || (!c.Expires.IsZero() && !c.Expires.After(now)) {
			continue
		}
		c.Created = now
		cookies = append(cookies, c)
	}
	return cookies, nil
}

// parseCookiesTxtLine reads one line, without its line ending. ok is false
// for a comment or a blank line. The error's Line is left for the caller.
func parseCookiesTxtLine(line string) (c cookiejar.Cookie, ok bool, _ *CookiesTxtError) {
	if rest, found := strings.CutPrefix(line, httpOnlyPrefix); found {
		line, c.HttpOnly = rest, true
	} else if t := strings.TrimLeft(line, " \t"); t == "" || t[0] == '#' {
		return c, false, nil
	}
	fields := strings.Split(line, "\t")
	if len(fields) == cookiesTxtFields-1 {
		fields = append(fields, "") // no value, as curl reads it
	}
	if len(fields) != cookiesTxtFields {
		msg := fmt.Sprintf("want %d fields separated by tabs, got %d", cookiesTxtFields, len(fields))
		if len(fields) == 1 && strings.Contains(line, " ") {
			msg += " (fields are separated by tabs, not spaces)"
		}
		return c, false, &CookiesTxtError{Err: errors.New(msg)}
	}
	var subdomains bool
	var err *CookiesTxtError
	if c.Domain, err = cookiesTxtDomain(fields[0]); err != nil {
		return c, false, err
	}
	if subdomains, err = cookiesTxtBool("include subdomains", fields[1]); err != nil {
		return c, false, err
	}
	c.HostOnly = !subdomains
	if c.Path = fields[2]; !strings.HasPrefix(c.Path, "/") {
		return c, false, &CookiesTxtError{Field: "path", Err: errors.New("want a path starting with /")}
	}
	if c.Secure, err = cookiesTxtBool("secure", fields[3]); err != nil {
		return c, false, err
	}
	if c.Expires, err = cookiesTxtExpires(fields[4]); err != nil {
		return c, false, err
	}
	c.Name, c.Value = fields[5], fields[6]
	if len(c.Value) >= 2 && c.Value[0] == '"' && c.Value[len(c.Value)-1] == '"' {
		c.Value, c.Quoted = c.Value[1:len(c.Value)-1], true
	}
	return c, true, nil
}

// cookiesTxtDomain reads the domain field, without curl's leading dot.
func cookiesTxtDomain(s string) (string, *CookiesTxtError) {
	s = strings.TrimPrefix(s, ".")
	switch {
	case s == "":
		return "", &CookiesTxtError{Field: "domain", Err: errors.New("empty")}
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "", &CookiesTxtError{Field: "domain", Err: errors.New("holds a space or a control character")}
	}
	return s, nil
}

func cookiesTxtBool(field, s string) (bool, *CookiesTxtError) {
	switch {
	case strings.EqualFold(s, "TRUE"):
		return true, nil
	case strings.EqualFold(s, "FALSE"):
		return false, nil
	}
	return false, &CookiesTxtError{Field: field, Err: errors.New("want TRUE or FALSE")}
}

// cookiesTxtExpires reads Unix seconds; 0 or nothing is a session cookie.
func cookiesTxtExpires(s string) (time.Time, *CookiesTxtError) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	sec, err := strconv.ParseUint(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return time.Time{}, &CookiesTxtError{Field: "expires", Err: errors.New("want seconds since 1970, or 0 for a session cookie")}
	}
	if err != nil || sec > maxUnixTime {
		sec = maxUnixTime
	}
	if sec == 0 { // "00"
		return time.Time{}, nil
	}
	return time.Unix(int64(sec), 0), nil
}

// writeCookiesTxtLine appends c's line to b, or says why cookies.txt
// cannot hold c.
func writeCookiesTxtLine(b *bytes.Buffer, c cookiejar.Cookie) error {
	cannot := func(why string) error {
		return fmt.Errorf("sessionfile: cookies.txt: %s: %s", c, why)
	}
	for _, s := range []string{c.Name, c.Value, c.Domain, c.Path} {
		if strings.ContainsAny(s, "\t\r\n") {
			return cannot("a tab or a line break in its name, value, domain or path")
		}
	}
	switch {
	case c.Domain == "" || strings.HasPrefix(c.Domain, "."):
		return cannot("its domain is empty or starts with a dot")
	case c.HostOnly && !c.HttpOnly && strings.HasPrefix(c.Domain, "#"):
		return cannot("its domain starts with #, which would make the line a comment")
	case !strings.HasPrefix(c.Path, "/"):
		return cannot("its path does not start with /")
	}
	if c.HttpOnly {
		b.WriteString(httpOnlyPrefix)
	}
	subdomains := "FALSE"
	if !c.HostOnly {
		b.WriteByte('.')
		subdomains = "TRUE"
	}
	var expires int64
	if !c.Expires.IsZero() {
		// Rounded up: a cookie never comes back shorter-lived.
		expires = c.Expires.Add(time.Second - 1).Unix()
		expires = min(max(expires, 1), maxUnixTime)
	}
	value := c.Value
	if c.Quoted {
		value = `"` + value + `"`
	}
	fmt.Fprintf(b, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.Domain, subdomains, c.Path, upperBool(c.Secure), expires, c.Name, value)
	return nil
}

func upperBool(v bool) string {
	if v {
		return "TRUE"
	}
	return "FALSE"
}
