package courier_test

// The fault matrix: TCP faults injected by a real fault proxy (Shopify
// toxiproxy, through internal/toxiproxy) between a session and an HTTP/1.1
// httptest server, crossed with GET, PUT, POST and POST with an
// Idempotency-Key. Each cell asserts the outcome (success, or the error kind
// with errors.Is), the attempts counted at the server, and a generous time
// bound; the sessions are closed with a check that nothing was left in
// flight (testenv's sessions), and TestFaultMatrix ends with a goroutine
// leak check of its own. Beside it: reset_peer at toxicity 0.5
// (TestFaultResetPeerToxicity), a keep-alive connection gone stale in the
// pool (TestStaleKeepAlive), and the breaker with the proxy down
// (TestFaultBreaker).
//
// Without the toxiproxy server binary these tests skip, naming the install
// command; under CI=true they fail instead.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
	"github.com/courierhttp/courier/internal/toxiproxy"
	"go.uber.org/goleak"
)

// faultMethod is a column of the matrix.
type faultMethod struct {
	name   string
	method string
	key    bool // the request carries an Idempotency-Key
}

var faultMethods = []faultMethod{
	{"GET", http.MethodGet, false},
	{"PUT", http.MethodPut, false},
	{"POST", http.MethodPost, false},
	{"POST+key", http.MethodPost, true},
}

// retryable reports whether courier may resend the method after the request
// was sent: idempotent, or carrying an Idempotency-Key.
func (m faultMethod) retryable() bool { return m.method != http.MethodPost || m.key }

// faultPayload is the request body of PUT and POST.
var faultPayload = []byte(`{"order":42}`)

// options returns the request options of the method, the key included.
func (m faultMethod) options(key string) []courier.RequestOption {
	var opts []courier.RequestOption
	if m.method != http.MethodGet {
		opts = append(opts, courier.Body(faultPayload), courier.Header("Content-Type", "application/json"))
	}
	if m.key {
		opts = append(opts, courier.Header("Idempotency-Key", key))
	}
	return opts
}

// outcome is what a cell expects: success, or an error of a kind; and the
// number of attempts the server saw, within [min, max].
type outcome struct {
	ok       bool
	kind     error // errors.Is target of the error, when !ok
	also     error // a second errors.Is target, or nil
	min, max int64
}

// errNoKind expects a *courier.Error without a kind.
var errNoKind = errors.New("no kind")

func succeeds(attempts int64) outcome { return outcome{ok: true, min: attempts, max: attempts} }
func fails(kind error, attempts int64) outcome {
	return outcome{kind: kind, min: attempts, max: attempts}
}

func (o outcome) String() string {
	n := fmt.Sprint(o.min)
	if o.max != o.min {
		n = fmt.Sprintf("%d-%d", o.min, o.max)
	}
	if o.ok {
		return "ok, " + n + " at server"
	}
	s := kindName(o.kind)
	if o.also != nil {
		s += "+" + kindName(o.also)
	}
	return s + ", " + n + " at server"
}

// byMethod expects r from the methods courier may resend (GET, PUT,
// POST+key) and p from a POST without a key.
func byMethod(r, p outcome) func(faultMethod) outcome {
	return func(m faultMethod) outcome {
		if m.retryable() {
			return r
		}
		return p
	}
}

func everyMethod(o outcome) func(faultMethod) outcome {
	return func(faultMethod) outcome { return o }
}

