package main

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// cachedOrigin is a server whose responses may be cached for a minute:
// its body names the Authorization it got and counts its requests.
func cachedOrigin(t *testing.T) *testenv.Server {
	t.Helper()
	var srv *testenv.Server
	srv = testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "response %d for %q\n", srv.Requests.Load(), r.Header.Get("Authorization"))
	}))
	return srv
}

// TestCacheSecondRun: with --cache, a second run for a fresh response
// sends nothing, and prints the stored response, with an Age header; a
// new configuration does not matter, the directory does.
func TestCacheSecondRun(t *testing.T) {
	srv := cachedOrigin(t)
	dir := filepath.Join(t.TempDir(), "cache")
	url := srv.URL + "/thing"

	first := newCLI(t).ok("--cache", dir, url)
	second := newCLI(t).ok("--cache", dir, url)
	if second != first {
		t.Errorf("second run printed %q, want the first run's %q", second, first)
	}
	head := newCLI(t).ok("--cache", dir, "--print=h", url)
	if !strings.Contains(head, "\nAge: ") {
		t.Errorf("--print=h of a cached response has no Age header:\n%s", head)
	}
	if n := srv.Requests.Load(); n != 1 {
		t.Errorf("the server got %d requests, want 1", n)
	}

	// Without --cache, or asked not to, the request goes out.
	newCLI(t).ok(url)
	newCLI(t).ok("--cache", dir, url, "Cache-Control:no-cache")
	if n := srv.Requests.Load(); n != 3 {
		t.Errorf("the server got %d requests, want 3", n)
	}
}

// TestCacheModes: the directory --cache creates, its subdirectories and
// its files are the user's alone.
func TestCacheModes(t *testing.T) {
	srv := cachedOrigin(t)
	dir := filepath.Join(t.TempDir(), "cache")
	c := newCLI(t)
	for i := range 3 {
		c.ok("--cache", dir, fmt.Sprintf("%s/item/%d", srv.URL, i))
	}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = fs.ModeDir | 0o700
		} else {
			files++
		}
		if fi.Mode() != want {
			t.Errorf("mode of %s = %v, want %v", path, fi.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Errorf("%d files in the cache, want 3 entries at least", files)
	}
}

// TestCacheBadDir: a --cache that cannot be a cache directory is an error
// that names it, exit 1, and nothing is sent.
func TestCacheBadDir(t *testing.T) {
	srv := cachedOrigin(t)
	file := writeFile(t, t.TempDir(), "file", "not a directory")
	tests := []struct {
		name string
		dir  string
	}{
		{"a file", file},
		{"under a file", filepath.Join(file, "cache")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			if code := c.run("--cache", tt.dir, srv.URL+"/thing"); code != exitError {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitError, c.Stderr)
			}
			if !strings.HasPrefix(c.Stderr, "courier: error: --cache: ") || !strings.Contains(c.Stderr, tt.dir) {
				t.Errorf("stderr = %q, want a --cache error naming %s", c.Stderr, tt.dir)
			}
			if c.Stdout != "" {
				t.Errorf("stdout = %q, want nothing", c.Stdout)
			}
		})
	}
	if n := srv.Requests.Load(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

// TestCacheCredentials: runs share what they cache only when they send the
// same credentials, whether those come from -a, an Authorization item or
// the netrc file.
func TestCacheCredentials(t *testing.T) {
	srv := cachedOrigin(t)
	dir := t.TempDir()
	url := srv.URL + "/private"
	netrc := withNetrc(t, "machine 127.0.0.1 login ada password one\n")
	runs := []struct {
		args []string
		sent bool // a request goes out: nothing stored for this identity
	}{
		{[]string{"-a", "ada:one"}, true},
		{[]string{"-a", "ada:one"}, false},
		{[]string{"-a", "ada:two"}, true},
		{[]string{"Authorization:Bearer x"}, true},
		{[]string{"Authorization:Bearer x"}, false},
		{[]string{"--ignore-netrc"}, true},
		{[]string{"--ignore-netrc"}, false},
		{nil, true}, // the netrc file's credentials
		{nil, false},
	}
	c := newCLI(t)
	for i, r := range runs {
		before := srv.Requests.Load()
		out := c.ok(append([]string{"--cache", dir, url}, r.args...)...)
		if sent := srv.Requests.Load() > before; sent != r.sent {
			t.Errorf("run %d (%q): sent = %v, want %v; printed %q", i, r.args, sent, r.sent, out)
		}
	}

	// Another netrc file: another identity.
	writeFile(t, filepath.Dir(netrc), filepath.Base(netrc), "machine 127.0.0.1 login ada password other\n")
	before := srv.Requests.Load()
	c.ok("--cache", dir, url)
	if srv.Requests.Load() == before {
		t.Error("a run with other netrc credentials was answered from the cache")
	}
}

// TestCacheOffline: --offline and --curl send nothing, and do not touch
// the cache.
func TestCacheOffline(t *testing.T) {
	for _, flag := range []string{"--offline", "--curl"} {
		dir := filepath.Join(t.TempDir(), "cache")
		out := newCLI(t).ok(flag, "--cache", dir, "example.org/thing")
		if !strings.Contains(out, "example.org") {
			t.Errorf("%s printed %q, want the request", flag, out)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s made the cache directory", flag)
		}
	}
}
