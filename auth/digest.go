package auth

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/courierhttp/courier"
)

// Digest authenticates with a user name and password by HTTP Digest (RFC
// 7616, and RFC 2069 servers that send no qop). The password never leaves
// the process; the server's challenge is answered with a hash.
//
// The first request to an origin is sent without credentials; a 401 with a
// Digest challenge is answered by sending the request once more (its body
// read again through GetBody). The challenge is then kept for that origin
// and answered on the first attempt of later requests, with the nonce count
// incremented and a fresh client nonce each time, until the server calls the
// nonce stale (one more round trip, to take the new nonce) or gives the next
// one in Authentication-Info. A 401 to credentials sent for an unchanged,
// fresh challenge means the credentials are wrong: the 401 is returned as
// is, and the challenge forgotten. So a request costs at most two round
// trips.
//
// Supported: the algorithms MD5, SHA-256 and SHA-512-256 and their -sess
// variants (the strongest is used when a server offers several), qop auth
// (preferred) and auth-int (the body hashed through GetBody), userhash, and
// charset=UTF-8. A request with a body that cannot be read again fails with
// an error wrapping [courier.ErrBodyNotReplayable] when it must be resent or
// hashed.
//
// The layer is safe for concurrent use; requests in flight share the
// challenge of their origin.
func Digest(user, password string) courier.Middleware {
	return newDigest(user, password, randomCnonce)
}

func newDigest(user, password string, cnonce func() string) courier.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return &digestTransport{
			next:     orDefault(next),
			user:     user,
			password: password,
			cnonce:   cnonce,
			states:   map[string]*digestState{},
		}
	}
}

func randomCnonce() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand, Go 1.24)
	return hex.EncodeToString(b)
}

type digestTransport struct {
	next           http.RoundTripper
	user, password string
	cnonce         func() string

	mu     sync.Mutex
	states map[string]*digestState // by origin, scheme://host:port
}

var _ http.RoundTripper = (*digestTransport)(nil)

// A digestState is the challenge in use for one origin. A new challenge or
// nonce makes a new state, so a state's challenge never changes.
type digestState struct {
	ch *digestChallenge
	nc uint32 // nonce count, guarded by digestTransport.mu
}

func (t *digestTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if hasAuthorization(req) || !courier.CredentialsAllowed(req) {
		return t.next.RoundTrip(req)
	}
	key := originKey(req.URL)
	st, nc := t.cached(key)
	r := req.Clone(req.Context())
	if st != nil {
		if err := t.authorize(r, req, st.ch, nc); err != nil {
			return fail(req, err)
		}
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		if st != nil {
			t.takeNextNonce(key, st, resp)
		}
		return resp, nil
	}
	ch := pickDigest(resp.Header.Values("Www-Authenticate"))
	if ch == nil || st != nil && !ch.stale && ch.realm == st.ch.realm {
		// No challenge we can answer, or our answer to this one was
		// refused: the credentials are wrong. The 401 is the answer.
		if st != nil {
			t.forget(key, st)
		}
		return resp, nil
	}
	// A challenge we have not answered yet, or a stale nonce: answer it,
	// once.
	discard(resp)
	body, err := replayBody(req)
	if err != nil {
		return nil, err
	}
	st = t.store(key, ch)
	r = req.Clone(req.Context())
	r.Body = body
	if err := t.authorize(r, req, ch, t.use(st)); err != nil {
		return fail(r, err)
	}
	resp, err = t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		t.forget(key, st)
	} else {
		t.takeNextNonce(key, st, resp)
	}
	return resp, nil
}

// replayBody returns a fresh copy of req's body for a second attempt.
func replayBody(req *http.Request) (io.ReadCloser, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, nil
	}
	if req.GetBody == nil {
		return nil, fmt.Errorf("auth: digest: answer the challenge: %w", courier.ErrBodyNotReplayable)
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("auth: digest: answer the challenge: replay body: %w", err)
	}
	return body, nil
}

