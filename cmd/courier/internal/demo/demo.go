// Package demo is the engine of "courier demo": it starts a demo API on
// loopback (go-httpbin plus routes of its own, see [API]) and runs a scripted
// tour through one courier session: log in with a cookie, call an
// authenticated endpoint, send Basic auth on one request, ride out a flaky
// endpoint with retries, follow pagination, get a 404 as a typed error, hit
// a timeout, follow redirects and send a concurrent burst, then prints the
// session's counters and latencies.
//
// The tour checks itself: [Run] returns an error naming the step that did
// not behave as the tour says, so that CI catches a regression in courier.
// It runs offline, in about a second.
package demo

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/paginate"
)

// Options configure [Run]. The zero value prints plain text.
type Options struct {
	// Color turns on ANSI colors: set it when the writer is a terminal.
	Color bool

	// wrap, when set, wraps the API's handler (tests break the API with it).
	wrap func(http.Handler) http.Handler
}

// The tour's settings.
const (
	timeoutStep = 300 * time.Millisecond
	burstSize   = 50
	burstConc   = 8
)

// Run starts the demo API on loopback, runs the tour through one courier
// session, writes the story and the final table to w, and shuts everything
// down (the session, then the server) before it returns.
//
// It returns an error if a step did not behave as the tour says, naming the
// step, or if the API could not start or stop, or if writing to w failed.
// When ctx ends, Run stops at the step under way and returns an error that
// wraps the context's cause. Run is safe to call from several goroutines:
// each call has its own API, server and session.
func Run(ctx context.Context, w io.Writer, opts Options) (err error) {
	start := time.Now()
	h := API()
	if opts.wrap != nil {
		h = opts.wrap(h)
	}
	srv, err := startServer(h)
	if err != nil {
		return fmt.Errorf("demo: start the API: %w", err)
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if cerr := srv.close(stop); cerr != nil {
			err = errors.Join(err, fmt.Errorf("demo: stop the API: %w", cerr))
		}
	}()

	p := &printer{w: w, color: opts.Color}
	t := &tour{p: p, srv: srv, jar: cookiejar.New(cookiejar.Options{})}
	s, err := courier.New(
		courier.WithBaseURL(srv.url),
		courier.WithJar(t.jar),
		courier.WithHooks(courier.Hooks{OnRetry: t.onRetry}),
	)
	if err != nil {
		return fmt.Errorf("demo: new session: %w", err)
	}
	t.s = s
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if cerr := s.Close(stop); cerr != nil {
			err = errors.Join(err, fmt.Errorf("demo: close the session: %w", cerr))
		}
	}()

	p.printf("%s a tour of one session against the demo API at %s\n",
		p.paint(bold+cyan, "courier demo:"), srv.url)
	p.printf("%s\n\n", p.paint(dim, "(go-httpbin at /, the demo's own routes under /api; each step checks itself)"))
	steps := []struct {
		title string
		run   func(context.Context, int) error
	}{
		{"log in", t.login},
		{"cookie sent", t.me},
		{"basic auth", t.basicAuth},
		{"retries", t.flaky},
		{"pagination", t.paginate},
		{"typed error", t.notFound},
		{"timeout", t.timeout},
		{"redirects", t.redirects},
		{"burst", t.burst},
	}
	for i, st := range steps {
		t.title = st.title
		if err := st.run(ctx, i+1); err != nil {
			if ctx.Err() != nil {
				// Interrupted, not broken: say so rather than how the
				// step failed because of it.
				err = context.Cause(ctx)
			}
			return fmt.Errorf("demo: step %d (%s): %w", i+1, st.title, err)
		}
		t.printRetries()
	}
	if err := t.table(); err != nil {
		return fmt.Errorf("demo: stats: %w", err)
	}
	p.printf("\n%s\n", p.paint(green, fmt.Sprintf("ok: every step behaved as the tour says (%s)", ms(time.Since(start)))))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("demo: write: %w", p.err)
	}
	return nil
}

// tour is one run of the tour: the session, what it measured and printed.
type tour struct {
	s     *courier.Session
	jar   *cookiejar.Jar // the session's
	p     *printer
	srv   *server
	title string // the step under way

	mu        sync.Mutex
	latencies []time.Duration // one per request the tour made
	retries   []string        // retry lines not yet printed
}

// do sends a request through the session and records its latency.
func (t *tour) do(ctx context.Context, method, path string, opts ...courier.RequestOption) (*courier.Response, time.Duration, error) {
	start := time.Now()
	resp, err := t.s.Do(ctx, method, path, opts...)
	d := time.Since(start)
	t.mu.Lock()
	t.latencies = append(t.latencies, d)
	t.mu.Unlock()
	return resp, d, err
}

