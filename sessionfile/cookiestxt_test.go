package sessionfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/sessionfile"
)

// cookiesTxtNow is the time the cookies.txt tests run at: before the
// samples' cookies (2030) expire.
var cookiesTxtNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fileAt returns a File for path whose clock, and its jar's, stand at now.
func fileAt(path string, now time.Time) *sessionfile.File {
	clock := func() time.Time { return now }
	f := sessionfile.New(path)
	f.Jar = cookiejar.New(cookiejar.Options{Now: clock})
	sessionfile.SetClock(f, clock)
	return f
}

func mustImportCookiesTxt(t *testing.T, f *sessionfile.File, text string) {
	t.Helper()
	if err := f.ImportCookiesTxt(strings.NewReader(text)); err != nil {
		t.Fatalf("ImportCookiesTxt = %v", err)
	}
}

func readSample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "cookiestxt", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// withoutCreated returns cs with their creation times zeroed.
func withoutCreated(cs []cookiejar.Cookie) []cookiejar.Cookie {
	cs = slices.Clone(cs)
	for i := range cs {
		cs[i].Created = time.Time{}
	}
	return cs
}

// Files that curl (-c) and Python's http.cookiejar.MozillaCookieJar wrote
// import with every attribute the format holds, and the jar sends the
// cookies where they belong.
func TestImportCookiesTxtSamples(t *testing.T) {
	t.Parallel()
	y2030 := time.Unix(1893456000, 0)
	tests := []struct {
		sample  string
		cookies []cookiejar.Cookie
		sent    map[string]string // URL: the cookies sent to it
	}{
		{
			// curl 7.88 -c, from an https://www.example.com/docs/x that
			// set five cookies.
			sample: "curl.txt",
			cookies: []cookiejar.Cookie{
				{Name: "empty", Value: "", Domain: "www.example.com", HostOnly: true, Path: "/"},
				{Name: "track", Value: "abc123", Domain: "example.com", Path: "/", Secure: true, HttpOnly: true, Expires: y2030},
				{Name: "theme", Value: "dark", Quoted: true, Domain: "www.example.com", HostOnly: true, Path: "/docs", Expires: y2030},
				{Name: "lang", Value: "en-US", Domain: "example.com", Path: "/", Expires: y2030},
				{Name: "sid", Value: "31d4d96e407aad42", Domain: "www.example.com", HostOnly: true, Path: "/", Secure: true, HttpOnly: true},
			},
			sent: map[string]string{
				"https://www.example.com/docs/a": "theme=dark; empty=; track=abc123; lang=en-US; sid=31d4d96e407aad42",
				"http://www.example.com/":        "empty=; lang=en-US",
				"https://sub.example.com/docs/":  "track=abc123; lang=en-US",
				"https://example.com.evil.net/":  "",
			},
		},
		{
			// Python 3's MozillaCookieJar.save: a session cookie's
			// expires is empty.
			sample: "python.txt",
			cookies: []cookiejar.Cookie{
				{Name: "sid", Value: "s3cr3t-sid", Domain: "api.example.org", HostOnly: true, Path: "/", Secure: true},
				{Name: "lang", Value: "en", Domain: "example.org", Path: "/", Expires: y2030},
			},
			sent: map[string]string{
				"https://api.example.org/":   "sid=s3cr3t-sid; lang=en",
				"https://x.api.example.org/": "lang=en",
				"http://www.example.org/":    "lang=en",
			},
		},
	}
	for _, tt := range tests {
		f := fileAt(filepath.Join(t.TempDir(), "s.json"), cookiesTxtNow)
		mustImportCookiesTxt(t, f, readSample(t, tt.sample))
		if len(f.Refused) != 0 {
			t.Errorf("ImportCookiesTxt(%s): Refused = %v", tt.sample, f.Refused)
		}
		if d := diffCookies(withoutCreated(f.Jar.All()), tt.cookies); d != "" {
			t.Errorf("ImportCookiesTxt(%s): cookies differ:%s", tt.sample, d)
		}
		for u, want := range tt.sent {
			if got := sentTo(t, f.Jar, u); got != want {
				t.Errorf("ImportCookiesTxt(%s): jar sends %q to %s, want %q", tt.sample, got, u, want)
			}
		}
	}
}