// originKey is u's origin as scheme://host:port, the port made explicit.
func originKey(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// cached returns the state for key, if any, and counts one use of it.
func (t *digestTransport) cached(key string) (*digestState, uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.states[key]
	if st == nil {
		return nil, 0
	}
	if st.nc == math.MaxUint32 {
		// The nonce count is spent: ask the server for a new nonce.
		delete(t.states, key)
		return nil, 0
	}
	st.nc++
	return st, st.nc
}

// use counts one use of st.
func (t *digestTransport) use(st *digestState) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	st.nc++
	return st.nc
}

func (t *digestTransport) store(key string, ch *digestChallenge) *digestState {
	st := &digestState{ch: ch}
	t.mu.Lock()
	t.states[key] = st
	t.mu.Unlock()
	return st
}

// forget drops key's state if it is still st (a concurrent request may have
// stored a newer one).
func (t *digestTransport) forget(key string, st *digestState) {
	t.mu.Lock()
	if t.states[key] == st {
		delete(t.states, key)
	}
	t.mu.Unlock()
}

// takeNextNonce replaces st by a state with the nonce the server announced
// in Authentication-Info (RFC 7616, section 3.5), if st is still in use.
func (t *digestTransport) takeNextNonce(key string, st *digestState, resp *http.Response) {
	info := resp.Header.Values("Authentication-Info")
	if len(info) == 0 {
		return
	}
	params, _ := parseAuthParams(strings.Join(info, ", "))
	next, ok := lookupParam(params, "nextnonce")
	if !ok || next == "" || next == st.ch.nonce {
		return
	}
	ch := *st.ch
	ch.nonce = next
	ch.stale = false
	t.mu.Lock()
	if t.states[key] == st {
		t.states[key] = &digestState{ch: &ch}
	}
	t.mu.Unlock()
}

// authorize sets r's Authorization header to the answer to ch, for nonce
// count nc. orig is the request as given, whose GetBody reads the body for
// qop auth-int.
func (t *digestTransport) authorize(r, orig *http.Request, ch *digestChallenge, nc uint32) error {
	alg := ch.alg
	h := alg.newHash()
	H := func(parts ...string) string {
		h.Reset()
		for i, p := range parts {
			if i > 0 {
				io.WriteString(h, ":")
			}
			io.WriteString(h, p)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	uri := r.URL.RequestURI()
	var cnonce, ncValue string
	if ch.qop != "" {
		cnonce = t.cnonce()
		ncValue = fmt.Sprintf("%08x", nc)
	}
	ha1 := H(t.user, ch.realm, t.password)
	if ch.sess {
		ha1 = H(ha1, ch.nonce, cnonce)
	}
	var ha2 string
	if ch.qop == "auth-int" {
		bh, err := hashBody(orig, alg.newHash())
		if err != nil {
			return err
		}
		ha2 = H(method, uri, bh)
	} else {
		ha2 = H(method, uri)
	}
	var response string
	if ch.qop == "" {
		response = H(ha1, ch.nonce, ha2)
	} else {
		response = H(ha1, ch.nonce, ncValue, cnonce, ch.qop, ha2)
	}

	var b strings.Builder
	b.WriteString("Digest ")
	switch {
	case ch.userhash:
		b.WriteString(`username="` + H(t.user, ch.realm) + `"`)
	case needsExtValue(t.user):
		b.WriteString("username*=UTF-8''" + extValue(t.user))
	default:
		b.WriteString("username=" + quote(t.user))
	}
	b.WriteString(", realm=" + quote(ch.realm))
	b.WriteString(", uri=" + quote(uri))
	if ch.algorithm != "" {
		b.WriteString(", algorithm=" + ch.algorithm)
	}
	b.WriteString(", nonce=" + quote(ch.nonce))
	if ch.qop != "" {
		b.WriteString(", nc=" + ncValue)
		b.WriteString(", cnonce=" + quote(cnonce))
		b.WriteString(", qop=" + ch.qop)
	}
	b.WriteString(`, response="` + response + `"`)
	if ch.hasOpaque {
		b.WriteString(", opaque=" + quote(ch.opaque))
	}
	if ch.userhash {
		b.WriteString(", userhash=true")
	}
	r.Header.Set("Authorization", b.String())
	return nil
}

// hashBody returns the hex hash of req's body, read through GetBody; no body
// hashes as the empty string.
func hashBody(req *http.Request, h hash.Hash) (string, error) {
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return "", fmt.Errorf("auth: digest: qop auth-int: %w", courier.ErrBodyNotReplayable)
		}
		rc, err := req.GetBody()
		if err != nil {
			return "", fmt.Errorf("auth: digest: qop auth-int: read body: %w", err)
		}
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("auth: digest: qop auth-int: read body: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// needsExtValue reports whether a user name cannot go in a quoted-string
// and must be sent as username* (RFC 7616, section 3.4.4).
func needsExtValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return true
		}
	}
	return false
}

