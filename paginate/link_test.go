package paginate_test

import (
	"testing"

	"github.com/courierhttp/courier/paginate"
)

func TestLinkTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"GitHub", []string{`<https://api.github.com/user/repos?page=2>; rel="next", <https://api.github.com/user/repos?page=5>; rel="last"`}, "https://api.github.com/user/repos?page=2"},
		{"unquoted", []string{`</items?page=2>; rel=next`}, "/items?page=2"},
		{"several rels", []string{`</b>; rel="last next"`}, "/b"},
		{"case", []string{`</b>; REL="Next"`}, "/b"},
		{"other params first", []string{`</b>; title="a, b; c"; rel="next"`}, "/b"},
		{"second header", []string{`</a>; rel="prev"`, `</b>; rel="next"`}, "/b"},
		{"first rel wins", []string{`</a>; rel="prev"; rel="next"`}, ""},
		{"none", []string{`</a>; rel="prev"`}, ""},
		{"empty", nil, ""},
		{"garbage", []string{`garbage, </b>; rel=next`}, ""},
		{"unterminated", []string{`</b; rel=next`}, ""},
		{"unterminated quote", []string{`</b>; rel="next`}, "/b"},
		{"spaces", []string{`  < /b >  ;  rel = "next"  `}, "/b"},
		{"nextish is not next", []string{`</b>; rel="nextpage"`}, ""},
		{"comma in URL", []string{`</a,b>; rel="next"`}, "/a,b"},
		{"comma in a quoted param", []string{`</a>; title="x, y"; rel="prev", </b>; rel="next"`}, "/b"},
		{"no angle brackets", []string{`/a; rel="next"`}, ""},
	}
	for _, tt := range tests {
		if got := paginate.LinkTarget(tt.values, "next"); got != tt.want {
			t.Errorf("LinkTarget(%s: %q) = %q, want %q", tt.name, tt.values, got, tt.want)
		}
	}
}

func FuzzLinkTarget(f *testing.F) {
	for _, s := range []string{`<https://a/b?page=2>; rel="next", <https://a/b?page=5>; rel="last"`, `</x>; rel=next`,
		`</x>; title="a\"b"; rel="next prev"`, `<`, `<>;`, `</x>; rel="`, `,,,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := paginate.LinkTarget([]string{v}, "next")
		if len(got) > len(v) {
			t.Errorf("LinkTarget(%q) = %q, longer than its input", v, got)
		}
	})
}
