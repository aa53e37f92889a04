package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier/internal/testenv"
)

// fileServer serves content at /files/{name} with Range support, and a few
// routes that misbehave as servers do.
func fileServer(t *testing.T, content []byte) *testenv.Server {
	var cuts atomic.Int64
	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
	}
	mux.HandleFunc("GET /files/{name}", serve)
	mux.HandleFunc("GET /named", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="report 2026.csv"`)
		serve(w, r)
	})
	mux.HandleFunc("GET /evil", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="../../.bashrc"`)
		serve(w, r)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/files/.bashrc", http.StatusFound)
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<p>hi</p>"))
	})
	// /cut sends half the body and drops the connection, the first time;
	// a Range request is served properly.
	mux.HandleFunc("GET /cut", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" || cuts.Add(1) > 1 {
			serve(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content[:len(content)/2])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	mux.HandleFunc("GET /missing", http.NotFound)
	return testenv.NewServer(t, testenv.HTTP1, mux)
}

func TestDownload(t *testing.T) {
	content := bytes.Repeat([]byte("courier "), 16<<10) // 128 KiB
	srv := fileServer(t, content)
	dir := t.TempDir()
	chdir(t, dir)
	c := newCLI(t)
	// On a terminal: with stdout redirected and no -o, the body goes to
	// stdout (TestProcessDownloadToRedirectedStdout).
	c.tty = true

	saved := func(name string) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v (files: %v)", name, err, ls(dir))
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s holds %d bytes, want %d", name, len(got), len(content))
		}
	}

	// Named by the URL; a second download does not overwrite the first.
	c.ok("-d", srv.URL+"/files/data.bin")
	saved("data.bin")
	if !strings.Contains(c.Stderr, `Downloading to "data.bin"`) || !strings.Contains(c.Stderr, "Done.") {
		t.Errorf("stderr: %s", c.Stderr)
	}
	if c.Stdout != "" {
		t.Errorf("stdout: %q", c.Stdout)
	}
	c.ok("-d", srv.URL+"/files/data.bin")
	saved("data-1.bin")

	// On a terminal, a progress bar on stderr.
	c.ok("-d", srv.URL+"/files/bar.bin")
	saved("bar.bin")
	if !strings.Contains(c.Stderr, "\r\x1b[K100% ██") || !strings.Contains(c.Stderr, "128.0 KiB / 128.0 KiB") {
		t.Errorf("no progress bar on a terminal:\n%q", c.Stderr)
	}

	// Named by Content-Disposition, sanitised to a plain name here.
	c.ok("-d", srv.URL+"/named")
	saved("report 2026.csv")
	c.ok("-d", srv.URL+"/evil")
	saved("bashrc")

	// Never named by a redirect's target (HTTPie CVE-2019-10751).
	c.ok("-d", srv.URL+"/moved")
	saved("moved.txt") // the extension from Content-Type
	if _, err := os.Stat(filepath.Join(dir, ".bashrc")); err == nil {
		t.Error("a redirect target named the file")
	}

	// An extension from Content-Type when the URL has none.
	c.ok("-d", srv.URL+"/page")
	if _, err := os.Stat(filepath.Join(dir, "page.html")); err != nil {
		t.Errorf("page.html: %v (files: %v)", err, ls(dir))
	}

	// -o: an existing file is kept unless --overwrite.
	out := filepath.Join(dir, "out.bin")
	writeFile(t, dir, "out.bin", "keep me")
	if code := c.run("-d", "-o", out, srv.URL+"/files/x"); code != exitError || !strings.Contains(c.Stderr, "--overwrite") {
		t.Errorf("exit %d, stderr %q", code, c.Stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Errorf("existing file overwritten")
	}
	c.ok("-d", "-o", out, "--overwrite", srv.URL+"/files/x")
	saved("out.bin")

	// A failed status saves nothing and exits as --check-status would.
	if code := c.run("-d", "-o", filepath.Join(dir, "missing"), srv.URL+"/missing"); code != exit4xx {
		t.Errorf("404 download: exit %d, stderr %q", code, c.Stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("a 404 saved a file")
	}
}

// resumeServer serves a file at /file with an ETag (its version), and
// cuts the next `cut` responses after half of what they send: the server
// a resumable download is for. It records the Range and If-Range of each
// request.
type resumeServer struct {
	*testenv.Server
	mu      sync.Mutex
	content []byte
	version int
	cut     int
	ranges  [][2]string // Range, If-Range
}

func newResumeServer(t *testing.T, content []byte) *resumeServer {
	rs := &resumeServer{content: content, version: 1}
	rs.Server = testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.ranges = append(rs.ranges, [2]string{r.Header.Get("Range"), r.Header.Get("If-Range")})
		content, version := rs.content, rs.version
		cut := rs.cut > 0
		if cut {
			rs.cut--
		}
		rs.mu.Unlock()
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, version))
		if cut {
			w = &halfWriter{ResponseWriter: w}
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
	}))
	return rs
}

func (rs *resumeServer) set(f func(*resumeServer)) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	f(rs)
}

func (rs *resumeServer) requests() [][2]string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.ranges)
}

// halfWriter writes the first half of the body its Content-Length gives,
// then breaks the connection.
type halfWriter struct {
	http.ResponseWriter
	left int
	set  bool
}

