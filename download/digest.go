package download

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
)

// The sources of an expected digest, in [Digest].Source.
const (
	// SourceCaller is the digest given with the [SHA256] option.
	SourceCaller = "caller"
	// SourceReprDigest is the server's Repr-Digest field (RFC 9530): it
	// covers the whole representation, so it holds across resumes.
	SourceReprDigest = "Repr-Digest"
	// SourceContentDigest is the server's Content-Digest field (RFC 9530)
	// of a full 200 response, whose content is the whole file.
	SourceContentDigest = "Content-Digest"
)

// The digest algorithms File checks, as RFC 9530 names them.
const (
	SHA256Algorithm = "sha-256"
	SHA512Algorithm = "sha-512"
)

// Digest is one expected digest of the whole file.
type Digest struct {
	// Source says who gave it: SourceCaller, SourceReprDigest or
	// SourceContentDigest.
	Source string
	// Algorithm is SHA256Algorithm or SHA512Algorithm.
	Algorithm string
	// Value is the digest's bytes (32 for sha-256, 64 for sha-512).
	Value []byte
}

// String returns "sha-256 from Repr-Digest: <hex>".
func (d Digest) String() string {
	return fmt.Sprintf("%s from %s: %x", d.Algorithm, d.Source, d.Value)
}

func (d Digest) equal(o Digest) bool {
	return d.Source == o.Source && d.Algorithm == o.Algorithm && string(d.Value) == string(o.Value)
}

// DigestError says that the file received does not have the digest
// expected. It matches [ErrDigestMismatch] with errors.Is.
type DigestError struct {
	// Expected is the digest that did not match, and where it came from.
	Expected Digest
	// Got is the digest of the file received, with the same algorithm.
	Got []byte
}

// Error returns "download: sha-256 from caller mismatch: expected <hex>, got <hex>".
func (e *DigestError) Error() string {
	return fmt.Sprintf("download: %s from %s mismatch: expected %x, got %x",
		e.Expected.Algorithm, e.Expected.Source, e.Expected.Value, e.Got)
}

// Unwrap returns ErrDigestMismatch.
func (e *DigestError) Unwrap() error { return ErrDigestMismatch }

// newHash returns a hash for an algorithm File checks, or nil.
func newHash(alg string) hash.Hash {
	switch alg {
	case SHA256Algorithm:
		return sha256.New()
	case SHA512Algorithm:
		return sha512.New()
	}
	return nil
}

// parseSHA256 reads the hex digest the SHA256 option takes.
func parseSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("download: SHA256: %q is not 64 hex digits", s)
	}
	return b, nil
}

// headerDigests returns the digests that field (Repr-Digest or
// Content-Digest) of h gives: its sha-256 and sha-512 members. A field that
// is not a structured dictionary (RFC 8941) gives none, and so do unknown
// algorithms, members that are not byte sequences, and values of the wrong
// length.
func headerDigests(h http.Header, field string) []Digest {
	values := h.Values(field)
	if len(values) == 0 {
		return nil
	}
	members, ok := parseDictionary(strings.Join(values, ", "))
	if !ok {
		return nil
	}
	var out []Digest
	for _, m := range members {
		hh := newHash(m.key)
		if hh == nil || len(m.value) != hh.Size() {
			continue
		}
		out = append(out, Digest{Source: field, Algorithm: m.key, Value: m.value})
	}
	return out
}

// member is one member of a structured dictionary whose value is a byte
// sequence; other members have a nil value.
type member struct {
	key   string
	value []byte
}

// parseDictionary parses an RFC 8941 dictionary far enough to read the
// byte sequences of RFC 9530's Integrity fields: keys, bare items of every
// kind (byte sequences kept, others skipped) and parameters (skipped). An
// inner list, or anything that does not parse, fails the whole field, as
// RFC 8941 requires.
func parseDictionary(s string) ([]member, bool) {
	p := sfParser{s: s}
	p.skipSP()
	var out []member
	for !p.end() {
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		var value []byte
		if p.peek() == '=' {
			p.i++
			if value, ok = p.bareItem(); !ok {
				return nil, false
			}
		}
		if !p.params() {
			return nil, false
		}
		// A later member with the same key replaces the earlier one.
		out = slices.DeleteFunc(out, func(m member) bool { return m.key == key })
		out = append(out, member{key, value})
		p.skipOWS()
		if p.end() {
			break
		}
		if p.peek() != ',' {
			return nil, false
		}
		p.i++
		p.skipOWS()
		if p.end() {
			return nil, false // a trailing comma
		}
	}
	return out, true
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) end() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.end() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) skipSP() {
	for p.peek() == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for c := p.peek(); c == ' ' || c == '\t'; c = p.peek() {
		p.i++
	}
}