// Exported, the cookies curl wrote come out as the very lines curl wrote.
func TestExportCookiesTxtAsCurl(t *testing.T) {
	t.Parallel()
	sample := readSample(t, "curl.txt")
	f := fileAt("", cookiesTxtNow)
	mustImportCookiesTxt(t, f, sample)
	var out bytes.Buffer
	if err := f.ExportCookiesTxt(&out); err != nil {
		t.Fatal(err)
	}
	cookieLines := func(text string) []string {
		var lines []string
		for l := range strings.Lines(text) {
			if strings.HasPrefix(l, "#HttpOnly_") || !strings.HasPrefix(l, "#") && strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		return lines
	}
	if got, want := cookieLines(out.String()), cookieLines(sample); !slices.Equal(got, want) {
		t.Errorf("ExportCookiesTxt wrote\n%q\nwant curl's lines\n%q", got, want)
	}
	if !strings.HasPrefix(out.String(), "# Netscape HTTP Cookie File\n") {
		t.Errorf("ExportCookiesTxt does not start with the format's name line:\n%s", out.String())
	}
}

// Export then import gives back every cookie with every attribute the
// format holds; the File, saved, is mode 0600 and loads back the same.
func TestCookiesTxtRoundTrip(t *testing.T) {
	t.Parallel()
	// Load drops expired cookies by the real clock.
	now := time.Now().Truncate(time.Second)
	f := fileAt("", now)
	for _, c := range []cookiejar.Cookie{
		{Name: "sid", Value: "s3cr3t", Domain: "www.example.com", HostOnly: true, Path: "/", Secure: true, HttpOnly: true},
		{Name: "team", Value: "blue", Domain: "example.com", Path: "/", Expires: now.Add(48 * time.Hour)},
		{Name: "q", Value: "a b", Quoted: true, Domain: "api.example.com", HostOnly: true, Path: "/v1/", Expires: now.Add(time.Hour)},
		{Name: "ip", Value: "1", Domain: "127.0.0.1", HostOnly: true, Path: "/"},
		{Name: "idn", Value: "1", Domain: "bücher.example", Path: "/"},
		{Name: "empty", Value: "", Domain: "localhost", HostOnly: true, Path: "/"},
		{Name: "__Host-id", Value: "x", Domain: "secure.example.com", HostOnly: true, Path: "/", Secure: true},
		{Name: "far", Value: "1", Domain: "example.net", Path: "/a/b", Expires: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), HttpOnly: true},
	} {
		if err := f.Jar.Set(c); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := f.ExportCookiesTxt(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"#HttpOnly_www.example.com\tFALSE\t/\tTRUE\t0\tsid\ts3cr3t\n",
		fmt.Sprintf(".example.com\tTRUE\t/\tFALSE\t%d\tteam\tblue\n", now.Add(48*time.Hour).Unix()),
		fmt.Sprintf("api.example.com\tFALSE\t/v1/\tFALSE\t%d\tq\t\"a b\"\n", now.Add(time.Hour).Unix()),
		".xn--bcher-kva.example\tTRUE\t/\tFALSE\t0\tidn\t1\n",
		"localhost\tFALSE\t/\tFALSE\t0\tempty\t\n",
		"#HttpOnly_.example.net\tTRUE\t/a/b\tFALSE\t253402300799\tfar\t1\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("ExportCookiesTxt lacks the line %q:\n%s", line, out.String())
		}
	}

	path := filepath.Join(t.TempDir(), "s.json")
	g := fileAt(path, now)
	mustImportCookiesTxt(t, g, out.String())
	if len(g.Refused) != 0 {
		t.Errorf("re-import: Refused = %v", g.Refused)
	}
	if d := diffCookies(withoutCreated(g.Jar.All()), withoutCreated(f.Jar.All())); d != "" {
		t.Errorf("export, import: cookies changed:%s", d)
	}
	mustSave(t, g)
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("saved with mode %v, want 0600", fi.Mode().Perm())
	}
	if d := diffCookies(mustLoad(t, path).Jar.All(), g.Jar.All()); d != "" {
		t.Errorf("Save, Load after import: cookies changed:%s", d)
	}
}

