package couriertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ErrNoMatch is in the chain of the error [Mock.RoundTrip] returns for a
// request that no route matches; match it with errors.Is.
var ErrNoMatch = errors.New("couriertest: no route matches the request")

// Mock is an [http.RoundTripper] that answers requests from routes declared
// with [Mock.On], without a network. Give it to a session with
// courier.WithTransport, one Mock per test: it holds no global state.
//
// A request is answered by the first route, in declaration order, whose
// matchers all hold. A request that matches no route fails: RoundTrip returns
// an error wrapping [ErrNoMatch], and the test is failed with Errorf, with a
// message that lists the closest routes and why each did not match.
//
// When the test ends, a cleanup registered by [NewMock] fails the test for
// every route declared with [Route.Times], [Route.Once] or [Route.AtLeast]
// that was called fewer times than declared.
//
// A Mock is safe for concurrent use, including declaring routes while
// requests are served. The zero Mock is not usable: make one with NewMock.
type Mock struct {
	t      TB
	mu     sync.Mutex
	routes []*Route
}

var _ http.RoundTripper = (*Mock)(nil)

// NewMock returns an empty Mock for the test t, and registers a cleanup on t
// that checks the routes' expected calls.
func NewMock(t TB) *Mock {
	t.Helper()
	m := &Mock{t: t}
	t.Cleanup(m.verify)
	return m
}

// On declares a route for requests with the given method and path pattern,
// and returns it so that matchers and responses can be chained onto it:
//
//	m.On("GET", "/users/{id}").Query("verbose", "1").RespondJSON(200, user)
//
// An empty method matches any method, and "GET" matches HEAD too, as in
// [http.ServeMux]. The pattern is matched against the
// request URL's path, segment by segment, in the syntax of
// [http.ServeMux] patterns without host: a literal segment matches itself,
// "{name}" matches any one non-empty segment, and a final "{name...}"
// matches the rest of the path, possibly empty. A trailing "/" in the
// pattern must be in the path too. The values matched are available to
// [Route.RespondFunc] through [http.Request.PathValue]. A malformed pattern
// fails the test with Fatalf.
func (m *Mock) On(method, pattern string) *Route {
	m.t.Helper()
	segs, err := parsePattern(pattern)
	if err != nil {
		m.t.Fatalf("couriertest: On(%q, %q): %v", method, pattern, err)
	}
	r := &Route{m: m, method: strings.ToUpper(method), pattern: pattern, segs: segs}
	m.mu.Lock()
	m.routes = append(m.routes, r)
	m.mu.Unlock()
	return r
}

// Route is one route of a [Mock], made by [Mock.On]. Its methods add
// matchers, responses and expectations and return the route, for chaining.
// They are safe to call while the Mock serves requests.
type Route struct {
	m       *Mock
	method  string
	pattern string
	segs    []segment
	query   []keyValue
	header  []keyValue
	// body is the JSON body wanted, decoded, when hasBody is set.
	body    any
	hasBody bool
	steps   []step
	// min is the least number of calls expected (0: none), max the most
	// that match (0: no limit).
	min, max int
	calls    int
}

type keyValue struct{ key, value string }

// step makes one response. req is a clone of the request whose body can be
// read (http.NoBody for a request without one).
type step func(req *http.Request) (*http.Response, error)

// Query adds a matcher: the request's query must have key with value among
// its values.
func (r *Route) Query(key, value string) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.query = append(r.query, keyValue{key, value})
	return r
}

// Header adds a matcher: the request must have the header key (in any case)
// with value among its values.
func (r *Route) Header(key, value string) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.header = append(r.header, keyValue{http.CanonicalHeaderKey(key), value})
	return r
}

