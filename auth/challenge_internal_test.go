package auth

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func p(kv ...string) []authParam {
	var out []authParam
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, authParam{kv[i], kv[i+1]})
	}
	return out
}

func TestParseChallenges(t *testing.T) {
	tests := []struct {
		in   string
		want []challenge
	}{
		{`Basic realm="simple"`, []challenge{{scheme: "Basic", params: p("realm", "simple")}}},
		// RFC 9110, section 11.6.1.
		{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`, []challenge{
			{scheme: "Newauth", params: p("realm", "apps", "type", "1", "title", `Login to "apps"`)},
			{scheme: "Basic", params: p("realm", "simple")},
		}},
		{`Negotiate abc+/d==, Basic`, []challenge{{scheme: "Negotiate", token68: "abc+/d=="}, {scheme: "Basic"}}},
		{`Bearer`, []challenge{{scheme: "Bearer"}}},
		{"  ,, Basic \t realm = \"x\" ,  , Digest nonce=abc ,", []challenge{
			{scheme: "Basic", params: p("realm", "x")},
			{scheme: "Digest", params: p("nonce", "abc")},
		}},
		{`DIGEST REALM="R", NONCE=n, Algorithm=sha-256`, []challenge{{scheme: "DIGEST", params: p("realm", "R", "nonce", "n", "algorithm", "sha-256")}}},
		{`Digest realm="a, b=c", nonce="q\"uo\\te", opaque=""`, []challenge{{scheme: "Digest", params: p("realm", "a, b=c", "nonce", `q"uo\te`, "opaque", "")}}},
		{"Digest realm=\"caf\xc3\xa9\tbar\"", []challenge{{scheme: "Digest", params: p("realm", "caf\xc3\xa9\tbar")}}},
		{`Basic realm=`, []challenge{{scheme: "Basic", token68: "realm="}}}, // token68, by the grammar
		{`Digest a=,`, []challenge{{scheme: "Digest", token68: "a="}}},
		{`Digest realm="a", nonce`, []challenge{{scheme: "Digest", params: p("realm", "a")}, {scheme: "nonce"}}},
		{``, nil},
		{` , `, nil},
	}
	for _, tt := range tests {
		got, err := parseChallenges(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseChallenges(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// On a syntax error the challenges before it stand, and the error says
// where it is without quoting the field.
func TestParseChallengesErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []challenge
		err  string
	}{
		{`Basic realm="x`, nil, "auth: bad auth header: unterminated quoted-string at offset 12"},
		{`Basic, Digest realm="x\`, []challenge{{scheme: "Basic"}}, "auth: bad auth header: unterminated quoted-string at offset 20"},
		{`Digest realm="a" nonce="b"`, nil, "auth: bad auth header: expected ',' after a parameter at offset 17"},
		{`Basic, Digest realm="a", REALM="b"`, []challenge{{scheme: "Basic"}}, "auth: bad auth header: parameter realm given twice at offset 34"},
		{`"quoted"`, nil, "auth: bad auth header: expected an auth scheme at offset 0"},
		{"Digest realm=\"a\x01\"", nil, "auth: bad auth header: control character in a quoted-string at offset 15"},
		{`Digest realm=a b`, nil, "auth: bad auth header: expected ',' after a parameter at offset 15"},
		{`Digest =x`, nil, "auth: bad auth header: expected a parameter name at offset 7"},
		{`Digest;x`, nil, "auth: bad auth header: expected a space after the auth scheme at offset 6"},
		{`Digest a=b, c=,`, nil, "auth: bad auth header: expected a token or quoted-string value at offset 14"},
	}
	for _, tt := range tests {
		got, err := parseChallenges(tt.in)
		if err == nil || err.Error() != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseChallenges(%q) = %+v, %v; want %+v, %s", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseAuthParams(t *testing.T) {
	got, err := parseAuthParams(`nextnonce="abc", qop=auth, rspauth="d3", cnonce="x,y", nc=00000001`)
	want := p("nextnonce", "abc", "qop", "auth", "rspauth", "d3", "cnonce", "x,y", "nc", "00000001")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseAuthParams = %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseAuthParams(`nextnonce="abc" junk`); err == nil {
		t.Error("parseAuthParams(trailing junk) = nil error, want one")
	}
}

func TestPickDigest(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   string // algorithm/qop/nonce, or "" for none
	}{
		{"default MD5", []string{`Digest realm="r", nonce="n", qop="auth"`}, "MD5/auth/n"},
		{"legacy", []string{`Digest realm="r", nonce="n"`}, "MD5//n"},
		{"auth preferred", []string{`Digest nonce="n", qop="auth-int,auth"`}, "MD5/auth/n"},
		{"auth-int alone", []string{`Digest nonce="n", qop="auth-int"`}, "MD5/auth-int/n"},
		{"auth-int among unknown", []string{`Digest nonce="n", qop="auth-conf, auth-int"`}, "MD5/auth-int/n"},
		{"strongest across fields", []string{
			`Basic realm="b"`,
			`Digest nonce="1", algorithm=MD5, qop=auth`,
			`Bearer realm="x", Digest nonce="2", algorithm=SHA-512-256-sess, qop=auth, Digest nonce="3", algorithm=SHA-256, qop=auth`,
		}, "SHA-512-256-sess/auth/2"},
		{"first of equals", []string{`Digest nonce="1", algorithm=SHA-256, qop=auth, Digest nonce="2", algorithm=sha-256-SESS, qop=auth`}, "SHA-256/auth/1"},
		{"skips unknown algorithm", []string{`Digest nonce="1", algorithm=SHA-1, qop=auth, Digest nonce="2", qop=auth`}, "MD5/auth/2"},
		{"sess needs qop", []string{`Digest nonce="1", algorithm=MD5-sess`}, ""},
		{"unknown qop", []string{`Digest nonce="1", qop="auth-conf"`}, ""},
		{"no nonce", []string{`Digest realm="r", qop=auth`}, ""},
		{"charset UTF-8", []string{`Digest nonce="1", qop=auth, charset=utf-8`}, "MD5/auth/1"},
		{"other charset", []string{`Digest nonce="1", qop=auth, charset=latin1`}, ""},
		{"good before a syntax error", []string{`Digest nonce="1", qop=auth, Digest nonce="2`}, "MD5/auth/1"},
		{"none", []string{`Basic realm="r"`, `Bearer`}, ""},
	}
	for _, tt := range tests {
		d := pickDigest(tt.fields)
		got := ""
		if d != nil {
			got = d.alg.name
			if d.sess {
				got += "-sess"
			}
			got += "/" + d.qop + "/" + d.nonce
		}
		if got != tt.want {
			t.Errorf("%s: pickDigest(%q) = %q, want %q", tt.name, tt.fields, got, tt.want)
		}
	}
}

func FuzzDigestChallenge(f *testing.F) {
	for _, s := range []string{
		`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		`Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQ", opaque="HRPC", charset=UTF-8, userhash=true`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate abc==, Basic realm="x", Digest nonce=n, stale=TRUE, algorithm=MD5-sess, qop=auth`,
		`Bearer realm="example", error="invalid_token", error_description="The access token expired"`,
		`Digest realm="a\\b\"c, d", nonce="", qop=auth-int`,
		"  ,, Basic \t realm = \"x\" ,  , Digest nonce=abc ,",
		`Basic realm="x`,
		`Digest realm="a", REALM="b"`,
		"Digest realm=\"\xff\xfe\", nonce=\"\x80\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		chs, err := parseChallenges(field)
		var se *syntaxError
		if err != nil && (!errors.As(err, &se) || se.offset < 0 || se.offset > len(field)) {
			t.Fatalf("parseChallenges(%q) error %v, want a syntaxError within the field", field, err)
		}
		var formatted []string
		for _, c := range chs {
			checkChallenge(t, field, c)
			formatted = append(formatted, c.String())
		}
		// What parsed formats back to a field that parses to the same.
		again, err := parseChallenges(strings.Join(formatted, ", "))
		if err != nil || !reflect.DeepEqual(again, chs) {
			t.Fatalf("parseChallenges(%q) = %+v; formatted and parsed again: %+v, %v", field, chs, again, err)
		}

		// A chosen challenge is answered with a well-formed header that
		// carries the challenge's values back unchanged.
		d := pickDigest([]string{field})
		if d == nil {
			return
		}
		if d.alg == nil || d.sess && d.qop == "" {
			t.Fatalf("pickDigest(%q) = %+v, an impossible choice", field, d)
		}
		tr := &digestTransport{user: "u", password: "p", cnonce: func() string { return "c" }}
		req, _ := http.NewRequest("GET", "http://example.com/a%20b?c=d", nil)
		if err := tr.authorize(req, req, d, 1); err != nil {
			t.Fatalf("authorize: %v", err)
		}
		h := req.Header.Get("Authorization")
		got, err := parseChallenges(h)
		if err != nil || len(got) != 1 || got[0].scheme != "Digest" {
			t.Fatalf("challenge %q: Authorization %q does not parse as one Digest credential: %+v, %v", field, h, got, err)
		}
		for name, want := range map[string]string{"realm": d.realm, "nonce": d.nonce, "uri": "/a%20b?c=d"} {
			if v, _ := got[0].param(name); v != want {
				t.Errorf("challenge %q: Authorization %s = %q, want %q", field, name, v, want)
			}
		}
		if v, ok := got[0].param("opaque"); v != d.opaque || ok != d.hasOpaque {
			t.Errorf("challenge %q: opaque %q (%v), want %q (%v)", field, v, ok, d.opaque, d.hasOpaque)
		}
		if v, _ := got[0].param("response"); len(v) != 2*d.alg.newHash().Size() {
			t.Errorf("challenge %q: response %q, want a %s hash", field, v, d.alg.name)
		}
	})
}

// checkChallenge checks what the grammar promises of a parsed challenge.
func checkChallenge(t *testing.T, field string, c challenge) {
	t.Helper()
	if c.scheme == "" || strings.IndexFunc(c.scheme, func(r rune) bool { return r > 0x7f || !isTokenChar(byte(r)) }) >= 0 {
		t.Fatalf("parseChallenges(%q): scheme %q is not a token", field, c.scheme)
	}
	if c.token68 != "" && c.params != nil {
		t.Fatalf("parseChallenges(%q): both a token68 and parameters in %+v", field, c)
	}
	seen := map[string]bool{}
	for _, a := range c.params {
		if a.name == "" || a.name != strings.ToLower(a.name) || seen[a.name] {
			t.Fatalf("parseChallenges(%q): parameter name %q empty, not lower case, or repeated", field, a.name)
		}
		seen[a.name] = true
		for i := 0; i < len(a.value); i++ {
			if !isQuotedChar(a.value[i]) {
				t.Fatalf("parseChallenges(%q): value %q holds a control character", field, a.value)
			}
		}
	}
}
