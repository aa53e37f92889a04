package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
	"github.com/courierhttp/courier/sessionfile"
)

// The netrc tests set HOME and NETRC for the process: they cannot run in
// parallel with anything.

// withNetrc gives the test a home of its own holding .netrc with content
// (none for ""), mode 0600, and unsets NETRC. It returns the file's path.
func withNetrc(t *testing.T, content string) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	t.Setenv("NETRC", "")
	p := filepath.Join(home, ".netrc")
	if runtime.GOOS == "windows" {
		p = filepath.Join(home, "_netrc")
	}
	if content != "" {
		writeFile(t, home, filepath.Base(p), content)
	}
	return p
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestNetrc: without -a, the netrc entry for the URL's host authenticates
// the request, as HTTPie does; -a, a session's auth and an Authorization
// header item win over it; it is never stored in the session.
func TestNetrc(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	withNetrc(t, "machine other.example login x password y\nmachine 127.0.0.1 login ada password lovelace\n")
	c := newCLI(t)

	// go-httpbin answers 401 to other credentials.
	c.ok("--check-status", srv.URL+"/basic-auth/ada/lovelace")
	e := decodeEcho(t, c.ok("-b", srv.URL+"/anything"))
	want(t, e.Headers["Authorization"], basic("ada", "lovelace"))

	e = decodeEcho(t, c.ok("-b", "-a", "bob:builder", srv.URL+"/anything"))
	want(t, e.Headers["Authorization"], basic("bob", "builder"))
	e = decodeEcho(t, c.ok("-b", srv.URL+"/anything", "Authorization:Bearer tok"))
	want(t, e.Headers["Authorization"], "Bearer tok")

	// Used with a session, netrc's credentials are not stored in it...
	c.ok("--session", "dev", srv.URL+"/anything")
	f, err := sessionfile.Load(c.sessionFile(srv, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Auth != nil {
		t.Errorf("the session stored the netrc credentials: %v", f.Auth)
	}
	// ...and a session's own auth wins over them.
	c.ok("--session", "dev", "-a", "bob:builder", srv.URL+"/anything")
	e = decodeEcho(t, c.ok("-b", "--session", "dev", srv.URL+"/anything"))
	want(t, e.Headers["Authorization"], basic("bob", "builder"))

	// $NETRC names the file to read instead of ~/.netrc.
	other := writeFile(t, t.TempDir(), "netrc", "default login carol password c4rol\n")
	t.Setenv("NETRC", other)
	c.ok("--check-status", srv.URL+"/basic-auth/carol/c4rol")
}

// TestNetrcMissing: no ~/.netrc is no error, and sends no credentials; a
// $NETRC file that is missing, or that others may read, fails the request
// before it is sent, saying why.
func TestNetrcMissing(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		fmt.Fprint(w, r.Header.Get("Authorization"))
	}))
	withNetrc(t, "")
	c := newCLI(t)
	if out := c.ok(srv.URL); out != "" {
		t.Errorf("without a netrc file, the request carried Authorization %q", out)
	}

	missing := filepath.Join(t.TempDir(), "nothing-here")
	t.Setenv("NETRC", missing)
	if code := c.run(srv.URL); code != exitError || !strings.Contains(c.Stderr, missing) || !strings.Contains(c.Stderr, "--ignore-netrc") {
		t.Errorf("NETRC=%s: exit %d, stderr %q; want 1 and the file named", missing, code, c.Stderr)
	}
	if runtime.GOOS != "windows" {
		loose := writeFile(t, t.TempDir(), "netrc", "default login ada password s3cr3t\n")
		if err := os.Chmod(loose, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("NETRC", loose)
		if code := c.run(srv.URL); code != exitError || !strings.Contains(c.Stderr, "chmod 600") || strings.Contains(c.Stderr, "s3cr3t") {
			t.Errorf("a netrc file with mode 0644: exit %d, stderr %q; want 1 and the fix", code, c.Stderr)
		}
	}
	// -a needs no netrc file, broken or not.
	if out := c.ok("-a", "u:p", srv.URL); out != basic("u", "p") {
		t.Errorf("-a with a broken NETRC: sent %q", out)
	}
	if hits != 2 {
		t.Errorf("the server saw %d requests, want 2: the failed ones must not be sent", hits)
	}
}

