package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// TestStdinBodyIsPOST: a body on stdin is data, so the method defaults to
// POST, as HTTPie's; an empty stdin is no body, and the method stays GET.
func TestStdinBodyIsPOST(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	tests := []struct {
		name        string
		args        []string
		stdin       string
		method      string
		contentType string
	}{
		{"JSON piped", nil, `{"from": "stdin"}`, "POST", "application/json"},
		{"form piped", []string{"-f"}, "a=1&b=2", "POST", "application/x-www-form-urlencoded; charset=utf-8"},
		{"method given", []string{"PUT"}, `{"from": "stdin"}`, "PUT", "application/json"},
		{"empty stdin", nil, "", "GET", ""},
		{"stdin ignored", []string{"-I"}, `{"from": "stdin"}`, "GET", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.stdin, c.inData = tt.stdin, true
			e := decodeEcho(t, c.ok(append(tt.args, srv.URL+"/anything")...))
			if e.Method != tt.method {
				t.Errorf("method %s, want %s", e.Method, tt.method)
			}
			if e.Method == "POST" && e.Data != tt.stdin {
				t.Errorf("body %q, want %q", e.Data, tt.stdin)
			}
			if got := strings.Join(e.Headers["Content-Type"], ","); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
		})
	}
}

// TestProcessStdinIsPOST runs the binary with a body piped in, read from a
// file (< x.json), and with -f: each is a POST.
func TestProcessStdinIsPOST(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	body := `{"id": 7}`
	file := writeFile(t, t.TempDir(), "x.json", body)

	piped := command(t, srv.URL+"/anything")
	piped.Stdin = strings.NewReader(body) // a pipe, as cat x.json | courier
	redirected := command(t, srv.URL+"/anything")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	redirected.Stdin = f // a regular file, as courier < x.json
	form := command(t, "-f", srv.URL+"/anything")
	form.Stdin = strings.NewReader("a=1")

	for _, tt := range []struct {
		name        string
		cmd         *exec.Cmd
		body        string
		contentType string
	}{
		{"piped", piped, body, "application/json"},
		{"from a file", redirected, body, "application/json"},
		{"form", form, "a=1", "application/x-www-form-urlencoded; charset=utf-8"},
	} {
		out, err := tt.cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, stderrOf(err))
		}
		e := decodeEcho(t, string(out))
		if e.Method != "POST" || e.Data != tt.body || strings.Join(e.Headers["Content-Type"], ",") != tt.contentType {
			t.Errorf("%s: sent %s %q as %q, want POST %q as %q", tt.name, e.Method, e.Data, e.Headers["Content-Type"], tt.body, tt.contentType)
		}
	}
}

// stderrOf is err with what the process wrote on stderr.
func stderrOf(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return errors.New(err.Error() + ": " + string(ee.Stderr))
	}
	return err
}

// plainEcho is a server that answers with the request's method, path,
// Content-Type and body, and no Date, so that two runs print the same;
// /redirect sends to /done.
func plainEcho(t *testing.T) *testenv.Server {
	return testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/done", http.StatusFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %q %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"), body)
	}))
}