// JSONBody adds a matcher: the request body must be JSON equal to v once
// both are decoded, so that spacing and the order of object keys do not
// matter. v is encoded with encoding/json, except that a []byte or a
// [json.RawMessage] is taken as JSON text. A v that cannot be encoded fails
// the test with Fatalf.
func (r *Route) JSONBody(v any) *Route {
	r.m.t.Helper()
	want, err := canonicalJSON(v)
	if err != nil {
		r.m.t.Fatalf("couriertest: %s: JSONBody: %v", r, err)
		return r
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.body, r.hasBody = want, true
	return r
}

// Respond adds a response with the status, the body and headers given as
// key-value pairs ("Retry-After", "1", ...). Each call of Respond, or of the
// other Respond methods, adds a step to the route's sequence: the first
// request gets the first step, the second the second, and the last step
// repeats. A route without steps answers 200 with an empty body. An odd
// number of headerKV fails the test with Fatalf.
//
//	m.On("GET", "/jobs/1").Respond(503, "busy", "Retry-After", "0").Respond(200, "done")
func (r *Route) Respond(status int, body string, headerKV ...string) *Route {
	r.m.t.Helper()
	h, err := headerPairs(headerKV)
	if err != nil {
		r.m.t.Fatalf("couriertest: %s: Respond: %v", r, err)
	}
	return r.addStep(staticStep(status, h, []byte(body)))
}

// RespondJSON adds a response with the status and v encoded as JSON, with
// Content-Type application/json. A v that cannot be encoded fails the test
// with Fatalf.
func (r *Route) RespondJSON(status int, v any) *Route {
	r.m.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		r.m.t.Fatalf("couriertest: %s: RespondJSON: %v", r, err)
	}
	return r.addStep(staticStep(status, http.Header{"Content-Type": {"application/json"}}, b))
}

// RespondFile adds a response with the status and the contents of the file
// at path, read now, with a Content-Type from the file's extension (or
// sniffed from its contents). A file that cannot be read fails the test with
// Fatalf, and the step then answers with the read error.
func (r *Route) RespondFile(status int, path string) *Route {
	r.m.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		r.m.t.Fatalf("couriertest: %s: RespondFile: %v", r, err)
		return r.addStep(func(*http.Request) (*http.Response, error) { return nil, err })
	}
	ct := mime.TypeByExtension(filepath.Ext(path))
	if ct == "" {
		ct = http.DetectContentType(b)
	}
	return r.addStep(staticStep(status, http.Header{"Content-Type": {ct}}, b))
}

// RespondFunc adds a step that calls f. f gets a clone of the request whose
// body can be read, [http.NoBody] when there was none, and whose path values
// are set (see [Mock.On]); it may
// return an error, which RoundTrip returns as it is. A response from f
// gets the fields it lacks (Request, Proto, Status, a non-nil Header and
// Body). f runs without the Mock's lock held, and may run concurrently.
func (r *Route) RespondFunc(f func(*http.Request) (*http.Response, error)) *Route {
	return r.addStep(f)
}

func (r *Route) addStep(s step) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.steps = append(r.steps, s)
	return r
}