// TestNetrcOnlyToItsOrigin: netrc's credentials go to the URL's origin
// alone. A redirect to another port of the same host, or to another name
// for it, gets nothing, though the file has entries for both names and a
// default one.
func TestNetrcOnlyToItsOrigin(t *testing.T) {
	type hit struct{ server, auth string }
	var mu sync.Mutex
	var hits []hit
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, hit{name + " " + r.URL.Path, r.Header.Get("Authorization")})
			mu.Unlock()
		}
	}
	other := testenv.NewServer(t, testenv.HTTP1, record("other"))
	_, otherPort, _ := strings.Cut(strings.TrimPrefix(other.URL, "http://"), ":")
	first := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("first")(w, r)
		switch r.URL.Path {
		case "/to-port":
			http.Redirect(w, r, other.URL+"/port", http.StatusFound)
		case "/to-name":
			http.Redirect(w, r, "http://localhost:"+otherPort+"/name", http.StatusFound)
		}
	}))
	withNetrc(t, "machine 127.0.0.1 login ada password lovelace\nmachine localhost login ada password lovelace\ndefault login any password body\n")
	c := newCLI(t)
	c.ok("-F", first.URL+"/to-port")
	c.ok("-F", first.URL+"/to-name")

	wantHits := []hit{
		{"first /to-port", basic("ada", "lovelace")},
		{"other /port", ""},
		{"first /to-name", basic("ada", "lovelace")},
		{"other /name", ""},
	}
	if !slices.Equal(hits, wantHits) {
		t.Errorf("requests:\n got %q\nwant %q", hits, wantHits)
	}
}

// cookiesTxtServer sets two cookies on /set (one HttpOnly, one that
// expires in 2100) and a third on /set-more, and answers any other path
// with the Cookie header it got.
func cookiesTxtServer(t *testing.T) *testenv.Server {
	return testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			w.Header().Add("Set-Cookie", "sid=s3cr3t; Path=/; HttpOnly")
			w.Header().Add("Set-Cookie", "pref=dark; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT")
		case "/set-more":
			w.Header().Add("Set-Cookie", "more=1; Path=/")
		default:
			fmt.Fprint(w, r.Header.Get("Cookie"))
		}
	}))
}

