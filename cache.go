package courier

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cache configures a session's private HTTP cache; see [WithCache].
type Cache struct {
	// Store keeps the entries (default: NewMemoryCache(64 MiB)). A store
	// that several sessions or processes share shares what they fetch,
	// each identity's apart.
	Store CacheStore
	// MaxEntryBytes is the largest body stored (default 8 MiB); larger
	// ones pass through.
	MaxEntryBytes int64
	// HeuristicMax caps the freshness given to a response that has a
	// Last-Modified but no explicit lifetime: a tenth of its age, at most
	// HeuristicMax (default 24h; negative: no heuristic freshness).
	HeuristicMax time.Duration
	// Identity, when set, names the identity a request's responses are
	// stored for: requests whose Identity differs never share an entry.
	// By default the identity is the request's sensitive headers (those
	// of WithSensitiveHeaders and courier's list: Authorization, Cookie,
	// API keys), the jar's cookies for its URL, and, when the session
	// adds credentials of its own to it (auth layers, middleware, a
	// client certificate), the session itself: such responses are not
	// shared with another session, even through a shared Store. Set it to
	// share them across a fleet (a tenant's name, say); the request's own
	// sensitive headers and cookies still count.
	Identity func(*http.Request) string
}

// The defaults of Cache.
const (
	defaultCacheBytes    = 64 << 20
	defaultMaxEntryBytes = 8 << 20
	defaultHeuristicMax  = 24 * time.Hour
)

// WithCache gives the session a private HTTP cache (RFC 9111, with RFC
// 5861's stale-while-revalidate and stale-if-error). It stores the
// responses to GET requests that their Cache-Control, Expires or
// Last-Modified allow, serves them while fresh, revalidates them with
// If-None-Match and If-Modified-Since when stale (a 304 freshens the stored
// copy), and forgets a URL's entries once an unsafe method (POST, PUT,
// DELETE, PATCH...) to it succeeds.
//
// The cache sits between the redirect loop and the retry loop: a fresh hit
// sends nothing and spends no retry budget; each redirect hop is looked
// up on its own; concurrent misses for one entry send one request, which
// the others wait for. A stale response is served at once, and revalidated
// in the background, within a stale-while-revalidate window, and is served
// instead of an error (a failure after the retries, a 500, 502, 503 or
// 504) within a stale-if-error window, unless must-revalidate or no-cache
// forbid it.
//
// Entries are partitioned by identity (see [Cache].Identity): a response
// fetched with one set of credentials is never served to a request with
// other ones, or none, whether or not the server sent Vary. Keys are
// hashes: no URL or secret is written to a Store in clear, but the
// responses are, headers and bodies.
//
// Not stored: responses to requests with Range or a condition of the
// caller's own (they pass through), 206 and 304 responses, bodies larger
// than MaxEntryBytes or cut short, responses with Vary: *. [Response].Cache
// and Age say where a response came from; Stats.Cache, Hooks.OnCache and
// the session's logs count and report it.
func WithCache(c Cache) Option {
	return sessionOption(func(cfg *config) error {
		if c.MaxEntryBytes < 0 {
			return &OptionError{"WithCache.MaxEntryBytes", fmt.Errorf("must not be negative, got %d", c.MaxEntryBytes)}
		}
		if c.MaxEntryBytes == 0 {
			c.MaxEntryBytes = defaultMaxEntryBytes
		}
		if c.HeuristicMax == 0 {
			c.HeuristicMax = defaultHeuristicMax
		}
		if c.Store == nil {
			c.Store = NewMemoryCache(defaultCacheBytes)
		}
		cfg.cache = &c
		return nil
	})
}

// CacheStatus says where a response came from, when the session has a
// cache.
type CacheStatus int

