package sessionfile_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
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

// secrets are the secret values of testdata/session.json and the HTTPie
// samples: no error message may show one.
var secrets = []string{"s3cr3t"}

func checkNoSecret(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q shows a secret", what, err)
		}
	}
}

// sample returns the content of testdata/session.json.
func sample(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "session.json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeSession writes data at dir/name with mode 0600 and returns the path.
func writeSession(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t testing.TB, path string) *sessionfile.File {
	t.Helper()
	f, err := sessionfile.Load(path)
	if err != nil {
		t.Fatalf("Load(%s) = %v", path, err)
	}
	return f
}

func mustSave(t testing.TB, f *sessionfile.File) {
	t.Helper()
	if err := f.Save(); err != nil {
		t.Fatalf("Save(%s) = %v", f.Path(), err)
	}
}

// sameCookie compares every attribute, times as instants.
func sameCookie(a, b cookiejar.Cookie) bool {
	return a.Name == b.Name && a.Value == b.Value && a.Quoted == b.Quoted &&
		a.Domain == b.Domain && a.HostOnly == b.HostOnly && a.Path == b.Path &&
		a.Expires.Equal(b.Expires) && a.Secure == b.Secure && a.HttpOnly == b.HttpOnly &&
		a.SameSite == b.SameSite && a.Created.Equal(b.Created)
}

func byKey(a, b cookiejar.Cookie) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Path, b.Path))
}

// diffCookies describes how got differs from want, in any order.
func diffCookies(got, want []cookiejar.Cookie) string {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, byKey)
	slices.SortFunc(want, byKey)
	if slices.EqualFunc(got, want, sameCookie) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n got:")
	for _, c := range got {
		fmt.Fprintf(&b, "\n  %+v", c)
	}
	fmt.Fprintf(&b, "\nwant:")
	for _, c := range want {
		fmt.Fprintf(&b, "\n  %+v", c)
	}
	return b.String()
}

