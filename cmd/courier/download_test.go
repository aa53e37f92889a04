package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// TestDownloadResume: a download cut short says so and is resumed with
// --continue.
func TestDownloadResume(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	srv := fileServer(t, content)
	dir := t.TempDir()
	out := filepath.Join(dir, "cut.bin")
	c := newCLI(t)
	if code := c.run("-d", "-o", out, srv.URL+"/cut"); code != exitError || !strings.Contains(c.Stderr, "incomplete download") ||
		!strings.Contains(c.Stderr, "--continue") {
		t.Fatalf("exit %d, stderr %q", code, c.Stderr)
	}
	part, _ := os.ReadFile(out)
	if len(part) == 0 || len(part) >= len(content) {
		t.Fatalf("partial file has %d bytes", len(part))
	}
	c.ok("-d", "-c", "-o", out, srv.URL+"/cut")
	if !strings.Contains(c.Stderr, "Resuming") || !strings.Contains(c.Stderr, "206 Partial Content") {
		t.Errorf("stderr: %s", c.Stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, content) {
		t.Errorf("resumed file has %d bytes, want %d (same content)", len(got), len(content))
	}
	// Resuming a complete file: the server says 416, nothing changes.
	c.ok("-d", "-c", "-o", out, srv.URL+"/cut")
	if !strings.Contains(c.Stderr, "complete already") {
		t.Errorf("stderr: %s", c.Stderr)
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