// The cache statuses.
const (
	// CacheNone: the cache was not used (no cache, a method other than
	// GET, a Range or conditional request, only-if-cached with nothing
	// stored).
	CacheNone CacheStatus = iota
	// CacheMiss: nothing usable was stored; the response came from the
	// server.
	CacheMiss
	// CacheHit: a stored response, fresh enough; nothing was sent.
	CacheHit
	// CacheRevalidated: a stored response the server confirmed with a
	// 304.
	CacheRevalidated
	// CacheStaleWhileRevalidate: a stale stored response served at once
	// while a request in the background revalidates it.
	CacheStaleWhileRevalidate
	// CacheStaleIfError: a stale stored response served because the
	// server failed.
	CacheStaleIfError
)

func (s CacheStatus) String() string {
	switch s {
	case CacheMiss:
		return "miss"
	case CacheHit:
		return "hit"
	case CacheRevalidated:
		return "revalidated"
	case CacheStaleWhileRevalidate:
		return "stale-while-revalidate"
	case CacheStaleIfError:
		return "stale-if-error"
	}
	return "none"
}

// CacheInfo describes what the cache did for a request hop, for
// Hooks.OnCache.
type CacheInfo struct {
	// Request is the hop's request.
	Request *http.Request
	// Status is what the cache did; Age the age of the stored response
	// served (0 for a miss).
	Status CacheStatus
	Age    time.Duration
}

// CacheStats counts what a session's cache did; see [Stats].
type CacheStats struct {
	// Hits, Misses, Revalidated, StaleWhileRevalidate and StaleIfError
	// count the hops by CacheStatus; Coalesced the misses that waited for
	// another request's response instead of sending their own.
	Hits, Misses, Revalidated, StaleWhileRevalidate, StaleIfError, Coalesced int64
	// Stored counts responses stored, Invalidated the keys an unsafe
	// method removed, StoreErrors the Store's failures.
	Stored, Invalidated, StoreErrors int64
}

type cacheCounters struct {
	hits, misses, revalidated, swr, sie, coalesced atomic.Int64
	stored, invalidated, storeErrors               atomic.Int64
}

func (c *cacheCounters) snapshot() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Revalidated: c.revalidated.Load(),
		StaleWhileRevalidate: c.swr.Load(), StaleIfError: c.sie.Load(), Coalesced: c.coalesced.Load(),
		Stored: c.stored.Load(), Invalidated: c.invalidated.Load(), StoreErrors: c.storeErrors.Load()}
}

// cacheLayer is the session's cache, between the redirect loop and the
// retry loop.
type cacheLayer struct {
	s   *Session
	cfg *Cache
	// nonce is the session's identity, for the responses to requests the
	// session adds credentials to.
	nonce [16]byte
	seed  maphash.Seed

	mu      sync.Mutex
	flights map[string]*cacheFlight
	// gens counts invalidations by key hash: a response fetched while
	// its key was invalidated is not stored.
	gens    [256]atomic.Uint64
	decoded [1024]atomic.Pointer[decodedEntry]
	stats   cacheCounters
}

// cacheFlight is a miss being fetched; done is closed when its response
// is stored or will not be.
type cacheFlight struct {
	done chan struct{}
	once sync.Once
}

func newCacheLayer(s *Session, cfg *Cache) *cacheLayer {
	k := &cacheLayer{s: s, cfg: cfg, seed: maphash.MakeSeed(), flights: map[string]*cacheFlight{}}
	rand.Read(k.nonce[:])
	return k
}

// hop sends one hop of a request through the cache.
func (k *cacheLayer) hop(c *call, req *http.Request) (*http.Response, tries, error) {
	s := k.s
	if req.Method != http.MethodGet {
		resp, t, err := s.retryLoop(c, req)
		if err == nil && !safeMethod(req.Method) && (resp.StatusCode/100 == 2 || resp.StatusCode/100 == 3) {
			k.invalidate(req, resp)
		}
		return resp, t, err
	}
	if bypassCache(req) {
		return s.retryLoop(c, req)
	}
	key := k.key(req, req.URL)
	rcc := requestDirectives(req.Header)
	for waited := false; ; waited = true {
		stored := k.lookup(req.Context(), key, req)
		if resp, ok := k.serve(c, req, key, stored, rcc); ok {
			if waited {
				k.stats.coalesced.Add(1)
			}
			return resp, tries{}, nil
		}
		if rcc.has("only-if-cached") {
			return gatewayTimeout(req), tries{}, nil
		}
		f, leader := k.join(key)
		if leader || waited {
			if !leader {
				f = nil // a second try: not the flight's to end
			}
			return k.fetch(c, req, key, stored, rcc, f)
		}
		select {
		case <-f.done:
		case <-req.Context().Done():
			return nil, tries{}, req.Context().Err()
		}
	}
}

