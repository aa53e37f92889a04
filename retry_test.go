package courier_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// statusSequence answers with the given statuses in turn, then the last one
// for ever, and records each request's Idempotency-Key and body.
type statusSequence struct {
	mu       sync.Mutex
	statuses []int
	header   http.Header
	keys     []string
	bodies   []string
}

func (q *statusSequence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q.mu.Lock()
	q.keys = append(q.keys, r.Header.Get("Idempotency-Key"))
	q.bodies = append(q.bodies, string(body))
	code := q.statuses[0]
	if len(q.statuses) > 1 {
		q.statuses = q.statuses[1:]
	}
	q.mu.Unlock()
	for k, v := range q.header {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	io.WriteString(w, http.StatusText(code))
}

func TestRetryRules(t *testing.T) {
	t.Parallel()
	type row struct {
		name     string
		method   string
		status   int
		opts     []courier.RequestOption
		attempts int64
	}
	rows := []row{
		{"GET 503", "GET", 503, nil, 3},
		{"GET 502", "GET", 502, nil, 3},
		{"GET 504", "GET", 504, nil, 3},
		{"GET 429", "GET", 429, nil, 3},
		{"GET 408", "GET", 408, nil, 3},
		{"GET 425", "GET", 425, nil, 3},
		{"HEAD 503", "HEAD", 503, nil, 3},
		{"OPTIONS 503", "OPTIONS", 503, nil, 3},
		{"PUT 502", "PUT", 502, nil, 3},
		{"DELETE 502", "DELETE", 502, nil, 3},
		{"GET 500 (opt-in only)", "GET", 500, nil, 1},
		{"GET 501", "GET", 501, nil, 1},
		{"GET 400", "GET", 400, nil, 1},
		{"GET 401", "GET", 401, nil, 1},
		{"GET 403", "GET", 403, nil, 1},
		{"GET 404", "GET", 404, nil, 1},
		{"GET 422", "GET", 422, nil, 1},
		{"POST 502", "POST", 502, nil, 1},
		{"PATCH 503", "PATCH", 503, nil, 1},
		{"POST 503 with Idempotency-Key", "POST", 503, []courier.RequestOption{courier.Header("Idempotency-Key", "k-1")}, 3},
		{"PATCH 502 with Idempotency-Key", "PATCH", 502, []courier.RequestOption{courier.Header("Idempotency-Key", "k-2")}, 3},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{r.status}})
			s := ts.Session(t, fast)
			resp, err := s.Do(t.Context(), r.method, "/", r.opts...)
			if !testenv.HasStatus(err, r.status) {
				t.Fatalf("%s = %v, want a *StatusError %d", r.method, err, r.status)
			}
			if got := ts.Requests.Load(); got != r.attempts {
				t.Errorf("%s %d: server saw %d attempts, want %d", r.method, r.status, got, r.attempts)
			}
			if resp.Attempts != int(r.attempts) {
				t.Errorf("Response.Attempts = %d, want %d", resp.Attempts, r.attempts)
			}
		})
	}
}

// No policy can make courier retry a 501 or a 4xx other than 408/425/429,
// nor a POST without an Idempotency-Key.
func TestRetryRulesPolicyCannotOverride(t *testing.T) {
	t.Parallel()
	always := courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, ShouldRetry: func(courier.AttemptInfo) bool { return true }})
	for _, c := range []struct {
		method string
		status int
	}{{"GET", 501}, {"GET", 404}, {"GET", 401}, {"PUT", 409}, {"POST", 503}} {
		t.Run(c.method+" "+strconv.Itoa(c.status), func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{c.status}})
			s := ts.Session(t, always)
			s.Do(t.Context(), c.method, "/")
			if got := ts.Requests.Load(); got != 1 {
				t.Errorf("server saw %d attempts, want 1", got)
			}
		})
	}
}

// retryStatuses is a ShouldRetry that retries what DefaultShouldRetry does
// and also the given statuses: the policy a user writes to opt into 500.
func retryStatuses(codes ...int) func(courier.AttemptInfo) bool {
	return func(info courier.AttemptInfo) bool {
		if info.Response != nil && slices.Contains(codes, info.Response.StatusCode) {
			return true
		}
		return courier.DefaultShouldRetry(info)
	}
}