func cookieNames(f *sessionfile.File) []string {
	var names []string
	for _, c := range f.Jar.All() {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// The sample file loads with every attribute, and saves back to the same
// bytes: the format is stable.
func TestLoadSample(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := sample(t)
	f := mustLoad(t, writeSession(t, dir, "s.json", data))
	if len(f.Refused) != 0 {
		t.Errorf("Refused = %v, want none", f.Refused)
	}
	want := []cookiejar.Cookie{
		{Name: "sid", Value: "s3cr3t-sid", Domain: "www.example.com", HostOnly: true, Path: "/",
			Expires: time.Date(2099, 1, 2, 15, 4, 5, 0, time.UTC), Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Created: time.Date(2026, 1, 2, 10, 0, 0, 123456789, time.UTC)},
		{Name: "team", Value: "blue", Domain: "example.com", Path: "/", SameSite: http.SameSiteLaxMode,
			Created: time.Date(2026, 1, 2, 10, 0, 1, 0, time.UTC)},
		{Name: "motto", Value: "carpe diem", Quoted: true, Domain: "www.example.com", HostOnly: true, Path: "/app",
			Created: time.Date(2026, 1, 2, 10, 0, 2, 0, time.UTC)},
	}
	if d := diffCookies(f.Jar.All(), want); d != "" {
		t.Errorf("Load: cookies differ:%s", d)
	}
	wantHeader := http.Header{"Accept": {"application/json"}, "X-Api-Key": {"s3cr3t-api-key"}}
	if got := f.Header; fmt.Sprint(got) != fmt.Sprint(wantHeader) {
		t.Errorf("Load: Header = %v, want %v", got, wantHeader)
	}
	if want := (sessionfile.Auth{Type: "basic", Username: "alice", Password: "s3cr3t-password"}); f.Auth == nil || *f.Auth != want {
		t.Errorf("Load: Auth = %#v, want %#v", f.Auth, want)
	}

	g := sessionfile.New(filepath.Join(dir, "copy.json"))
	g.Header, g.Auth, g.Jar = f.Header, f.Auth, f.Jar
	mustSave(t, g)
	got, err := os.ReadFile(g.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("Save of the loaded sample wrote\n%s\nwant\n%s", got, data)
	}
}

// A missing file wraps fs.ErrNotExist, so that callers fall back to New.
func TestLoadMissing(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "nope.json")
	_, err := sessionfile.Load(p)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestSavePermissions(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no unix modes")
	}
	dir := filepath.Join(t.TempDir(), "config", "sessions")
	f := sessionfile.New(filepath.Join(dir, "api.json"))
	f.Header.Set("X-Api-Key", "s3cr3t")
	mustSave(t, f)
	for _, tt := range []struct {
		path string
		want fs.FileMode
	}{
		{f.Path(), 0o600},
		{dir, 0o700 | fs.ModeDir},
		{filepath.Dir(dir), 0o700 | fs.ModeDir},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != tt.want {
			t.Errorf("mode of %s = %v, want %v", tt.path, got, tt.want)
		}
	}
	// A file someone loosened is saved back with 0600... once it is
	// fixed: Save refuses to merge a file others could have changed.
	if err := os.Chmod(f.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	var me *sessionfile.ModeError
	if err := f.Save(); !errors.As(err, &me) {
		t.Errorf("Save over a 0644 file = %v, want a *ModeError", err)
	}
	os.Chmod(f.Path(), 0o600)
	mustSave(t, f)
	if fi, _ := os.Stat(f.Path()); fi.Mode() != 0o600 {
		t.Errorf("mode after a second Save = %v, want 0600", fi.Mode())
	}
}

func TestLoadRefusesLooseModes(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no unix modes")
	}
	dir := t.TempDir()
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666} {
		p := writeSession(t, dir, fmt.Sprintf("s%o.json", mode), sample(t))
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		_, err := sessionfile.Load(p)
		var me *sessionfile.ModeError
		if !errors.As(err, &me) || me.Path != p || me.Mode != mode {
			t.Errorf("Load(mode %04o) = %v, want a *ModeError for %s", mode, err, p)
			continue
		}
		if fix := "chmod 600 " + p; !strings.Contains(err.Error(), fix) {
			t.Errorf("Load(mode %04o) = %q, want it to say %q", mode, err, fix)
		}
	}
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		p := writeSession(t, dir, fmt.Sprintf("ok%o.json", mode), sample(t))
		os.Chmod(p, mode)
		if _, err := sessionfile.Load(p); err != nil {
			t.Errorf("Load(mode %04o) = %v, want nil", mode, err)
		}
	}
	// A path the shell would split is quoted in the fix.
	p := writeSession(t, dir, "my session.json", sample(t))
	os.Chmod(p, 0o644)
	if _, err := sessionfile.Load(p); err == nil || !strings.Contains(err.Error(), "chmod 600 '"+p+"'") {
		t.Errorf("Load(%q) = %v, want the fix with the path quoted", p, err)
	}
}