// safeMethod reports whether a method is safe (RFC 9110 §9.2.1): one that
// does not invalidate stored responses.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// bypassCache reports whether a GET goes around the cache: a Range
// request (partial responses are not stored), or one with a condition of
// the caller's, whose 304 is the caller's to read.
func bypassCache(req *http.Request) bool {
	for _, h := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"} {
		if _, ok := req.Header[h]; ok {
			return true
		}
	}
	return false
}

// requestDirectives are a request's Cache-Control directives, and
// Pragma: no-cache as no-cache when it has none (§5.4).
func requestDirectives(h http.Header) directives {
	d := parseDirectives(h)
	if d.m == nil && strings.Contains(strings.ToLower(h.Get("Pragma")), "no-cache") {
		d.m = map[string]string{"no-cache": ""}
	}
	return d
}

// gatewayTimeout is the answer to only-if-cached with nothing stored
// (§5.2.1.7).
func gatewayTimeout(req *http.Request) *http.Response {
	return &http.Response{Status: statusLine(http.StatusGatewayTimeout), StatusCode: http.StatusGatewayTimeout,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, Request: req}
}

// key is where the responses to req's URL u are stored for its identity.
func (k *cacheLayer) key(req *http.Request, u *url.URL) string {
	h := sha256.New()
	io.WriteString(h, k.identity(req, u))
	h.Write([]byte{0})
	v := *u
	v.Fragment, v.RawFragment = "", ""
	v.Scheme, v.Host = strings.ToLower(v.Scheme), strings.ToLower(v.Host)
	io.WriteString(h, v.String())
	return "courier:cache:v1:" + hex.EncodeToString(h.Sum(nil)[:20])
}

// identity is what sets req's identity apart (see Cache.Identity), for a
// request to u.
func (k *cacheLayer) identity(req *http.Request, u *url.URL) string {
	var b strings.Builder
	switch {
	case k.cfg.Identity != nil:
		b.WriteString("named\x00")
		b.WriteString(k.cfg.Identity(req))
		b.WriteByte(0)
	case k.s.addsCredentials(req, u):
		b.WriteString("session\x00")
		b.Write(k.nonce[:])
	}
	var names []string
	for name := range req.Header {
		if k.s.sensitiveHeader(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(strings.Join(req.Header[n], "\x00"))
		b.WriteByte(0)
	}
	if jar := k.s.cfg.jar; jar != nil {
		cookies := jar.Cookies(u)
		lines := make([]string, len(cookies))
		for i, c := range cookies {
			lines[i] = c.Name + "=" + c.Value
		}
		slices.Sort(lines)
		for _, l := range lines {
			b.WriteString("cookie\x00")
			b.WriteString(l)
			b.WriteByte(0)
		}
	}
	return b.String()
}

// addsCredentials reports whether the session adds credentials of its own
// to a request to u below the cache, where the cache does not see them:
// auth layers (for the credential origins, while the redirect chain
// allows), middleware (which may), a client certificate.
func (s *Session) addsCredentials(req *http.Request, u *url.URL) bool {
	if len(s.cfg.middleware) > 0 || s.cfg.clientCert != nil {
		return true
	}
	if s.cfg.tlsConfig != nil && (len(s.cfg.tlsConfig.Certificates) > 0 || s.cfg.tlsConfig.GetClientCertificate != nil) {
		return true
	}
	return len(s.cfg.auth) > 0 && s.sendsCredentials(u) && CredentialsAllowed(req)
}

// lookup returns the stored response that req selects, or nil.
func (k *cacheLayer) lookup(ctx context.Context, key string, req *http.Request) *cachedResponse {
	e := k.load(ctx, key)
	if e == nil {
		return nil
	}
	for _, r := range e.Responses {
		if r.matches(req) {
			return r
		}
	}
	return nil
}

// load returns the entry stored under key, or nil. Entries are shared
// (the decoded memo): never change one; freshened makes a new response.
func (k *cacheLayer) load(ctx context.Context, key string) *cacheEntry {
	b, err := k.cfg.Store.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, ErrCacheMiss) {
			k.storeFailed(ctx, "get", err)
		}
		return nil
	}
	if len(b) == 0 {
		return nil
	}
	slot := &k.decoded[maphash.String(k.seed, key)%uint64(len(k.decoded))]
	if m := slot.Load(); m != nil && m.key == key && m.first == &b[0] && m.n == len(b) {
		return m.e // the same bytes as last time (a store in memory)
	}
	e, err := decodeEntry(b)
	if err != nil {
		k.storeFailed(ctx, "decode", err)
		return nil
	}
	slot.Store(&decodedEntry{key: key, first: &b[0], n: len(b), e: e})
	return e
}

