package main

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func noFiles(path string) ([]byte, error) {
	if path == "data.json" {
		return []byte(`{"a": 1}`), nil
	}
	return nil, errors.New("no such file " + path)
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		method string
		url    string
		check  func(t *testing.T, a *args)
	}{
		{"GET by default", []string{"example.org"}, "GET", "http://example.org", nil},
		{"POST with data", []string{"example.org", "a=1"}, "POST", "http://example.org", nil},
		{"GET with query and headers only", []string{"example.org", "a==1", "X:1"}, "GET", "http://example.org", nil},
		{"explicit method, lower case", []string{"put", "example.org/x"}, "PUT", "http://example.org/x", nil},
		{"a word then an item: the word is the URL", []string{"localhost", "a=1"}, "POST", "http://localhost", nil},
		{"port shorthand", []string{":8080/x"}, "GET", "http://localhost:8080/x", nil},
		{"path shorthand", []string{":/x"}, "GET", "http://localhost/x", nil},
		{"host:port", []string{"localhost:3000/api"}, "GET", "http://localhost:3000/api", nil},
		{"https kept", []string{"https://example.org"}, "GET", "https://example.org", nil},
		{"method with host:port URL", []string{"DELETE", "localhost:3000/x"}, "DELETE", "http://localhost:3000/x", nil},
		{"flags anywhere", []string{"-v", "example.org", "--follow", "a==1", "-b"}, "GET", "http://example.org", func(t *testing.T, a *args) {
			if a.print != "HBhb" || !a.follow || len(a.items) != 1 {
				t.Errorf("print %q follow %v items %d", a.print, a.follow, len(a.items))
			}
		}},
		{"-- ends the flags", []string{"example.org", "--", "-x=1"}, "POST", "http://example.org", func(t *testing.T, a *args) {
			if len(a.items) != 1 || a.items[0].key != "-x" {
				t.Errorf("items %+v", a.items)
			}
		}},
		{"-h and -b", []string{"-h", "-b", "example.org"}, "GET", "http://example.org", func(t *testing.T, a *args) {
			if a.print != "hb" {
				t.Errorf("print %q", a.print)
			}
		}},
		{"-p wins over -v", []string{"-v", "-p", "H", "example.org"}, "GET", "http://example.org", func(t *testing.T, a *args) {
			if a.print != "H" {
				t.Errorf("print %q", a.print)
			}
		}},
		{"timeout in seconds", []string{"--timeout", "2.5", "example.org"}, "GET", "http://example.org", func(t *testing.T, a *args) {
			if a.timeout != 2500*time.Millisecond {
				t.Errorf("timeout %v", a.timeout)
			}
		}},
		{"timeout as a duration", []string{"--timeout=300ms", "example.org"}, "GET", "http://example.org", func(t *testing.T, a *args) {
			if a.timeout != 300*time.Millisecond {
				t.Errorf("timeout %v", a.timeout)
			}
		}},
		{"read-only session", []string{"--session-read-only", "s", "example.org"}, "GET", "http://example.org", func(t *testing.T, a *args) {
			if a.session != "s" || !a.sessionReadOnly {
				t.Errorf("session %q ro %v", a.session, a.sessionReadOnly)
			}
		}},
		{"download follows redirects", []string{"-d", "example.org/f"}, "GET", "http://example.org/f", func(t *testing.T, a *args) {
			if !a.follow {
				t.Error("no follow")
			}
		}},
		{"proxies", []string{"--proxy", "http:http://p:3128", "--proxy", "https:socks5://s:1080", "example.org"}, "GET", "http://example.org", func(t *testing.T, a *args) {
			if len(a.proxies) != 2 || a.proxies[1].url.Host != "s:1080" {
				t.Errorf("proxies %+v", a.proxies)
			}
		}},
		{"json from a file", []string{"example.org", "x:=@data.json"}, "POST", "http://example.org", func(t *testing.T, a *args) {
			if a.items[0].value != `{"a": 1}` {
				t.Errorf("item %+v", a.items[0])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseArgs(tt.argv, noFiles)
			if err != nil {
				t.Fatal(err)
			}
			if a.method != tt.method || a.url.String() != tt.url {
				t.Errorf("%s %s, want %s %s", a.method, a.url, tt.method, tt.url)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		argv []string
		msg  string
	}{
		{nil, "no URL"},
		{[]string{"-X", "example.org"}, "unknown flag -X"},
		{[]string{"example.org", "a:=nope"}, "not valid JSON"},
		{[]string{"example.org", "x:=@missing.json"}, "no such file missing.json"},
		{[]string{"example.org", "a=1", "--raw", "b"}, "cannot be mixed"},
		{[]string{"-j", "-f", "example.org"}, "do not go together"},
		{[]string{"-f", "example.org", "a:=1"}, "raw JSON"},
		{[]string{"--session", "a", "--session-read-only", "b", "example.org"}, "give one of them"},
		{[]string{"-A", "bearer", "example.org"}, "needs --auth"},
		{[]string{"--max-redirects", "0", "example.org"}, "at least 1"},
		{[]string{"--retries", "-2", "example.org"}, "0 or more"},
		{[]string{"--concurrency", "4", "example.org"}, "goes with --repeat"},
		{[]string{"-d", "--repeat", "3", "example.org"}, "do not go together"},
		{[]string{"--cert-key", "k.pem", "example.org"}, "goes with --cert"},
		{[]string{"--overwrite", "example.org"}, "goes with --download"},
		{[]string{"http://"}, "no host"},
		{[]string{"ftp://example.org"}, "bad URL"},
	}
	for _, tt := range tests {
		_, err := parseArgs(tt.argv, noFiles)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("parseArgs(%q) = %v, want a usage error with %q", tt.argv, err, tt.msg)
		}
	}
}

func TestParseItem(t *testing.T) {
	tests := []struct {
		raw   string
		kind  itemKind
		key   string
		value string
	}{
		{"X-Foo:bar", itemHeader, "X-Foo", "bar"},
		{"X-Foo: spaced", itemHeader, "X-Foo", "spaced"},
		{"X-Foo:", itemHeaderUnset, "X-Foo", ""},
		{"X-Foo;", itemHeaderEmpty, "X-Foo", ""},
		{"q==a b", itemQuery, "q", "a b"},
		{"q==", itemQuery, "q", ""},
		{"f=v", itemData, "f", "v"},
		{"f=", itemData, "f", ""},
		{"f:=[1,2]", itemJSON, "f", "[1,2]"},
		{"f:=@data.json", itemJSON, "f", `{"a": 1}`},
		{"up@file.txt", itemFile, "up", ""},
		{`a\:b=c`, itemData, "a:b", "c"},
		{`url=http://x`, itemData, "url", "http://x"},
		{`a\=\=b==c`, itemQuery, "a==b", "c"},
		{`email=a@b.c`, itemData, "email", "a@b.c"},
		{`X-Time:12:30`, itemHeader, "X-Time", "12:30"},
	}
	for _, tt := range tests {
		it, err := parseItem(tt.raw, noFiles)
		if err != nil {
			t.Errorf("%q: %v", tt.raw, err)
			continue
		}
		if it.kind != tt.kind || it.key != tt.key || (it.kind != itemFile && it.value != tt.value) {
			t.Errorf("%q = kind %d %q %q, want kind %d %q %q", tt.raw, it.kind, it.key, it.value, tt.kind, tt.key, tt.value)
		}
	}
	it, _ := parseItem("up@pic.png;type=image/png", noFiles)
	if it.path != "pic.png" || it.mime != "image/png" {
		t.Errorf("file item %+v", it)
	}
	for _, bad := range []string{"word", "X Y:1", "X-Foo;junk", "a:=@", "f@", "H:bad\x01"} {
		if _, err := parseItem(bad, noFiles); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseItem: any argument parses into an item or a clear error, and
// an item keeps the argument it came from.
func FuzzParseItem(f *testing.F) {
	for _, s := range []string{"X-A:b", "q==1", "a=b", "n:=1", "f@data.json", "f=@data.json", "f:=@data.json",
		`a\=b=c`, `a\:b:c`, ":", "==", "k:=[1,", "h;", "@", "", "Host:", "x:=", "a==b==c", "\x00:\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		it, err := parseItem(arg, noFiles)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("parseItem(%q): an empty error", arg)
			}
			return
		}
		if it.raw != arg {
			t.Errorf("parseItem(%q).raw = %q", arg, it.raw)
		}
	})
}

func TestExpandShortFlags(t *testing.T) {
	tests := []struct {
		argv, want []string
	}{
		{[]string{"-vb", "x"}, []string{"-v", "-b", "x"}},
		{[]string{"-fv", "-hb", "-Fv"}, []string{"-f", "-v", "-h", "-b", "-F", "-v"}},
		{[]string{"-vo", "file", "x"}, []string{"-v", "-o", "file", "x"}},
		{[]string{"-vofile"}, []string{"-v", "-o=file"}},
		{[]string{"-vo=file"}, []string{"-v", "-o=file"}},
		{[]string{"-vo=-x"}, []string{"-v", "-o=-x"}},
		{[]string{"-vp", "-vb"}, []string{"-v", "-p", "-vb"}},
		{[]string{"-vpHB"}, []string{"-v", "-p=HB"}},
		{[]string{"-pHvb"}, []string{"-p=Hvb"}},
		{[]string{"-aada:pw", "-vA", "bearer"}, []string{"-a=ada:pw", "-v", "-A", "bearer"}},
		{[]string{"--raw", "-vb", "-vb"}, []string{"--raw", "-vb", "-v", "-b"}},
		{[]string{"--raw=-vb", "-vb"}, []string{"--raw=-vb", "-v", "-b"}},
		{[]string{"-o", "-vb", "x"}, []string{"-o", "-vb", "x"}},
		{[]string{"--retries", "-1", "-1"}, []string{"--retries", "-1", "-1"}},
		{[]string{"-json", "-verbose", "-v=false"}, []string{"-json", "-verbose", "-v=false"}},
		{[]string{"--vb", "-", "-x", "-vX", "-vx=1"}, []string{"--vb", "-", "-x", "-v", "-X", "-v", "-x=1"}},
		{[]string{"example.org", "a=1", "-vb"}, []string{"example.org", "a=1", "-v", "-b"}},
		{[]string{"-vo"}, []string{"-v", "-o"}},
		{[]string{"-vb", "--", "-vb"}, []string{"-v", "-b", "--", "-vb"}},
	}
	for _, tt := range tests {
		fs := newFlagSet(&args{}, &flagInputs{})
		if got := expandShortFlags(fs, tt.argv); strings.Join(got, " ") != strings.Join(tt.want, " ") || len(got) != len(tt.want) {
			t.Errorf("expandShortFlags(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

// TestParseArgsItems covers what the request items and the URL decide:
// the method, nested JSON, the scheme.
func TestParseArgsItems(t *testing.T) {
	tests := []struct {
		argv     []string
		method   string
		url      string
		jsonData string
	}{
		{[]string{"-vb", "example.org"}, "GET", "http://example.org", ""},
		{[]string{"-fv", "example.org", "a=1"}, "POST", "http://example.org", ""},
		{[]string{":8080/x?next=http://a/b"}, "GET", "http://localhost:8080/x?next=http://a/b", ""},
		{[]string{"localhost:8080/x?next=http://a/b"}, "GET", "http://localhost:8080/x?next=http://a/b", ""},
		{[]string{"example.org/x?u=https://a/b#c"}, "GET", "http://example.org/x?u=https://a/b#c", ""},
		{[]string{"HTTPS://example.org/?u=http://a"}, "GET", "https://example.org/?u=http://a", ""},
		{[]string{"http:8080/x"}, "GET", "http://http:8080/x", ""},
		{[]string{"http"}, "GET", "http://http", ""},
		{[]string{"example.org/?q=a b"}, "GET", "http://example.org/?q=a%20b", ""},
		{[]string{`example.org/?q="é"<>&r=%41/:@?`}, "GET", "http://example.org/?q=%22%C3%A9%22%3C%3E&r=%41/:@?", ""},
		{[]string{"example.org", "a=1", "a=2"}, "POST", "http://example.org", `{"a": "2"}`},
		{[]string{"example.org", "a[b]=1", "a[c]:=[1]", "a[c][]:=2"}, "POST", "http://example.org", `{"a": {"b": "1", "c": [1, 2]}}`},
		{[]string{"example.org", "[]:=1", "[]=2"}, "POST", "http://example.org", `[1, "2"]`},
		{[]string{"-f", "example.org", "a[b]=1"}, "POST", "http://example.org", ""},
		{[]string{"example.org", "q==1", "H:1"}, "GET", "http://example.org", ""},
		{[]string{"-b", "example.org", "--", "-vb=1", "-1:=2"}, "POST", "http://example.org", `{"-vb": "1", "-1": 2}`},
	}
	for _, tt := range tests {
		a, err := parseArgs(tt.argv, noFiles)
		if err != nil {
			t.Errorf("parseArgs(%q): %v", tt.argv, err)
			continue
		}
		if a.method != tt.method || a.url.String() != tt.url || string(a.jsonData) != tt.jsonData {
			t.Errorf("parseArgs(%q) = %s %s %s, want %s %s %s", tt.argv, a.method, a.url, a.jsonData, tt.method, tt.url, tt.jsonData)
		}
	}
}

func TestParseArgsItemsErrors(t *testing.T) {
	tests := []struct {
		argv []string
		msg  string
	}{
		{[]string{"http:/127.0.0.1:8080/get"}, `bad URL "http:/127.0.0.1:8080/get": write the scheme with two slashes, http://`},
		{[]string{"https:example.org"}, `bad URL "https:example.org": write the scheme with two slashes, https://`},
		{[]string{"example.org:/x"}, `bad URL "example.org:/x": the port is empty`},
		{[]string{"http://example.org:/x"}, `bad URL "http://example.org:/x": the port is empty`},
		{[]string{"ftp://a/?next=http://b"}, "the scheme must be http or https"},
		{[]string{"example.org", "a=1", "a[b]=2"}, `item "a[b]=2": type error: can't perform 'key' based access on 'a' which has a type of 'string' but this operation requires a type of 'object'`},
		{[]string{"example.org", "a[x"}, "not a request item"},
		{[]string{"example.org", "a[x=1"}, `item "a[x=1": syntax error: expecting ']' at the end of "a[x"`},
		{[]string{"-vX", "example.org"}, "unknown flag -X"},
		{[]string{"example.org", "-vo"}, "flag -o needs a value"},
	}
	for _, tt := range tests {
		_, err := parseArgs(tt.argv, noFiles)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("parseArgs(%q) = %v, want a usage error with %q", tt.argv, err, tt.msg)
		}
	}
}

// TestNestedJSONPaths: the path syntax's edges, each as HTTPie 3 builds it.
func TestNestedJSONPaths(t *testing.T) {
	tests := []struct {
		items []string // path=value, or path:=json
		want  string
	}{
		{[]string{"x[0]:=1", "x[]:=2", "x[][]:=4", "x[][]:=5"}, `{"x": [1, 2, [4], [5]]}`},
		{[]string{"mix[]=scalar", "mix[2]=something", `mix[4]:="s2"`}, `{"mix": ["scalar", null, "something", null, "s2"]}`},
		{[]string{`A[B\\]=C`, `A[B\\\\]=C`, `A[\B\\]=C`}, `{"A": {"B\\": "C", "B\\\\": "C", "\\B\\": "C"}}`},
		{[]string{`a[\0]:=0`, `a[\\1]:=1`, `a[-1\\]:=-1`}, `{"a": {"0": 0, "\\1": 1, "-1\\": -1}}`},
		{[]string{`foo[\dates]:=[2012, 2013]`, `foo[\dates][0]:=2014`}, `{"foo": {"\\dates": [2014, 2013]}}`},
		{[]string{"[][a][b][]:=1", "[0][a][b][]:=2", "[][]:=2"}, `[{"a": {"b": [1, 2]}}, [2]]`},
		{[]string{":=[1,2,3]", "foo=bar"}, `{"": [1, 2, 3], "foo": "bar"}`},
		{[]string{"a[ 2 ]=x", "b[+1]=y", "c[1_0]=z"}, `{"a": [null, null, "x"], "b": [null, "y"], "c": [null, null, null, null, null, null, null, null, null, null, "z"]}`},
		{[]string{"a[١]=arabic-indic one"}, `{"a": [null, "arabic-indic one"]}`},
		{[]string{"-0=zero", "1_000=k", "1__0=t"}, `{"0": "zero", "1000": "k", "1__0": "t"}`},
		{[]string{"a:=null", "a[b]=1", "c[0]:=null", "c[0][]=2"}, `{"a": {"b": "1"}, "c": [["2"]]}`},
		{[]string{`o:={"k": 1, "k": 2}`, "o[k]:=3"}, `{"o": {"k": 1, "k": 3}}`},
		{[]string{`o:= {"a" : [ 1 ,2] }`}, `{"o": {"a": [1, 2]}}`},
		{[]string{"u=<é>"}, `{"u": "<é>"}`},
	}
	for _, tt := range tests {
		var doc jsonDoc
		for _, it := range tt.items {
			parsed, err := parseItem(it, noFiles)
			if err != nil {
				t.Fatalf("%q: %v", it, err)
			}
			if err := doc.set(parsed.jsonPath, dataValue(parsed)); err != nil {
				t.Fatalf("%q: %v", tt.items, err)
			}
		}
		if got := string(doc.bytes()); got != tt.want {
			t.Errorf("%q = %s, want %s", tt.items, got, tt.want)
		}
	}
}

func TestParseInteger(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want string // "" when not an integer
	}{
		{"0", "0"}, {"-0", "0"}, {"+7", "7"}, {" 12\t", "12"}, {"1_000", "1000"}, {"007", "7"},
		{"١٢", "12"}, {"𝟗", "9"}, {"99999999999999999999999", "99999999999999999999999"},
		{"", ""}, {" ", ""}, {"-", ""}, {"_1", ""}, {"1_", ""}, {"1__0", ""}, {"1.0", ""}, {"0x10", ""}, {"- 1", ""}, {"1e3", ""},
	} {
		n, ok := parseInteger(tt.s)
		got := ""
		if ok {
			got = n.String()
		}
		if got != tt.want {
			t.Errorf("parseInteger(%q) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

// FuzzNestedJSON: any data items build valid JSON or stop at a clear
// error about one of them; one item alone puts its value where its path
// says.
func FuzzNestedJSON(f *testing.F) {
	for _, s := range []string{"a[b]=1", "a[]:=1\x00a[]=2", "[]:=1\x00x=y", `a\[b\]=1`, `a[\1]=x`, "a[0][b][]:=[1]",
		"a=1\x00a[b]=2", "A[1:=1", "foo[-10]:=1", `x:={"a":[1,{"b":2}]}` + "\x00x[a][1][c]=3", "=e\x00[0]=x", `\\1=a`, "a[ 3 ]=x", "a[1_0]:=true"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var doc jsonDoc
		var items []item
		for _, arg := range strings.Split(in, "\x00") {
			it, err := parseItem(arg, noFiles)
			if err != nil || (it.kind != itemData && it.kind != itemJSON) {
				continue
			}
			if err := doc.set(it.jsonPath, dataValue(it)); err != nil {
				var pe *jsonPathError
				if !errors.As(err, &pe) || pe.msg == "" || pe.from < 0 || pe.from > len(pe.path) || err.Error() == "" {
					t.Fatalf("set(%q): %#v", it.jsonPath, err)
				}
				return
			}
			items = append(items, it)
		}
		out := doc.bytes()
		if out != nil && !json.Valid(out) {
			t.Fatalf("%q built %q, not JSON", in, out)
		}
		if len(items) != 1 || !utf8.ValidString(items[0].value) || !utf8.ValidString(items[0].jsonPath) {
			return
		}
		// One item: its value is where its steps lead.
		var got, want any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		steps, _ := parsePath(items[0].jsonPath)
		for _, st := range steps {
			switch st.action {
			case actKey:
				got = got.(map[string]any)[st.key]
			case actIndex:
				got = got.([]any)[st.index.Int64()]
			case actAppend:
				arr := got.([]any)
				got = arr[len(arr)-1]
			}
		}
		want = items[0].value
		if items[0].kind == itemJSON {
			json.Unmarshal([]byte(items[0].value), &want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q built %s: %#v at the path, want %#v", in, out, got, want)
		}
	})
}