// extValue percent-encodes s as the value-chars of an RFC 8187 ext-value.
func extValue(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// A digestAlgorithm is a hash the Digest scheme can use.
type digestAlgorithm struct {
	name     string
	newHash  func() hash.Hash
	strength int
}

var digestAlgorithms = []digestAlgorithm{
	{"MD5", md5.New, 1},
	{"SHA-256", sha256.New, 2},
	{"SHA-512-256", sha512.New512_256, 3},
}

// A digestChallenge is a Digest challenge this package can answer.
type digestChallenge struct {
	realm, nonce, opaque string
	hasOpaque            bool
	algorithm            string // as the server spelled it; "" when absent (MD5)
	alg                  *digestAlgorithm
	sess                 bool
	qop                  string // "auth", "auth-int", or "" (RFC 2069)
	stale, userhash      bool
}

// pickDigest returns the strongest Digest challenge it can answer among the
// given WWW-Authenticate fields, the first of equals, or nil.
func pickDigest(fields []string) *digestChallenge {
	var best *digestChallenge
	for _, f := range fields {
		chs, _ := parseChallenges(f) // what parsed before an error stands
		for i := range chs {
			d := newDigestChallenge(&chs[i])
			if d != nil && (best == nil || d.alg.strength > best.alg.strength) {
				best = d
			}
		}
	}
	return best
}

// newDigestChallenge reads c as a Digest challenge, or returns nil if it is
// not one this package can answer.
func newDigestChallenge(c *challenge) *digestChallenge {
	if !strings.EqualFold(c.scheme, "Digest") {
		return nil
	}
	d := &digestChallenge{}
	var ok bool
	if d.nonce, ok = c.param("nonce"); !ok {
		return nil
	}
	d.realm, _ = c.param("realm")
	d.opaque, d.hasOpaque = c.param("opaque")
	if cs, ok := c.param("charset"); ok && !strings.EqualFold(cs, "UTF-8") {
		return nil
	}
	name := "MD5"
	if a, ok := c.param("algorithm"); ok {
		d.algorithm, name = a, a
	}
	if base, ok := cutSuffixFold(name, "-sess"); ok {
		d.sess, name = true, base
	}
	for i := range digestAlgorithms {
		if strings.EqualFold(digestAlgorithms[i].name, name) {
			d.alg = &digestAlgorithms[i]
		}
	}
	if d.alg == nil {
		return nil
	}
	if qop, ok := c.param("qop"); ok {
		for _, q := range strings.Split(qop, ",") {
			q = strings.TrimSpace(q)
			switch {
			case strings.EqualFold(q, "auth"):
				d.qop = "auth"
			case strings.EqualFold(q, "auth-int") && d.qop == "":
				d.qop = "auth-int"
			}
		}
		if d.qop == "" {
			return nil // only qops we do not know
		}
	} else if d.sess {
		return nil // -sess needs the cnonce that only a qop carries
	}
	if v, _ := c.param("stale"); strings.EqualFold(v, "true") {
		d.stale = true
	}
	if v, _ := c.param("userhash"); strings.EqualFold(v, "true") {
		d.userhash = true
	}
	return d
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