// Policy tests need no network: they use courier's own test kit.
func TestRetryStatusesOptIn(t *testing.T) {
	t.Parallel()
	mock := couriertest.NewMock(t)
	route := mock.On("GET", "/jobs/{id}").Respond(500, "").Respond(500, "").Respond(200, "done").Times(3)
	s := testenv.NewSession(t, courier.WithBaseURL("http://api.test"), courier.WithTransport(mock),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, ShouldRetry: retryStatuses(500)}))
	resp, err := s.Get(t.Context(), "/jobs/7")
	if err != nil {
		t.Fatalf("Get = %v, want success on the third attempt", err)
	}
	if resp.Attempts != 3 || route.Calls() != 3 || string(resp.Bytes()) != "done" {
		t.Errorf("Attempts = %d, route called %d times, body %q; want 3, 3, done", resp.Attempts, route.Calls(), string(resp.Bytes()))
	}
}

func TestRetryShouldRetryHeaderVeto(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{503}, header: http.Header{"X-Should-Retry": {"false"}}})
	s := ts.Session(t, fast)
	s.Get(t.Context(), "/")
	if got := ts.Requests.Load(); got != 1 {
		t.Errorf("server saw %d attempts, want 1 (X-Should-Retry: false)", got)
	}
}

// A retried POST carries the same Idempotency-Key on every attempt, given or
// generated, and the same body.
func TestRetrySameIdempotencyKeyAndBody(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		for _, c := range []struct {
			name string
			sopt courier.Option
			ropt []courier.RequestOption
		}{
			{"given", fast, []courier.RequestOption{courier.Header("Idempotency-Key", "order-77")}},
			{"generated", courier.WithIdempotencyKeys(true), nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				seq := &statusSequence{statuses: []int{503, 502, 201}}
				ts := testenv.NewServer(t, m, seq)
				s := ts.Session(t, fast, c.sopt)
				opts := append([]courier.RequestOption{courier.JSON(map[string]int{"qty": 3})}, c.ropt...)
				resp, err := s.Post(t.Context(), "/orders", opts...)
				if err != nil {
					t.Fatalf("Post = %v", err)
				}
				if resp.StatusCode != 201 || len(seq.keys) != 3 {
					t.Fatalf("status %d after %d attempts, want 201 after 3", resp.StatusCode, len(seq.keys))
				}
				for i := range seq.keys {
					if seq.keys[i] == "" || seq.keys[i] != seq.keys[0] {
						t.Errorf("attempt %d Idempotency-Key = %q, want %q on every attempt", i+1, seq.keys[i], seq.keys[0])
					}
					if seq.bodies[i] != `{"qty":3}` {
						t.Errorf("attempt %d body = %q, want the same JSON", i+1, seq.bodies[i])
					}
				}
			})
		}
	})
}

func TestRetryGeneratedKeysDifferPerRequest(t *testing.T) {
	t.Parallel()
	seq := &statusSequence{statuses: []int{200}}
	ts := testenv.NewServer(t, testenv.HTTP1, seq)
	s := ts.Session(t, courier.WithIdempotencyKeys(true))
	s.Post(t.Context(), "/a")
	s.Post(t.Context(), "/b")
	s.Get(t.Context(), "/c")
	if seq.keys[0] == "" || seq.keys[0] == seq.keys[1] {
		t.Errorf("keys = %q, want a fresh key per POST", seq.keys[:2])
	}
	if seq.keys[2] != "" {
		t.Errorf("GET got Idempotency-Key %q, want none", seq.keys[2])
	}
}

func TestRetryNonReplayableBodyIsNotRetried(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{503}})
	s := ts.Session(t, fast)
	oneShot := io.MultiReader(strings.NewReader("once"))
	_, err := s.Post(t.Context(), "/", courier.BodyReader(oneShot), courier.Header("Idempotency-Key", "k"))
	if !testenv.HasStatus(err, 503) || !errors.Is(err, courier.ErrBodyNotReplayable) {
		t.Errorf("Post = %v, want a 503 *StatusError that says the body could not be replayed", err)
	}
	if got := ts.Requests.Load(); got != 1 {
		t.Errorf("server saw %d attempts, want 1", got)
	}
}

