package sessionfile

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/courierhttp/courier/cookiejar"
)

// identity is what a session file holds.
type identity struct {
	header  http.Header
	auth    *Auth
	cookies map[cookieKey]cookiejar.Cookie
	// order is each cookie's place in its jar or file. Among cookies
	// created at the same instant (those of one response), it keeps the
	// order in which the jar sends them.
	order map[cookieKey]int
}

func (id *identity) addCookie(c cookiejar.Cookie, place int) {
	if id.cookies == nil {
		id.cookies, id.order = map[cookieKey]cookiejar.Cookie{}, map[cookieKey]int{}
	}
	k := keyOf(c)
	id.cookies[k], id.order[k] = c, place
}

// sortedCookies returns the cookies oldest first, in their order among
// those of the same age, and by name, domain and path after that, for a
// stable file.
func (id identity) sortedCookies() []cookiejar.Cookie {
	keys := slices.SortedFunc(maps.Keys(id.cookies), func(a, b cookieKey) int {
		ca, cb := id.cookies[a], id.cookies[b]
		return cmp.Or(ca.Created.Compare(cb.Created), cmp.Compare(id.order[a], id.order[b]),
			cmp.Compare(a.name, b.name), cmp.Compare(a.domain, b.domain), cmp.Compare(a.path, b.path))
	})
	out := make([]cookiejar.Cookie, len(keys))
	for i, k := range keys {
		out[i] = id.cookies[k]
	}
	return out
}

// cookieKey identifies a cookie, as a jar does: a cookie replaces the one
// with the same name, domain and path.
type cookieKey struct{ name, domain, path string }

func keyOf(c cookiejar.Cookie) cookieKey { return cookieKey{c.Name, c.Domain, c.Path} }

// merge is a three-way merge of ours (this writer's identity now) and disk
// (the file now) against base (this writer's identity at its last Load or
// Save): what this writer changed since base wins, the rest is disk's.
func merge(base, ours, disk identity, now time.Time) identity {
	out := identity{header: http.Header{}}

	for _, k := range union(base.header, ours.header, disk.header) {
		v := disk.header[k]
		if !slices.Equal(ours.header[k], base.header[k]) {
			v = ours.header[k]
		}
		if len(v) > 0 {
			out.header[k] = slices.Clone(v)
		}
	}

	out.auth = disk.auth
	if !sameAuth(ours.auth, base.auth) {
		out.auth = ours.auth
	}

	for _, k := range union(base.cookies, ours.cookies, disk.cookies) {
		o, inOurs := ours.cookies[k]
		b, inBase := base.cookies[k]
		changed := inOurs != inBase || inOurs && !sameCookie(o, b)
		if !inOurs && inBase && expired(b, now) {
			// It expired here; that is no deletion, and another writer
			// may have renewed it.
			changed = false
		}
		from := disk
		if changed {
			from = ours
		}
		if c, ok := from.cookies[k]; ok && !expired(c, now) {
			out.addCookie(c, from.order[k])
		}
	}
	return out
}

func union[K comparable, V any](ms ...map[K]V) []K {
	seen := map[K]bool{}
	var keys []K
	for _, m := range ms {
		for k := range maps.Keys(m) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

func expired(c cookiejar.Cookie, now time.Time) bool {
	return !c.Expires.IsZero() && !c.Expires.After(now)
}

func sameAuth(a, b *Auth) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// sameCookie compares every attribute, times as instants.
func sameCookie(a, b cookiejar.Cookie) bool {
	return a.Name == b.Name && a.Value == b.Value && a.Quoted == b.Quoted &&
		a.Domain == b.Domain && a.HostOnly == b.HostOnly && a.Path == b.Path &&
		a.Expires.Equal(b.Expires) && a.Secure == b.Secure && a.HttpOnly == b.HttpOnly &&
		a.SameSite == b.SameSite && a.Created.Equal(b.Created)
}