func (h *halfWriter) Write(b []byte) (int, error) {
	if !h.set {
		n, _ := strconv.Atoi(h.Header().Get("Content-Length"))
		h.left, h.set = n/2, true
	}
	if len(b) > h.left {
		h.ResponseWriter.Write(b[:h.left])
		http.NewResponseController(h.ResponseWriter).Flush()
		panic(http.ErrAbortHandler)
	}
	h.left -= len(b)
	return h.ResponseWriter.Write(b)
}

// TestDownloadResume: -o downloads go through FILE.part, so a download
// that cannot finish leaves nothing under FILE; a cut body is resumed in
// the same run; --continue resumes a .part with Range and If-Range, and a
// file that changed on the server in between starts over instead of being
// spliced.
func TestDownloadResume(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	rs := newResumeServer(t, content)
	dir := t.TempDir()
	out := filepath.Join(dir, "cut.bin")
	part := out + ".part"
	c := newCLI(t)
	holds := func(name string, want []byte) {
		t.Helper()
		got, err := os.ReadFile(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v; want %d bytes, the same content", name, len(got), err, len(want))
		}
	}

	// A cut in the run is resumed in the run, with If-Range.
	rs.set(func(rs *resumeServer) { rs.cut = 1 })
	c.ok("-d", "-o", out, rs.URL+"/file")
	holds(out, content)
	if got := rs.requests(); len(got) != 2 || got[1][0] != "bytes=65536-" || got[1][1] != `"v1"` {
		t.Fatalf("requests (Range, If-Range) = %q, want a full one, then one from the cut with If-Range \"v1\"", got)
	}
	if _, err := os.Stat(part); err == nil {
		t.Error(".part left after a complete download")
	}

	// A run that cannot finish leaves FILE.part and says how to resume.
	os.Remove(out)
	rs.set(func(rs *resumeServer) { rs.cut, rs.ranges = 100, nil })
	if code := c.run("-d", "-o", out, rs.URL+"/file"); code != exitError || !strings.Contains(c.Stderr, "incomplete download") ||
		!strings.Contains(c.Stderr, "--continue -o "+out) {
		t.Fatalf("exit %d, stderr %q", code, c.Stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("an incomplete download left a file under its final name")
	}
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(content)) || fi.Mode().Perm() != 0o600 {
		t.Fatalf(".part: %v, %v; want a 0600 part of the file", fi, err)
	}

	// Without --continue or --overwrite, the .part is not touched.
	if code := c.run("-d", "-o", out, rs.URL+"/file"); code != exitError || !strings.Contains(c.Stderr, "give --continue to resume it") {
		t.Fatalf("exit %d, stderr %q", code, c.Stderr)
	}

	// --continue resumes it, with Range and If-Range.
	rs.set(func(rs *resumeServer) { rs.cut, rs.ranges = 0, nil })
	c.ok("-d", "-c", "-o", out, rs.URL+"/file")
	holds(out, content)
	if got := rs.requests(); len(got) != 1 || got[0][0] != fmt.Sprintf("bytes=%d-", fi.Size()) || got[0][1] != `"v1"` {
		t.Errorf("requests (Range, If-Range) = %q, want one from byte %d with If-Range \"v1\"", got, fi.Size())
	}
	if !strings.Contains(c.Stderr, "206 Partial Content") || !strings.Contains(c.Stderr, "Resuming") {
		t.Errorf("stderr: %s", c.Stderr)
	}

	// The file changed on the server between the runs: If-Range fails,
	// the server sends the whole new file, and nothing is spliced.
	os.Remove(out)
	rs.set(func(rs *resumeServer) { rs.cut = 100 })
	c.run("-d", "-o", out, rs.URL+"/file")
	changed := bytes.Repeat([]byte("FEDCBA9876543210"), 8<<10)
	rs.set(func(rs *resumeServer) { rs.cut, rs.content, rs.version = 0, changed, 2 })
	c.ok("-d", "-c", "-o", out, rs.URL+"/file")
	holds(out, changed)

	// A FILE that no interrupted download left cannot be resumed safely:
	// it is downloaded again.
	c.ok("-d", "-c", "-o", out, rs.URL+"/file")
	holds(out, changed)
	if !strings.Contains(c.Stderr, "cannot be resumed safely") {
		t.Errorf("stderr: %s", c.Stderr)
	}

	// --continue is for GET downloads without a body.
	if code := c.run("-d", "-c", "-o", out, "POST", rs.URL+"/file", "a=1"); code == exitOK || !strings.Contains(c.Stderr, "--continue resumes a GET download") {
		t.Errorf("exit %d, stderr %q", code, c.Stderr)
	}
}

func TestSanitize(t *testing.T) {
	tests := map[string]string{
		"report.pdf":        "report.pdf",
		"../../etc/passwd":  "passwd",
		`..\..\win.ini`:     "win.ini",
		"/abs/path.txt":     "path.txt",
		".hidden":           "hidden",
		"..":                "",
		"a\x00b\nc.txt":     "abc.txt",
		"C:evil.exe":        "Cevil.exe",
		"  spaced name.txt": "spaced name.txt",
	}
	for in, want := range tests {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func ls(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