// key reads a key: lcalpha or "*", then lcalpha, digits, "_-.*".
func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !(c >= 'a' && c <= 'z' || c == '*') {
		return "", false
	}
	for c := p.peek(); c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c != 0 && strings.IndexByte("_-.*", c) >= 0; c = p.peek() {
		p.i++
	}
	return p.s[start:p.i], true
}

// bareItem reads an item and returns its bytes when it is a byte sequence;
// other items (integer, decimal, string, token, boolean) are skipped.
func (p *sfParser) bareItem() ([]byte, bool) {
	switch c := p.peek(); {
	case c == ':':
		return p.byteSequence()
	case c == '"':
		return nil, p.skipString()
	case c == '?':
		p.i++
		if c := p.peek(); c != '0' && c != '1' {
			return nil, false
		}
		p.i++
		return nil, true
	case c == '-' || isAlnum(c) || c == '*':
		// An integer, decimal or token: their characters, loosely.
		start := p.i
		for c := p.peek(); isAlnum(c) || c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0; c = p.peek() {
			p.i++
		}
		return nil, p.i > start
	}
	return nil, false
}

func (p *sfParser) byteSequence() ([]byte, bool) {
	p.i++ // ':'
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return nil, false
	}
	enc := p.s[p.i : p.i+end]
	p.i += end + 1
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// RFC 8941 asks parsers to accept a missing padding.
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "=")); err != nil {
			return nil, false
		}
	}
	if b == nil {
		b = []byte{}
	}
	return b, true
}

func (p *sfParser) skipString() bool {
	p.i++ // '"'
	for !p.end() {
		switch c := p.s[p.i]; {
		case c == '\\':
			p.i += 2
		case c == '"':
			p.i++
			return true
		case c < ' ' || c >= 0x7f:
			return false
		default:
			p.i++
		}
	}
	return false
}

// params skips ";key[=item]" parameters.
func (p *sfParser) params() bool {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

// hashes computes the digests of the file's first n bytes, for the
// algorithms it was made for.
type hashes struct {
	algs []string
	hs   []hash.Hash
	n    int64
}

func (h *hashes) Write(b []byte) (int, error) {
	for _, x := range h.hs {
		x.Write(b)
	}
	h.n += int64(len(b))
	return len(b), nil
}

// covers reports whether h computes every one of algs over n bytes.
func (h *hashes) covers(algs []string, n int64) bool {
	if h == nil || h.n != n {
		return false
	}
	for _, a := range algs {
		if !slices.Contains(h.algs, a) {
			return false
		}
	}
	return true
}

// sum returns the digest of alg, or nil when h does not compute it.
func (h *hashes) sum(alg string) []byte {
	if i := slices.Index(h.algs, alg); i >= 0 {
		return h.hs[i].Sum(nil)
	}
	return nil
}

// hashFile returns hashes for algs over the first n bytes of f, read back
// with buf.
func hashFile(f *os.File, n int64, algs []string, buf []byte) (*hashes, error) {
	h := &hashes{algs: algs}
	for _, a := range algs {
		h.hs = append(h.hs, newHash(a))
	}
	if len(algs) == 0 {
		h.n = n // nothing to compute: no need to read
		return h, nil
	}
	if _, err := io.CopyBuffer(onlyWriter{h}, io.NewSectionReader(f, 0, n), buf); err != nil {
		return nil, err
	}
	if h.n != n {
		return nil, fmt.Errorf("download: %s: read %d bytes back, want %d", f.Name(), h.n, n)
	}
	return h, nil
}

// onlyWriter hides a ReaderFrom or WriterTo, so that io.CopyBuffer uses the
// buffer given.
type onlyWriter struct{ io.Writer }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
