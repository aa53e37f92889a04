package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// TestSessionAcrossRuns: headers, cookies and auth are kept from one run to
// the next, with HTTPie's rules.
func TestSessionAcrossRuns(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)

	// Run 1: a header, auth and a cookie the server sets; Content-* and
	// If-* headers are this request's alone.
	c.ok("--session", "dev", "-a", "ada:s3cret", srv.URL+"/cookies/set", "sid==abc",
		"X-Team:red", "If-None-Match:xyz", "Content-Language:fr")
	path := c.sessionFile(srv, "dev")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	for _, s := range []string{"If-None-Match", "Content-Language"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("session stored %s", s)
		}
	}

	// Run 2: everything comes back.
	e := decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything"))
	want(t, e.Headers["X-Team"], "red")
	want(t, e.Headers["Cookie"], "sid=abc")
	want(t, e.Headers["Authorization"], "Basic YWRhOnMzY3JldA==")
	if _, ok := e.Headers["If-None-Match"]; ok {
		t.Error("If-None-Match came back")
	}

	// A request header overrides the stored one, and is stored.
	e = decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything", "X-Team:blue"))
	want(t, e.Headers["X-Team"], "blue")
	e = decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything"))
	want(t, e.Headers["X-Team"], "blue")

	// Header: removes it, from the request and the session.
	e = decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything", "X-Team:"))
	if _, ok := e.Headers["X-Team"]; ok {
		t.Error("X-Team: did not remove the header")
	}
	e = decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything"))
	if _, ok := e.Headers["X-Team"]; ok {
		t.Error("X-Team: did not remove the header from the session")
	}

	// A Set-Cookie updates the stored cookie; an expired one is removed.
	c.ok("--session", "dev", srv.URL+"/cookies/set", "sid==def")
	e = decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything"))
	want(t, e.Headers["Cookie"], "sid=def")
	c.ok("--session", "dev", srv.URL+"/cookies/delete", "sid==")
	e = decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything"))
	if _, ok := e.Headers["Cookie"]; ok {
		t.Errorf("deleted cookie still sent: %v", e.Headers["Cookie"])
	}
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), `"sid"`) {
		t.Errorf("deleted cookie still in the file:\n%s", raw)
	}
}

// TestSessionCookieHeader: a Cookie header given with a session goes into
// the jar, bound to the request's host.
func TestSessionCookieHeader(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	c.ok("--session", "s", srv.URL+"/get", "Cookie:a=1; b=2")
	e := decodeEcho(t, c.ok("-b", "--session", "s", srv.URL+"/anything"))
	want(t, e.Headers["Cookie"], "a=1; b=2")
	raw, _ := os.ReadFile(c.sessionFile(srv, "s"))
	if !strings.Contains(string(raw), `"host_only": true`) || strings.Contains(string(raw), `"Cookie"`) {
		t.Errorf("the Cookie header was not stored as host-only cookies:\n%s", raw)
	}
}

// TestSessionCookiesStayWithTheirHost: stored cookies are bound to the host
// that set them (HTTPie CVE-2022-24737): a session file used with another
// host does not send them there. (Headers and auth go with the session:
// a session given by path is the user's to use with any host, as HTTPie's;
// a named one lives in its host's directory.)
func TestSessionCookiesStayWithTheirHost(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	other := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "shared.json")
	c.ok("--session", file, srv.URL+"/cookies/set", "sid==abc")
	e := decodeEcho(t, c.ok("-b", "--session", file, other+"/anything"))
	if v, ok := e.Headers["Cookie"]; ok {
		t.Errorf("cookie sent to another host: %q", v)
	}
	e = decodeEcho(t, c.ok("-b", "--session", file, srv.URL+"/anything"))
	want(t, e.Headers["Cookie"], "sid=abc")
}

// TestSessionReadOnly never writes the file.
func TestSessionReadOnly(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	c.ok("--session", "ro", srv.URL+"/get", "X-A:1")
	path := c.sessionFile(srv, "ro")
	before, _ := os.ReadFile(path)
	e := decodeEcho(t, c.ok("-b", "--session-read-only", "ro", srv.URL+"/anything", "X-A:2", "X-B:3"))
	want(t, e.Headers["X-A"], "2")
	c.ok("--session-read-only", "ro", srv.URL+"/cookies/set", "sid==x")
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Errorf("read-only session written:\n%s", after)
	}
	// A read-only session that does not exist is not created.
	c.ok("--session-read-only", "none", srv.URL+"/get")
	if _, err := os.Stat(c.sessionFile(srv, "none")); !os.IsNotExist(err) {
		t.Errorf("read-only session created: %v", err)
	}
}

