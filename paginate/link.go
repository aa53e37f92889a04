package paginate

import (
	"strings"
)

// LinkTarget returns the target of the first link in the values of a Link
// header (RFC 8288) whose relation types include rel, or "". Relation types
// are compared without case; a link may name several ("next last"), quoted
// or not; other parameters are skipped; what cannot be parsed ends the
// search of its value without an error.
func LinkTarget(values []string, rel string) string {
	for _, v := range values {
		if t := linkIn(v, rel); t != "" {
			return t
		}
	}
	return ""
}

// linkIn searches one header value.
func linkIn(v, rel string) string {
	for {
		v = strings.TrimLeft(v, " \t,")
		if !strings.HasPrefix(v, "<") {
			return ""
		}
		end := strings.IndexByte(v, '>')
		if end < 0 {
			return ""
		}
		target := v[1:end]
		rels, rest := relParam(v[end+1:])
		if hasRel(rels, rel) {
			return strings.TrimSpace(target)
		}
		v = rest
	}
}

// relParam reads the ";name=value" parameters of one link, and returns
// the value of its first rel parameter (a later one does not count) and
// what follows the link.
func relParam(s string) (string, string) {
	var rels string
	seen := false
	for {
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, ";") {
			return rels, s
		}
		s = strings.TrimLeft(s[1:], " \t")
		i := strings.IndexAny(s, "=;,")
		if i < 0 {
			return rels, ""
		}
		isRel := strings.EqualFold(strings.TrimSpace(s[:i]), "rel")
		if s[i] != '=' {
			seen = seen || isRel // a rel without a value: no relations
			s = s[i:]
			continue
		}
		var value string
		value, s = paramValue(strings.TrimLeft(s[i+1:], " \t"))
		if isRel && !seen {
			rels, seen = value, true
		}
	}
}

// paramValue reads a token or a quoted-string, and returns it and the rest.
func paramValue(s string) (string, string) {
	if !strings.HasPrefix(s, `"`) {
		i := strings.IndexAny(s, ";, \t")
		if i < 0 {
			return s, ""
		}
		return s[:i], s[i:]
	}
	// Without escapes the value is a part of s, copied from nothing.
	if end := strings.IndexAny(s[1:], `"\\`); end >= 0 && s[1+end] == '"' {
		return s[1 : 1+end], s[2+end:]
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), "" // unterminated: the rest of the value
}

// hasRel reports whether a rel parameter's space-separated list holds rel.
func hasRel(list, rel string) bool {
	for r := range strings.FieldsSeq(list) {
		if strings.EqualFold(r, rel) {
			return true
		}
	}
	return false
}