// TestCombinedShortFlags: a cluster of one-letter flags does what the
// flags do one by one, as HTTPie's argparse reads it; a letter that takes
// a value takes the rest of the cluster or the next argument.
func TestCombinedShortFlags(t *testing.T) {
	srv := plainEcho(t)
	tests := []struct {
		cluster, separate []string
		contains          []string // in the output of both
	}{
		{[]string{"-vb", srv.URL}, []string{"-v", "-b", srv.URL}, []string{"GET / HTTP/1.1", `GET / "" `}},
		{[]string{"-hb", srv.URL}, []string{"-h", "-b", srv.URL}, []string{"HTTP/1.1 200 OK", `GET / "" `}},
		{[]string{"-fv", srv.URL, "a=1"}, []string{"-f", "-v", srv.URL, "a=1"}, []string{"POST / HTTP/1.1", `POST / "application/x-www-form-urlencoded; charset=utf-8" a=1`}},
		{[]string{"-Fv", srv.URL + "/redirect"}, []string{"-F", "-v", srv.URL + "/redirect"}, []string{"GET /redirect HTTP/1.1", `GET /done "" `}},
		{[]string{"-vpH", srv.URL}, []string{"-v", "-p", "H", srv.URL}, []string{"GET / HTTP/1.1"}},
		{[]string{"-vp", "H", srv.URL}, []string{"-v", "-p", "H", srv.URL}, []string{"GET / HTTP/1.1"}},
		{[]string{"-jIqv", srv.URL}, []string{"-j", "-I", "-q", "-v", srv.URL}, nil},
		{[]string{"-fvp=HB", srv.URL, "a=1"}, []string{"-f", "-v", "-p", "HB", srv.URL, "a=1"}, []string{"POST / HTTP/1.1", "\n\na=1"}},
	}
	for _, tt := range tests {
		var flags []string
		for _, a := range tt.cluster {
			if !strings.HasPrefix(a, "http") {
				flags = append(flags, a)
			}
		}
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			got := newCLI(t).ok(tt.cluster...)
			want := newCLI(t).ok(tt.separate...)
			if got != want {
				t.Errorf("courier %s printed\n%s\nwant, as courier %s,\n%s", strings.Join(tt.cluster, " "), got, strings.Join(tt.separate, " "), want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got, s) {
					t.Errorf("courier %s: output lacks %q:\n%s", strings.Join(tt.cluster, " "), s, got)
				}
			}
		})
	}

	t.Run("-bo FILE and -boFILE", func(t *testing.T) {
		for _, args := range [][]string{{"-bo", "OUT"}, {"-boOUT"}} {
			out := filepath.Join(t.TempDir(), "out.txt")
			for i := range args {
				args[i] = strings.Replace(args[i], "OUT", out, 1)
			}
			if got := newCLI(t).ok(append(args, srv.URL)...); got != "" {
				t.Errorf("courier %s: stdout %q, want all in the file", args, got)
			}
			if b, err := os.ReadFile(out); err != nil || string(b) != `GET / "" ` {
				t.Errorf("courier %s: the file holds %q (%v)", args, b, err)
			}
		}
	})
	t.Run("the value of --raw is not a cluster", func(t *testing.T) {
		if got := newCLI(t).ok("-b", "--raw", "-vb", srv.URL); got != `POST / "application/json" -vb` {
			t.Errorf("sent %q, want the body -vb", got)
		}
	})
	t.Run("an unknown letter is named", func(t *testing.T) {
		c := newCLI(t)
		if c.run("-vX", srv.URL) != exitError || !strings.Contains(c.Stderr, "unknown flag -X") {
			t.Errorf("exit %d, stderr %q", c.Code, c.Stderr)
		}
	})
}

// TestProcessCombinedShortFlags: the binary takes -vb and -fv as -v -b
// and -f -v.
func TestProcessCombinedShortFlags(t *testing.T) {
	srv := plainEcho(t)
	for _, tt := range []struct{ cluster, separate []string }{
		{[]string{"-vb", srv.URL}, []string{"-v", "-b", srv.URL}},
		{[]string{"-fv", srv.URL, "a=1"}, []string{"-f", "-v", srv.URL, "a=1"}},
	} {
		got, err := command(t, tt.cluster...).Output()
		if err != nil {
			t.Fatalf("courier %s: %v", tt.cluster, stderrOf(err))
		}
		want, err := command(t, tt.separate...).Output()
		if err != nil {
			t.Fatal(stderrOf(err))
		}
		if string(got) != string(want) || !strings.Contains(string(got), "HTTP/1.1 200 OK") {
			t.Errorf("courier %s printed\n%s\nwant\n%s", tt.cluster, got, want)
		}
	}
}

