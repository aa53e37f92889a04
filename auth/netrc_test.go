package auth_test

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/internal/testenv"
)

func basicValue(user, password string) string {
	r := http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

func TestNetrcHTTPBin(t *testing.T) {
	t.Parallel()
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	m := mustNetrc(t, `# first match wins; names are case-insensitive
machine other.example login x password y
machine LOCALHOST login ada password lovelace
machine localhost login second password match
machine 127.0.0.1 login ada password lovelace
`)
	local := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, base := range []string{srv.URL, local} {
		s := testenv.NewSession(t, courier.WithBaseURL(base), courier.WithAuth(m))
		if _, err := s.Get(t.Context(), "/basic-auth/ada/lovelace"); err != nil {
			t.Errorf("session %s: Get = %v, want success", base, err)
		}
		if code, body := get(t, m(newTransport(t, nil)), base+"/basic-auth/ada/lovelace"); code != http.StatusOK {
			t.Errorf("client: GET %s = %d %s, want 200", base, code, body)
		}
	}
}

// CVE-2024-47081: in http://example.com:@evil.com/ the host is evil.com;
// example.com's password must not go there.
func TestNetrcCVE202447081(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
	m := mustNetrc(t, "machine example.com login ex password example-secret\n")
	u, _ := url.Parse(srv.URL)
	evil := "http://example.com:@" + u.Host + "/"

	// Straight through the layer, and through http.Client (which turns the
	// userinfo into Basic auth of its own) and a session (likewise).
	req, _ := http.NewRequestWithContext(t.Context(), "GET", evil, nil)
	resp, err := m(newTransport(t, nil)).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, m(newTransport(t, nil)), evil)
	s := testenv.NewSession(t, courier.WithAuth(m))
	s.Get(t.Context(), evil, courier.AnyStatus())

	hits := rec.all()
	if len(hits) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(hits))
	}
	for _, h := range hits {
		if h.Authorization == basicValue("ex", "example-secret") {
			t.Errorf("GET %s sent example.com's credentials to %s", evil, u.Host)
		}
	}
}

// On a redirect the host is looked up anew: each named host gets its own
// entry; nothing after https to http.
func TestNetrcRedirects(t *testing.T) {
	t.Parallel()
	m := mustNetrc(t, `machine 127.0.0.1 login a password pa
machine localhost login b password pb
default login d password pd
`)
	tests := []struct {
		chain        string
		tls          bool
		path         func(a, b string) string
		wantA, wantB map[string]string // path -> Authorization
	}{
		{"a to b", false, func(a, b string) string { return a + "/start?to=" + url.QueryEscape(b+"/end") },
			map[string]string{"/start": basicValue("a", "pa")}, map[string]string{"/end": basicValue("b", "pb")}},
		{"a to b to a", false, func(a, b string) string {
			return a + "/start?to=" + url.QueryEscape(b+"/hop?to="+url.QueryEscape(a+"/end"))
		}, map[string]string{"/start": basicValue("a", "pa"), "/end": basicValue("a", "pa")}, map[string]string{"/hop": basicValue("b", "pb")}},
		{"https to http", true, func(a, b string) string { return a + "/start?to=" + url.QueryEscape(b+"/end") },
			map[string]string{"/start": basicValue("a", "pa")}, map[string]string{"/end": ""}},
	}
	for _, tt := range tests {
		for _, client := range []string{"session", "http.Client"} {
			t.Run(tt.chain+"/"+client, func(t *testing.T) {
				t.Parallel()
				recA, recB := &recorder{}, &recorder{}
				mode := testenv.HTTP1
				if tt.tls {
					mode = testenv.HTTP1TLS
				}
				a := testenv.NewServer(t, mode, redirectServer(recA))
				b := testenv.NewServer(t, testenv.HTTP1, redirectServer(recB))
				bURL := strings.Replace(b.URL, "127.0.0.1", "localhost", 1)
				first := tt.path(a.URL, bURL)
				pool := testenv.CertPool(a.Server)
				if client == "session" {
					s := testenv.NewSession(t, courier.WithAuth(m), tlsOption(pool))
					if _, err := s.Get(t.Context(), first, courier.AnyStatus()); err != nil {
						t.Fatal(err)
					}
				} else {
					get(t, m(newTransport(t, pool)), first)
				}
				for name, c := range map[string]struct {
					hits []hit
					want map[string]string
				}{"a": {recA.all(), tt.wantA}, "b": {recB.all(), tt.wantB}} {
					if len(c.hits) != len(c.want) {
						t.Errorf("%s saw %+v, want one request for each of %v", name, c.hits, c.want)
					}
					for _, h := range c.hits {
						if want := c.want[h.Path]; h.Authorization != want {
							t.Errorf("%s%s got Authorization %q, want %q", name, h.Path, h.Authorization, want)
						}
					}
				}
			})
		}
	}
}

