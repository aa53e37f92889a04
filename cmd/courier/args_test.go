package main

import (
	"errors"
	"strings"
	"testing"
	"time"
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