// onRetry is the session's OnRetry hook. It runs on the request's
// goroutine, so it only notes the retry; the step prints it.
func (t *tour) onRetry(info courier.AttemptInfo) {
	reason := info.Kind.String()
	if info.Response != nil {
		reason = strconv.Itoa(info.Response.StatusCode)
	}
	line := fmt.Sprintf("attempt %d: %s, retry in %s", info.Attempt, reason, ms(info.Wait))
	if info.Response != nil {
		if ra := info.Response.Header.Get("Retry-After"); ra != "" {
			line += fmt.Sprintf(" (Retry-After: %s)", ra)
		}
	}
	t.mu.Lock()
	t.retries = append(t.retries, line)
	t.mu.Unlock()
}

// printRetries prints the retries noted since the last call.
func (t *tour) printRetries() {
	t.mu.Lock()
	lines := t.retries
	t.retries = nil
	t.mu.Unlock()
	for _, l := range lines {
		t.p.printf("%s%s\n", indent, t.p.paint(yellow, l))
	}
}

func status(resp *courier.Response) string {
	if resp == nil {
		return "---"
	}
	return fmt.Sprint(resp.StatusCode)
}

// login posts the demo's credentials and finds the session cookie in the
// session's jar.
func (t *tour) login(ctx context.Context, n int) error {
	var who struct{ User string }
	resp, _, err := t.do(ctx, http.MethodPost, "/api/login",
		courier.JSON(credentials{User: User, Password: Password}), courier.Into(&who))
	if err != nil {
		return err
	}
	cookies := t.jar.All()
	i := slices.IndexFunc(cookies, func(c cookiejar.Cookie) bool { return c.Name == SessionCookie })
	if i < 0 {
		return fmt.Errorf("no %q cookie in the jar after the login", SessionCookie)
	}
	c := cookies[i]
	t.p.step(n, t.title, "POST", "/api/login", status(resp),
		fmt.Sprintf("hello %s; the jar stored the %s cookie", who.User, c.Name))
	t.p.detail("Jar.All(): %s=%s HttpOnly=%v Path=%s Domain=%s", c.Name, abbrev(c.Value), c.HttpOnly, c.Path, c.Domain)
	return nil
}

// me calls an endpoint that needs the login cookie: the jar sends it.
func (t *tour) me(ctx context.Context, n int) error {
	var who struct{ User string }
	resp, _, err := t.do(ctx, http.MethodGet, "/api/me", courier.Into(&who))
	if se := (*courier.StatusError)(nil); errors.As(err, &se) && se.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("the jar did not send the login cookie: %w", err)
	}
	if err != nil {
		return err
	}
	if who.User != User {
		return fmt.Errorf("GET /api/me says user %q, want %q", who.User, User)
	}
	t.p.step(n, t.title, "GET", "/api/me", status(resp),
		fmt.Sprintf("user %s: the jar sent %s without being asked", who.User, SessionCookie))
	return nil
}

// basicAuth sends credentials on one request only, as a header.
func (t *tour) basicAuth(ctx context.Context, n int) error {
	var got struct {
		Authorized bool
		User       string
	}
	creds := base64.StdEncoding.EncodeToString([]byte(User + ":" + Password))
	resp, _, err := t.do(ctx, http.MethodGet, "/basic-auth/"+User+"/"+Password,
		courier.Header("Authorization", "Basic "+creds), courier.Into(&got))
	if err != nil {
		return err
	}
	if !got.Authorized || got.User != User {
		return fmt.Errorf("httpbin says authorized=%v user=%q, want true and %q", got.Authorized, got.User, User)
	}
	t.p.step(n, t.title, "GET", "/basic-auth/"+User+"/***", status(resp),
		fmt.Sprintf("authorized as %s; Authorization set on this call only", got.User))
	return nil
}

// flaky rides out an endpoint that fails twice with 503 before it answers:
// the session's default retries do it, and the OnRetry hook shows them.
func (t *tour) flaky(ctx context.Context, n int) error {
	resp, _, err := t.do(ctx, http.MethodGet, "/api/flaky")
	if err != nil {
		return fmt.Errorf("the retries did not ride it out: %w", err)
	}
	if want := FlakyFailures + 1; resp.Attempts != want {
		return fmt.Errorf("resp.Attempts = %d, want %d", resp.Attempts, want)
	}
	t.p.step(n, t.title, "GET", "/api/flaky", status(resp),
		fmt.Sprintf("ok on attempt %d: the default retries rode out two 503s", resp.Attempts))
	return nil
}