// Each kind of broken file is a *FormatError that names the path and the
// problem without quoting the file, and a Save does not overwrite it.
func TestLoadCorrupt(t *testing.T) {
	t.Parallel()
	good := string(sample(t))
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("sample has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	tests := []struct {
		name    string
		content string
		want    string // in the message
		version bool   // errors.Is(err, ErrVersion)
	}{
		{"empty", "", "empty file", false},
		{"torn in the middle", good[:len(good)/2], "cut short", false},
		{"torn at the end", good[:len(good)-3], "cut short", false},
		{"not JSON", "s3cr3t=1\n", "not valid JSON (near byte 1)", false},
		{"garbage inside", replace(`"blue"`, `blue s3cr3t`), "not valid JSON", false},
		{"trailing garbage", good + "s3cr3t", "not valid JSON", false},
		{"an array", `["s3cr3t"]`, "not a JSON object", false},
		{"null", "null", "not a JSON object", false},
		{"no version", `{"headers": {"X": ["s3cr3t"]}}`, `no "courier_session" version`, false},
		{"an HTTPie file", `{"__meta__": {"about": "HTTPie session file"}, "auth": {"raw_auth": "u:s3cr3t"}}`, "ImportHTTPie", false},
		{"future version", replace(`"courier_session": 1`, `"courier_session": 2`), "newer courier", true},
		{"version zero", replace(`"courier_session": 1`, `"courier_session": 0`), "positive whole number", true},
		{"version as string", replace(`"courier_session": 1`, `"courier_session": "1"`), "positive whole number", true},
		{"version fraction", replace(`"courier_session": 1`, `"courier_session": 1.5`), "positive whole number", true},
		{"unknown top field", replace(`"courier_session": 1,`, `"courier_session": 1, "extra": "s3cr3t",`), `file: unknown field "extra"`, false},
		{"unknown odd field", replace(`"courier_session": 1,`, `"courier_session": 1, "s3cr3t value!": 1,`), "file: an unknown field", false},
		{"headers as list", `{"courier_session": 1, "headers": ["s3cr3t"]}`, "headers: want an object", false},
		{"header value a string", replace(`[
      "application/json"
    ]`, `"s3cr3t"`), `headers["Accept"]: want an array of strings`, false},
		{"header value with CR LF", replace(`"application/json"`, `"a\r\ns3cr3t: 1"`), `headers["Accept"]: a value holds a control character`, false},
		{"header name invalid", replace(`"Accept": [`, `"Acc ept": [`), `"Acc ept" is not a valid header name`, false},
		{"cookies an object", `{"courier_session": 1, "cookies": {"a": "s3cr3t"}}`, "cookies: want an array", false},
		{"cookie a string", replace(`"cookies": [`, `"cookies": ["s3cr3t", `), "cookies[0]: want an object", false},
		{"cookie value a number", replace(`"value": "blue"`, `"value": 42`), "cookies[1].value: want a string", false},
		{"cookie value null", replace(`"value": "blue"`, `"value": null`), "cookies[1].value: want a string", false},
		{"host_only a string", replace(`"host_only": false`, `"host_only": "s3cr3t"`), "cookies[1].host_only: want true or false", false},
		{"host_only missing", replace(`"host_only": false,`, ``), `cookies[1]: no "host_only" field`, false},
		{"secure missing", replace(`"secure": true,`, ``), `cookies[0]: no "secure" field`, false},
		{"expires a number", replace(`"expires": "2099-01-02T15:04:05Z"`, `"expires": 4102444800`), "cookies[0].expires: want an RFC 3339 time or null", false},
		{"expires not a time", replace(`"expires": "2099-01-02T15:04:05Z"`, `"expires": "s3cr3t"`), "cookies[0].expires: want an RFC 3339 time", false},
		{"expires beyond 9999 in UTC", replace(`"expires": "2099-01-02T15:04:05Z"`, `"expires": "9999-12-31T23:59:59-05:00"`), "year 10000", false},
		{"created null", replace(`"created": "2026-01-02T10:00:01Z"`, `"created": null`), "cookies[1].created: want an RFC 3339 time", false},
		{"same_site unknown", replace(`"same_site": "lax"`, `"same_site": "s3cr3t"`), "cookies[1].same_site: want", false},
		{"unknown cookie field", replace(`"quoted": true,`, `"quoted": true, "priority": "high",`), `cookies[2]: unknown field "priority"`, false},
		{"auth a string", `{"courier_session": 1, "auth": "s3cr3t"}`, "auth: want an object", false},
		{"auth unknown type", replace(`"type": "basic"`, `"type": "ntlm"`), `auth: unknown type "ntlm"`, false},
		{"auth password a number", replace(`"password": "s3cr3t-password"`, `"password": 12345`), "auth.password: want a string", false},
		{"auth bearer without token", replace(`"type": "basic",
    "username": "alice",
    "password": "s3cr3t-password"`, `"type": "bearer"`), "auth: type bearer without a token", false},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		p := writeSession(t, dir, fmt.Sprintf("bad%d.json", i), []byte(tt.content))
		_, err := sessionfile.Load(p)
		var fe *sessionfile.FormatError
		if !errors.As(err, &fe) || fe.Path != p {
			t.Errorf("%s: Load = %v, want a *FormatError for %s", tt.name, err, p)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: Load = %q, want the path and %q", tt.name, msg, tt.want)
		}
		if got := errors.Is(err, sessionfile.ErrVersion); got != tt.version {
			t.Errorf("%s: errors.Is(Load(), ErrVersion) = %v, want %v", tt.name, got, tt.version)
		}
		checkNoSecret(t, tt.name, err)

		// The caller falls back to a fresh identity and saves: the broken
		// file is kept for someone to look at, not overwritten.
		f := sessionfile.New(p)
		f.Header.Set("X-New", "1")
		err = f.Save()
		if !errors.As(err, &fe) {
			t.Errorf("%s: Save over the broken file = %v, want a *FormatError", tt.name, err)
		}
		checkNoSecret(t, tt.name+": Save", err)
		if got, _ := os.ReadFile(p); string(got) != tt.content {
			t.Errorf("%s: Save changed the broken file to %q", tt.name, got)
		}
	}
	// Not a regular file.
	if _, err := sessionfile.Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load(a directory) = %v, want \"not a regular file\"", err)
	}
}