// A failure to connect sent nothing, so even a POST is retried.
func TestRetryConnectRefusedEvenPOST(t *testing.T) {
	t.Parallel()
	refused := couriertest.NewFaults(couriertest.NewMock(t), couriertest.Refused())
	s := testenv.NewSession(t, courier.WithBaseURL("http://api.test"), courier.WithTransport(refused), fast)
	_, err := s.Post(t.Context(), "/", courier.JSON(1))
	var ce *courier.Error
	if !errors.As(err, &ce) || !errors.Is(err, courier.ErrConnect) || ce.Attempts != 3 || refused.Calls() != 3 {
		t.Errorf("Post = %v after %d calls, want ErrConnect after 3 attempts", err, refused.Calls())
	}
	// A real refused port, once, to tie the kit's fault to the real thing.
	real := testenv.NewSession(t, courier.WithBaseURL("http://"+testenv.ClosedPort(t)), noRetry)
	if _, err := real.Post(t.Context(), "/", courier.JSON(1)); !errors.Is(err, courier.ErrConnect) {
		t.Errorf("Post to a closed port = %v, want ErrConnect", err)
	}
}

func TestRetryAttemptTimeout(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select { // the first attempt hangs
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	const try = 200 * time.Millisecond
	s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, AttemptTimeout: try}))
	start := time.Now()
	resp, err := s.Get(t.Context(), "/")
	if err != nil {
		t.Fatalf("Get = %v, want success on the second attempt", err)
	}
	if resp.Attempts != 2 || string(resp.Bytes()) != "ok" {
		t.Errorf("Attempts = %d, body %q; want 2, ok", resp.Attempts, string(resp.Bytes()))
	}
	requireWithin(t, start, try+slack) // the hung first attempt cut at 200ms, not at 5s
}

// Through Session.Client a retried 503 hands back the final response with a
// nil error, its body readable: the RoundTripper contract.
func TestRetryClientKeepsFinalResponse(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, &statusSequence{statuses: []int{503}})
	s := ts.Session(t, fast)
	resp, err := s.Client().Get(ts.URL + "/")
	if err != nil {
		t.Fatalf("Client().Get = %v, want the final 503 and no error", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || string(body) != "Service Unavailable" {
		t.Errorf("got %d %q, want 503 with its body", resp.StatusCode, body)
	}
	if got := ts.Requests.Load(); got != 3 {
		t.Errorf("server saw %d attempts, want 3", got)
	}
}

func TestRetryPolicyValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		policy courier.RetryPolicy
		option string
	}{
		{"negative attempts", courier.RetryPolicy{MaxAttempts: -1}, "WithRetry.MaxAttempts"},
		{"negative base", courier.RetryPolicy{BaseDelay: -time.Second}, "WithRetry.BaseDelay"},
		{"cap below base", courier.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Millisecond}, "WithRetry.MaxDelay"},
		{"negative Retry-After cap", courier.RetryPolicy{MaxRetryAfter: -1}, "WithRetry.MaxRetryAfter"},
		{"negative attempt timeout", courier.RetryPolicy{AttemptTimeout: -1}, "WithRetry.AttemptTimeout"},
		{"cost above capacity", courier.RetryPolicy{Budget: courier.RetryBudget{Capacity: 4, RetryCost: 5}}, "WithRetry.Budget"},
		{"negative budget", courier.RetryPolicy{Budget: courier.RetryBudget{Capacity: -1}}, "WithRetry.Budget"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := courier.New(courier.WithRetry(c.policy))
			var oe *courier.OptionError
			if !errors.As(err, &oe) || oe.Option != c.option {
				t.Errorf("New(WithRetry(%+v)) = %v, want an *OptionError for %s", c.policy, err, c.option)
			}
		})
	}
}

// scripted is a transport for timing tests inside a synctest bubble, where
// real sockets are not allowed: it answers each attempt with the next
// response of the script and records when each attempt came.
type scripted struct {
	mu      sync.Mutex
	script  []func() (*http.Response, error)
	arrived []time.Time
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived = append(s.arrived, time.Now())
	next := s.script[0]
	if len(s.script) > 1 {
		s.script = s.script[1:]
	}
	resp, err := next()
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

func status(code int, header ...string) func() (*http.Response, error) {
	return func() (*http.Response, error) {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return &http.Response{StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code),
			Header: h, Body: io.NopCloser(strings.NewReader("")), ContentLength: 0, Proto: "HTTP/1.1"}, nil
	}
}