// paginate walks every page of /api/items with package paginate, which
// follows Link rel="next" and stops at a link seen before.
func (t *tour) paginate(ctx context.Context, n int) error {
	var all []item
	var pages []string
	links := paginate.Links[item](t.s, "/api/items")
	// A Fetcher is a plain function, so it wraps: this one times each page
	// for the tour's table and notes its size.
	fetch := func(ctx context.Context, cursor string) (paginate.Page[item], error) {
		start := time.Now()
		page, err := links(ctx, cursor)
		t.mu.Lock()
		t.latencies = append(t.latencies, time.Since(start))
		t.mu.Unlock()
		if err == nil {
			pages = append(pages, fmt.Sprint(len(page.Items)))
		}
		return page, err
	}
	for it, err := range paginate.Walk(ctx, fetch, paginate.MaxPages(10)).All() {
		if err != nil {
			return err
		}
		all = append(all, it)
	}
	for i, it := range all {
		if it.ID != i+1 {
			return fmt.Errorf("item %d has id %d, want %d", i, it.ID, i+1)
		}
	}
	if len(all) != Items {
		return fmt.Errorf("%d items, want %d", len(all), Items)
	}
	t.p.step(n, t.title, "GET", "/api/items", "200",
		fmt.Sprintf("%d items in %d pages (%s) via Link rel=\"next\"", len(all), len(pages), strings.Join(pages, "+")))
	return nil
}

// notFound gets a 404, which courier returns as a *StatusError.
func (t *tour) notFound(ctx context.Context, n int) error {
	resp, _, err := t.do(ctx, http.MethodGet, "/status/404")
	var se *courier.StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("err = %v, want a *courier.StatusError", err)
	}
	if se.StatusCode != http.StatusNotFound || resp == nil || resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("StatusError.StatusCode = %d, want 404 with the response", se.StatusCode)
	}
	if msg := se.Error(); !strings.Contains(msg, "GET") || !strings.Contains(msg, t.srv.url+"/status/404") {
		return fmt.Errorf("StatusError.Error() = %q, want the method and URL", msg)
	}
	t.p.step(n, t.title, "GET", "/status/404", status(resp),
		fmt.Sprintf("errors.As: *courier.StatusError %d, %d attempt", se.StatusCode, se.Attempts))
	t.p.detail("%s", se.Error())
	return nil
}