// A Save that fails leaves the last good file as it was, and no temporary
// file behind.
func TestSaveFailureKeepsLastGoodFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, f *sessionfile.File, dir string)
		want   string
		is     error
	}{
		{"header value with a newline", func(t *testing.T, f *sessionfile.File, _ string) {
			f.Header.Set("X-Note", "line 1\ns3cr3t: smuggled")
		}, `headers["X-Note"]: a value holds a control character`, nil},
		{"header name invalid", func(t *testing.T, f *sessionfile.File, _ string) {
			f.Header["Bad Name"] = []string{"s3cr3t"}
		}, `"Bad Name" is not a valid header name`, nil},
		{"cookie expiring after the year 9999", func(t *testing.T, f *sessionfile.File, _ string) {
			c := cookiejar.Cookie{Name: "forever", Value: "s3cr3t", Domain: "example.com", Path: "/",
				Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
			if err := f.Jar.Set(c); err != nil {
				t.Fatal(err)
			}
		}, `cookie "forever" for example.com/: expires in the year 10000`, nil},
		{"auth of unknown type", func(t *testing.T, f *sessionfile.File, _ string) {
			f.Auth = &sessionfile.Auth{Type: "kerberos", Password: "s3cr3t"}
		}, `unknown type "kerberos"`, nil},
		{"bearer without a token", func(t *testing.T, f *sessionfile.File, _ string) {
			f.Auth = &sessionfile.Auth{Type: sessionfile.AuthBearer}
		}, "type bearer without a token", nil},
		{"lock held by another writer", func(t *testing.T, f *sessionfile.File, _ string) {
			unlock, err := sessionfile.Lock(f.Path(), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(unlock)
			sessionfile.SetLockWait(f, 30*time.Millisecond)
			f.Header.Set("X-New", "1")
		}, "timed out waiting for the lock", sessionfile.ErrLockTimeout},
		{"directory not writable", func(t *testing.T, f *sessionfile.File, dir string) {
			if os.Geteuid() == 0 || runtime.GOOS == "windows" {
				t.Skip("root writes anywhere; Windows has no such modes")
			}
			unlock, err := sessionfile.Lock(f.Path(), time.Second) // create the lock file first
			if err != nil {
				t.Fatal(err)
			}
			unlock()
			os.Chmod(dir, 0o500)
			t.Cleanup(func() { os.Chmod(dir, 0o700) })
			f.Header.Set("X-New", "1")
		}, "permission denied", fs.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := writeSession(t, dir, "s.json", sample(t))
			f := mustLoad(t, p)
			tt.change(t, f, dir)
			err := f.Save()
			var se *sessionfile.SaveError
			if !errors.As(err, &se) || se.Path != p || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save = %v, want a *SaveError for %s saying %q", err, p, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Save = %v, want errors.Is %v", err, tt.is)
			}
			checkNoSecret(t, "Save", err)
			if got := string(mustRead(t, p)); got != string(sample(t)) {
				t.Errorf("after a failed Save, the file is\n%s\nwant the last good one", got)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "s.json" && e.Name() != "s.json.lock" {
					t.Errorf("a failed Save left %s behind", e.Name())
				}
			}
		})
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A cookie the jar refuses on load does not fail the load: it is listed
// with the reason, never used, and left out of the file at the next Save.
// Expired cookies are dropped without a word.
func TestLoadRefusedAndExpiredCookies(t *testing.T) {
	t.Parallel()
	data := strings.Replace(string(sample(t)), `"cookies": [`, `"cookies": [
    {"name": "evil", "value": "s3cr3t-evil", "quoted": false, "domain": "co.uk", "host_only": false, "path": "/",
     "expires": null, "secure": false, "http_only": false, "same_site": "", "created": "2026-01-01T00:00:00Z"},
    {"name": "__Host-id", "value": "s3cr3t-id", "quoted": false, "domain": "example.com", "host_only": false, "path": "/",
     "expires": null, "secure": true, "http_only": false, "same_site": "", "created": "2026-01-01T00:00:00Z"},
    {"name": "old", "value": "s3cr3t-old", "quoted": false, "domain": "example.com", "host_only": true, "path": "/",
     "expires": "2020-01-01T00:00:00Z", "secure": false, "http_only": false, "same_site": "", "created": "2019-01-01T00:00:00Z"},`, 1)
	p := writeSession(t, t.TempDir(), "s.json", []byte(data))
	f := mustLoad(t, p)
	if got, want := cookieNames(f), []string{"motto", "sid", "team"}; !slices.Equal(got, want) {
		t.Errorf("Load: cookies %v, want %v", got, want)
	}
	if len(f.Refused) != 2 {
		t.Fatalf("Refused = %v, want 2 errors", f.Refused)
	}
	for i, want := range []string{`cookie "evil" for co.uk/`, `cookie "__Host-id" for example.com/`} {
		if !strings.Contains(f.Refused[i].Error(), want) {
			t.Errorf("Refused[%d] = %q, want it to name %s", i, f.Refused[i], want)
		}
		checkNoSecret(t, "Refused", f.Refused[i])
	}
	mustSave(t, f)
	if s := string(mustRead(t, p)); strings.Contains(s, "evil") || strings.Contains(s, "__Host-id") || strings.Contains(s, `"old"`) {
		t.Errorf("after Save, the file still holds a refused or expired cookie:\n%s", s)
	}
	if g := mustLoad(t, p); len(g.Refused) != 0 || !slices.Equal(cookieNames(g), cookieNames(f)) {
		t.Errorf("reloaded: cookies %v, Refused %v; want %v and none", cookieNames(g), g.Refused, cookieNames(f))
	}
}

