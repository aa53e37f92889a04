package auth_test

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
)

// digestServer is an RFC 7616 server, written apart from the client code it
// tests: it issues challenges, checks answers (response, nonce, nonce count
// replay, uri, opaque, userhash) and records every request.
type digestServer struct {
	user, password, realm string
	// algorithms offered, one challenge each in this order; "" offers a
	// challenge without an algorithm parameter (MD5). Default: MD5.
	algorithms []string
	qop        string // the qop parameter; "" for RFC 2069
	userhash   bool
	opaque     string
	maxUses    int      // a nonce is stale after this many uses; 0: never
	nextNonce  bool     // announce a new nonce on each success, retiring the old
	extra      []string // other WWW-Authenticate fields, sent before
	// handler serves authenticated requests (default: 200 "ok"); body is
	// the request body, already read.
	handler func(w http.ResponseWriter, r *http.Request, body []byte)

	mu     sync.Mutex
	nonces map[string]*serverNonce
	hits   []digestHit
}

type serverNonce struct {
	uses    int
	retired bool
	seen    map[string]bool // nc values
}

// A digestHit is one request the server saw.
type digestHit struct {
	params map[string]string // of the Authorization header; nil if none
	status int
	info   string // Authentication-Info sent
}

func (d *digestServer) start(t testing.TB) *testenv.Server {
	t.Helper()
	return testenv.NewServer(t, testenv.HTTP1, d)
}

const (
	verdictOK = iota
	verdictChallenge
	verdictStale
)

func (d *digestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	params, verdict := d.verify(r, body)
	h := digestHit{params: params, status: http.StatusOK}
	switch verdict {
	case verdictOK:
		if d.nextNonce {
			d.nonces[params["nonce"]].retired = true
			h.info = fmt.Sprintf(`nextnonce="%s", qop=auth`, d.newNonce())
			w.Header().Set("Authentication-Info", h.info)
		}
	default:
		h.status = http.StatusUnauthorized
		for _, f := range d.extra {
			w.Header().Add("WWW-Authenticate", f)
		}
		for _, f := range d.challenges(verdict == verdictStale) {
			w.Header().Add("WWW-Authenticate", f)
		}
	}
	d.hits = append(d.hits, h)
	d.mu.Unlock()
	switch {
	case h.status != http.StatusOK:
		http.Error(w, "unauthorized", h.status)
	case d.handler != nil:
		d.handler(w, r, body)
	default:
		io.WriteString(w, "ok")
	}
}

func (d *digestServer) newNonce() string {
	if d.nonces == nil {
		d.nonces = map[string]*serverNonce{}
	}
	n := rand.Text()
	d.nonces[n] = &serverNonce{seen: map[string]bool{}}
	return n
}

func (d *digestServer) offered() []string {
	if len(d.algorithms) == 0 {
		return []string{"MD5"}
	}
	return d.algorithms
}

func (d *digestServer) challenges(stale bool) []string {
	var out []string
	for _, alg := range d.offered() {
		c := fmt.Sprintf(`Digest realm="%s", nonce="%s"`, d.realm, d.newNonce())
		if alg != "" {
			c += ", algorithm=" + alg
		}
		if d.qop != "" {
			c += fmt.Sprintf(`, qop="%s"`, d.qop)
		}
		if d.opaque != "" {
			c += fmt.Sprintf(`, opaque="%s"`, d.opaque)
		}
		if d.userhash {
			c += ", userhash=true"
		}
		if stale {
			c += ", stale=true"
		}
		out = append(out, c)
	}
	return out
}