// decodedEntry remembers the entry decoded from a value, to skip decoding
// the same bytes again: a store in memory returns the slice it was given.
type decodedEntry struct {
	key   string
	first *byte
	n     int
	e     *cacheEntry
}

func (k *cacheLayer) storeFailed(ctx context.Context, op string, err error) {
	k.stats.storeErrors.Add(1)
	k.s.logCacheStore(ctx, op, err)
}

// freshness is what a stored response's age and lifetime allow.
type freshness struct {
	age, life time.Duration
	cc        directives
}

func (k *cacheLayer) freshness(r *cachedResponse, now time.Time) freshness {
	cc := parseDirectives(r.Header)
	return freshness{
		age:  currentAge(r.Header, r.Requested, r.Responded, now),
		life: lifetime(r.Status, r.Header, cc, r.Responded, k.cfg.HeuristicMax),
		cc:   cc,
	}
}

func (f freshness) stale() time.Duration { return f.age - f.life }

// serve answers req from stored when the rules allow: fresh enough for the
// request's directives (§4.2, §5.2.1), or stale within max-stale, or
// within stale-while-revalidate (RFC 5861 §3), which also starts a
// revalidation in the background.
func (k *cacheLayer) serve(c *call, req *http.Request, key string, stored *cachedResponse, rcc directives) (*http.Response, bool) {
	if stored == nil || rcc.has("no-cache") {
		return nil, false
	}
	f := k.freshness(stored, time.Now())
	if f.cc.has("no-cache") {
		return nil, false
	}
	if d, ok := rcc.seconds("max-age"); ok && f.age > d {
		return nil, false
	}
	if d, ok := rcc.seconds("min-fresh"); ok && f.life-f.age < d {
		return nil, false
	}
	stale := f.stale()
	if stale < 0 {
		return k.served(c, req, stored, f.age, CacheHit), true
	}
	if f.cc.has("must-revalidate") {
		return nil, false
	}
	if maxStale(rcc, stale) {
		return k.served(c, req, stored, f.age, CacheHit), true
	}
	if d, ok := f.cc.seconds("stale-while-revalidate"); ok && stale <= d {
		k.revalidateLater(c, req, key, stored)
		return k.served(c, req, stored, f.age, CacheStaleWhileRevalidate), true
	}
	return nil, false
}

// maxStale reports whether the request's max-stale accepts a response
// stale by stale: any staleness without an argument, up to its argument
// with one (§5.2.1.2).
func maxStale(rcc directives, stale time.Duration) bool {
	arg, ok := rcc.m["max-stale"]
	if !ok {
		return false
	}
	if arg == "" {
		return true
	}
	d, ok := rcc.seconds("max-stale")
	return ok && stale <= d
}

// served makes the response for a stored one, and reports it.
func (k *cacheLayer) served(c *call, req *http.Request, r *cachedResponse, age time.Duration, st CacheStatus) *http.Response {
	c.cache, c.cacheAge = st, age
	k.report(req, st, age)
	return r.response(req, age)
}