// Times expects exactly n calls: the route stops matching after n calls
// (another route may then match), and the test fails on cleanup if it had
// fewer. n must be positive.
func (r *Route) Times(n int) *Route {
	r.m.t.Helper()
	if n < 1 {
		r.m.t.Fatalf("couriertest: %s: Times(%d): n must be positive", r, n)
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.min, r.max = n, n
	return r
}

// Once is Times(1).
func (r *Route) Once() *Route {
	r.m.t.Helper()
	return r.Times(1)
}

// AtLeast expects n calls or more: the test fails on cleanup if the route
// had fewer. AtLeast(1) makes a route required without limiting it.
func (r *Route) AtLeast(n int) *Route {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.min, r.max = n, 0
	return r
}

// Calls returns how many requests the route has answered so far.
func (r *Route) Calls() int {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	return r.calls
}

// String describes the route: its method, pattern and matchers.
func (r *Route) String() string {
	var b strings.Builder
	if r.method == "" {
		b.WriteString("*")
	} else {
		b.WriteString(r.method)
	}
	b.WriteString(" " + r.pattern)
	for _, q := range r.query {
		fmt.Fprintf(&b, " query %s=%s", q.key, q.value)
	}
	for _, h := range r.header {
		fmt.Fprintf(&b, " header %s: %s", h.key, h.value)
	}
	if r.hasBody {
		fmt.Fprintf(&b, " body %s", shortJSON(r.body))
	}
	return b.String()
}

// RoundTrip answers req from the first route that matches it. It reads and
// closes the request body. For a request that matches no route it fails the
// test with Errorf and returns an error wrapping [ErrNoMatch].
func (m *Mock) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("couriertest: reading the request body: %w", err)
		}
		body = b
	}
	in := incoming{req: req, body: body, segs: splitPath(req.URL)}

	m.mu.Lock()
	var (
		chosen *Route
		s      step
		values map[string]string
		misses []miss
	)
	for i, r := range m.routes {
		why, satisfied, vals := r.explain(&in)
		if len(why) == 0 {
			chosen, values = r, vals
			break
		}
		misses = append(misses, miss{route: r, order: i, why: why, satisfied: satisfied})
	}
	if chosen != nil {
		s = chosen.stepFor(chosen.calls)
		chosen.calls++
	}
	m.mu.Unlock()

	if chosen == nil {
		err := &noMatchError{noMatchMessage(req, misses)}
		m.t.Errorf("%s", err.msg)
		return nil, err
	}
	clone := req.Clone(req.Context())
	if body != nil {
		clone.Body = io.NopCloser(bytes.NewReader(body))
		clone.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	} else {
		clone.Body = http.NoBody
	}
	for k, v := range values {
		clone.SetPathValue(k, v)
	}
	resp, err := s(clone)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, fmt.Errorf("couriertest: %s: RespondFunc returned a nil response and a nil error", chosen)
	}
	complete(resp, req)
	return resp, nil
}

// stepFor returns the step for the call numbered n (from 0). The caller
// holds the lock.
func (r *Route) stepFor(n int) step {
	if len(r.steps) == 0 {
		return staticStep(http.StatusOK, nil, nil)
	}
	return r.steps[min(n, len(r.steps)-1)]
}

func (m *Mock) verify() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.routes {
		switch {
		case r.calls >= r.min:
		case r.min == r.max:
			m.t.Errorf("couriertest: route %s was called %d times, want %d", r, r.calls, r.min)
		default:
			m.t.Errorf("couriertest: route %s was called %d times, want at least %d", r, r.calls, r.min)
		}
	}
}

// staticStep answers with a fresh response each time.
func staticStep(status int, h http.Header, body []byte) step {
	return func(*http.Request) (*http.Response, error) {
		var rc io.ReadCloser = http.NoBody
		if len(body) > 0 {
			rc = io.NopCloser(bytes.NewReader(body))
		}
		return &http.Response{
			StatusCode:    status,
			Header:        h.Clone(),
			Body:          rc,
			ContentLength: int64(len(body)),
		}, nil
	}
}

// complete fills the fields of resp that net/http's own responses always
// have.
func complete(resp *http.Response, req *http.Request) {
	if resp.Status == "" {
		resp.Status = strings.TrimSpace(strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode))
	}
	if resp.Proto == "" {
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	// A func that left ContentLength at 0 with a body most likely did not
	// know the length: 0 would tell consumers to read nothing.
	if resp.ContentLength == 0 && resp.Body != http.NoBody && resp.Header.Get("Content-Length") != "0" {
		resp.ContentLength = -1
	}
	if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") == "" {
		resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	if req.Method == http.MethodHead {
		resp.Body.Close()
		resp.Body = http.NoBody
	}
	resp.Request = req
}

func headerPairs(kv []string) (http.Header, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("odd number of header arguments %q, want key-value pairs", kv)
	}
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h, nil
}