// timeout gives a slow endpoint less time than it takes.
func (t *tour) timeout(ctx context.Context, n int) error {
	resp, d, err := t.do(ctx, http.MethodGet, "/api/slow", courier.Timeout(timeoutStep))
	if !errors.Is(err, courier.ErrTimeout) {
		return fmt.Errorf("err = %v, want courier.ErrTimeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("err = %v, want context.DeadlineExceeded in its chain", err)
	}
	t.p.step(n, t.title, "GET", "/api/slow", status(resp),
		fmt.Sprintf("Timeout(%s): errors.Is(err, courier.ErrTimeout) after %s", ms(timeoutStep), ms(d)))
	t.p.detail("%s", err)
	return nil
}

// redirects follows two redirects.
func (t *tour) redirects(ctx context.Context, n int) error {
	resp, _, err := t.do(ctx, http.MethodGet, "/redirect/2")
	if err != nil {
		return err
	}
	if len(resp.Redirects) != 2 || resp.URL.Path != "/get" {
		return fmt.Errorf("resp.Redirects = %q to %s, want 2 redirects to /get", resp.Redirects, resp.URL.Path)
	}
	chain := make([]string, 0, len(resp.Redirects)+1)
	for _, r := range resp.Redirects {
		chain = append(chain, strings.TrimPrefix(r, t.srv.url))
	}
	chain = append(chain, resp.URL.Path)
	t.p.step(n, t.title, "GET", "/redirect/2", status(resp),
		fmt.Sprintf("resp.Redirects: %s", strings.Join(chain, " → ")))
	return nil
}

// burst sends requests from several goroutines at once: the pool hands
// them a few connections, reused again and again.
func (t *tour) burst(ctx context.Context, n int) error {
	before := t.s.Stats()
	start := time.Now()
	jobs := make(chan struct{})
	var (
		wg    sync.WaitGroup
		ok    atomic.Int64
		errMu sync.Mutex
		first error
	)
	for range burstConc {
		wg.Go(func() {
			for range jobs {
				if _, _, err := t.do(ctx, http.MethodGet, "/get"); err != nil {
					errMu.Lock()
					first = cmp.Or(first, err)
					errMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		})
	}
	for range burstSize {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	if first != nil {
		return first
	}
	after := t.s.Stats()
	opened, reused := after.ConnsOpened-before.ConnsOpened, after.ConnsReused-before.ConnsReused
	if reused == 0 || opened > 2*burstConc {
		return fmt.Errorf("%d requests at concurrency %d opened %d connections and reused %d: connections are not reused",
			burstSize, burstConc, opened, reused)
	}
	t.p.step(n, t.title, "GET", fmt.Sprintf("/get ×%d", burstSize), "200",
		fmt.Sprintf("%d ok, %d at a time, %s: %d conns opened, %d reused", ok.Load(), burstConc, ms(took), opened, reused))
	return nil
}

// table prints the session's counters and the latencies the tour measured,
// and checks them against what the tour did and what the server saw.
func (t *tour) table() error {
	st := t.s.Stats()
	t.mu.Lock()
	lat := slices.Clone(t.latencies)
	t.mu.Unlock()
	slices.Sort(lat)
	// The server counts a connection when it accepts it, which may come a
	// moment after the client's dial returned, or before a dial the pool
	// started for a request that got a pooled connection first returns.
	accepted := t.srv.accepted()
	for wait := 0; accepted != st.ConnsOpened && wait < 100; wait++ {
		time.Sleep(10 * time.Millisecond)
		accepted, st = t.srv.accepted(), t.s.Stats()
	}
	attempts := t.srv.requests.Load()

	var retries int64
	for _, v := range st.RetriesByStatus {
		retries += v
	}
	for _, v := range st.RetriesByKind {
		retries += v
	}
	var failures int64
	for _, v := range st.Failures {
		failures += v
	}

	p := t.p
	p.printf("\n%s\n", p.paint(bold, "session.Stats()"))
	row := func(name string, v any, note string) {
		line := fmt.Sprintf("  %-14s %7v", name, v)
		if note != "" {
			line += "  " + p.paint(dim, note)
		}
		p.printf("%s\n", line)
	}
	row("requests", st.Requests, fmt.Sprintf("the tour made %d calls", len(lat)))
	row("attempts", st.Attempts, fmt.Sprintf("the server handled %d requests", attempts))
	row("retries", retries, strings.Trim(counts(st.RetriesByStatus, strconv.Itoa)+", "+counts(st.RetriesByKind, courier.Kind.String), ", "))
	row("failures", failures, counts(st.Failures, courier.Kind.String))
	row("conns opened", st.ConnsOpened, fmt.Sprintf("the server accepted %d", accepted))
	row("conns reused", st.ConnsReused, fmt.Sprintf("%.0f%% of attempts", 100*float64(st.ConnsReused)/float64(max(st.Attempts, 1))))
	row("latency p50", ms(percentile(lat, 0.50)), fmt.Sprintf("of the %d calls, as the tour timed them", len(lat)))
	row("latency p99", ms(percentile(lat, 0.99)), "")

	switch {
	case st.Requests != int64(len(lat)):
		return fmt.Errorf("Stats().Requests = %d, but the tour made %d", st.Requests, len(lat))
	case st.Attempts != attempts:
		return fmt.Errorf("Stats().Attempts = %d, but the server handled %d requests", st.Attempts, attempts)
	case st.ConnsOpened+st.ConnsReused < st.Attempts:
		// One more is a connection dialed for a request that got a
		// pooled one first: it joined the pool, and its first use was a
		// reuse.
		return fmt.Errorf("Stats() counts %d connections opened and %d reused for %d attempts, want one per attempt at least",
			st.ConnsOpened, st.ConnsReused, st.Attempts)
	case st.ConnsOpened < 1 || st.ConnsOpened != accepted:
		return fmt.Errorf("Stats().ConnsOpened = %d, but the server accepted %d connections", st.ConnsOpened, accepted)
	case retries != FlakyFailures:
		return fmt.Errorf("Stats() counts retries %v and %v, want %d retries (the flaky step's)", st.RetriesByStatus, st.RetriesByKind, FlakyFailures)
	}
	return nil
}

// counts formats counters by key, in key order, each key by its name.
func counts[K cmp.Ordered](m map[K]int64, name func(K) string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", name(k), m[k]))
	}
	return strings.Join(parts, ", ")
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*p-1e-9)) - 1 // rank from 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// server is the demo API on a loopback port, counting what it sees.
type server struct {
	http     *http.Server
	url      string
	done     chan error // Serve's result
	requests atomic.Int64

	conns atomic.Int64 // connections accepted
}

func startServer(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	s.http = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests.Add(1)
			h.ServeHTTP(w, r)
		}),
		ConnState:         s.connState,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

func (s *server) connState(_ net.Conn, state http.ConnState) {
	if state == http.StateNew {
		s.conns.Add(1)
	}
}

// accepted returns how many connections the server has accepted.
func (s *server) accepted() int64 { return s.conns.Load() }

// close shuts the server down, waiting for its handlers until ctx ends.
func (s *server) close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