func (k *cacheLayer) report(req *http.Request, st CacheStatus, age time.Duration) {
	switch st {
	case CacheHit:
		k.stats.hits.Add(1)
	case CacheMiss:
		k.stats.misses.Add(1)
	case CacheRevalidated:
		k.stats.revalidated.Add(1)
	case CacheStaleWhileRevalidate:
		k.stats.swr.Add(1)
	case CacheStaleIfError:
		k.stats.sie.Add(1)
	}
	k.s.logCache(req, st, age)
	if hooks := k.s.cfg.hooks; len(hooks) > 0 {
		hooks.onCache(CacheInfo{Request: req, Status: st, Age: age})
	}
}

// join returns the flight for key, and whether the caller leads it (it
// started it, and must end it).
func (k *cacheLayer) join(key string) (*cacheFlight, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f, ok := k.flights[key]; ok {
		return f, false
	}
	f := &cacheFlight{done: make(chan struct{})}
	k.flights[key] = f
	return f, true
}

// land ends a flight (f may be nil: none).
func (k *cacheLayer) land(key string, f *cacheFlight) {
	if f == nil {
		return
	}
	f.once.Do(func() {
		k.mu.Lock()
		if k.flights[key] == f {
			delete(k.flights, key)
		}
		k.mu.Unlock()
		close(f.done)
	})
}

func (k *cacheLayer) gen(key string) *atomic.Uint64 {
	return &k.gens[maphash.String(k.seed, key)%uint64(len(k.gens))]
}

// fetch sends req for a miss or a stale entry (stored, when there is one):
// conditionally when stored has a validator. A 304 freshens it; a failure
// may be answered with it (stale-if-error); a response that may be stored
// is, as its body is read.
func (k *cacheLayer) fetch(c *call, req *http.Request, key string, stored *cachedResponse, rcc directives, f *cacheFlight) (*http.Response, tries, error) {
	gen := k.gen(key).Load()
	send := req
	if stored != nil {
		send = conditional(req, stored)
	}
	requested := time.Now()
	resp, t, err := k.s.retryLoop(c, send)
	responded := time.Now()
	if stored != nil && failed(resp, err) && k.staleIfError(req, stored, rcc, responded) {
		if resp != nil {
			discardResponse(resp)
		}
		k.land(key, f)
		return k.served(c, req, stored, k.freshness(stored, responded).age, CacheStaleIfError), t, nil
	}
	if err != nil {
		k.land(key, f)
		return resp, t, err
	}
	if resp.StatusCode == http.StatusNotModified && send != req {
		if validates(resp.Header, stored) {
			discardResponse(resp)
			fresh := stored.freshened(resp.Header, requested, responded)
			k.put(req.Context(), key, fresh, gen)
			k.land(key, f)
			return k.served(c, req, fresh, k.freshness(fresh, time.Now()).age, CacheRevalidated), t, nil
		}
		// A 304 for another representation: ask for this one in full.
		discardResponse(resp)
		requested = time.Now()
		resp, t, err = k.s.retryLoop(c, req)
		responded = time.Now()
		if err != nil {
			k.land(key, f)
			return resp, t, err
		}
	}
	c.cache = CacheMiss
	k.report(req, CacheMiss, 0)
	if !k.storable(resp, rcc) {
		k.land(key, f)
		return resp, t, nil
	}
	resp.Body = &cacheTee{rc: resp.Body, k: k, key: key, gen: gen, f: f, req: req,
		r: &cachedResponse{Status: resp.StatusCode, Proto: resp.Proto, Header: storedHeader(resp.Header),
			Requested: requested, Responded: responded}}
	return resp, t, nil
}

// conditional returns req with the validators of stored (§4.3.1), or req
// itself when it has none.
func conditional(req *http.Request, stored *cachedResponse) *http.Request {
	etag, lm := stored.Header.Get("ETag"), stored.Header.Get("Last-Modified")
	if etag == "" && lm == "" {
		return req
	}
	r := req.Clone(req.Context())
	if etag != "" {
		r.Header.Set("If-None-Match", etag)
	}
	if lm != "" {
		r.Header.Set("If-Modified-Since", lm)
	}
	return r
}