func kindName(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{courier.ErrTimeout, "ErrTimeout"}, {courier.ErrConnect, "ErrConnect"},
		{courier.ErrConnLost, "ErrConnLost"}, {courier.ErrCircuitOpen, "ErrCircuitOpen"},
		{courier.ErrRetryBudget, "ErrRetryBudget"}, {courier.ErrRetryDeadline, "ErrRetryDeadline"},
		{io.ErrUnexpectedEOF, "io.ErrUnexpectedEOF"}, {courier.ErrCanceled, "ErrCanceled"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	if err == nil {
		return "ok"
	}
	if err == errNoKind {
		return "Error, no kind"
	}
	var e *courier.Error
	if errors.As(err, &e) && e.Kind == courier.ErrOther {
		return "Error, no kind"
	}
	return fmt.Sprintf("%T", err)
}

// faultUpstream answers every request with a body of the given size after
// reading the request, and records the Idempotency-Key of each request.
type faultUpstream struct {
	size   int
	header http.Header
	mu     sync.Mutex
	keys   []string
}

func (u *faultUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	u.keys = append(u.keys, r.Header.Get("Idempotency-Key"))
	u.mu.Unlock()
	for k, v := range u.header {
		w.Header()[k] = v
	}
	size := u.size
	if size == 0 {
		size = 2
	}
	if w.Header().Get("Transfer-Encoding") == "" {
		w.Header().Set("Content-Length", fmt.Sprint(size))
	}
	w.WriteHeader(http.StatusOK)
	chunk := []byte(strings.Repeat("x", 32<<10))
	for size > 0 {
		n := min(size, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		size -= n
	}
}

func (u *faultUpstream) seenKeys() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.keys)
}

// faultCase is a row of the matrix.
type faultCase struct {
	name string
	// size of the response body (default 2 bytes), and headers to send.
	size   int
	header http.Header
	// inject applies the fault to the proxy.
	inject func(t *testing.T, p *toxiproxy.Proxy)
	// heal, when set, undoes the fault between the first and the second
	// attempt (it runs in the retry policy's Backoff).
	heal func(t *testing.T, p *toxiproxy.Proxy)
	// retry is the session's policy (MaxAttempts 3 and a 10-50ms backoff
	// unless set); timeouts its time limits; timeout the request's overall
	// one (default 3s).
	retry    courier.RetryPolicy
	timeouts courier.Timeouts
	timeout  time.Duration
	want     func(faultMethod) outcome
	// check, when set, checks more of the cell.
	check func(t *testing.T, c *faultCell)
}

// faultCell is what one cell observed.
type faultCell struct {
	fault, method string
	key           string
	resp          *courier.Response
	err           error
	attempts      int64 // at the server
	conns         int64 // connections the server saw
	courierN      int   // Attempts courier reported
	elapsed       time.Duration
	budget        int
	keys          []string
}

func (c *faultCell) String() string {
	return fmt.Sprintf("%-38s %-9s %-32s server=%d conns=%d courier=%d %v",
		c.fault, c.method, kindName(c.err)+errorsAlso(c.err), c.attempts, c.conns, c.courierN, c.elapsed.Round(10*time.Millisecond))
}

// errorsAlso names io.ErrUnexpectedEOF when err carries it besides its kind.
func errorsAlso(err error) string {
	if err != nil && errors.Is(err, io.ErrUnexpectedEOF) && kindName(err) != "io.ErrUnexpectedEOF" {
		return "+io.ErrUnexpectedEOF"
	}
	return ""
}