// The format holds no SameSite and no creation time; a fraction of a
// second in an expiry is rounded up, so that a cookie never comes back
// shorter-lived.
func TestExportCookiesTxtDrops(t *testing.T) {
	t.Parallel()
	f := fileAt("", cookiesTxtNow)
	exp := cookiesTxtNow.Add(time.Hour + 300*time.Millisecond)
	c := cookiejar.Cookie{Name: "a", Value: "1", Domain: "example.com", HostOnly: true, Path: "/",
		Expires: exp, SameSite: http.SameSiteLaxMode, Created: cookiesTxtNow.Add(-time.Hour)}
	if err := f.Jar.Set(c); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := f.ExportCookiesTxt(&out); err != nil {
		t.Fatal(err)
	}
	g := fileAt("", cookiesTxtNow)
	mustImportCookiesTxt(t, g, out.String())
	want := c
	want.SameSite, want.Created = 0, cookiesTxtNow
	want.Expires = time.Unix(exp.Unix()+1, 0)
	if d := diffCookies(g.Jar.All(), []cookiejar.Cookie{want}); d != "" {
		t.Errorf("export, import:%s", d)
	}
}

// What curl and others write beyond the plainest lines: CR LF, blanks,
// indented comments, true and false in any case, an expiry of 00 or past
// the year 9999, a line without a value. Expired cookies are skipped and delete nothing; cookies
// the jar refuses are listed in Refused; headers and auth stay.
func TestImportCookiesTxtLenient(t *testing.T) {
	t.Parallel()
	f := fileAt("", cookiesTxtNow)
	f.Header.Set("X-Keep", "1")
	f.Auth = &sessionfile.Auth{Type: sessionfile.AuthBearer, Token: "s3cr3t"}
	old := cookiejar.Cookie{Name: "old", Value: "kept", Domain: "example.com", HostOnly: true, Path: "/"}
	if err := f.Jar.Set(old); err != nil {
		t.Fatal(err)
	}
	text := "# Netscape HTTP Cookie File\r\n" +
		"\r\n" +
		"   \t\n" +
		"  # an indented comment\n" +
		"example.com\ttrue\t/\tFalse\t00\ta\t1\r\n" +
		"example.com\tFALSE\t/\tFALSE\t1\told\tgone\n" + // expired in 1970
		"example.com\tFALSE\t/\tFALSE\t99999999999999999999\tfar\t1\n" +
		".co.uk\tTRUE\t/\tFALSE\t0\tsuffix\ts3cr3t\n" + // a public suffix
		"example.com\tFALSE\t/\tFALSE\t0\tbad name\ts3cr3t\n" +
		"example.com\tFALSE\t/\tFALSE\t0\tsix\n" + // no value: six fields, as curl reads them
		"example.com\tFALSE\t/\tFALSE\t0\tlast\t1" // no final newline
	mustImportCookiesTxt(t, f, text)
	want := []cookiejar.Cookie{
		old,
		{Name: "a", Value: "1", Domain: "example.com", Path: "/"},
		{Name: "far", Value: "1", Domain: "example.com", HostOnly: true, Path: "/", Expires: time.Unix(253402300799, 0)},
		{Name: "six", Value: "", Domain: "example.com", HostOnly: true, Path: "/"},
		{Name: "last", Value: "1", Domain: "example.com", HostOnly: true, Path: "/"},
	}
	if d := diffCookies(withoutCreated(f.Jar.All()), want); d != "" {
		t.Errorf("cookies:%s", d)
	}
	if len(f.Refused) != 2 {
		t.Errorf("Refused = %v, want the public suffix's cookie and the bad name", f.Refused)
	}
	for _, err := range f.Refused {
		checkNoSecret(t, "Refused", err)
	}
	if f.Header.Get("X-Keep") != "1" || f.Auth == nil || f.Auth.Token != "s3cr3t" {
		t.Errorf("after import: Header %v, Auth %v; want them kept", f.Header, f.Auth)
	}
}