// Path patterns.

type segment struct {
	literal string
	name    string // a wildcard's name, "" for a literal
	rest    bool   // {name...}
}

func parsePattern(p string) ([]segment, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New(`pattern must start with "/"`)
	}
	parts := strings.Split(p[1:], "/")
	segs := make([]segment, 0, len(parts))
	for i, part := range parts {
		if !strings.HasPrefix(part, "{") {
			if strings.ContainsAny(part, "{}") {
				return nil, fmt.Errorf("segment %q: a wildcard must be a whole segment", part)
			}
			segs = append(segs, segment{literal: part})
			continue
		}
		if !strings.HasSuffix(part, "}") {
			return nil, fmt.Errorf("segment %q: a wildcard must be a whole segment", part)
		}
		name := part[1 : len(part)-1]
		rest := strings.HasSuffix(name, "...")
		name = strings.TrimSuffix(name, "...")
		if name == "" || strings.ContainsAny(name, "{}/.") {
			return nil, fmt.Errorf("segment %q: bad wildcard name", part)
		}
		if rest && i != len(parts)-1 {
			return nil, fmt.Errorf("segment %q: {%s...} must be the last segment", part, name)
		}
		segs = append(segs, segment{name: name, rest: rest})
	}
	return segs, nil
}

// splitPath splits a URL's escaped path into unescaped segments, as
// ServeMux does, so that "%2F" stays inside its segment.
func splitPath(u *url.URL) []string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		if v, err := url.PathUnescape(s); err == nil {
			parts[i] = v
		}
	}
	return parts
}

func matchPath(segs []segment, path []string) (map[string]string, bool) {
	vals := map[string]string{}
	for i, s := range segs {
		if s.rest {
			if i >= len(path) {
				return nil, false
			}
			vals[s.name] = strings.Join(path[i:], "/")
			return vals, true
		}
		if i >= len(path) {
			return nil, false
		}
		switch {
		case s.name != "" && path[i] != "":
			vals[s.name] = path[i]
		case s.name == "" && s.literal == path[i]:
		default:
			return nil, false
		}
	}
	return vals, len(path) == len(segs)
}

// Matching and explaining.

type incoming struct {
	req  *http.Request
	body []byte
	segs []string
	// decoded caches the body decoded as JSON.
	decoded    any
	decodeErr  error
	decodeDone bool
}

func (in *incoming) json() (any, error) {
	if !in.decodeDone {
		in.decodeDone = true
		in.decoded, in.decodeErr = decodeJSON(in.body)
	}
	return in.decoded, in.decodeErr
}

type miss struct {
	route     *Route
	order     int
	why       []string
	satisfied int
}

// explain checks every matcher of r against the request. It returns why
// each failed one failed (nothing when r matches), how many held, and the
// path values. The caller holds the lock.
func (r *Route) explain(in *incoming) (why []string, satisfied int, vals map[string]string) {
	req := in.req
	check := func(ok bool, reason string, args ...any) {
		if ok {
			satisfied++
		} else {
			why = append(why, fmt.Sprintf(reason, args...))
		}
	}
	check(r.method == "" || r.method == req.Method || r.method == http.MethodGet && req.Method == http.MethodHead,
		"method %s, want %s", req.Method, r.method)
	vals, ok := matchPath(r.segs, in.segs)
	check(ok, "path %s does not match %s", req.URL.EscapedPath(), r.pattern)
	q := req.URL.Query()
	for _, kv := range r.query {
		got, present := q[kv.key]
		switch {
		case !present:
			check(false, "query %s missing, want %q", kv.key, kv.value)
		default:
			check(slices.Contains(got, kv.value), "query %s=%q, want %q", kv.key, got, kv.value)
		}
	}
	for _, kv := range r.header {
		got := req.Header.Values(kv.key)
		switch {
		case len(got) == 0:
			check(false, "header %s missing, want %q", kv.key, kv.value)
		default:
			check(slices.Contains(got, kv.value), "header %s: %q, want %q", kv.key, got, kv.value)
		}
	}
	if r.hasBody {
		got, err := in.json()
		switch {
		case len(in.body) == 0:
			check(false, "body empty, want %s", shortJSON(r.body))
		case err != nil:
			check(false, "body is not JSON (%v): %s", err, shorten(string(in.body)))
		default:
			d := jsonDiff("", got, r.body)
			check(d == "", "body differs: %s", d)
		}
	}
	if r.max > 0 && r.calls >= r.max {
		why = append(why, fmt.Sprintf("already called %d times, the most it expects", r.calls))
	}
	return why, satisfied, vals
}