// faultCases are the rows. Faults act on the downstream (server to client)
// direction unless said otherwise, so that the server has seen, and
// counted, each request that courier sent.
func faultCases() []faultCase {
	return []faultCase{
		{
			// Each attempt is cut by the per-try timeout, as many as fit in
			// the overall 3s; the request ends by its deadline.
			name: "latency 2s, try 500ms, overall 3s",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "latency", toxiproxy.Downstream, 1, map[string]any{"latency": 2000})
			},
			retry:   courier.RetryPolicy{MaxAttempts: 10, AttemptTimeout: 500 * time.Millisecond, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
			timeout: 3 * time.Second,
			want:    byMethod(outcome{kind: courier.ErrTimeout, min: 2, max: 6}, fails(courier.ErrTimeout, 1)),
			check: func(t *testing.T, c *faultCell) {
				// Per-try cancels close the connection: one per attempt.
				if c.conns != c.attempts {
					t.Errorf("server saw %d connections for %d attempts, want one each (a canceled try closes its connection)", c.conns, c.attempts)
				}
			},
		},
		{
			// The response never comes; the header timeout fires on each
			// attempt.
			name: "timeout 0 (blackhole) downstream",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "timeout", toxiproxy.Downstream, 1, map[string]any{"timeout": 0})
			},
			timeouts: courier.Timeouts{ResponseHeader: 300 * time.Millisecond},
			want:     byMethod(fails(courier.ErrTimeout, 3), fails(courier.ErrTimeout, 1)),
		},
		{
			// The request never reaches the server: courier cannot know
			// that, so a POST without a key is still not resent.
			name: "timeout 0 (blackhole) upstream",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "timeout", toxiproxy.Upstream, 1, map[string]any{"timeout": 0})
			},
			timeouts: courier.Timeouts{ResponseHeader: 300 * time.Millisecond},
			want:     everyMethod(fails(courier.ErrTimeout, 0)),
			check: func(t *testing.T, c *faultCell) {
				want := 3
				if c.method == "POST" {
					want = 1
				}
				if c.courierN != want {
					t.Errorf("courier reports %d attempts, want %d", c.courierN, want)
				}
			},
		},
		{
			// The server applied the request, then the connection was reset
			// before the response: only what may be resent is.
			name: "reset_peer after the request",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "reset_peer", toxiproxy.Downstream, 1, map[string]any{"timeout": 0})
			},
			want: byMethod(fails(courier.ErrConnLost, 3), fails(courier.ErrConnLost, 1)),
		},
		{
			name: "reset_peer, healed after attempt 1",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "reset_peer", toxiproxy.Downstream, 1, map[string]any{"timeout": 0})
			},
			heal: func(t *testing.T, p *toxiproxy.Proxy) { p.RemoveToxic(t, "reset_peer_downstream") },
			want: byMethod(succeeds(2), fails(courier.ErrConnLost, 1)),
		},
		{
			// The server closes after a response with a Content-Length:
			// the client has the whole body and does not wait for the
			// delayed FIN (the 5s close delay is past the 3s timeout).
			name:   "slow_close 5s, Content-Length",
			header: http.Header{"Connection": {"close"}},
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "slow_close", toxiproxy.Downstream, 1, map[string]any{"delay": 5000})
			},
			want: everyMethod(succeeds(1)),
		},
		{
			// A body that ends with the connection ends when the delayed
			// FIN arrives: success, after the delay.
			name:   "slow_close 500ms, close-delimited",
			size:   1000,
			header: http.Header{"Transfer-Encoding": {"identity"}},
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "slow_close", toxiproxy.Downstream, 1, map[string]any{"delay": 500})
			},
			want: everyMethod(succeeds(1)),
			check: func(t *testing.T, c *faultCell) {
				if c.elapsed < 400*time.Millisecond {
					t.Errorf("close-delimited body done in %v, before the 500ms delayed close", c.elapsed)
				}
				if c.resp != nil && len(c.resp.Bytes()) != 1000 {
					t.Errorf("body has %d bytes, want 1000", len(c.resp.Bytes()))
				}
			},
		},
		{
			// The connection ends 4 KiB into a 64 KiB body. In buffered mode
			// the caller sees the body only once courier has read it all, so
			// the cut is a failed attempt: what may be resent is, the rest
			// fails with the cause in the chain.
			name: "limit_data 4KiB, mid-body",
			size: 64 << 10,
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "limit_data", toxiproxy.Downstream, 1, map[string]any{"bytes": 4096})
			},
			want: byMethod(
				outcome{kind: courier.ErrConnLost, also: io.ErrUnexpectedEOF, min: 3, max: 3},
				outcome{kind: courier.ErrConnLost, also: io.ErrUnexpectedEOF, min: 1, max: 1}),
		},
		{
			name: "limit_data 4KiB mid-body, healed after attempt 1",
			size: 64 << 10,
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "limit_data", toxiproxy.Downstream, 1, map[string]any{"bytes": 4096})
			},
			heal: func(t *testing.T, p *toxiproxy.Proxy) { p.RemoveToxic(t, "limit_data_downstream") },
			want: byMethod(succeeds(2), fails(courier.ErrConnLost, 1)),
			check: func(t *testing.T, c *faultCell) {
				if c.resp != nil && len(c.resp.Bytes()) != 64<<10 {
					t.Errorf("body has %d bytes, want the whole 64 KiB", len(c.resp.Bytes()))
				}
			},
		},
		{
			// The connection ends after the status line ("HTTP/1.1 200
			// OK\r\n", 17 bytes): nothing reached the caller, so what may
			// be resent is.
			name: "limit_data 17B, after the status line",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "limit_data", toxiproxy.Downstream, 1, map[string]any{"bytes": 17})
			},
			want: byMethod(fails(courier.ErrConnLost, 3), fails(courier.ErrConnLost, 1)),
		},
		{
			// The connection ends inside a header line (30 bytes, in
			// "Content-Length"), or inside the status line (10 bytes,
			// "HTTP/1.1 2"). net/http reads the cut line as a whole one
			// and reports a malformed header or status; courier knows the
			// error came out of the transport, so it is a lost connection
			// like the 17-byte cut, and retried where that is safe.
			name: "limit_data 30B, in a header line",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "limit_data", toxiproxy.Downstream, 1, map[string]any{"bytes": 30})
			},
			want: byMethod(fails(courier.ErrConnLost, 3), fails(courier.ErrConnLost, 1)),
		},
		{
			name: "limit_data 10B, in the status line",
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "limit_data", toxiproxy.Downstream, 1, map[string]any{"bytes": 10})
			},
			want: byMethod(fails(courier.ErrConnLost, 3), fails(courier.ErrConnLost, 1)),
		},
		{
			// 1 KB/s on a 1 MiB body, 1s to get it: a timeout, and the
			// partial body is not returned.
			name: "bandwidth 1KBps, 1MiB body",
			size: 1 << 20,
			inject: func(t *testing.T, p *toxiproxy.Proxy) {
				p.AddToxic(t, "bandwidth", toxiproxy.Downstream, 1, map[string]any{"rate": 1})
			},
			timeout: time.Second,
			want:    everyMethod(fails(courier.ErrTimeout, 1)),
		},
		{
			// The proxy is down, connections are refused: nothing was sent,
			// so every method is retried, from the budget.
			name:   "down (refused)",
			inject: func(t *testing.T, p *toxiproxy.Proxy) { p.Disable(t) },
			want:   everyMethod(fails(courier.ErrConnect, 0)),
			check: func(t *testing.T, c *faultCell) {
				if c.courierN != 3 {
					t.Errorf("courier reports %d attempts, want 3", c.courierN)
				}
				if want := 500 - 2*5; c.budget != want {
					t.Errorf("budget left %d, want %d (two retries)", c.budget, want)
				}
			},
		},
		{
			name:   "down, up after attempt 1",
			inject: func(t *testing.T, p *toxiproxy.Proxy) { p.Disable(t) },
			heal:   func(t *testing.T, p *toxiproxy.Proxy) { p.Enable(t) },
			want:   everyMethod(succeeds(1)),
			check: func(t *testing.T, c *faultCell) {
				if c.courierN != 2 {
					t.Errorf("courier reports %d attempts, want 2 (one refused)", c.courierN)
				}
			},
		},
	}
}