// A malformed line is a *CookiesTxtError naming its line and field, never
// its content, and leaves the File as it was.
func TestImportCookiesTxtMalformed(t *testing.T) {
	t.Parallel()
	const good = "example.com\tFALSE\t/\tFALSE\t0\tok\t1\n"
	line := func(fields ...string) string { return strings.Join(fields, "\t") + "\n" }
	tests := []struct {
		name  string
		text  string
		line  int
		field string
	}{
		{"spaces for tabs", good + "example.com FALSE / FALSE 0 sid s3cr3t\n", 2, ""},
		{"five fields", line("example.com", "FALSE", "/", "FALSE", "s3cr3t"), 1, ""},
		{"eight fields", line("example.com", "FALSE", "/", "FALSE", "0", "sid", "s3cr3t", "x"), 1, ""},
		{"HttpOnly mark alone", "#HttpOnly_\n", 1, ""},
		{"empty domain", line("", "FALSE", "/", "FALSE", "0", "sid", "s3cr3t"), 1, "domain"},
		{"a dot for domain", line(".", "TRUE", "/", "FALSE", "0", "sid", "s3cr3t"), 1, "domain"},
		{"space in domain", line("exa mple.com", "FALSE", "/", "FALSE", "0", "sid", "s3cr3t"), 1, "domain"},
		{"subdomains yes", line("example.com", "yes", "/", "FALSE", "0", "sid", "s3cr3t"), 1, "include subdomains"},
		{"subdomains empty", line("example.com", "", "/", "FALSE", "0", "sid", "s3cr3t"), 1, "include subdomains"},
		{"relative path", line("example.com", "FALSE", "docs", "FALSE", "0", "sid", "s3cr3t"), 1, "path"},
		{"empty path", line("example.com", "FALSE", "", "FALSE", "0", "sid", "s3cr3t"), 1, "path"},
		{"secure 1", line("example.com", "FALSE", "/", "1", "0", "sid", "s3cr3t"), 1, "secure"},
		{"expires negative", line("example.com", "FALSE", "/", "FALSE", "-1", "sid", "s3cr3t"), 1, "expires"},
		{"expires a float", line("example.com", "FALSE", "/", "FALSE", "1.9e9", "sid", "s3cr3t"), 1, "expires"},
		{"expires a date", line("example.com", "FALSE", "/", "FALSE", "2030-01-01", "sid", "s3cr3t"), 1, "expires"},
		{"after CR LF and blank lines", "# c\r\n\r\n \n" + line("example.com", "FALSE", "/", "FALSE", "soon", "sid", "s3cr3t"), 4, "expires"},
	}
	for _, tt := range tests {
		f := fileAt("", cookiesTxtNow)
		keep := cookiejar.Cookie{Name: "keep", Value: "1", Domain: "example.com", HostOnly: true, Path: "/"}
		if err := f.Jar.Set(keep); err != nil {
			t.Fatal(err)
		}
		err := f.ImportCookiesTxt(strings.NewReader(tt.text))
		var le *sessionfile.CookiesTxtError
		if !errors.As(err, &le) || le.Line != tt.line || le.Field != tt.field {
			t.Errorf("%s: ImportCookiesTxt = %v, want a *CookiesTxtError for line %d, field %q", tt.name, err, tt.line, tt.field)
		}
		checkNoSecret(t, tt.name, err)
		if got := cookieNames(f); !slices.Equal(got, []string{"keep"}) || len(f.Refused) != 0 {
			t.Errorf("%s: a failed import changed the jar: %v, Refused %v", tt.name, got, f.Refused)
		}
	}
}

// A cookie that cookies.txt cannot hold fails the export, naming the
// cookie but not its value, before anything is written.
func TestExportCookiesTxtRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cookie cookiejar.Cookie
	}{
		// A jar checks a cookie's value only when it has a name.
		{"tab in value", cookiejar.Cookie{Name: "", Value: "s3cr3t\tx", Domain: "example.com", HostOnly: true, Path: "/"}},
		{"line break in value", cookiejar.Cookie{Name: "", Value: "s3cr3t\nexample.com", Domain: "example.com", HostOnly: true, Path: "/"}},
		{"tab in path", cookiejar.Cookie{Name: "a", Value: "s3cr3t", Domain: "example.com", HostOnly: true, Path: "/a\tb"}},
		{"domain a comment", cookiejar.Cookie{Name: "a", Value: "s3cr3t", Domain: "#example", HostOnly: true, Path: "/"}},
	}
	for _, tt := range tests {
		f := fileAt("", cookiesTxtNow)
		if err := f.Jar.Set(tt.cookie); err != nil {
			t.Fatalf("%s: Set = %v", tt.name, err)
		}
		var out bytes.Buffer
		err := f.ExportCookiesTxt(&out)
		if err == nil || out.Len() != 0 {
			t.Errorf("%s: ExportCookiesTxt = %v, wrote %d bytes; want an error and nothing written", tt.name, err, out.Len())
		}
		checkNoSecret(t, tt.name, err)
	}
	// A nil jar writes the header alone.
	var out bytes.Buffer
	if err := (&sessionfile.File{}).ExportCookiesTxt(&out); err != nil || strings.Contains(out.String(), "\t") {
		t.Errorf("ExportCookiesTxt of a nil jar = %v, wrote %q", err, out.String())
	}
}