// sortedCookies sorts the cookies of a Cookie header, for comparison.
func sortedCookies(header string) string {
	parts := strings.Split(strings.TrimSpace(header), "; ")
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// TestSessionCookiesTxt imports a cookies.txt file into a named session,
// keeping the cookies of the session's host alone, sends them, and exports
// the session's cookies to stdout and to a file of mode 0600 that imports
// back as the same cookies.
func TestSessionCookiesTxt(t *testing.T) {
	srv := cookiesTxtServer(t)
	c := newCLI(t)
	dir := t.TempDir()
	txt := writeFile(t, dir, "web.txt", "# Netscape HTTP Cookie File\n\n"+
		"127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\ts3cr3t\n"+
		"#HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t4102444800\tsecure\tyes\n"+
		".example.com\tTRUE\t/\tFALSE\t0\telsewhere\tx\n")

	out := c.ok("session", "import", "cookies.txt", txt, "--host", srv.URL)
	path := c.sessionFile(srv, "web")
	if !strings.Contains(out, "2 cookies, 1 for other hosts left out") || !strings.Contains(out, path) {
		t.Errorf("import said %q", out)
	}
	// The Secure cookie does not go over http.
	if got := c.ok(srv.URL + "/echo"); got != "" {
		t.Errorf("without the session: sent Cookie %q", got)
	}
	if got := c.ok("--session", "web", srv.URL+"/echo"); got != "sid=s3cr3t" {
		t.Errorf("with the session: sent Cookie %q, want sid=s3cr3t", got)
	}
	c.ok("--session", "web", srv.URL+"/set-more")

	exported := c.ok("session", "export", "cookies.txt", "web", srv.URL)
	for _, line := range []string{
		"# Netscape HTTP Cookie File\n",
		"\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\ts3cr3t\n",
		"\n#HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t4102444800\tsecure\tyes\n",
		"\n127.0.0.1\tFALSE\t/\tFALSE\t0\tmore\t1\n",
	} {
		if !strings.Contains(exported, line) {
			t.Errorf("export lacks %q:\n%s", line, exported)
		}
	}

	// To a file, by the session's path; it imports back (from stdin, into
	// a session given by path) as the same cookies.
	file := filepath.Join(dir, "out.txt")
	c.ok("session", "export", "cookies.txt", path, file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != exported {
		t.Errorf("export to a file wrote\n%s\nto stdout\n%s", data, exported)
	}
	if fi, _ := os.Stat(file); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("exported file mode %v, want 0600", fi.Mode().Perm())
	}
	copyPath := filepath.Join(dir, "copy.json")
	c.stdin = exported
	c.ok("session", "import", "cookies.txt", "-", "--output", copyPath)
	c.stdin = ""
	if again := c.ok("session", "export", "cookies.txt", copyPath); again != exported {
		t.Errorf("export, import, export wrote\n%s\nfirst\n%s", again, exported)
	}

	// Importing into a session that exists adds to it and keeps the rest.
	c.ok("--session", "web", "-a", "ada:pw", srv.URL+"/echo")
	writeFile(t, dir, "web.txt", "127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tnew\n")
	c.ok("session", "import", "cookies.txt", txt, "--host", srv.URL)
	if got := sortedCookies(c.ok("--session", "web", srv.URL+"/echo")); got != "more=1; sid=new" {
		t.Errorf("after a second import: sent Cookie %q, want more=1; sid=new", got)
	}
	if f, err := sessionfile.Load(path); err != nil || f.Auth == nil {
		t.Errorf("after a second import: Load = %v, auth %v; want the auth kept", err, f)
	}
}

// TestSessionCookiesTxtErrors: a malformed line is named by file and line,
// nothing is written; refused cookies are warnings; the commands say what
// they need.
func TestSessionCookiesTxtErrors(t *testing.T) {
	srv := cookiesTxtServer(t)
	c := newCLI(t)
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.txt", "# c\n127.0.0.1\tFALSE\t/\tFALSE\t0\ta\t1\n127.0.0.1\tFALSE\t/\tFALSE\tsoon\tsid\ts3cr3t\n")
	if code := c.run("session", "import", "cookies.txt", bad, "--host", srv.URL); code != exitError ||
		!strings.Contains(c.Stderr, bad+":3: expires: ") || strings.Contains(c.Stderr, "s3cr3t") {
		t.Errorf("malformed line: exit %d, stderr %q; want 1 and %s:3 named", code, c.Stderr, bad)
	}
	if _, err := os.Stat(c.sessionFile(srv, "bad")); err == nil {
		t.Error("a failed import wrote the session")
	}

	// A cookie the jar refuses is left out with a warning.
	prefixed := writeFile(t, dir, "prefixed.txt", "127.0.0.1\tFALSE\t/\tFALSE\t0\t__Host-a\t1\n127.0.0.1\tFALSE\t/\tFALSE\t0\tb\t2\n")
	out := c.ok("session", "import", "cookies.txt", prefixed, "--host", srv.URL)
	if !strings.Contains(c.Stderr, "warning") || !strings.Contains(c.Stderr, "__Host-a") || !strings.Contains(out, ": 1 cookies") {
		t.Errorf("refused cookie: stdout %q, stderr %q", out, c.Stderr)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"session", "import", "cookies.txt", bad}, "--host HOST"},
		{[]string{"session", "import", "cookies.txt", "-", "--host", srv.URL}, "--name NAME"},
		{[]string{"session", "import", "cookies.txt", bad, "--name", "x", "--output", filepath.Join(dir, "x.json")}, "--name goes with --host"},
		{[]string{"session", "import", "cookies.txt", filepath.Join(dir, "none.txt"), "--host", srv.URL}, "no such file"},
		{[]string{"session", "import", "cookies.txt"}, "no file to import"},
		{[]string{"session", "import", "netscape", bad}, "import cookies.txt FILE"},
		{[]string{"session", "export", "cookies.txt", "nope", srv.URL}, "no session at"},
		{[]string{"session", "export", "json", "web", srv.URL}, "export cookies.txt NAME HOST"},
		{[]string{"session", "export", "cookies.txt", "web", srv.URL, "a", "b"}, "export cookies.txt NAME HOST"},
	} {
		if code := c.run(tt.args...); code != exitError || !strings.Contains(c.Stderr, tt.want) {
			t.Errorf("courier %s: exit %d, stderr %q; want 1 and %q", strings.Join(tt.args, " "), code, c.Stderr, tt.want)
		}
	}
}