// TestFaultMatrix runs every fault row against every method, each cell on a
// proxy and server of its own, in parallel. It is not parallel with the
// package's other tests, so that the leak check at its end sees only what
// it started.
func TestFaultMatrix(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	var (
		mu    sync.Mutex
		cells []*faultCell
	)
	t.Run("matrix", func(t *testing.T) {
		tp := toxiproxy.Start(t)
		for i, fc := range faultCases() {
			for j, m := range faultMethods {
				t.Run(fc.name+"/"+m.name, func(t *testing.T) {
					t.Parallel()
					c := runFaultCell(t, tp, fmt.Sprintf("cell-%d-%d", i, j), fc, m)
					mu.Lock()
					cells = append(cells, c)
					mu.Unlock()
				})
			}
		}
	})
	if t.Skipped() || len(cells) == 0 {
		return
	}
	// The observed matrix, for the closing notes.
	slices.SortFunc(cells, func(a, b *faultCell) int {
		return strings.Compare(a.fault+a.method, b.fault+b.method)
	})
	var b strings.Builder
	for _, c := range cells {
		b.WriteString("\n" + c.String())
	}
	t.Logf("observed:%s", b.String())
	// Every session is closed and every server and proxy gone: no
	// goroutine of the matrix may remain.
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines left after the fault matrix: %v", err)
	}
}