// verify checks r's Authorization header; d.mu is held.
func (d *digestServer) verify(r *http.Request, body []byte) (map[string]string, int) {
	p, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return p, verdictChallenge
	}
	alg := p["algorithm"]
	if !slices.ContainsFunc(d.offered(), func(a string) bool { return strings.EqualFold(a, alg) }) {
		return p, verdictChallenge
	}
	var user string
	switch {
	case d.userhash:
		if p["userhash"] != "true" || p["username"] != testHash(alg, d.user+":"+d.realm) {
			return p, verdictChallenge
		}
		user = d.user
	case p["username*"] != "":
		enc, ok := strings.CutPrefix(p["username*"], "UTF-8''")
		u, err := url.PathUnescape(enc)
		if !ok || err != nil {
			return p, verdictChallenge
		}
		user = u
	default:
		user = p["username"]
	}
	if user != d.user || p["realm"] != d.realm || p["uri"] != r.URL.RequestURI() || p["opaque"] != d.opaque {
		return p, verdictChallenge
	}
	if offered := strings.Split(d.qop, ","); p["qop"] != "" || d.qop != "" {
		if !slices.ContainsFunc(offered, func(q string) bool { return strings.TrimSpace(q) == p["qop"] }) {
			return p, verdictChallenge
		}
	}
	want := digestResponse(alg, d.user, d.realm, d.password, r.Method, p["uri"], p["nonce"], p["nc"], p["cnonce"], p["qop"], body)
	if p["response"] != want {
		return p, verdictChallenge // wrong password
	}
	n := d.nonces[p["nonce"]]
	if n == nil || n.retired || d.maxUses > 0 && n.uses >= d.maxUses {
		return p, verdictStale // right password, old nonce
	}
	if p["qop"] != "" { // RFC 2069 has no nonce count to check
		if n.seen[p["nc"]] {
			return p, verdictChallenge // replay
		}
		n.seen[p["nc"]] = true
	}
	n.uses++
	return p, verdictOK
}

// count returns how many requests the server saw.
func (d *digestServer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.hits)
}

func (d *digestServer) allHits() []digestHit {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.hits)
}

// accepted returns the Authorization parameters of the requests let in.
func (d *digestServer) accepted() []map[string]string {
	var out []map[string]string
	for _, h := range d.allHits() {
		if h.status == http.StatusOK {
			out = append(out, h.params)
		}
	}
	return out
}

// parseAuthorization reads a Digest Authorization header into its
// parameters (names lower-cased), simply: enough for headers the client
// under test writes.
func parseAuthorization(h string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(h, "Digest ")
	if !ok {
		return nil, false
	}
	m := map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " ,")
		if rest == "" {
			return m, true
		}
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, false
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if !strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v, ',')
			if end < 0 {
				end = len(v)
			}
			m[k], rest = v[:end], v[end:]
			continue
		}
		var b strings.Builder
		i := 1
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		if i >= len(v) {
			return nil, false
		}
		m[k], rest = b.String(), v[i+1:]
	}
}

// testHash is the hex hash of s by a Digest algorithm's name.
func testHash(alg, s string) string {
	var h hash.Hash
	switch strings.TrimSuffix(strings.ToUpper(alg), "-SESS") {
	case "", "MD5":
		h = md5.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-512-256":
		h = sha512.New512_256()
	default:
		panic("testHash: unknown algorithm " + alg)
	}
	io.WriteString(h, s)
	return hex.EncodeToString(h.Sum(nil))
}

// digestResponse computes the response parameter (RFC 7616, section 3.4.1).
func digestResponse(alg, user, realm, password, method, uri, nonce, nc, cnonce, qop string, body []byte) string {
	H := func(s string) string { return testHash(alg, s) }
	ha1 := H(user + ":" + realm + ":" + password)
	if strings.HasSuffix(strings.ToUpper(alg), "-SESS") {
		ha1 = H(ha1 + ":" + nonce + ":" + cnonce)
	}
	a2 := method + ":" + uri
	if qop == "auth-int" {
		a2 += ":" + H(string(body))
	}
	if qop == "" {
		return H(ha1 + ":" + nonce + ":" + H(a2))
	}
	return H(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + H(a2))
}
