package auth

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseNetrc(t *testing.T) {
	tests := []struct {
		name, in string
		want     []netrcEntry
	}{
		{"one line", "machine a login u password p account x",
			[]netrcEntry{{machine: "a", login: "u", password: "p", account: "x", line: 1}}},
		{"lines and comments", "# top\n\nmachine a # the rest is a comment: login no\n  login u\n\tpassword p\n# machine b\n",
			[]netrcEntry{{machine: "a", login: "u", password: "p", line: 3}}},
		{"macdef skipped", "machine a login u\nmacdef init\ncd /pub\nmachine evil login x\n\nmachine b login v\n",
			[]netrcEntry{{machine: "a", login: "u", line: 1}, {machine: "b", login: "v", line: 6}}},
		{"macdef ends at a line of spaces, CRLF", "macdef init\r\nput x\r\n  \r\nmachine b login v\r\n",
			[]netrcEntry{{machine: "b", login: "v", line: 4}}},
		{"macdef to the end", "machine a login u\nmacdef init\nput x", []netrcEntry{{machine: "a", login: "u", line: 1}}},
		{"default", "default login anon password x\nmachine a login u\n",
			[]netrcEntry{{isDefault: true, login: "anon", password: "x", line: 1}, {machine: "a", login: "u", line: 2}}},
		{"quoted", `machine "my host" login "us\"er" password "p a\\ss" account ""`,
			[]netrcEntry{{machine: "my host", login: `us"er`, password: `p a\ss`, line: 1}}},
		{"quoted across lines", "machine a password \"line1\nline2\"\nlogin u",
			[]netrcEntry{{machine: "a", login: "u", password: "line1\nline2", line: 1}}},
		{"unquoted escapes", `machine a password p\ a\"b`, []netrcEntry{{machine: "a", password: `p a"b`, line: 1}}},
		{"hash in a value", "machine a password #not-a-comment", []netrcEntry{{machine: "a", password: "#not-a-comment", line: 1}}},
		{"keyword as a value", "machine a login machine", []netrcEntry{{machine: "a", login: "machine", line: 1}}},
		{"later values win", "machine a login u login v", []netrcEntry{{machine: "a", login: "v", line: 1}}},
		{"empty", "", nil},
		{"only comments", "# a\n   # b", nil},
	}
	for _, tt := range tests {
		got, err := parseNetrc(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: parseNetrc(%q) = %+v, %v; want %+v", tt.name, tt.in, got, err, tt.want)
		}
	}
}

// formatNetrc writes entries as a netrc file, every token quoted.
func formatNetrc(entries []netrcEntry) string {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	var b strings.Builder
	for _, e := range entries {
		if e.isDefault {
			b.WriteString("default")
		} else {
			b.WriteString("machine " + q(e.machine))
		}
		b.WriteString(" login " + q(e.login) + " password " + q(e.password) + " account " + q(e.account) + "\n")
	}
	return b.String()
}

// netrcError is the form of every parseNetrc error: a line number and one
// of a fixed set of messages, quoting nothing of the file.
var netrcError = regexp.MustCompile(`^([0-9]+): (` +
	`(login|password|account) outside a machine or default entry|` +
	`(machine|login|password|account|macdef) without a value|` +
	`unterminated quoted token|backslash at the end of the file|` +
	`unexpected token \(want machine, default, login, password, account or macdef\))$`)

func FuzzNetrc(f *testing.F) {
	for _, s := range []string{
		"machine example.com login ada password lovelace\n",
		"default login anonymous password user@example.com\n",
		"machine a login u\nmacdef init\ncd /pub\n\nmachine b login v password \"p w\"\n",
		`machine "my host" login "us\"er" password p\ a\\b account x`,
		"# comment\nmachine a # trailing\n login u\r\n password p\r\n",
		"machine a password \"unterminated",
		"login outside",
		"machine a login u password p extra",
		"macdef m\n\n",
		"machine\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		entries, err := parseNetrc(data)
		if err != nil {
			m := netrcError.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("parseNetrc(%q) error %q is not one of the fixed messages", data, err)
			}
			if line, _ := strconv.Atoi(m[1]); line < 1 || line > strings.Count(data, "\n")+1 {
				t.Fatalf("parseNetrc(%q) error %q: line out of the file", data, err)
			}
			return
		}
		for _, e := range entries {
			if e.line < 1 || e.line > strings.Count(data, "\n")+1 || e.isDefault && e.machine != "" {
				t.Fatalf("parseNetrc(%q): impossible entry %+v", data, e)
			}
		}
		// The entries, written out again, read back the same.
		again, err := parseNetrc(formatNetrc(entries))
		if err != nil || len(again) != len(entries) {
			t.Fatalf("parseNetrc(%q) = %+v; formatted and parsed again: %+v, %v", data, entries, again, err)
		}
		for i := range entries {
			a, b := entries[i], again[i]
			a.line, b.line = 0, 0
			if a != b {
				t.Fatalf("parseNetrc(%q): entry %d = %+v, formatted and parsed again %+v", data, i, entries[i], again[i])
			}
		}
	})
}