func runFaultCell(t *testing.T, tp *toxiproxy.Server, name string, fc faultCase, m faultMethod) *faultCell {
	up := &faultUpstream{size: fc.size, header: fc.header}
	ts := testenv.NewServer(t, testenv.HTTP1, up)
	p := tp.Proxy(t, name, ts.Listener.Addr().String())
	policy := fc.retry
	if policy.MaxAttempts == 0 {
		policy.MaxAttempts = 3
	}
	if policy.BaseDelay == 0 {
		policy.BaseDelay, policy.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	}
	if fc.heal != nil {
		var once sync.Once
		policy.Backoff = func(courier.AttemptInfo) time.Duration {
			once.Do(func() { fc.heal(t, p) })
			return 10 * time.Millisecond
		}
	}
	s := ts.Session(t, courier.WithBaseURL(p.URL()), courier.WithRetry(policy), courier.WithTimeouts(fc.timeouts))
	fc.inject(t, p)

	timeout := fc.timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	key := "fault-key-" + name
	c := &faultCell{fault: fc.name, method: m.name, key: key}
	start := time.Now()
	c.resp, c.err = s.Do(t.Context(), m.method, "/", append(m.options(key), courier.Timeout(timeout))...)
	c.elapsed = time.Since(start)
	c.attempts, c.conns = ts.Requests.Load(), ts.NewConns.Load()
	c.budget = s.Stats().BudgetLeft[strings.TrimPrefix(p.URL(), "http://")]
	c.keys = up.seenKeys()
	var e *courier.Error
	switch {
	case c.err == nil:
		c.courierN = c.resp.Attempts
	case errors.As(c.err, &e):
		c.courierN = e.Attempts
	}
	t.Log(c)

	want := fc.want(m)
	if want.ok {
		if c.err != nil {
			t.Errorf("%s: err = %v, want success (expected %v)", m.name, c.err, want)
		}
	} else {
		if c.err == nil {
			t.Errorf("%s: succeeded, want %v", m.name, want)
		} else {
			if want.kind == errNoKind {
				var e *courier.Error
				if !errors.As(c.err, &e) || e.Kind != courier.ErrOther {
					t.Errorf("err = %v (%T), want a *courier.Error of kind ErrOther", c.err, c.err)
				}
			} else {
				requireIs(t, c.err, want.kind)
			}
			if want.also != nil {
				requireIs(t, c.err, want.also)
			}
			if c.resp != nil {
				t.Errorf("a failed request returned a response (status %d, %d bytes)", c.resp.StatusCode, len(c.resp.Bytes()))
			}
		}
	}
	if c.attempts < want.min || c.attempts > want.max {
		t.Errorf("%s: server saw %d attempts, want %v", m.name, c.attempts, want)
	}
	requireWithin(t, start, timeout+slack)
	// A request with an Idempotency-Key carries the same key on every
	// attempt; one without carries none.
	for i, k := range c.keys {
		if m.key && k != key {
			t.Errorf("attempt %d carried Idempotency-Key %q, want %q", i+1, k, key)
		}
		if !m.key && k != "" {
			t.Errorf("attempt %d carried Idempotency-Key %q, want none", i+1, k)
		}
	}
	if fc.check != nil {
		fc.check(t, c)
	}
	return c
}