// gaps returns the waits between attempts.
func (s *scripted) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(s.arrived); i++ {
		out = append(out, s.arrived[i].Sub(s.arrived[i-1]))
	}
	return out
}

func scriptedSession(t *testing.T, tr *scripted, opts ...courier.Option) *courier.Session {
	t.Helper()
	s, err := courier.New(append([]courier.Option{courier.WithBaseURL("http://api.test"), courier.WithTransport(tr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestRetryAfterIsObeyed(t *testing.T) {
	t.Parallel()
	date := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	for _, c := range []struct {
		name    string
		hint    func() string
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"delta seconds", func() string { return "2" }, 2 * time.Second, 2 * time.Second},
		{"IMF-fixdate", func() string { return date(3 * time.Second) }, 2 * time.Second, 3 * time.Second},
		{"RFC 850", func() string { return time.Now().Add(3 * time.Second).UTC().Format(time.RFC850) }, 2 * time.Second, 3 * time.Second},
		{"asctime", func() string { return time.Now().Add(3 * time.Second).UTC().Format(time.ANSIC) }, 2 * time.Second, 3 * time.Second},
		{"garbage falls back to backoff", func() string { return "soon" }, 0, 100 * time.Millisecond},
		{"negative falls back to backoff", func() string { return "-1" }, 0, 100 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Whole seconds, so that HTTP dates (second precision) are exact.
				time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
				tr := &scripted{}
				tr.script = []func() (*http.Response, error){
					func() (*http.Response, error) { return status(503, "Retry-After", c.hint())() },
					status(200),
				}
				s := scriptedSession(t, tr)
				if _, err := s.Get(t.Context(), "/"); err != nil {
					t.Fatalf("Get = %v", err)
				}
				g := tr.gaps()
				if len(g) != 1 || g[0] < c.atLeast || g[0] > c.atMost {
					t.Errorf("wait = %v, want between %v and %v", g, c.atLeast, c.atMost)
				}
			})
		})
	}
}

func TestRetryAfterBeyondLimitFailsFast(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		hint string
		ctx  time.Duration
	}{
		{"past the cap", "120", 0},
		{"past the deadline", "10", 5 * time.Second},
		{"huge", "99999999", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := &scripted{script: []func() (*http.Response, error){status(503, "Retry-After", c.hint)}}
				s := scriptedSession(t, tr)
				ctx := t.Context()
				if c.ctx > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, c.ctx)
					defer cancel()
				}
				start := time.Now()
				_, err := s.Get(ctx, "/")
				if elapsed := time.Since(start); elapsed != 0 {
					t.Errorf("returned after %v, want at once", elapsed)
				}
				var se *courier.StatusError
				if !errors.As(err, &se) || !errors.Is(err, courier.ErrRetryAfterTooLong) {
					t.Fatalf("Get = %v, want a 503 *StatusError with ErrRetryAfterTooLong", err)
				}
				if d, ok := se.RetryAfter(); !ok || d < 10*time.Second {
					t.Errorf("RetryAfter() = %v, %v; want the server's hint", d, ok)
				}
				if len(tr.arrived) != 1 {
					t.Errorf("%d attempts, want 1", len(tr.arrived))
				}
			})
		})
	}
}

// No sleep begins that cannot end before the deadline: with 300 ms left
// and a 1 s backoff, courier returns at once.
func TestRetryNeverSleepsPastTheDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(503)}}
		s := scriptedSession(t, tr, courier.WithRetry(courier.RetryPolicy{Backoff: func(courier.AttemptInfo) time.Duration { return time.Second }}))
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Get(ctx, "/")
		if elapsed := time.Since(start); elapsed != 0 {
			t.Errorf("returned after %v, want at once", elapsed)
		}
		if !testenv.HasStatus(err, 503) || !errors.Is(err, courier.ErrRetryDeadline) {
			t.Errorf("Get = %v, want the 503 with ErrRetryDeadline", err)
		}
		if len(tr.arrived) != 1 {
			t.Errorf("%d attempts, want 1", len(tr.arrived))
		}
	})
}