// TestSessionBadFile: a corrupt or group-readable session file is an error
// before anything is sent.
func TestSessionBadFile(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	dir := t.TempDir()
	corrupt := writeFile(t, dir, "corrupt.json", `{"courier_session": 1, "headers": `)
	open := writeFile(t, dir, "open.json", `{"courier_session": 1, "headers": {}, "auth": null, "cookies": []}`)
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, msg string }{
		{corrupt, "corrupt.json"},
		{open, "chmod 600"},
	} {
		c := newCLI(t)
		if code := c.run("--session", tt.path, srv.URL+"/get"); code != exitError || !strings.Contains(c.Stderr, tt.msg) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, c.Stderr, tt.msg)
		}
	}
	if n := srv.Requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestSessionImportHTTPie converts HTTPie session files of both layouts.
func TestSessionImportHTTPie(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	host := strings.TrimPrefix(srv.URL, "http://")
	httpieDir := filepath.Join(t.TempDir(), "httpie", "sessions", strings.ReplaceAll(host, ":", "_"))
	if err := os.MkdirAll(httpieDir, 0o700); err != nil {
		t.Fatal(err)
	}
	newLayout := writeFile(t, httpieDir, "work.json", `{
  "__meta__": {"about": "HTTPie session file", "httpie": "3.2.2"},
  "auth": {"type": "basic", "raw_auth": "ada:pw"},
  "cookies": [{"name": "sid", "value": "s1", "domain": "", "path": "/", "expires": null, "secure": false}],
  "headers": [{"name": "X-Team", "value": "red"}]
}`)
	oldLayout := writeFile(t, t.TempDir(), "old.json", `{
  "__meta__": {"about": "HTTPie session file", "httpie": "2.6.0"},
  "auth": {"type": null, "username": null, "password": null},
  "cookies": {"old": {"value": "o1", "path": "/", "secure": false, "expires": null}},
  "headers": {"X-Old": "yes"}
}`)
	c := newCLI(t)
	out := c.ok("session", "import", "httpie", newLayout)
	if !strings.Contains(out, "1 headers, 1 cookies, auth basic") {
		t.Errorf("import said %q", out)
	}
	e := decodeEcho(t, c.ok("-b", "--session", "work", srv.URL+"/anything"))
	want(t, e.Headers["X-Team"], "red")
	want(t, e.Headers["Cookie"], "sid=s1")
	want(t, e.Headers["Authorization"], "Basic YWRhOnB3")

	// The old layout is outside an HTTPie sessions directory: --host says
	// which host its cookies belong to.
	if code := c.run("session", "import", "httpie", oldLayout); code != exitError || !strings.Contains(c.Stderr, "--host") {
		t.Errorf("import without a host: exit %d, %q", code, c.Stderr)
	}
	c.ok("session", "import", "httpie", oldLayout, "--host", host, "--name", "old")
	e = decodeEcho(t, c.ok("-b", "--session", "old", srv.URL+"/anything"))
	want(t, e.Headers["X-Old"], "yes")
	want(t, e.Headers["Cookie"], "old=o1")

	// Importing over an existing session is refused.
	if code := c.run("session", "import", "httpie", newLayout); code != exitError || !strings.Contains(c.Stderr, "exists") {
		t.Errorf("import over a session: exit %d, %q", code, c.Stderr)
	}

	// list and show, secrets redacted.
	list := c.ok("session", "list")
	if !strings.Contains(list, "work") || !strings.Contains(list, "old") {
		t.Errorf("list:\n%s", list)
	}
	show := c.ok("session", "show", "work", srv.URL)
	if !strings.Contains(show, "sid=REDACTED") || strings.Contains(show, "s1") || strings.Contains(show, "pw") {
		t.Errorf("show:\n%s", show)
	}
}

// TestSessionFileFormat: what the CLI writes is the library's session file,
// readable by sessionfile.Load (checked through the JSON's shape).
func TestSessionFileFormat(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	c.ok("--session", "f", "-A", "bearer", "-a", "tok-1", srv.URL+"/get")
	raw, err := os.ReadFile(c.sessionFile(srv, "f"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version int `json:"courier_session"`
		Auth    struct {
			Type, Token string
		} `json:"auth"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.Version != 1 || f.Auth.Type != "bearer" || f.Auth.Token != "tok-1" {
		t.Errorf("session file %s (%v)", raw, err)
	}
}
