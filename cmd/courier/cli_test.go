package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// echo is what go-httpbin's /anything says it got.
type echo struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Args    map[string][]string `json:"args"`
	Headers map[string][]string `json:"headers"`
	Data    string              `json:"data"`
	JSON    any                 `json:"json"`
	Form    map[string][]string `json:"form"`
	Files   map[string][]string `json:"files"`
}

func decodeEcho(t *testing.T, out string) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("not httpbin's echo: %v\n%s", err, out)
	}
	return e
}

// TestItems sends every kind of request item to go-httpbin and checks what
// arrived.
func TestItems(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	dir := t.TempDir()
	textFile := writeFile(t, dir, "note.txt", "from a file\n")
	jsonFile := writeFile(t, dir, "tags.json", `["a", "b"]`)
	headerFile := writeFile(t, dir, "token.txt", "tok-123\n")
	upload := writeFile(t, dir, "pic.png", "\x89PNG fake")

	tests := []struct {
		name  string
		args  []string
		stdin string
		check func(t *testing.T, e echo)
	}{
		{"header", []string{"X-Foo:bar", "X-Multi:1", "X-Multi:2"}, "", func(t *testing.T, e echo) {
			want(t, e.Headers["X-Foo"], "bar")
			want(t, e.Headers["X-Multi"], "1", "2")
		}},
		{"header from a file", []string{"X-Token:@" + headerFile}, "", func(t *testing.T, e echo) {
			want(t, e.Headers["X-Token"], "tok-123")
		}},
		{"empty header", []string{"X-Empty;"}, "", func(t *testing.T, e echo) {
			want(t, e.Headers["X-Empty"], "")
		}},
		{"unset a default header", []string{"User-Agent:"}, "", func(t *testing.T, e echo) {
			if ua, ok := e.Headers["User-Agent"]; ok {
				t.Errorf("User-Agent sent: %q", ua)
			}
		}},
		{"escaped separator", []string{`a\==b`}, "", func(t *testing.T, e echo) {
			// "a\==b" is the field "a=" with the value "b".
			if got := e.JSON.(map[string]any)["a="]; got != "b" {
				t.Errorf("json = %v", e.JSON)
			}
		}},
		{"query", []string{"q==hello world", "q==2", "file==@" + textFile}, "", func(t *testing.T, e echo) {
			want(t, e.Args["q"], "hello world", "2")
			want(t, e.Args["file"], "from a file\n")
		}},
		{"json data", []string{"name=ada", "age:=36", "ok:=true", "tags:=@" + jsonFile, "bio=@" + textFile}, "", func(t *testing.T, e echo) {
			if e.Method != "POST" {
				t.Errorf("method %s, want POST for data", e.Method)
			}
			wantJSON(t, e.Data, `{"name": "ada", "age": 36, "ok": true, "tags": ["a", "b"], "bio": "from a file\n"}`)
			want(t, e.Headers["Content-Type"], "application/json")
			want(t, e.Headers["Accept"], "application/json, */*;q=0.5")
		}},
		{"repeated field: the last wins, as HTTPie 3", []string{"x=1", "x=2"}, "", func(t *testing.T, e echo) {
			wantJSON(t, e.Data, `{"x": "2"}`)
		}},
		{"form", []string{"--form", "name=ada lovelace", "bio=@" + textFile}, "", func(t *testing.T, e echo) {
			want(t, e.Form["name"], "ada lovelace")
			want(t, e.Form["bio"], "from a file\n")
			want(t, e.Headers["Content-Type"], "application/x-www-form-urlencoded; charset=utf-8")
		}},
		{"multipart upload", []string{"-f", "name=ada", "pic@" + upload + ";type=image/png"}, "", func(t *testing.T, e echo) {
			want(t, e.Form["name"], "ada")
			if len(e.Files["pic"]) != 1 {
				t.Errorf("files = %v", e.Files)
			}
			if !strings.Contains(e.Data, `filename="pic.png"`) || !strings.Contains(e.Data, "Content-Type: image/png") {
				t.Errorf("multipart body:\n%s", e.Data)
			}
		}},
		{"explicit method", []string{"PUT", "a=1"}, "", func(t *testing.T, e echo) {
			if e.Method != "PUT" {
				t.Errorf("method %s", e.Method)
			}
		}},
		{"raw body", []string{"--raw", "hello", "Content-Type:text/plain"}, "", func(t *testing.T, e echo) {
			if e.Method != "POST" || e.Data != "hello" {
				t.Errorf("%s %q", e.Method, e.Data)
			}
			want(t, e.Headers["Content-Type"], "text/plain")
		}},
		{"stdin body", []string{"PUT"}, `{"from": "stdin"}`, func(t *testing.T, e echo) {
			if e.Method != "PUT" || e.Data != `{"from": "stdin"}` {
				t.Errorf("%s %q", e.Method, e.Data)
			}
			want(t, e.Headers["Content-Type"], "application/json")
		}},
		{"stdin ignored", []string{"-I", "a=1"}, "ignored", func(t *testing.T, e echo) {
			wantJSON(t, e.Data, `{"a": "1"}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.stdin, c.inData = tt.stdin, tt.stdin != ""
			args := []string{"-b"}
			// A method goes before the URL.
			rest := tt.args
			if len(rest) > 0 && methodRE.MatchString(rest[0]) {
				args = append(args, rest[0])
				rest = rest[1:]
			}
			args = append(args, srv.URL+"/anything")
			args = append(args, rest...)
			tt.check(t, decodeEcho(t, c.ok(args...)))
		})
	}
}

func want(t *testing.T, got []string, values ...string) {
	t.Helper()
	if strings.Join(got, "\x00") != strings.Join(values, "\x00") || len(got) != len(values) {
		t.Errorf("got %q, want %q", got, values)
	}
}

func wantJSON(t *testing.T, got, wantJS string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("sent %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(wantJS), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("sent %s, want %s", got, wantJS)
	}
}

// TestBadInput: a bad command line gets one line on stderr and exit 1;
// nothing is sent, and a session file is left as it was.
func TestBadInput(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	c := newCLI(t)
	c.ok("--session", "keep", srv.URL+"/cookies/set", "a==1", "X-Keep:1")
	path := c.sessionFile(srv, "keep")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	beforeStat, _ := os.Stat(path)
	srv.Requests.Store(0)

	tests := []struct {
		name string
		args []string
		msg  string // a part of the one error line
	}{
		{"unknown flag", []string{"--nope", srv.URL}, "unknown flag -nope"},
		{"flag without value", []string{srv.URL, "--timeout"}, "flag -timeout needs a value"},
		{"no URL", []string{"--session", "keep"}, "no URL"},
		{"bad URL", []string{"--session", "keep", "http://exa mple.com/"}, `bad URL "http://exa mple.com/"`},
		{"bad scheme", []string{"ftp://example.com/"}, "the scheme must be http or https"},
		{"bad port", []string{":99999/x"}, "port 99999 is out of range"},
		{"malformed item", []string{"--session", "keep", srv.URL, "justaword"}, `"justaword" is not a request item`},
		{"bad header name", []string{"--session", "keep", srv.URL, "X Bad:1"}, "not a valid header name"},
		{"invalid raw JSON", []string{"--session", "keep", srv.URL, "a:={oops"}, "not valid JSON"},
		{"missing file", []string{"--session", "keep", srv.URL, "a=@/no/such/file"}, "no such file /no/such/file"},
		{"missing upload", []string{"--session", "keep", "-f", srv.URL, "a@/no/such/file"}, "no such file /no/such/file"},
		{"upload without form", []string{"--session", "keep", srv.URL, "a@/etc/hostname"}, "add --form"},
		{"bad print", []string{"-p", "Hx", srv.URL}, `--print "Hx"`},
		{"bad pretty", []string{"--pretty", "loud", srv.URL}, `--pretty "loud"`},
		{"bad auth type", []string{"-A", "ntlm", "-a", "u:p", srv.URL}, `--auth-type "ntlm"`},
		{"password with no terminal", []string{"--session", "keep", "-a", "ada", srv.URL}, "no terminal to ask for one"},
		{"bad timeout", []string{"--timeout", "soon", srv.URL}, `--timeout "soon"`},
		{"continue without output", []string{"-d", "-c", srv.URL}, "--continue resumes a download"},
		{"stdin and data", []string{"--session", "keep", srv.URL, "a=1"}, "cannot be mixed"},
		{"bad session name", []string{"--session", "a b", srv.URL}, "a name is letters"},
		{"bad proxy", []string{"--proxy", "nope", srv.URL}, "PROTOCOL:URL"},
		{"bad CA file", []string{"--verify", "/no/such/ca.pem", srv.URL}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.config = filepath.Dir(filepath.Dir(filepath.Dir(path)))
			if tt.name == "stdin and data" {
				c.stdin, c.inData = "body", true
			}
			if code := c.run(tt.args...); code != exitError {
				t.Errorf("exit %d, want 1", code)
			}
			lines := strings.Split(strings.TrimSuffix(c.Stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "courier: error: ") || !strings.Contains(lines[0], tt.msg) {
				t.Errorf("stderr = %q, want one error line with %q", c.Stderr, tt.msg)
			}
			if c.Stdout != "" {
				t.Errorf("stdout = %q", c.Stdout)
			}
		})
	}
	if n := srv.Requests.Load(); n != 0 {
		t.Errorf("%d requests sent on bad input", n)
	}
	after, _ := os.ReadFile(path)
	afterStat, _ := os.Stat(path)
	if string(after) != string(before) || !afterStat.ModTime().Equal(beforeStat.ModTime()) {
		t.Errorf("session file changed on bad input")
	}
}

// TestExitCodes: HTTPie's exit codes.
func TestExitCodes(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	closed := "http://" + testenv.ClosedPort(t)
	tests := []struct {
		name string
		args []string
		code int
		err  string // on stderr
	}{
		{"ok", []string{srv.URL + "/get"}, exitOK, ""},
		{"404 without --check-status", []string{srv.URL + "/status/404"}, exitOK, ""},
		{"404", []string{"--check-status", srv.URL + "/status/404"}, exit4xx, "warning: HTTP 404 Not Found"},
		{"500", []string{"--check-status", srv.URL + "/status/500"}, exit5xx, "warning: HTTP 500"},
		{"503 after retries", []string{"--check-status", "--retries", "1", srv.URL + "/status/503"}, exit5xx, "warning: HTTP 503"},
		{"3xx not followed", []string{"--check-status", srv.URL + "/redirect/1"}, exit3xx, "warning: HTTP 302"},
		{"3xx followed", []string{"--check-status", "--follow", srv.URL + "/redirect/1"}, exitOK, ""},
		{"timeout", []string{"--timeout", "0.2", srv.URL + "/delay/3"}, exitTimeout, "GET http://127.0.0.1"},
		{"too many redirects", []string{"--follow", "--max-redirects", "2", srv.URL + "/redirect/5"}, exitTooManyRedirs, "redirect"},
		{"connection refused", []string{"--retries", "0", closed + "/get"}, exitError, "connect"},
		{"guard", []string{"--guard", srv.URL + "/get"}, exitError, "blocked by the guard: 127.0.0.1 is loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			if code := c.run(tt.args...); code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, c.Stderr)
			}
			if tt.err == "" && c.Stderr != "" {
				t.Errorf("stderr = %q", c.Stderr)
			}
			if !strings.Contains(c.Stderr, tt.err) {
				t.Errorf("stderr = %q, want %q in it", c.Stderr, tt.err)
			}
			if strings.Count(c.Stderr, "\n") > 1 {
				t.Errorf("stderr is more than one line: %q", c.Stderr)
			}
		})
	}
}

// TestOutput: what -p and its shorthands print, piped and formatted.
func TestOutput(t *testing.T) {
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served", "yes")
		w.Write([]byte(`{"b":1,"a":[true,null,"x"]}`))
	}))
	tests := []struct {
		name     string
		args     []string
		tty      bool
		contains []string
		excludes []string
		exact    string
	}{
		{"piped: the body as it came", []string{srv.URL}, false, nil, nil, `{"b":1,"a":[true,null,"x"]}`},
		{"piped -h", []string{"-h", srv.URL}, false, []string{"HTTP/1.1 200 OK\n", "X-Served: yes\n"}, []string{`"b"`}, ""},
		{"piped -v", []string{"-v", srv.URL, "q==1"}, false, []string{"GET /?q=1 HTTP/1.1\n", "Host: 127.0.0.1", "\n\nHTTP/1.1 200 OK\n", `{"b":1,`}, []string{"\x1b["}, ""},
		{"-p H", []string{"-p", "H", srv.URL}, false, []string{"GET / HTTP/1.1\n", "User-Agent: courier/"}, []string{"200 OK", `"b"`}, ""},
		{"-p m", []string{"-p", "bm", srv.URL}, false, []string{"Elapsed time: "}, nil, ""},
		{"--pretty format", []string{"--pretty", "format", srv.URL}, false, nil, nil, "{\n    \"b\": 1,\n    \"a\": [\n        true,\n        null,\n        \"x\"\n    ]\n}\n"},
		{"terminal: headers, formatted colored body", []string{srv.URL}, true, []string{"\x1b[", "200 OK", "\x1b[34m\"b\"\x1b[0m: \x1b[36m1\x1b[0m"}, nil, ""},
		{"terminal --pretty none", []string{"--pretty", "none", srv.URL}, true, []string{"HTTP/1.1 200 OK", `{"b":1,"a":[true,null,"x"]}`}, []string{"\x1b["}, ""},
		{"quiet", []string{"-q", srv.URL}, true, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.tty = tt.tty
			out := c.ok(tt.args...)
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
			if tt.contains == nil && tt.excludes == nil && out != tt.exact {
				t.Errorf("output = %q, want %q", out, tt.exact)
			}
		})
	}
}

// TestOutputBinary: binary data is not written to a terminal, and is
// written byte for byte to a pipe.
func TestOutputBinary(t *testing.T) {
	data := []byte("\x89PNG\r\n\x1a\n\x00\x00binary")
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(data)
	}))
	c := newCLI(t)
	c.tty = true
	if out := c.ok(srv.URL); !strings.Contains(out, "binary data not shown") || strings.Contains(out, "\x00") {
		t.Errorf("terminal output:\n%q", out)
	}
	c.tty = false
	if out := c.ok(srv.URL); out != string(data) {
		t.Errorf("piped output %q, want the bytes", out)
	}
}

// TestOutputFile: -o without -d writes what would be printed to a file.
func TestOutputFile(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	out := filepath.Join(t.TempDir(), "out.json")
	c := newCLI(t)
	c.tty = true
	if stdout := c.ok("-o", out, srv.URL+"/json"); stdout != "" {
		t.Errorf("stdout = %q", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil || !json.Valid(b) {
		t.Errorf("file holds %q (%v), want the body alone, unformatted", b, err)
	}
}