func TestNetrcPermissions(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no unix permissions")
	}
	t.Parallel()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o620, 0o604, 0o602, 0o666} {
		path := writeNetrc(t, "machine h login u password top-secret\n")
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := auth.Netrc(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) || strings.Contains(err.Error(), "top-secret") {
			t.Errorf("Netrc(file mode %o) = %v, want an error saying chmod 600 %s", mode, err, path)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400, 0o700} {
		path := writeNetrc(t, "machine h login u password p\n")
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := auth.Netrc(path); err != nil {
			t.Errorf("Netrc(file mode %o) = %v, want success", mode, err)
		}
	}
}

// Errors name the file and the line, and quote nothing of it.
func TestNetrcErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		content, want string
	}{
		{"login u password sec1", "%s:1: login outside a machine or default entry"},
		{"machine h\n  login u\n  password", "%s:3: password without a value"},
		{"machine h login u password \"sec1", "%s:1: unterminated quoted token"},
		{"machine h\nlogin u\npassword sec1 sec2", "%s:3: unexpected token (want machine, default, login, password, account or macdef)"},
		{"machine h login u password sec1\\", "%s:1: backslash at the end of the file"},
		{"macdef init\ncd /\n\nlogin sec1", "%s:4: login outside a machine or default entry"},
		{"machine", "%s:1: machine without a value"},
	}
	for _, tt := range tests {
		path := writeNetrc(t, tt.content)
		_, err := auth.Netrc(path)
		want := "auth: netrc: " + strings.Replace(tt.want, "%s", path, 1)
		if err == nil || err.Error() != want {
			t.Errorf("Netrc(%q) = %v, want %s", tt.content, err, want)
		} else if strings.Contains(err.Error(), "sec") {
			t.Errorf("Netrc(%q) = %v, which quotes the file", tt.content, err)
		}
	}
}

// An entry whose login cannot be sent fails requests to its host only, with
// an error that names the line.
func TestNetrcBadEntry(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
	path := writeNetrc(t, "machine other login ok password fine\nmachine 127.0.0.1 login a:b password sec1\n")
	m, err := auth.Netrc(path)
	if err != nil {
		t.Fatal(err)
	}
	body := newBody("x")
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL, body)
	_, err = m(newTransport(t, nil)).RoundTrip(req)
	want := "auth: netrc: " + path + ":2: login or password: user name contains ':'"
	if err == nil || err.Error() != want || !body.closed.Load() || len(rec.all()) != 0 {
		t.Errorf("RoundTrip = %v (body closed %v, %d sent), want %s, closed, nothing sent", err, body.closed.Load(), len(rec.all()), want)
	}
}

func TestNetrcMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	if _, err := auth.Netrc(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Netrc(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := auth.Netrc(""); err == nil {
		t.Error(`Netrc("") = nil error, want one`)
	}

	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	t.Setenv("NETRC", path)
	if _, err := auth.NetrcFromEnv(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NetrcFromEnv($NETRC missing) = %v, want fs.ErrNotExist", err)
	}

	// No $NETRC, no ~/.netrc: a layer that adds nothing.
	t.Setenv("NETRC", "")
	m, err := auth.NetrcFromEnv()
	if err != nil {
		t.Fatalf("NetrcFromEnv(no file) = %v, want no error", err)
	}
	rec := &recorder{}
	srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
	get(t, m(newTransport(t, nil)), srv.URL)
	if hits := rec.all(); len(hits) != 1 || hits[0].Authorization != "" {
		t.Errorf("server saw %+v, want one request without credentials", hits)
	}
}

func TestNetrcFromEnv(t *testing.T) {
	rec := &recorder{}
	srv := testenv.NewServer(t, testenv.HTTP1, challengeOr401(rec))
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	name := ".netrc"
	if runtime.GOOS == "windows" {
		name = "_netrc"
	}
	if err := os.WriteFile(filepath.Join(home, name), []byte("default login home password h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NETRC", writeNetrc(t, "default login env password e\n"))
	for _, want := range []string{basicValue("env", "e"), basicValue("home", "h")} {
		m, err := auth.NetrcFromEnv()
		if err != nil {
			t.Fatal(err)
		}
		get(t, m(newTransport(t, nil)), srv.URL)
		hits := rec.all()
		if got := hits[len(hits)-1].Authorization; got != want {
			t.Errorf("Authorization %q, want %q", got, want)
		}
		t.Setenv("NETRC", "")
	}
}