func TestUpdateHeaders(t *testing.T) {
	t.Parallel()
	f := sessionfile.New(filepath.Join(t.TempDir(), "s.json"))
	f.Header = http.Header{"Accept": {"text/html"}, "X-Team": {"blue"}, "X-Old": {"1"}}
	f.UpdateHeaders(http.Header{
		"accept":            {"application/json"},
		"X-Old":             {""},
		"X-Trace":           {"a", "b"},
		"Content-Type":      {"application/json"},
		"Content-Length":    {"12"},
		"If-None-Match":     {`"v1"`},
		"If-Modified-Since": {"Mon, 02 Jan 2006 15:04:05 GMT"},
		"X-Missing":         {""},
	})
	want := http.Header{"Accept": {"application/json"}, "X-Team": {"blue"}, "X-Trace": {"a", "b"}}
	if fmt.Sprint(f.Header) != fmt.Sprint(want) {
		t.Errorf("UpdateHeaders: Header = %v, want %v", f.Header, want)
	}
}

// Printing a File or an Auth shows no secret.
func TestPrintingHidesSecrets(t *testing.T) {
	t.Parallel()
	f := mustLoad(t, writeSession(t, t.TempDir(), "s.json", sample(t)))
	bearer := &sessionfile.Auth{Type: sessionfile.AuthBearer, Token: "s3cr3t-token"}
	for _, s := range []string{
		fmt.Sprint(f), fmt.Sprintf("%+v", f), fmt.Sprintf("%v", f.Auth), fmt.Sprintf("%+v", *f.Auth),
		fmt.Sprintf("%#v", f.Auth), fmt.Sprintf("%#v", *bearer), fmt.Sprint(bearer),
	} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("printed %q: shows a secret", s)
		}
	}
	if got, want := fmt.Sprint(f.Auth), `basic auth for user "alice"`; got != want {
		t.Errorf("fmt.Sprint(Auth) = %q, want %q", got, want)
	}
}

func TestSaveWithoutPath(t *testing.T) {
	t.Parallel()
	var f sessionfile.File
	if err := f.Save(); err == nil || !strings.Contains(err.Error(), "no path") {
		t.Errorf("Save of a zero File = %v, want an error about the path", err)
	}
}