// TestShorthandURLWithURLInQuery: the scheme is looked for at the start
// of the argument only, so a URL in the query does not stop "http://"
// from being added.
func TestShorthandURLWithURLInQuery(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(hostPort, ":")
	for _, tt := range []struct{ arg, next string }{
		{hostPort + "/anything?next=http://a/b", "http://a/b"},
		{":" + port + "/anything?next=http://a/b", "http://a/b"},
		{"localhost:" + port + "/anything?next=https://a/b#c", "https://a/b"},
	} {
		c := newCLI(t)
		if c.run(tt.arg) != exitOK {
			t.Errorf("courier %s: exit %d: %s", tt.arg, c.Code, c.Stderr)
			continue
		}
		if next := decodeEcho(t, c.Stdout).Args["next"]; len(next) != 1 || next[0] != tt.next {
			t.Errorf("courier %s: the server got next=%q, want %q", tt.arg, next, tt.next)
		}
	}
}

// TestRepeatedDataField: a JSON field given twice keeps its last value, as
// in HTTPie 3 (its nested JSON: "Type Safety does not apply to value
// overrides"); a form sends both.
func TestRepeatedDataField(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	e := decodeEcho(t, newCLI(t).ok(srv.URL+"/anything", "a=1", "b:=2", "a=2"))
	if e.Data != `{"a": "2", "b": 2}` {
		t.Errorf("sent %s, want {\"a\": \"2\", \"b\": 2}", e.Data)
	}
	e = decodeEcho(t, newCLI(t).ok("-f", srv.URL+"/anything", "a=1", "a=2"))
	if got := strings.Join(e.Form["a"], ","); got != "1,2" {
		t.Errorf("form a = %q, want both values", e.Form["a"])
	}
}

// TestURLErrorsNameTheArgument: a URL the session cannot take is refused
// with the argument as typed, never in terms of a library option, and
// nothing is sent.
func TestURLErrorsNameTheArgument(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		arg, msg string
	}{
		{"http:/" + hostPort + "/get", "write the scheme with two slashes, http://"},
		{"HTTPS:" + hostPort + "/get", "write the scheme with two slashes, https://"},
		{"http://127.0.0.1:/get", "the port is empty"},
		{"localhost:/get", "the port is empty"},
		{"http://[::1]:/get", "the port is empty"},
	}
	for _, tt := range tests {
		c := newCLI(t)
		code := c.run(tt.arg)
		want := `courier: error: bad URL "` + tt.arg + `": ` + tt.msg
		if code != exitError || !strings.HasPrefix(c.Stderr, want) || strings.Count(c.Stderr, "\n") != 1 || strings.Contains(c.Stderr, "With") {
			t.Errorf("courier %s: exit %d, stderr %q, want %q", tt.arg, code, c.Stderr, want)
		}
	}
	if n := srv.Requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	// A space or non-ASCII in the query is sent escaped, as HTTPie sends it.
	e := decodeEcho(t, newCLI(t).ok(srv.URL+`/anything?q=a b&r="é"`))
	if q, r := strings.Join(e.Args["q"], ","), strings.Join(e.Args["r"], ","); q != "a b" || r != `"é"` {
		t.Errorf("the server got q=%q r=%q, want \"a b\" and \"\\\"é\\\"\"", q, r)
	}
}