// FuzzCookiesTxt feeds the importer arbitrary text. It must not panic;
// what it rejects is a *CookiesTxtError with a line number; what it
// imports exports without error and imports back as the same cookies,
// which export to the same bytes.
func FuzzCookiesTxt(f *testing.F) {
	for _, seed := range []string{
		"# Netscape HTTP Cookie File\n\nwww.example.com\tFALSE\t/\tFALSE\t0\tempty\t\n" +
			"#HttpOnly_.example.com\tTRUE\t/\tTRUE\t1893456000\ttrack\tabc\n",
		"www.example.com\tFALSE\t/docs\tFALSE\t1893456000\ttheme\t\"dark\"\r\n",
		"api.example.org\tFALSE\t/\tTRUE\t\tsid\tx\n.example.org\ttrue\t/\tfalse\t00\tlang\ten",
		".co.uk\tTRUE\t/\tFALSE\t0\ta\t1\n127.0.0.1\tTRUE\t/\tFALSE\t0\tb\t1\n",
		"#HttpOnly_#x\tFALSE\t/\tTRUE\t99999999999999999999\t__Host-a\t1\n",
		"example.com FALSE / FALSE 0 a 1\n",
		"example.com\tFALSE\t/\tFALSE\t0\ta\n",
		"bücher.example\tTRUE\t/\tFALSE\t4102444800\t\t\"\"\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		in := fileAt("", cookiesTxtNow)
		if err := in.ImportCookiesTxt(strings.NewReader(data)); err != nil {
			var le *sessionfile.CookiesTxtError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Errorf("ImportCookiesTxt = %v, want a *CookiesTxtError with a line number", err)
			}
			return
		}
		var out bytes.Buffer
		if err := in.ExportCookiesTxt(&out); err != nil {
			t.Fatalf("ExportCookiesTxt of imported cookies = %v", err)
		}
		exported := out.String()
		back := fileAt("", cookiesTxtNow)
		if err := back.ImportCookiesTxt(&out); err != nil {
			t.Fatalf("ImportCookiesTxt of an export = %v\n%s", err, exported)
		}
		if len(back.Refused) != 0 {
			t.Errorf("the jar refused exported cookies: %v\n%s", back.Refused, exported)
		}
		if got, want := back.Jar.All(), in.Jar.All(); !slices.EqualFunc(got, want, sameCookie) {
			t.Errorf("export, import changed the cookies:\n got %+v\nwant %+v\n%s", got, want, exported)
		}
		var again bytes.Buffer
		if err := back.ExportCookiesTxt(&again); err != nil || again.String() != exported {
			t.Errorf("exporting the re-imported cookies = %v, wrote\n%s\nthe first export wrote\n%s", err, again.String(), exported)
		}
	})
}

// A session's cookies go to curl as a cookies.txt file, and come back.
func ExampleFile_ExportCookiesTxt() {
	f := sessionfile.New("")
	err := f.ImportCookiesTxt(strings.NewReader(
		"#HttpOnly_www.example.com\tFALSE\t/\tTRUE\t0\tsid\t31d4d96e\n" +
			".example.com\tTRUE\t/\tFALSE\t4102444800\tlang\ten-US\n"))
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range f.Jar.All() {
		fmt.Printf("%s host-only=%t secure=%t http-only=%t session=%t\n", c, c.HostOnly, c.Secure, c.HttpOnly, c.Expires.IsZero())
	}
	if err := f.ExportCookiesTxt(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// cookie "sid" for www.example.com/ host-only=true secure=true http-only=true session=true
	// cookie "lang" for example.com/ host-only=false secure=false http-only=false session=false
	// # Netscape HTTP Cookie File
	// # https://curl.se/docs/http-cookies.html
	// # Written by courier. It holds secrets: keep it private.
	//
	// #HttpOnly_www.example.com	FALSE	/	TRUE	0	sid	31d4d96e
	// .example.com	TRUE	/	FALSE	4102444800	lang	en-US
}
