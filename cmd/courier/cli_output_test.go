package main

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// TestProcessDownloadToRedirectedStdout: with stdout redirected and no
// --output, --download writes the body to stdout, as HTTPie does, and the
// headers and progress to stderr; with --output it saves the file.
func TestProcessDownloadToRedirectedStdout(t *testing.T) {
	content := bytes.Repeat([]byte("courier "), 8<<10) // 64 KiB
	srv := fileServer(t, content)
	cwd := t.TempDir()

	stdoutFile := filepath.Join(t.TempDir(), "stdout")
	f, err := os.Create(stdoutFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(t, "-d", srv.URL+"/files/data.bin")
	cmd.Dir = cwd
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatalf("courier -d URL > file: %v\n%s", err, stderr.String())
	}
	if got, _ := os.ReadFile(stdoutFile); !bytes.Equal(got, content) {
		t.Errorf("stdout holds %d bytes, want the %d of the body", len(got), len(content))
	}
	if names := ls(cwd); len(names) != 0 {
		t.Errorf("files saved with stdout redirected: %v", names)
	}
	for _, s := range []string{"HTTP/1.1 200 OK", "Downloading to <stdout>", "Done."} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
		}
	}

	// --output names the file even when stdout is redirected.
	f, err = os.Create(stdoutFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd = command(t, "-d", "-o", "saved.bin", srv.URL+"/files/data.bin")
	cmd.Dir = cwd
	cmd.Stdout = f
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatalf("courier -d -o saved.bin URL > file: %v\n%s", err, stderr.String())
	}
	if got, _ := os.ReadFile(filepath.Join(cwd, "saved.bin")); !bytes.Equal(got, content) {
		t.Errorf("saved.bin holds %d bytes, want %d", len(got), len(content))
	}
	if got, _ := os.ReadFile(stdoutFile); len(got) != 0 {
		t.Errorf("stdout holds %d bytes with --output", len(got))
	}
}

// TestDownloadChecksDestinationFirst: a destination that cannot be written
// is an error that names it, before anything is sent.
func TestDownloadChecksDestinationFirst(t *testing.T) {
	srv := fileServer(t, []byte("data"))
	dir := t.TempDir()
	aFile := writeFile(t, dir, "a-file", "x")
	existing := writeFile(t, dir, "existing", "keep me")
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"missing directory", []string{"-o", filepath.Join(dir, "missing-dir", "x")}, filepath.Join(dir, "missing-dir")},
		{"missing directory, resumed", []string{"-c", "-o", filepath.Join(dir, "missing-dir", "x")}, filepath.Join(dir, "missing-dir")},
		{"parent is a file", []string{"-o", filepath.Join(aFile, "x")}, aFile},
		{"output is a directory", []string{"-o", dir}, dir},
		{"existing file", []string{"-o", existing}, existing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Requests.Store(0)
			c := newCLI(t)
			args := append([]string{"-d"}, tt.args...)
			if code := c.run(append(args, srv.URL+"/files/x")...); code != exitError {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.HasPrefix(c.Stderr, "courier: error: ") || !strings.Contains(c.Stderr, tt.msg) || strings.Count(c.Stderr, "\n") != 1 {
				t.Errorf("stderr = %q, want one error line naming %s", c.Stderr, tt.msg)
			}
			if n := srv.Requests.Load(); n != 0 {
				t.Errorf("%d requests sent to a destination that cannot be written", n)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing file changed: %q", b)
	}

	if os.Geteuid() == 0 {
		return // root writes anywhere
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	srv.Requests.Store(0)
	c := newCLI(t)
	if code := c.run("-d", "-o", filepath.Join(locked, "x"), srv.URL+"/files/x"); code != exitError || !strings.Contains(c.Stderr, locked) {
		t.Errorf("read-only directory: exit %d, stderr %q", code, c.Stderr)
	}
	chdir(t, locked)
	if code := c.run("-d", srv.URL+"/files/x"); code != exitError || !strings.Contains(c.Stderr, "current directory") {
		t.Errorf("read-only working directory: exit %d, stderr %q", code, c.Stderr)
	}
	if n := srv.Requests.Load(); n != 0 {
		t.Errorf("%d requests sent to a read-only directory", n)
	}
}

// encodingServer answers /gzip with a gzip-encoded JSON body and its
// length, /chunked with a body sent in chunks, and /moved with a redirect
// to /gzip.
func encodingServer(t *testing.T) (*testenv.Server, []byte) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(`{"zipped":true}`))
	zw.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(zipped.Len()))
		w.Write(zipped.Bytes())
	})
	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("one "))
		w.(http.Flusher).Flush()
		w.Write([]byte("two"))
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/gzip", http.StatusFound)
	})
	return testenv.NewServer(t, testenv.HTTP1, mux), zipped.Bytes()
}