// validates reports whether a 304 is about stored (§4.3.4): its strong
// ETag, when it has one, is stored's.
func validates(h http.Header, stored *cachedResponse) bool {
	etag := h.Get("ETag")
	return etag == "" || strings.TrimPrefix(etag, "W/") == strings.TrimPrefix(stored.Header.Get("ETag"), "W/")
}

// failed reports whether a response, or its absence, is a failure that a
// stale response may stand in for (RFC 5861 §4).
func failed(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// staleIfError reports whether stored may be served for a failure: within
// the stale-if-error window of the stored response or of the request,
// unless must-revalidate or no-cache forbid serving it stale, or the
// caller is gone.
func (k *cacheLayer) staleIfError(req *http.Request, stored *cachedResponse, rcc directives, now time.Time) bool {
	if req.Context().Err() != nil {
		return false
	}
	f := k.freshness(stored, now)
	if f.cc.has("must-revalidate") || f.cc.has("no-cache") {
		return false
	}
	window, ok := f.cc.seconds("stale-if-error")
	if d, rok := rcc.seconds("stale-if-error"); rok {
		window, ok = max(window, d), true
	}
	return ok && f.stale() <= window
}

// storable reports whether a response to a GET may be stored (§3): a final
// status understood, no no-store (the request's or its), no Vary: *, and a
// lifetime of its own, a public or private directive, or a status cacheable
// by default. A body known to be too large is not worth reading for it.
func (k *cacheLayer) storable(resp *http.Response, rcc directives) bool {
	if rcc.has("no-store") || resp.StatusCode < 200 || resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusNotModified {
		return false
	}
	if resp.ContentLength > k.cfg.MaxEntryBytes {
		return false
	}
	cc := parseDirectives(resp.Header)
	if cc.has("no-store") || cc.has("must-understand") && !understoodStatus(resp.StatusCode) {
		return false
	}
	if _, star := varyNames(resp.Header); star {
		return false
	}
	return cc.has("max-age") || resp.Header.Get("Expires") != "" || cc.has("public") || cc.has("private") ||
		heuristicStatus(resp.StatusCode)
}

// put stores r under key, beside the responses stored for other variants,
// unless key was invalidated since gen.
func (k *cacheLayer) put(ctx context.Context, key string, r *cachedResponse, gen uint64) {
	if k.gen(key).Load() != gen {
		return
	}
	ctx = context.WithoutCancel(ctx)
	e := &cacheEntry{Responses: []*cachedResponse{r}}
	if old := k.load(ctx, key); old != nil {
		for _, o := range old.Responses {
			if len(e.Responses) < maxVariants && !sameSelection(o.Selected, r.Selected) {
				e.Responses = append(e.Responses, o)
			}
		}
	}
	b, err := e.encode()
	if err != nil {
		k.storeFailed(ctx, "encode", err)
		return
	}
	if err := k.cfg.Store.Set(ctx, key, b, k.ttl(e)); err != nil {
		k.storeFailed(ctx, "set", err)
		return
	}
	k.stats.stored.Add(1)
}

func sameSelection(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// ttl is how long a Store keeps an entry: as long as its newest response
// can be of use, fresh, stale within its windows, or revalidated when it
// has a validator (then a day past its freshness).
func (k *cacheLayer) ttl(e *cacheEntry) time.Duration {
	var ttl time.Duration
	now := time.Now()
	for _, r := range e.Responses {
		f := k.freshness(r, now)
		d := f.life - f.age
		swr, _ := f.cc.seconds("stale-while-revalidate")
		sie, _ := f.cc.seconds("stale-if-error")
		d += max(swr, sie)
		if r.Header.Get("ETag") != "" || r.Header.Get("Last-Modified") != "" {
			d += 24 * time.Hour
		}
		ttl = max(ttl, d)
	}
	return max(ttl, time.Second)
}

// invalidate forgets what is stored for the target of an unsafe request
// that succeeded, and for its Location and Content-Location when they
// are on the same origin (§4.4), for the request's identity.
func (k *cacheLayer) invalidate(req *http.Request, resp *http.Response) {
	targets := []*url.URL{req.URL}
	for _, h := range []string{"Location", "Content-Location"} {
		if v := resp.Header.Get(h); v != "" {
			if u, err := req.URL.Parse(v); err == nil && sameOrigin(u, req.URL) {
				targets = append(targets, u)
			}
		}
	}
	ctx := context.WithoutCancel(req.Context())
	for _, u := range targets {
		key := k.key(req, u)
		k.gen(key).Add(1)
		if err := k.cfg.Store.Delete(ctx, key); err != nil {
			k.storeFailed(ctx, "delete", err)
			continue
		}
		k.stats.invalidated.Add(1)
	}
}

// revalidateLater revalidates stored in the background, once for a key
// however many requests serve it stale meanwhile, as a request of the
// session's own that Close cancels.
func (k *cacheLayer) revalidateLater(c *call, req *http.Request, key string, stored *cachedResponse) {
	f, leader := k.join(key)
	if !leader {
		return
	}
	s := k.s
	bg, err := s.start(s.bg, off(s.cfg.timeouts.Request))
	if err != nil {
		k.land(key, f)
		return
	}
	bg.buffered, bg.decode = true, c.decode
	r := req.Clone(bg.ctx)
	go func() {
		defer bg.finish()
		defer k.land(key, f)
		gen := k.gen(key).Load()
		send := conditional(r, stored)
		requested := time.Now()
		resp, _, err := s.retryLoop(bg, send)
		if err != nil {
			return
		}
		responded := time.Now()
		switch {
		case resp.StatusCode == http.StatusNotModified && send != r && validates(resp.Header, stored):
			discardResponse(resp)
			k.put(bg.ctx, key, stored.freshened(resp.Header, requested, responded), gen)
			k.stats.revalidated.Add(1)
		case resp.StatusCode/100 == 2 && k.storable(resp, directives{}):
			body, err := io.ReadAll(io.LimitReader(resp.Body, k.cfg.MaxEntryBytes+1))
			resp.Body.Close()
			if err != nil || int64(len(body)) > k.cfg.MaxEntryBytes {
				return
			}
			names, _ := varyNames(resp.Header)
			k.put(bg.ctx, key, &cachedResponse{Status: resp.StatusCode, Proto: resp.Proto, Header: storedHeader(resp.Header),
				Selected: selected(r, names), Requested: requested, Responded: responded, Body: body, BodyLen: len(body)}, gen)
		default:
			discardResponse(resp)
		}
	}()
}

// cacheTee stores a response as its body is read: once read to its end,
// whole and within MaxEntryBytes. Closing it earlier stores nothing. Either
// way it ends the key's flight.
type cacheTee struct {
	rc   io.ReadCloser
	k    *cacheLayer
	key  string
	gen  uint64
	f    *cacheFlight
	req  *http.Request
	r    *cachedResponse
	buf  []byte
	over bool
	done atomic.Bool
}

func (t *cacheTee) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 && !t.over {
		if int64(len(t.buf)+n) > t.k.cfg.MaxEntryBytes {
			t.over, t.buf = true, nil
		} else {
			t.buf = append(t.buf, p[:n]...)
		}
	}
	if err == io.EOF && t.done.CompareAndSwap(false, true) {
		if !t.over {
			names, _ := varyNames(t.r.Header)
			t.r.Selected = selected(t.req, names)
			t.r.Body, t.r.BodyLen = t.buf, len(t.buf)
			t.k.put(t.req.Context(), t.key, t.r, t.gen)
		}
		t.k.land(t.key, t.f)
	}
	return n, err
}

func (t *cacheTee) Close() error {
	err := t.rc.Close()
	if t.done.CompareAndSwap(false, true) {
		t.k.land(t.key, t.f)
	}
	return err
}