// TestFaultResetPeerToxicity resets half of the connections (toxicity 0.5
// on reset_peer; the server closes each connection after its response, so
// each attempt draws anew): what may be resent mostly succeeds after
// retries, a POST without a key is never resent.
func TestFaultResetPeerToxicity(t *testing.T) {
	t.Parallel()
	tp := toxiproxy.Start(t)
	const n = 40
	for i, m := range faultMethods {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			up := &faultUpstream{}
			ts := testenv.NewServer(t, testenv.HTTP1, up)
			ts.Config.SetKeepAlivesEnabled(false)
			p := tp.Proxy(t, fmt.Sprintf("toxicity-%d", i), ts.Listener.Addr().String())
			p.AddToxic(t, "reset_peer", toxiproxy.Downstream, 0.5, map[string]any{"timeout": 0})
			s := ts.Session(t, courier.WithBaseURL(p.URL()),
				courier.WithRetry(courier.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
			ok, other := 0, 0
			start := time.Now()
			for k := range n {
				_, err := s.Do(t.Context(), m.method, "/", append(m.options(fmt.Sprintf("key-%d", k)), courier.Timeout(3*time.Second))...)
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, courier.ErrConnLost):
					other++
					t.Errorf("request %d: %v, want success or ErrConnLost", k, err)
				}
			}
			attempts := ts.Requests.Load()
			t.Logf("%s: %d/%d succeeded, server saw %d attempts, %v", m.name, ok, n, attempts, time.Since(start).Round(time.Millisecond))
			if m.retryable() {
				// Each request fails only if 3 draws in a row reset: 1/8.
				if ok < n/2 {
					t.Errorf("%d/%d succeeded, want most (each fails with probability 1/8)", ok, n)
				}
				if attempts <= n || attempts > 3*n {
					t.Errorf("server saw %d attempts for %d requests, want retries (more than %d, at most %d)", attempts, n, n, 3*n)
				}
			} else {
				if attempts != n {
					t.Errorf("server saw %d attempts for %d POSTs without a key, want exactly %d (never resent)", attempts, n, n)
				}
				if ok == 0 || ok == n {
					t.Errorf("%d/%d POSTs succeeded, want about half", ok, n)
				}
			}
			requireWithin(t, start, n*(3*time.Second)/10+slack)
		})
	}
}

// connTrace records, for each connection a request got, whether it was
// reused: more than one means net/http resent the request by itself.
type connTrace struct {
	mu     sync.Mutex
	reused []bool
}

func (c *connTrace) context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c.mu.Lock()
			c.reused = append(c.reused, info.Reused)
			c.mu.Unlock()
		},
	})
}

func (c *connTrace) get() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reused)
}

