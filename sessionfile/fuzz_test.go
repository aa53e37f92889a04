package sessionfile

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier/cookiejar"
)

// The fuzz targets run Load's and Save's code in memory (parse, the jar,
// snapshot, merge, encode) without the file system: an fsync per input
// makes fuzzing, and above all its minimization of inputs, crawl. The
// tests of package sessionfile_test cover the files.

// saveAndReload is what Save writes for f's identity into a new file, and
// what Load makes of it.
func saveAndReload(t *testing.T, f *File, now time.Time) (*File, []byte) {
	t.Helper()
	ours, err := f.snapshot()
	if err != nil {
		t.Fatalf("snapshot of a loaded identity = %v", err)
	}
	data, err := encode(merge(identity{}, ours, identity{}, now))
	if err != nil {
		t.Fatalf("encode of a loaded identity = %v", err)
	}
	id, err := parse(data)
	if err != nil {
		t.Fatalf("parse of a saved identity = %v\n%s", err, data)
	}
	return fromIdentity(f.path, id), data
}

// sameIdentity reports how g differs from f, ignoring cookies that expire
// before now.
func sameIdentity(t *testing.T, f, g *File, now time.Time) {
	t.Helper()
	if !equalHeader(canonicalHeader(f.Header), canonicalHeader(g.Header)) {
		t.Errorf("Header: reloaded %v, loaded %v", g.Header, f.Header)
	}
	if !sameAuth(f.Auth, g.Auth) {
		t.Errorf("Auth: reloaded %v, loaded %v", g.Auth, f.Auth)
	}
	live := func(cs []cookiejar.Cookie) []cookiejar.Cookie {
		cs = slices.DeleteFunc(cs, func(c cookiejar.Cookie) bool { return expired(c, now) })
		slices.SortFunc(cs, func(a, b cookiejar.Cookie) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Path, b.Path))
		})
		return cs
	}
	if got, want := live(g.Jar.All()), live(f.Jar.All()); !slices.EqualFunc(got, want, sameCookie) {
		t.Errorf("cookies: reloaded\n%+v\nloaded\n%+v", got, want)
	}
	if len(g.Refused) != 0 {
		t.Errorf("the reloaded identity has refused cookies: %v", g.Refused)
	}
}

func equalHeader(a, b map[string][]string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(slices.Collect(func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
	}), func(k string) bool { return !slices.Equal(a[k], b[k]) })
}

// The seeds are small: the fuzzer minimizes each input it finds
// interesting in time quadratic in its length. The testdata files, larger,
// are for the tests.

// FuzzLoad feeds the loader arbitrary bytes. It must not panic; what it
// accepts must save, and load back as the same identity, and saving that
// again must write the same bytes.
func FuzzLoad(f *testing.F) {
	good := `{"courier_session":1,"headers":{"Accept":["a/b"]},"auth":{"type":"basic","username":"u","password":"p"},` +
		`"cookies":[{"name":"a","value":"1","quoted":true,"domain":"www.example.com","host_only":true,"path":"/",` +
		`"expires":"2099-01-02T15:04:05Z","secure":true,"http_only":true,"same_site":"lax","created":"2026-01-02T10:00:00.5Z"}]}`
	for _, seed := range []string{
		good,
		good[:len(good)/2],
		`{"courier_session":1}`,
		`{"courier_session":1,"headers":{"x-a":["1"],"X-A":["2"],"X-B":[]},"auth":null,"cookies":null}`,
		`{"courier_session":2}`,
		`{"courier_session":1,"auth":{"type":"bearer","token":"t"}}`,
		strings.Replace(good, `"www.example.com"`, `"WWW.Example.COM."`, 1),
		strings.Replace(good, `"www.example.com","host_only":true`, `"co.uk","host_only":false`, 1),
		strings.Replace(good, `"2099-01-02T15:04:05Z"`, `"2099-01-02T15:04:05.5+14:00"`, 1),
		strings.Replace(good, `"path":"/"`, `"path":""`, 1),
		strings.Replace(good, `"name":"a"`, `"name":"__Host-a"`, 1),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := parse(data)
		if err != nil {
			return
		}
		now := time.Now()
		loaded := fromIdentity("in.json", id)
		reloaded, saved := saveAndReload(t, loaded, now)
		sameIdentity(t, loaded, reloaded, now)
		if _, again := saveAndReload(t, reloaded, now); !bytes.Equal(again, saved) {
			t.Errorf("saving the reloaded identity wrote\n%s\nthe first save wrote\n%s", again, saved)
		}
	})
}

// FuzzImportHTTPie feeds the HTTPie importer arbitrary bytes and hosts: no
// panic, and what it imports saves and loads back as the same identity.
func FuzzImportHTTPie(f *testing.F) {
	for _, seed := range []struct{ data, host string }{
		{`{"headers":{"X":"1","If-Match":"2"},"cookies":{"a":{"value":"1","path":"/","secure":true,"expires":4102444800}},` +
			`"auth":{"type":"basic","raw_auth":"u:p\\:w"}}`, "api.example.com:8443"},
		{`{"headers":[{"name":"X","value":"1"},{"name":"X","value":"2"}],"cookies":[{"name":"a","value":"\"q v\"",` +
			`"domain":".example.com","path":null,"secure":false,"expires":null}],"auth":{"type":"bearer","raw_auth":"t"}}`, "api.example.com"},
		{`{"cookies":[{"name":"s","value":"1","domain":"localhost.local","expires":1.5e9}],"auth":{"type":"digest","username":"u","password":null}}`, "localhost"},
		{`{"cookies":{"a":{"value":"1","expires":1e300}},"auth":{"type":"jwt","raw_auth":"x"}}`, "[::1]:8080"},
		{`{"cookies":[{"name":"a","value":"1","domain":".co.uk"}]}`, "localhost"},
	} {
		f.Add([]byte(seed.data), seed.host)
	}
	f.Fuzz(func(t *testing.T, data []byte, host string) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		imported := New("out.json")
		imported.now = func() time.Time { return now }
		if err := imported.importHTTPie(data, host); err != nil {
			return
		}
		reloaded, _ := saveAndReload(t, imported, time.Now())
		sameIdentity(t, imported, reloaded, time.Now())
	})
}
