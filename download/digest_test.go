package download

import (
	"bytes"
	"net/http"
	"testing"
)

func TestHeaderDigests(t *testing.T) {
	sha256A := "sha-256=:" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" + ":"
	for _, tc := range []struct {
		in   string
		want []string // algorithms found
	}{
		{sha256A, []string{"sha-256"}},
		{sha256A + ", sha-512=:z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==:", []string{"sha-256", "sha-512"}},
		{"unixsum=:AAAA:, " + sha256A + ";x=1;y=\"a,b\"", []string{"sha-256"}},
		{"md5=:1B2M2Y8AsgTpgAmY7PhCfg==:", nil},
		{"sha-256=:AAAA:", nil},     // wrong length
		{"sha-256=\"string\"", nil}, // not a byte sequence
		{sha256A + ",", nil},        // trailing comma: the field fails
		{"SHA-256=:AAAA:", nil},     // keys are lower case
		{"sha-256=(:AAAA:)", nil},   // inner list: fails
		{"id-sha-256=?1, " + sha256A, []string{"sha-256"}},
		{"a=1.5, b=tok/en:x, " + sha256A, []string{"sha-256"}},
		{"", nil},
	} {
		h := http.Header{"Repr-Digest": {tc.in}}
		got := headerDigests(h, "Repr-Digest")
		var algs []string
		for _, d := range got {
			algs = append(algs, d.Algorithm)
		}
		if len(algs) != len(tc.want) || len(algs) > 0 && algs[0] != tc.want[0] || len(algs) > 1 && algs[1] != tc.want[1] {
			t.Errorf("headerDigests(%q) = %v, want %v", tc.in, algs, tc.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in                string
		start, end, total int64
		ok                bool
	}{
		{"bytes 0-9/10", 0, 9, 10, true},
		{"bytes 5-9/*", 5, 9, -1, true},
		{"bytes 5-10/10", 0, 0, 0, false},
		{"bytes 9-5/10", 0, 0, 0, false},
		{"bytes -5-9/10", 0, 0, 0, false},
		{"bytes +5-9/10", 0, 0, 0, false},
		{"bytes */10", 0, 0, 0, false},
		{"items 0-9/10", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		s, e, tot, ok := parseContentRange(tc.in)
		if ok != tc.ok || ok && (s != tc.start || e != tc.end || tot != tc.total) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", tc.in, s, e, tot, ok, tc.start, tc.end, tc.total, tc.ok)
		}
	}
}

func FuzzParseDictionary(f *testing.F) {
	for _, s := range []string{"sha-256=:AAAA:", "a=1;b=\"x\\\"y\", c=?0", "sha-512=:z4Ph:;p=tok, *x", "a=(1 2)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		members, ok := parseDictionary(s)
		if !ok && members != nil {
			t.Errorf("parseDictionary(%q) failed with members %v", s, members)
		}
		for _, m := range members {
			if m.key == "" || bytes.ContainsAny([]byte(m.key), "ABCDEFGHIJKLMNOPQRSTUVWXYZ =,;") {
				t.Errorf("parseDictionary(%q): bad key %q", s, m.key)
			}
		}
	})
}