// The default backoff is full jitter: each wait within [0, base*2^(n-1)].
func TestRetryBackoffIsBoundedFullJitter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(503)}}
		s := scriptedSession(t, tr, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 6, BaseDelay: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond}),
			courier.WithTimeout(time.Minute))
		s.Get(t.Context(), "/")
		ceilings := []time.Duration{100, 200, 400, 400, 400}
		g := tr.gaps()
		if len(g) != len(ceilings) {
			t.Fatalf("%d waits, want %d", len(g), len(ceilings))
		}
		for i, w := range g {
			if w < 0 || w > ceilings[i]*time.Millisecond {
				t.Errorf("wait %d = %v, want within [0, %v]", i+1, w, ceilings[i]*time.Millisecond)
			}
		}
	})
}

func TestRetryCanceledDuringWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(503)}}
		s := scriptedSession(t, tr, courier.WithRetry(courier.RetryPolicy{Backoff: func(courier.AttemptInfo) time.Duration { return 10 * time.Second }}))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		_, err := s.Get(ctx, "/")
		if elapsed := time.Since(start); elapsed != time.Second {
			t.Errorf("returned after %v, want when canceled (1s)", elapsed)
		}
		if !errors.Is(err, courier.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Errorf("Get = %v, want ErrCanceled", err)
		}
	})
}

// The budget bounds the retries a failing host gets: from a full bucket at
// most capacity/cost, then one attempt per request, each failing at once
// with ErrRetryBudget. First-try successes refill it.
func TestRetryBudgetBoundsAmplification(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	const capacity, cost, requests = 50, 5, 100
	s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff,
		Budget: courier.RetryBudget{Capacity: capacity, RetryCost: cost}}))
	host := strings.TrimPrefix(ts.URL, "http://")
	var exhausted int
	for range requests {
		_, err := s.Get(t.Context(), "/")
		if errors.Is(err, courier.ErrRetryBudget) {
			exhausted++
		}
	}
	attempts := ts.Requests.Load()
	if max := int64(requests + capacity/cost); attempts > max {
		t.Errorf("%d requests at 100%% failure made %d attempts, want at most %d", requests, attempts, max)
	}
	if exhausted < requests-capacity/cost {
		t.Errorf("%d requests said ErrRetryBudget, want at least %d", exhausted, requests-capacity/cost)
	}
	if left := s.Stats().BudgetLeft[host]; left >= cost {
		t.Errorf("BudgetLeft = %d, want less than a retry's cost", left)
	}
	failing.Store(false)
	for range 7 {
		if _, err := s.Get(t.Context(), "/"); err != nil {
			t.Fatal(err)
		}
	}
	if left := s.Stats().BudgetLeft[host]; left < 7 {
		t.Errorf("BudgetLeft after 7 first-try successes = %d, want refilled by 7", left)
	}
	t.Logf("100%% failure: %d requests, %d attempts (%.2f per request), %d said ErrRetryBudget",
		requests, attempts, float64(attempts)/requests, exhausted)
}

// A POST that broke after it was sent may have been applied: courier does
// not resend it, and says so. One that never left says nothing of the kind.
func TestRetryMaybeApplied(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // the body was read, then the connection dropped
		}
	}))
	for _, c := range []struct {
		name     string
		opts     []courier.Option
		method   string
		attempts int64
		maybe    bool
	}{
		{"POST", []courier.Option{fast}, "POST", 1, true},
		{"POST, retries off", []courier.Option{noRetry}, "POST", 1, true},
		{"PUT is retried", []courier.Option{fast}, "PUT", 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ts.Requests.Load()
			s := ts.Session(t, c.opts...)
			_, err := s.Do(t.Context(), c.method, "/orders", courier.JSON(map[string]int{"qty": 1}))
			if !errors.Is(err, courier.ErrConnLost) || errors.Is(err, courier.ErrMaybeApplied) != c.maybe {
				t.Errorf("%s = %v; want ErrConnLost, ErrMaybeApplied %v", c.method, err, c.maybe)
			}
			if got := ts.Requests.Load() - before; got != c.attempts {
				t.Errorf("server saw %d attempts, want %d", got, c.attempts)
			}
		})
	}
	s := testenv.NewSession(t, courier.WithBaseURL("http://"+testenv.ClosedPort(t)), noRetry)
	if _, err := s.Post(t.Context(), "/"); errors.Is(err, courier.ErrMaybeApplied) {
		t.Errorf("refused POST = %v, want no ErrMaybeApplied: it never left", err)
	}
}
