package sessionfile_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/sessionfile"
)

// sentTo returns "a=1; b=2" for the cookies jar sends to raw.
func sentTo(t *testing.T, jar *cookiejar.Jar, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, c := range jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

func importHTTPie(t *testing.T, sample, host string) *sessionfile.File {
	t.Helper()
	f := sessionfile.New(filepath.Join(t.TempDir(), "s.json"))
	if err := f.ImportHTTPie(filepath.Join("testdata", "httpie", sample), host); err != nil {
		t.Fatalf("ImportHTTPie(%s, %s) = %v", sample, host, err)
	}
	return f
}

func TestImportHTTPie(t *testing.T) {
	t.Parallel()
	y2100 := time.Unix(4102444800, 0)
	tests := []struct {
		sample  string
		host    string
		header  http.Header
		auth    sessionfile.Auth
		cookies []cookiejar.Cookie
		sent    map[string]string // URL: the cookies sent to it
	}{
		{
			// HTTPie < 3.1: objects keyed by name, no cookie domains.
			sample: "old-layout.json",
			host:   "api.example.com:8443",
			header: http.Header{"Accept": {"application/json"}, "X-Api-Version": {"2"}},
			auth:   sessionfile.Auth{Type: "basic", Username: "alice", Password: "s3cr3t:pass:word"},
			cookies: []cookiejar.Cookie{
				{Name: "csrftoken", Value: "s3cr3t-csrf", Domain: "api.example.com", HostOnly: true, Path: "/", Secure: true, Expires: y2100},
				{Name: "sessionid", Value: "s3cr3t-session", Domain: "api.example.com", HostOnly: true, Path: "/"},
			},
			sent: map[string]string{
				"https://api.example.com/":   "csrftoken=s3cr3t-csrf; sessionid=s3cr3t-session",
				"http://api.example.com/":    "sessionid=s3cr3t-session",
				"https://www.example.com/":   "",
				"https://evil.example.net/":  "",
				"https://x.api.example.com/": "",
			},
		},
		{
			// HTTPie 3.2: lists, with domains, and one left unbound.
			sample: "new-layout.json",
			host:   "api.example.com",
			header: http.Header{"Accept": {"application/json"}, "X-Trace": {"one", "two"}},
			auth:   sessionfile.Auth{Type: "bearer", Token: "s3cr3t-token"},
			cookies: []cookiejar.Cookie{
				{Name: "team", Value: "blue", Domain: "example.com", Path: "/", Expires: y2100.Add(500 * time.Millisecond)},
				{Name: "sessionid", Value: "s3cr3t session", Quoted: true, Domain: "api.example.com", HostOnly: true, Path: "/v1", Secure: true},
				{Name: "legacy", Value: "unbound", Domain: "api.example.com", HostOnly: true, Path: "/"},
				{Name: "pref", Value: "dark", Domain: "api.example.com", HostOnly: true, Path: "/"},
			},
			sent: map[string]string{
				"https://api.example.com/v1/users": "sessionid=s3cr3t session; team=blue; legacy=unbound; pref=dark",
				"https://www.example.com/":         "team=blue",
				"https://evil.example.net/":        "",
			},
		},
		{
			// HTTPie 3.1: cookies as a list, headers still an object;
			// Python's jar calls localhost "localhost.local".
			sample:  "mixed-layout.json",
			host:    "localhost:8080",
			header:  http.Header{"User-Agent": {"my-tool/1.0"}},
			auth:    sessionfile.Auth{Type: "digest", Username: "bob", Password: "s3cr3t-password"},
			cookies: []cookiejar.Cookie{{Name: "sid", Value: "s3cr3t-sid", Domain: "localhost", HostOnly: true, Path: "/"}},
			sent:    map[string]string{"http://localhost:8080/": "sid=s3cr3t-sid", "http://127.0.0.1/": ""},
		},
	}
	for _, tt := range tests {
		f := importHTTPie(t, tt.sample, tt.host)
		if fmt.Sprint(f.Header) != fmt.Sprint(tt.header) {
			t.Errorf("ImportHTTPie(%s): Header = %v, want %v", tt.sample, f.Header, tt.header)
		}
		if f.Auth == nil || *f.Auth != tt.auth {
			t.Errorf("ImportHTTPie(%s): Auth = %v, want %v", tt.sample, f.Auth, tt.auth)
		}
		if len(f.Refused) != 0 {
			t.Errorf("ImportHTTPie(%s): Refused = %v", tt.sample, f.Refused)
		}
		got := f.Jar.All()
		for i := range got {
			got[i].Created = time.Time{} // the time of the import
		}
		if d := diffCookies(got, tt.cookies); d != "" {
			t.Errorf("ImportHTTPie(%s): cookies differ:%s", tt.sample, d)
		}
		for u, want := range tt.sent {
			if got := sentTo(t, f.Jar, u); got != want {
				t.Errorf("ImportHTTPie(%s): jar sends %q to %s, want %q", tt.sample, got, u, want)
			}
		}
		// Saved as a courier file and loaded back, nothing changes.
		mustSave(t, f)
		g := mustLoad(t, f.Path())
		if d := diffCookies(g.Jar.All(), f.Jar.All()); d != "" || fmt.Sprint(g.Header) != fmt.Sprint(f.Header) || *g.Auth != *f.Auth {
			t.Errorf("ImportHTTPie(%s), Save, Load: identity changed:%s\n%v %v", tt.sample, d, g.Header, g.Auth)
		}
	}
}

// Importing into a loaded identity replaces what the HTTPie file has and
// keeps the rest.
func TestImportHTTPieIntoExisting(t *testing.T) {
	t.Parallel()
	p := writeSession(t, t.TempDir(), "s.json", sample(t))
	f := mustLoad(t, p)
	if err := f.ImportHTTPie(filepath.Join("testdata", "httpie", "new-layout.json"), "api.example.com"); err != nil {
		t.Fatal(err)
	}
	if got := f.Header.Get("X-Api-Key"); got != "s3cr3t-api-key" {
		t.Errorf("X-Api-Key = %q, want the loaded one kept", got)
	}
	if f.Auth.Type != sessionfile.AuthBearer {
		t.Errorf("Auth = %v, want the imported bearer", f.Auth)
	}
	// The imported team (for example.com, path /) replaces the loaded one.
	if got, want := len(f.Jar.All()), 6; got != want {
		t.Errorf("jar holds %d cookies, want %d (3 loaded, 4 imported, 1 of them replacing)", got, want)
	}
}

func TestImportHTTPieErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, host, want string
	}{
		{"plugin auth", filepath.Join("testdata", "httpie", "plugin-auth.json"), "example.com", `auth: type "jwt"`},
		{"torn", write("torn.json", `{"cookies": {"sid": {"value": "s3cr3t`), "example.com", "cut short"},
		{"not JSON", write("bad.json", `s3cr3t`), "example.com", "not valid JSON"},
		{"a courier file", filepath.Join("testdata", "session.json"), "example.com", "a courier session file"},
		{"headers a string", write("h.json", `{"headers": "s3cr3t"}`), "example.com", "headers: want an object or an array"},
		{"header without value", write("hv.json", `{"headers": [{"name": "X"}]}`), "example.com", `headers[0]: no "value" field`},
		{"header value a number", write("hn.json", `{"headers": {"X": 1}}`), "example.com", `headers["X"]: want a string`},
		{"header with CR LF", write("hc.json", `{"headers": {"X": "a\r\nb: s3cr3t"}}`), "example.com", "control character"},
		{"cookies a string", write("c.json", `{"cookies": "s3cr3t"}`), "example.com", "cookies: want an object or an array"},
		{"cookie without value", write("cv.json", `{"cookies": [{"name": "sid"}]}`), "example.com", `cookies[0]: no "value" field`},
		{"expires a string", write("ce.json", `{"cookies": {"sid": {"value": "s3cr3t", "expires": "soon"}}}`), "example.com", `cookies["sid"].expires: want a Unix time or null`},
		{"secure a string", write("cs.json", `{"cookies": [{"name": "a", "value": "s3cr3t", "secure": "yes"}]}`), "example.com", "cookies[0].secure: want true or false"},
		{"bearer old style", write("b.json", `{"auth": {"type": "bearer", "username": "u", "password": "s3cr3t"}}`), "example.com", "bearer without raw_auth"},
		{"auth a list", write("a.json", `{"auth": ["s3cr3t"]}`), "example.com", "auth: want an object"},
		{"no host", filepath.Join("testdata", "httpie", "new-layout.json"), "", "bad host"},
		{"empty label in host", filepath.Join("testdata", "httpie", "new-layout.json"), "..0", "bad host"},
		{"leading dot in host", filepath.Join("testdata", "httpie", "new-layout.json"), ".example.com", "bad host"},
	}
	for _, tt := range tests {
		f := sessionfile.New(filepath.Join(dir, "out.json"))
		f.Header.Set("X-Before", "1")
		err := f.ImportHTTPie(tt.path, tt.host)
		var fe *sessionfile.FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ImportHTTPie = %v, want a *FormatError naming %s and saying %q", tt.name, err, tt.path, tt.want)
		}
		checkNoSecret(t, tt.name, err)
		if len(f.Header) != 1 || f.Auth != nil || len(f.Jar.All()) != 0 {
			t.Errorf("%s: a failed import changed the File: %v %v %v", tt.name, f.Header, f.Auth, f.Jar.All())
		}
	}
	f := sessionfile.New(filepath.Join(dir, "out.json"))
	if err := f.ImportHTTPie(filepath.Join(dir, "missing.json"), "example.com"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ImportHTTPie(missing) = %v, want fs.ErrNotExist", err)
	}
}

// HTTPie's "user:password", with "\:" for a ':' that does not split.
func TestImportHTTPieCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, user, password string }{
		{`alice:secret`, "alice", "secret"},
		{`alice:pass:word`, "alice", "pass:word"},
		{`al\:ice:pw`, "al:ice", "pw"},
		{`alice:pa\:ss`, "alice", "pa:ss"},
		{`al\\:pw`, `al\\`, "pw"},
		{`al\ice:pw\`, `al\ice`, `pw\`},
		{`alice`, "alice", ""},
		{`:token`, "", "token"},
		{``, "", ""},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		p := filepath.Join(dir, fmt.Sprintf("a%d.json", i))
		content := fmt.Sprintf(`{"auth": {"type": "basic", "raw_auth": %q}}`, tt.raw)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		f := sessionfile.New(filepath.Join(dir, "out.json"))
		if err := f.ImportHTTPie(p, "example.com"); err != nil {
			t.Errorf("raw_auth %q: %v", tt.raw, err)
			continue
		}
		if f.Auth.Username != tt.user || f.Auth.Password != tt.password {
			t.Errorf("raw_auth %q = user %q, password %q; want %q, %q", tt.raw, f.Auth.Username, f.Auth.Password, tt.user, tt.password)
		}
	}
}
