package main

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// flaky answers 503 to the first n requests, then 200.
func flaky(t *testing.T, n int64) *testenv.Server {
	var calls atomic.Int64
	return testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
}

func TestTrace(t *testing.T) {
	srv := flaky(t, 2)
	c := newCLI(t)
	if out := c.ok("--trace", srv.URL+"/x"); out != "ok" {
		t.Errorf("stdout %q: the trace must stay on stderr", out)
	}
	for _, s := range []string{
		"attempt 1: GET " + srv.URL + "/x: 503 Service Unavailable",
		"retrying after", ": 503",
		"attempt 3: GET " + srv.URL + "/x: 200 OK",
		"3 attempt(s) in all", "first byte", "total", "connection",
	} {
		if !strings.Contains(c.Stderr, s) {
			t.Errorf("trace lacks %q:\n%s", s, c.Stderr)
		}
	}

	// Redirects are traced with where they lead.
	bin := testenv.HTTPBin(t, testenv.HTTP1)
	c.ok("--trace", "--follow", bin.URL+"/redirect/2")
	if !strings.Contains(c.Stderr, "redirect 1: 302 Found -> "+bin.URL+"/relative-redirect/1") {
		t.Errorf("trace:\n%s", c.Stderr)
	}

	// --retries 0: one attempt.
	srv = flaky(t, 1)
	c.run("--trace", "--retries", "0", "--check-status", srv.URL)
	if c.Code != exit5xx || strings.Contains(c.Stderr, "attempt 2") {
		t.Errorf("exit %d, trace:\n%s", c.Code, c.Stderr)
	}
}

func TestRepeat(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	out := c.ok("--repeat", "60", "--concurrency", "4", srv.URL+"/get")
	for _, s := range []string{"60 requests, concurrency 4", "statuses:  200 x60", "latency:  min", "p50", "p99", "attempts: 60 (0 retries)"} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
	m := regexp.MustCompile(`connections: (\d+) opened, (\d+) reused`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no connections line:\n%s", out)
	}
	opened, _ := strconv.Atoi(m[1])
	reused, _ := strconv.Atoi(m[2])
	if opened < 1 || opened > 8 || opened+reused < 60 {
		t.Errorf("%d opened (the server saw %d), %d reused: want at most 2x the concurrency opened, as the server saw them, and 60 attempts at least", opened, srv.NewConns.Load(), reused)
	}
	if n := srv.NewConns.Load(); n > 8 {
		t.Errorf("the server saw %d connections", n)
	}

	// Statuses and failures are counted; --check-status makes them the
	// exit code.
	c.run("--repeat", "5", "--check-status", "--retries", "0", srv.URL+"/status/500")
	if c.Code != exit5xx || !strings.Contains(c.Stdout, "500 x5") {
		t.Errorf("exit %d:\n%s", c.Code, c.Stdout)
	}
	closed := "http://" + testenv.ClosedPort(t)
	c.run("--repeat", "3", "--retries", "0", closed)
	if c.Code != exitError || !strings.Contains(c.Stdout, "failed:") {
		t.Errorf("exit %d:\n%s", c.Code, c.Stdout)
	}
}

// TestDemo runs "courier demo" end to end: it checks itself.
func TestDemo(t *testing.T) {
	c := newCLI(t)
	out := c.ok("demo")
	if !strings.Contains(out, "ok: every step behaved") {
		t.Errorf("demo output:\n%s", out)
	}
	if c.run("demo", "extra") != exitError {
		t.Error("demo took an argument")
	}
}

// TestHelpAndVersion print to stdout and exit 0.
func TestHelpAndVersion(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("--help"); !strings.HasPrefix(out, "usage: courier") || !strings.Contains(out, "Exit codes") {
		t.Errorf("help:\n%s", out)
	}
	if out := c.ok("--version"); !strings.HasPrefix(out, "courier 0.") {
		t.Errorf("version: %q", out)
	}
}

// TestPasswordPrompt asks for a missing password at the terminal.
func TestPasswordPrompt(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	var prompt string
	c.pass = func(p string) (string, error) { prompt = p; return "typed", nil }
	c.ok("-b", "-a", "ada", srv.URL+"/basic-auth/ada/typed")
	if !strings.Contains(prompt, "password for ada@") {
		t.Errorf("prompt %q", prompt)
	}
	c.ok("-b", "-A", "digest", "-a", "ada:pw", srv.URL+"/digest-auth/auth/ada/pw")
	c.ok("-b", "-A", "bearer", "-a", "tok", srv.URL+"/bearer")
}

// TestNoColor: NO_COLOR turns colors off on a terminal; formatting stays.
func TestNoColor(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	c.tty = true
	c.env = map[string]string{"NO_COLOR": "1"}
	out := c.ok(srv.URL + "/json")
	if strings.Contains(out, "\x1b[") || !strings.Contains(out, "HTTP/1.1 200 OK") || !strings.Contains(out, "\n    \"") {
		t.Errorf("output:\n%s", out)
	}
}