// nestedJSONCases are the examples of HTTPie 3's manual on nested JSON and
// edges of its syntax, with the body each sends, spaced as HTTPie writes
// it.
var nestedJSONCases = []struct {
	name  string
	items []string
	body  string
}{
	{"object", []string{"platform[name]=HTTPie", "platform[about][mission]=Make APIs simple", "platform[about][stars]:=54000", "platform[apps][]=Terminal", "platform[apps][]=Desktop"},
		`{"platform": {"name": "HTTPie", "about": {"mission": "Make APIs simple", "stars": 54000}, "apps": ["Terminal", "Desktop"]}}`},
	{"append", []string{"category=tools", "search[type]=keyword", "search[keywords][]=APIs", "search[keywords][]=CLI"},
		`{"category": "tools", "search": {"type": "keyword", "keywords": ["APIs", "CLI"]}}`},
	{"indexes", []string{"search[keywords][1]=APIs", "search[keywords][0]=CLI"}, `{"search": {"keywords": ["CLI", "APIs"]}}`},
	{"gaps are null", []string{"p[]=Terminal", "p[1]=Desktop", "p[3]=Mobile"}, `{"p": ["Terminal", "Desktop", null, "Mobile"]}`},
	{"raw JSON extended", []string{`p:=["Terminal", "Desktop"]`, "p[]=Web"}, `{"p": ["Terminal", "Desktop", "Web"]}`},
	{"raw JSON object extended", []string{`o:={"a": {"b": 1}}`, "o[a][c]:=2"}, `{"o": {"a": {"b": 1, "c": 2}}}`},
	{"raw JSON as given", []string{`o:={"a":1,"a":2}`}, `{"o": {"a": 1, "a": 2}}`},
	{"deep", []string{"very[nested][json][3][httpie][power][]=Amaze"},
		`{"very": {"nested": {"json": [null, null, null, {"httpie": {"power": ["Amaze"]}}]}}}`},
	{"top-level array", []string{"[]:=1", "[]:=2", "[]=3"}, `[1, 2, "3"]`},
	{"top-level array of objects", []string{"[0][type]=platform", "[0][name]=terminal", "[1][type]=platform"},
		`[{"type": "platform", "name": "terminal"}, {"type": "platform"}]`},
	{"top-level array, sparse", []string{"[]:=0", "[3]:=3", "[]:=4"}, `[0, null, null, 3, 4]`},
	{"escaped brackets", []string{`foo\[bar\]:=1`, `baz[\[]:=2`, `baz[\]]:=3`}, `{"foo[bar]": 1, "baz": {"[": 2, "]": 3}}`},
	{"escaped backslash", []string{`backslash[\\]:=1`}, `{"backslash": {"\\": 1}}`},
	{"escaped numbers are keys", []string{`object[\1]=stringified`, `object[\100]=same`, `array[1]=indexified`},
		`{"object": {"1": "stringified", "100": "same"}, "array": [null, "indexified"]}`},
	{"a first number is a key", []string{`007=bond`, `\1=one`, `\\2=two`}, `{"7": "bond", "1": "one", "\\2": "two"}`},
	{"empty key", []string{"=empty", ":=[1]"}, `{"": [1]}`},
	{"override", []string{"user[name]:=411", "user[name]=string"}, `{"user": {"name": "string"}}`},
	{"nested appends", []string{"key[]:=1", "key[][]:=2", "key[][][]:=3"}, `{"key": [1, [2], [[3]]]}`},
	{"from files", []string{"x=@FILE", "y[z]:=@JSONFILE"}, `{"x": "text", "y": {"z": [1, 2]}}`},
	{"separators escaped in a key", []string{`a\=b[c\:d]=1`}, `{"a=b": {"c:d": "1"}}`},
}