// TestStaleKeepAlive has a server whose idle timeout (1s) is shorter than
// the client's (90s): the connection goes stale in the pool.
func TestStaleKeepAlive(t *testing.T) {
	t.Parallel()
	// The server closes the idle connection after 1s and the client sees
	// the FIN while the connection is idle: net/http drops it from the
	// pool, and the next request dials anew. Every method succeeds.
	t.Run("server closes idle connection", func(t *testing.T) {
		t.Parallel()
		for _, m := range faultMethods {
			t.Run(m.name, func(t *testing.T) {
				t.Parallel()
				up := &faultUpstream{}
				ts := testenv.NewServer(t, testenv.HTTP1, up, idleTimeout(time.Second))
				s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
				if _, err := s.Get(t.Context(), "/"); err != nil {
					t.Fatalf("first GET: %v", err)
				}
				waitUntil(t, "the server to close the idle connection", func() bool { return ts.Open.Load() == 0 })
				time.Sleep(slack) // for the client to read the FIN and drop the connection
				var tr connTrace
				start := time.Now()
				resp, err := s.Do(tr.context(t.Context()), m.method, "/", append(m.options("stale-key"), courier.Timeout(3*time.Second))...)
				t.Logf("%s after the server closed the idle connection: err=%v conns=%v (reused) server requests=%d new conns=%d %v",
					m.name, err, tr.get(), ts.Requests.Load(), ts.NewConns.Load(), time.Since(start).Round(time.Millisecond))
				if err != nil {
					t.Fatalf("%s after the server closed the idle connection: %v", m.name, err)
				}
				if resp.Attempts != 1 || ts.Requests.Load() != 2 {
					t.Errorf("Attempts = %d, server saw %d requests; want 1 and 2", resp.Attempts, ts.Requests.Load())
				}
				requireWithin(t, start, 3*time.Second+slack)
			})
		}
	})
	// The race, forced: the proxy holds back the server's FIN for 2.5s
	// (slow_close), so that the client sends on a connection the server
	// has already closed, and learns it only from the EOF that follows.
	// net/http resends a GET and a POST with an Idempotency-Key on a new
	// connection by itself; it does not resend a PUT (not "replayable" to
	// it), which courier's retry then resends; a POST without a key fails
	// cleanly with ErrConnLost.
	t.Run("FIN held back by the proxy", func(t *testing.T) {
		t.Parallel()
		const timeout = 5 * time.Second // the request waits 2.5s for the EOF
		tp := toxiproxy.Start(t)
		for i, m := range faultMethods {
			t.Run(m.name, func(t *testing.T) {
				t.Parallel()
				up := &faultUpstream{}
				ts := testenv.NewServer(t, testenv.HTTP1, up, idleTimeout(time.Second))
				p := tp.Proxy(t, fmt.Sprintf("stale-%d", i), ts.Listener.Addr().String())
				p.AddToxic(t, "slow_close", toxiproxy.Downstream, 1, map[string]any{"delay": 2500})
				s := ts.Session(t, courier.WithBaseURL(p.URL()), courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
				if _, err := s.Get(t.Context(), "/"); err != nil {
					t.Fatalf("first GET: %v", err)
				}
				// The server closes at 1s; the client learns 2.5s later.
				waitUntil(t, "the server to close the idle connection", func() bool { return ts.Open.Load() == 0 })
				var tr connTrace
				start := time.Now()
				resp, err := s.Do(tr.context(t.Context()), m.method, "/", append(m.options("stale-key"), courier.Timeout(timeout))...)
				conns := tr.get()
				attempts := 0
				if err == nil {
					attempts = resp.Attempts
				} else if e := (*courier.Error)(nil); errors.As(err, &e) {
					attempts = e.Attempts
				}
				t.Logf("%s on a stale connection: err=%v conns=%v (reused) courier attempts=%d server requests=%d %v",
					m.name, err, conns, attempts, ts.Requests.Load(), time.Since(start).Round(time.Millisecond))
				if len(conns) == 0 || !conns[0] {
					t.Fatalf("the request did not get the stale connection (conns %v): the race was not reproduced", conns)
				}
				switch {
				case m.method == http.MethodGet || m.key:
					if err != nil {
						t.Fatalf("%s: %v, want success by net/http's resend", m.name, err)
					}
					if len(conns) != 2 || conns[1] {
						t.Errorf("conns = %v, want a reused one, then a new one (net/http's resend)", conns)
					}
					// net/http's own resend is no attempt of its own: the
					// server never processed the first copy.
					if attempts != 1 {
						t.Errorf("courier reports %d attempts for %d sends, want 1: net/http's resend is not an attempt", attempts, len(conns))
					}
				case m.method == http.MethodPut:
					if err != nil {
						t.Fatalf("PUT: %v, want success by courier's retry", err)
					}
					if attempts != 2 {
						t.Errorf("PUT: courier reports %d attempts, want 2", attempts)
					}
				default:
					requireIs(t, err, courier.ErrConnLost)
					if ts.Requests.Load() != 1 {
						t.Errorf("server saw %d requests, want 1 (the first GET; the POST never arrived and was not resent)", ts.Requests.Load())
					}
				}
				requireWithin(t, start, timeout+slack)
			})
		}
	})
}

// idleTimeout sets a server's idle timeout, as a testenv.NewServer config.
func idleTimeout(d time.Duration) func(*http.Server) {
	return func(srv *http.Server) { srv.IdleTimeout = d }
}

// TestFaultBreaker takes the proxy down, on a short clock: the breaker opens
// at its threshold, rejects at once without touching the network while open,
// lets one probe through per open period, and closes once a probe succeeds
// after the proxy is back up. (An outage of a minute, scaled down to an
// OpenFor of 500ms.) Network attempts are counted with httptrace's
// ConnectStart, since a refused connection never reaches the server.
func TestFaultBreaker(t *testing.T) {
	t.Parallel()
	tp := toxiproxy.Start(t)
	ts := testenv.NewServer(t, testenv.HTTP1, &faultUpstream{})
	p := tp.Proxy(t, "breaker", ts.Listener.Addr().String())
	const (
		threshold = 5
		openFor   = 500 * time.Millisecond
	)
	s := ts.Session(t, courier.WithBaseURL(p.URL()),
		courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}),
		courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: threshold, OpenFor: openFor, Probes: 1}))
	host := p.Listen
	var dials atomic.Int64
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		ConnectStart: func(string, string) { dials.Add(1) },
	})
	get := func() (time.Duration, error) {
		start := time.Now()
		_, err := s.Get(ctx, "/", courier.Timeout(2*time.Second))
		d := time.Since(start)
		requireWithin(t, start, 2*time.Second+slack)
		return d, err
	}

	if _, err := get(); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	p.Disable(t)
	for i := 1; i <= threshold; i++ {
		_, err := get()
		requireIs(t, err, courier.ErrConnect)
		want := courier.BreakerClosed
		if i == threshold {
			want = courier.BreakerOpen
		}
		if got := s.Stats().Breakers[host]; got != want {
			t.Fatalf("after %d refused connections the breaker is %v, want %v", i, got, want)
		}
	}

	// Open: rejected at once, no network.
	before := dials.Load()
	var slowest time.Duration
	for range 20 {
		d, err := get()
		requireIs(t, err, courier.ErrCircuitOpen)
		requireNotIs(t, err, courier.ErrConnect)
		slowest = max(slowest, d)
	}
	if n := dials.Load() - before; n != 0 {
		t.Errorf("open breaker: %d connections attempted, want 0", n)
	}
	_, err := get()
	var e *courier.Error
	if errors.As(err, &e) {
		t.Logf("open breaker: slowest of 20 rejections %v; error %q (Kind %v, Attempts %d)", slowest, err, e.Kind, e.Attempts)
	}

	// Half-open while still down: of 10 concurrent requests one probes,
	// fails, and the breaker opens again.
	time.Sleep(openFor + 100*time.Millisecond)
	before = dials.Load()
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Get(ctx, "/", courier.Timeout(2*time.Second)) })
	}
	wg.Wait()
	probes, rejected := 0, 0
	for _, err := range errs {
		switch {
		case errors.Is(err, courier.ErrConnect):
			probes++
		case errors.Is(err, courier.ErrCircuitOpen):
			rejected++
		default:
			t.Errorf("half-open, still down: %v, want ErrConnect (the probe) or ErrCircuitOpen", err)
		}
	}
	if probes != 1 || rejected != 9 || dials.Load()-before != 1 {
		t.Errorf("half-open: %d probes, %d rejected, %d connections attempted; want 1, 9, 1", probes, rejected, dials.Load()-before)
	}
	if got := s.Stats().Breakers[host]; got != courier.BreakerOpen {
		t.Errorf("after a failed probe the breaker is %v, want open", got)
	}

	// Back up: requests are rejected until the next probe, which
	// succeeds and closes the breaker.
	p.Enable(t)
	up := time.Now()
	before = dials.Load()
	for {
		_, err := get()
		if err == nil {
			break
		}
		requireIs(t, err, courier.ErrCircuitOpen)
		if time.Since(up) > openFor+slack {
			t.Fatalf("breaker still rejecting %v after the proxy came back", time.Since(up))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("recovery: first success %v after the proxy came back (OpenFor %v)", time.Since(up).Round(time.Millisecond), openFor)
	if n := dials.Load() - before; n != 1 {
		t.Errorf("recovery took %d connections, want 1 (the probe)", n)
	}
	if got := s.Stats().Breakers[host]; got != courier.BreakerClosed {
		t.Errorf("after a successful probe the breaker is %v, want closed", got)
	}
	for range 5 {
		if _, err := get(); err != nil {
			t.Errorf("after recovery: %v", err)
		}
	}
	if got := ts.Requests.Load(); got != 1+1+5 {
		t.Errorf("server saw %d requests, want 7 (healthy, probe, 5 after)", got)
	}
}
