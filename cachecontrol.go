package courier

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cache-Control as RFC 9111 reads it: every field line, directives split
// on commas, names compared without case (§5.2), arguments as tokens or
// quoted strings.

// directives are the Cache-Control directives of a message, by lower-case
// name; a directive without an argument maps to "". dup names the
// directives given more than once with different arguments.
type directives struct {
	m   map[string]string
	dup map[string]bool
}

func parseDirectives(h http.Header) directives {
	d := directives{}
	for _, line := range h.Values("Cache-Control") {
		for len(line) > 0 {
			var name, arg string
			name, arg, line = nextDirective(line)
			if name == "" {
				continue
			}
			if d.m == nil {
				d.m = make(map[string]string, 4)
			}
			if prev, ok := d.m[name]; ok && prev != arg {
				if d.dup == nil {
					d.dup = map[string]bool{}
				}
				d.dup[name] = true
			}
			d.m[name] = arg
		}
	}
	return d
}

// nextDirective reads one directive from s and returns the rest after its
// comma.
func nextDirective(s string) (name, arg, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		return strings.ToLower(strings.TrimSpace(s)), "", ""
	}
	name = strings.ToLower(strings.TrimSpace(s[:i]))
	if s[i] == ',' {
		return name, "", s[i+1:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		rest = s[min(j+1, len(s)):]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k+1:]
		} else {
			rest = ""
		}
		return name, b.String(), rest
	}
	if k := strings.IndexByte(s, ','); k >= 0 {
		return name, strings.TrimSpace(s[:k]), s[k+1:]
	}
	return name, strings.TrimSpace(s), ""
}

func (d directives) has(name string) bool {
	_, ok := d.m[name]
	return ok
}

// seconds returns a delta-seconds argument (§1.2.2): ok false when the
// directive is absent, malformed, or given twice with different values.
// Values past 2^31 are 2^31.
func (d directives) seconds(name string) (time.Duration, bool) {
	v, ok := d.m[name]
	if !ok || d.dup[name] || v == "" {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxDeltaSeconds {
		n = maxDeltaSeconds
	}
	return time.Duration(n) * time.Second, true
}

const maxDeltaSeconds = 1 << 31

// heuristicStatus lists the statuses cacheable by default (RFC 9110
// §15.1), which may be given a heuristic freshness lifetime.
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus lists the statuses this cache knows how to store, for
// must-understand (§5.2.2.3).
func understoodStatus(code int) bool {
	return heuristicStatus(code) || code == 302 || code == 307
}

// lifetime returns a response's freshness lifetime (§4.2.1): max-age,
// else Expires less Date, else a heuristic (§4.2.2) of a tenth of the time
// since Last-Modified, capped, for a status cacheable by default or a
// public response. A max-age given twice with different values, or an
// Expires that does not parse, makes the response stale (0).
func lifetime(status int, h http.Header, cc directives, responded time.Time, heuristicCap time.Duration) time.Duration {
	if cc.has("max-age") {
		d, _ := cc.seconds("max-age")
		return d
	}
	date := dateOf(h, responded)
	if exp := h.Values("Expires"); len(exp) > 0 {
		t, err := http.ParseTime(exp[0])
		if err != nil || len(exp) > 1 {
			return 0
		}
		return max(t.Sub(date), 0)
	}
	if heuristicCap <= 0 || !heuristicStatus(status) && !cc.has("public") {
		return 0
	}
	lm, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil || !lm.Before(date) {
		return 0
	}
	return min(date.Sub(lm)/10, heuristicCap)
}

// dateOf returns the Date of a response, or when it arrived when it has
// none that parses.
func dateOf(h http.Header, responded time.Time) time.Time {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		return t
	}
	return responded
}

// currentAge is §4.2.3's: the age the response had when it arrived,
// corrected for the Age header and the time the request took, plus the
// time since.
func currentAge(h http.Header, requested, responded, now time.Time) time.Duration {
	apparent := max(responded.Sub(dateOf(h, responded)), 0)
	var ageValue time.Duration
	if v := h.Get("Age"); v != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			ageValue = time.Duration(min(n, maxDeltaSeconds)) * time.Second
		}
	}
	corrected := ageValue + max(responded.Sub(requested), 0)
	return max(apparent, corrected) + max(now.Sub(responded), 0)
}