// TestResponseHeadersAsReceived: -h, -v and a download's head show the
// response headers as they came, Content-Encoding, Content-Length and
// Transfer-Encoding included, while the body is shown decoded.
func TestResponseHeadersAsReceived(t *testing.T) {
	srv, zipped := encodingServer(t)
	gzipLength := "Content-Length: " + strconv.Itoa(len(zipped)) + "\n"
	tests := []struct {
		name     string
		args     []string
		contains []string
	}{
		{"gzip", []string{"-h", srv.URL + "/gzip"}, []string{"Content-Encoding: gzip\n", gzipLength}},
		{"chunked", []string{"-h", srv.URL + "/chunked"}, []string{"Transfer-Encoding: chunked\n"}},
		{"verbose", []string{"-v", srv.URL + "/gzip"}, []string{"Content-Encoding: gzip\n", gzipLength, `{"zipped":true}`}},
		{"followed", []string{"-h", "--follow", srv.URL + "/moved"}, []string{"200 OK", "Content-Encoding: gzip\n", gzipLength}},
		{"body still decoded", []string{"-b", srv.URL + "/gzip"}, []string{`{"zipped":true}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			out := c.ok(tt.args...)
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("courier %s: output lacks %q:\n%s", strings.Join(tt.args, " "), s, out)
				}
			}
		})
	}

	// A download's head on stderr, too.
	chdir(t, t.TempDir())
	c := newCLI(t)
	c.tty, c.env = true, map[string]string{"NO_COLOR": "1"}
	c.ok("-d", srv.URL+"/chunked")
	if !strings.Contains(c.Stderr, "Transfer-Encoding: chunked\n") {
		t.Errorf("download head lacks Transfer-Encoding:\n%s", c.Stderr)
	}
}

// TestProcessVerboseFollowShowsEveryHop: -v with --follow prints every
// request and response of the chain, as HTTPie 3's -v (which implies
// --all) does.
func TestProcessVerboseFollowShowsEveryHop(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	out, err := command(t, "-v", "--follow", srv.URL+"/redirect/2").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	if n := strings.Count(got, "\nHost: "); n != 3 {
		t.Errorf("%d requests printed, want 3:\n%s", n, got)
	}
	if n := strings.Count(got, "HTTP/1.1 302 Found\n"); n != 2 {
		t.Errorf("%d redirects printed, want 2:\n%s", n, got)
	}
	first := strings.Index(got, "GET /redirect/2 HTTP/1.1\n")
	redirect := strings.Index(got, "HTTP/1.1 302 Found\n")
	final := strings.Index(got, "HTTP/1.1 200 OK\n")
	if first != 0 || redirect < first || final < redirect {
		t.Errorf("out of order (request %d, redirect %d, final %d):\n%s", first, redirect, final, got)
	}

	// -vv adds each response's metadata.
	out, err = command(t, "-vv", "--follow", srv.URL+"/redirect/2").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "Elapsed time: "); n != 3 {
		t.Errorf("-vv: %d elapsed times, want 3:\n%s", n, out)
	}
}

// TestHistoryPrint: --all shows the intermediary exchanges of a followed
// chain; --history-print chooses their parts as --print chooses the final
// one's; -v implies --all; secrets stay redacted in every hop.
func TestHistoryPrint(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	chain := srv.URL + "/redirect/2"
	tests := []struct {
		name                       string
		args                       []string
		requests, redirects, final int // request lines, 302 and 200 status lines
		elapsed                    int // Elapsed time lines
	}{
		{"follow alone: the final response", []string{"--follow", "-p", "Hh", chain}, 1, 0, 1, 0},
		{"--all", []string{"--all", "--follow", "-p", "Hh", chain}, 3, 2, 1, 0},
		{"--all -P H: requests only in the history", []string{"--all", "-P", "H", "--follow", "-p", "Hh", chain}, 3, 0, 1, 0},
		{"--all -P h: responses only in the history", []string{"--all", "-P", "h", "--follow", "-p", "h", chain}, 0, 2, 1, 0},
		{"--all -P m", []string{"--all", "--history-print", "hm", "--follow", "-p", "h", chain}, 0, 2, 1, 2},
		{"-v without --follow: one exchange", []string{"-v", chain}, 1, 1, 0, 0},
		{"-v --follow", []string{"-v", "--follow", chain}, 3, 2, 1, 0},
		{"--verbose --verbose", []string{"--verbose", "--verbose", "--follow", chain}, 3, 2, 1, 3},
		{"-v -p h: --print still chooses", []string{"-v", "-p", "h", "--follow", chain}, 0, 2, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			out := c.ok(tt.args...)
			got := []int{strings.Count(out, " HTTP/1.1\nHost: "), strings.Count(out, "HTTP/1.1 302 Found\n"),
				strings.Count(out, "HTTP/1.1 200 OK\n"), strings.Count(out, "Elapsed time: ")}
			want := []int{tt.requests, tt.redirects, tt.final, tt.elapsed}
			if !slices.Equal(got, want) {
				t.Errorf("courier %s: requests, redirects, finals, elapsed = %v, want %v\n%s", strings.Join(tt.args, " "), got, want, out)
			}
		})
	}

	t.Run("bad --history-print", func(t *testing.T) {
		c := newCLI(t)
		if code := c.run("--all", "-P", "Hx", chain); code != exitError || !strings.Contains(c.Stderr, `--history-print "Hx"`) {
			t.Errorf("exit %d, stderr %q", code, c.Stderr)
		}
	})

	t.Run("redacted in every hop", func(t *testing.T) {
		c := newCLI(t)
		out := c.ok("-v", "--follow", "-a", "ada:pw-SECRET1", srv.URL+"/redirect-to", "url==/status/200", "access_token==tok-SECRET2", "X-Api-Key:key-SECRET3")
		for _, s := range []string{"pw-SECRET1", "tok-SECRET2", "key-SECRET3"} {
			if strings.Contains(out, s) {
				t.Errorf("%s printed:\n%s", s, out)
			}
		}
		if n := strings.Count(out, "Authorization: REDACTED\n"); n != 2 {
			t.Errorf("%d redacted Authorization headers, want one a hop:\n%s", n, out)
		}
	})

	t.Run("digest challenge", func(t *testing.T) {
		c := newCLI(t)
		out := c.ok("-v", "-A", "digest", "-a", "ada:pw", srv.URL+"/digest-auth/auth/ada/pw")
		if !strings.Contains(out, "HTTP/1.1 401 Unauthorized\n") || !strings.Contains(out, "HTTP/1.1 200 OK\n") {
			t.Errorf("-v does not show the digest challenge:\n%s", out)
		}
	})

	t.Run("download", func(t *testing.T) {
		chdir(t, t.TempDir())
		c := newCLI(t)
		c.tty, c.env = true, map[string]string{"NO_COLOR": "1"}
		c.ok("-d", "-v", srv.URL+"/redirect/1")
		if !strings.Contains(c.Stderr, "HTTP/1.1 302 Found") || strings.Count(c.Stderr, "\nHost: ") != 2 {
			t.Errorf("a download's -v lacks the redirect:\n%s", c.Stderr)
		}
	})
}