// TestNestedJSON sends HTTPie's nested JSON examples to a server and
// checks the body it got.
func TestNestedJSON(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	dir := t.TempDir()
	files := strings.NewReplacer("@FILE", "@"+writeFile(t, dir, "t.txt", "text"), "@JSONFILE", "@"+writeFile(t, dir, "j.json", "[1, 2]"))
	for _, tt := range nestedJSONCases {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{srv.URL + "/anything"}
			for _, it := range tt.items {
				args = append(args, files.Replace(it))
			}
			e := decodeEcho(t, newCLI(t).ok(args...))
			if e.Method != "POST" || e.Data != tt.body {
				t.Errorf("courier URL %s\nsent %s %s\nwant POST %s", strings.Join(tt.items, " "), e.Method, e.Data, tt.body)
			}
			if got := strings.Join(e.Headers["Content-Type"], ","); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
}

// TestNestedJSONErrors: paths that do not fit are refused before anything
// is sent, naming the item and the container, as HTTPie's errors do.
func TestNestedJSONErrors(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	tests := []struct {
		items []string
		msg   string
	}{
		{[]string{"a=1", "a[b]=2"}, `item "a[b]=2": type error: can't perform 'key' based access on 'a' which has a type of 'string' but this operation requires a type of 'object'`},
		{[]string{"a[]:=1", "a[key]:=3"}, `item "a[key]:=3": type error: can't perform 'key' based access on 'a' which has a type of 'array' but this operation requires a type of 'object'`},
		{[]string{"d[k]=v", "d[0]=v"}, `type error: can't perform 'index' based access on 'd' which has a type of 'object' but this operation requires a type of 'array'`},
		{[]string{"f[b][z][5]:=[1,2,3]", "f[b][z][k][]:=5"}, `type error: can't perform 'key' based access on 'f[b][z]' which has a type of 'array'`},
		{[]string{"x=y", "[]:=2"}, `type error: can't perform 'append' based access on '' which has a type of 'object'`},
		{[]string{"[]:=2", "x=y"}, `type error: can't perform 'key' based access on '' which has a type of 'array'`},
		{[]string{"a:=true", "a[]:=1"}, `which has a type of 'boolean'`},
		{[]string{"foo[-10]:=1"}, `item "foo[-10]:=1": value error: negative indexes are not supported`},
		{[]string{"A[1:=1"}, `item "A[1:=1": syntax error: expecting ']' at the end of "A[1"`},
		{[]string{"A[:=1"}, `syntax error: expecting a text, a number or ']' at the end of "A["`},
		{[]string{"foo[bar][1]something[]:=2"}, `syntax error: expecting '[' at "something", column 12 of "foo[bar][1]something[]"`},
		{[]string{`A\[]:=1`}, `syntax error: expecting '[' at "]", column 4`},
		{[]string{"[x]=1"}, `syntax error: expecting a number or ']' at "x", column 2`},
	}
	for _, tt := range tests {
		c := newCLI(t)
		code := c.run(append([]string{srv.URL + "/anything"}, tt.items...)...)
		if code != exitError || !strings.Contains(c.Stderr, tt.msg) || strings.Count(c.Stderr, "\n") != 1 {
			t.Errorf("courier URL %s: exit %d, stderr %q, want %q", strings.Join(tt.items, " "), code, c.Stderr, tt.msg)
		}
	}
	if n := srv.Requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	// A form's fields are named as given: no nesting.
	e := decodeEcho(t, newCLI(t).ok("-f", srv.URL+"/anything", "a[b]=1", "a[]=2"))
	if len(e.Form["a[b]"]) != 1 || len(e.Form["a[]"]) != 1 {
		t.Errorf("form = %v, want the fields a[b] and a[]", e.Form)
	}
}

// TestProcessNestedJSON: the binary sends a nested body and refuses a
// conflicting path.
func TestProcessNestedJSON(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	out, err := command(t, srv.URL+"/anything", "a[b][]:=1", `a[b][]=x`, `a[c\[d\]]:={"e": null}`).Output()
	if err != nil {
		t.Fatal(stderrOf(err))
	}
	if e := decodeEcho(t, string(out)); e.Method != "POST" || e.Data != `{"a": {"b": [1, "x"], "c[d]": {"e": null}}}` {
		t.Errorf("sent %s %s", e.Method, e.Data)
	}
	cmd := command(t, srv.URL+"/anything", "a=1", "a[b]=2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError || !strings.Contains(stderr.String(), "type error: can't perform 'key' based access on 'a'") {
		t.Errorf("a=1 a[b]=2: %v, stderr %q", err, stderr.String())
	}
	if n := srv.Requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