// identityCommand is the built binary with a configuration directory and
// a home (without a netrc file) of the test's.
func identityCommand(t *testing.T, config, home string, args ...string) *exec.Cmd {
	cmd := exec.Command(courierBinary(t), args...)
	cmd.Env = append(os.Environ(), "COURIER_CONFIG_DIR="+config, "HOME="+home, "USERPROFILE="+home, "NETRC=", "NO_COLOR=")
	return cmd
}

func runOK(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return string(out)
}

// TestProcessCookiesTxtWithCurl: cookies that curl saved (-c) import into a
// session of the built binary, and the session's cookies, exported, are
// cookies curl sends (-b).
func TestProcessCookiesTxtWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl here")
	}
	srv := cookiesTxtServer(t)
	config, home, dir := t.TempDir(), t.TempDir(), t.TempDir()
	jar := filepath.Join(dir, "curl-jar.txt")
	runOK(t, exec.Command(curl, "-s", "-c", jar, srv.URL+"/set"))

	runOK(t, identityCommand(t, config, home, "session", "import", "cookies.txt", jar, "--host", srv.URL, "--name", "web"))
	if got := runOK(t, identityCommand(t, config, home, "--session", "web", srv.URL+"/echo")); sortedCookies(got) != "pref=dark; sid=s3cr3t" {
		t.Errorf("courier sent the cookies curl saved as %q", got)
	}
	runOK(t, identityCommand(t, config, home, "--session", "web", srv.URL+"/set-more"))

	// The export goes through stdout of the process.
	cmd := identityCommand(t, config, home, "session", "export", "cookies.txt", "web", srv.URL, "-")
	exported := filepath.Join(dir, "courier-jar.txt")
	writeFile(t, dir, "courier-jar.txt", runOK(t, cmd))
	if got := runOK(t, exec.Command(curl, "-s", "-b", exported, srv.URL+"/echo")); sortedCookies(got) != "more=1; pref=dark; sid=s3cr3t" {
		t.Errorf("curl -b sent courier's cookies as %q", got)
	}
}

// TestProcessNetrc: the built binary reads $HOME/.netrc, and $NETRC.
func TestProcessNetrc(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("on Windows the home netrc file is _netrc under USERPROFILE")
	}
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	config, home := t.TempDir(), t.TempDir()
	writeFile(t, home, ".netrc", "machine 127.0.0.1\n  login ada\n  password lovelace\n")
	runOK(t, identityCommand(t, config, home, "--check-status", srv.URL+"/basic-auth/ada/lovelace"))

	cmd := identityCommand(t, config, home, "--check-status", srv.URL+"/basic-auth/bob/builder")
	cmd.Env = append(cmd.Env, "NETRC="+writeFile(t, t.TempDir(), "n", "default login bob password builder\n"))
	runOK(t, cmd)

	cmd = identityCommand(t, config, home, "--check-status", srv.URL+"/basic-auth/ada/lovelace")
	cmd.Env = append(cmd.Env, "NETRC="+filepath.Join(home, "missing"))
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err == nil {
		t.Error("NETRC naming a missing file: the request went ahead")
	}
}