// noMatchError is the error for a request that no route matches: its text
// is the report, and it matches ErrNoMatch.
type noMatchError struct{ msg string }

func (e *noMatchError) Error() string        { return e.msg }
func (e *noMatchError) Is(target error) bool { return target == ErrNoMatch }

// closestRoutes is how many routes the no-match message lists.
const closestRoutes = 3

func noMatchMessage(req *http.Request, misses []miss) string {
	var b strings.Builder
	target := req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		target += "?" + req.URL.RawQuery
	}
	fmt.Fprintf(&b, "couriertest: no route matches %s %s", req.Method, target)
	if len(misses) == 0 {
		b.WriteString(" (the mock has no routes)")
		return b.String()
	}
	// Closest first: fewest failed matchers, then most that held, then
	// the order of declaration.
	sort.SliceStable(misses, func(i, j int) bool {
		a, c := misses[i], misses[j]
		if len(a.why) != len(c.why) {
			return len(a.why) < len(c.why)
		}
		if a.satisfied != c.satisfied {
			return a.satisfied > c.satisfied
		}
		return a.order < c.order
	})
	b.WriteString("; closest routes:")
	for i, ms := range misses[:min(len(misses), closestRoutes)] {
		fmt.Fprintf(&b, "\n\t%d. %s: %s", i+1, ms.route, strings.Join(ms.why, "; "))
	}
	if n := len(misses) - closestRoutes; n > 0 {
		fmt.Fprintf(&b, "\n\t(%d more)", n)
	}
	return b.String()
}

// JSON helpers.

func canonicalJSON(v any) (any, error) {
	var b []byte
	switch v := v.(type) {
	case json.RawMessage:
		b = v
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	return decodeJSON(b)
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// jsonDiff returns where got and want first differ, or "" when they are
// equal. Numbers compare by value.
func jsonDiff(at string, got, want any) string {
	where := at
	if where == "" {
		where = "top level"
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("at %s got %s, want %s", where, shortJSON(got), shortJSON(want))
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				return fmt.Sprintf("at %s.%s missing, want %s", at, k, shortJSON(wv))
			case !wok:
				return fmt.Sprintf("at %s.%s unexpected %s", at, k, shortJSON(gv))
			}
			if d := jsonDiff(at+"."+k, gv, wv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("at %s got %s, want %s", where, shortJSON(got), shortJSON(want))
		}
		for i := range w {
			if d := jsonDiff(fmt.Sprintf("%s[%d]", at, i), g[i], w[i]); d != "" {
				return d
			}
		}
		return ""
	case json.Number:
		if g, ok := got.(json.Number); ok && numbersEqual(g, w) {
			return ""
		}
	default:
		if reflect.DeepEqual(got, want) {
			return ""
		}
	}
	return fmt.Sprintf("at %s got %s, want %s", where, shortJSON(got), shortJSON(want))
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, err1 := a.Float64()
	y, err2 := b.Float64()
	return err1 == nil && err2 == nil && x == y
}

func shortJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return shorten(string(b))
}

func shorten(s string) string {
	const maxLen = 80
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "..."
}
